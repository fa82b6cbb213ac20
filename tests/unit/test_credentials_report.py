"""CredentialsHealthy for Run As with Site Recovery's verdicts, warnings that stop nothing, the job Events, and
the migration of a Run As vault: report() and plan() as tables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from asr_autoupdate.api.conditions import ConditionType as C
from asr_autoupdate.azure import port
from asr_autoupdate.reconcile.desired import assess
from asr_autoupdate.reconcile.model import ActionResult, GrantRole, MigrateMapping, UpdateMapping
from asr_autoupdate.reconcile.plan import plan
from asr_autoupdate.reconcile.report import report
from tests.unit.policy_builders import NOW, account, converged, make_policy, make_spec, mapping

RUN_AS = {"authentication": "RunAsAccount"}
APPLICATION = "6a1f0c2e-0000-4000-8000-00000000a11d"
MIGRATE = "spec.authentication: SystemAssignedIdentity"


def certificate(thumbprint="ABC123", expiry=NOW + timedelta(days=200)):
    return port.Certificate(port.RUN_AS_CERTIFICATE, thumbprint, expiry)


def connection(thumbprint="abc123", connection_type="AzureServicePrincipal"):
    fields = {"ApplicationId": APPLICATION, "TenantId": "t", "CertificateThumbprint": thumbprint, "SubscriptionId": "s"}
    return port.Connection(port.RUN_AS_CONNECTION, connection_type, fields)


def health(code, message, action="Do what Site Recovery says", level="Error", causes=""):
    return port.HealthError(code, message, action, level, causes)


NOT_FOUND = health(
    "RunAsAccountNotFound",
    "Run As account is not found. Either one of these was deleted or not "
    "created - Azure Active Directory Application, Service Principal, Role, ...",
    causes="Azure Active Directory Application / Service Principal",
)
UNAUTHORIZED = health(
    "RunAsAccountUnauthorized",
    "The Run As account does not have the permission to access the recovery services resource.",
)
EXPIRED = health("RunAsCertificateExpired", "The Azure Run as Certificate used by the automation account has expired.")
EXPIRING = health(
    "RunAsCertificateExpiring",
    "The Azure Run as Certificate used by the automation account is about to expire.",
    level="Warning",
)
# the real service's codes may differ from the emulator's: its portal messages decide too
EXPIRED_OTHER_CODE = health("151200", EXPIRED.message)
MI_UNAUTHORIZED = health(
    "ManagedIdentityUnauthorized",
    "The managed identity of the automation account does not "
    "have the permission to access the recovery services resource.",
    "Assign the Contributor role on the Recovery Services vault",
)


def run_as(*errors, **changes):
    values = dict(
        role_assignments=(),
        run_as_certificate=certificate(),
        run_as_connection=connection(),
        automation_account=account(principal_id=None),
        mappings=(mapping(authentication_type="RunAsAccount", health_errors=tuple(errors)),),
    )
    values.update(changes)
    return converged(**values)


def conditions(outcome):
    return {entry["type"]: entry for entry in outcome.status["conditions"]}


CASES = [
    # id, observation, CredentialsHealthy (status, reason), MappingsConfigured reason, Ready, message fragments
    ("healthy-but-retired", run_as(), ("True", "RunAsAccountRetired"), "Converged", "True", [MIGRATE]),
    (
        "connection-of-another-type",
        run_as(run_as_connection=connection(connection_type="Certificate")),
        ("False", "RunAsAccountNotFound"),
        "Converged",
        "False",
        ["of type AzureServicePrincipal", MIGRATE],
    ),
    (
        "principal-missing-says-site-recovery",
        run_as(NOT_FOUND),
        ("False", "RunAsAccountNotFound"),
        "MappingHealthError",
        "False",
        [f"service principal (ApplicationId {APPLICATION})", MIGRATE],
    ),
    (
        "role-missing-says-site-recovery",
        run_as(UNAUTHORIZED),
        ("False", "RunAsAccountUnauthorized"),
        "MappingHealthError",
        "False",
        ["may not access the vault", MIGRATE],
    ),
    (
        "expired-on-azures-clock",
        run_as(EXPIRED),
        ("False", "RunAsCertificateExpired"),
        "MappingHealthError",
        "False",
        ["expired on 2024-12-27", "Renew the certificate", MIGRATE],
    ),
    (
        "expired-by-message",
        run_as(EXPIRED_OTHER_CODE),
        ("False", "RunAsCertificateExpired"),
        "MappingHealthError",
        "False",
        [],
    ),
    (
        "expiring-on-azures-clock-is-a-warning",
        run_as(EXPIRING),
        ("True", "RunAsCertificateExpiring"),
        "Converged",
        "True",
        ["2024-12-27", MIGRATE],
    ),
    (
        "assets-first-then-site-recovery",
        run_as(NOT_FOUND, run_as_certificate=None),
        ("False", "RunAsAccountNotFound"),
        "MappingHealthError",
        "False",
        ["certificate asset AzureRunAsCertificate"],
    ),
    (
        "thumbprints-before-expiry",
        run_as(EXPIRED, run_as_connection=connection("0000")),
        ("False", "RunAsThumbprintMismatch"),
        "MappingHealthError",
        "False",
        [],
    ),
]


@pytest.mark.parametrize(
    "observation, credentials, mappings, ready, fragments", [pytest.param(*case[1:], id=case[0]) for case in CASES]
)
def test_run_as_verdicts(observation, credentials, mappings, ready, fragments):
    outcome = report(make_policy(**RUN_AS), assess(make_spec(**RUN_AS), observation), [], [], NOW)
    found = conditions(outcome)
    assert (found["CredentialsHealthy"]["status"], found["CredentialsHealthy"]["reason"]) == credentials
    assert found["MappingsConfigured"]["reason"] == mappings
    assert found["Ready"]["status"] == ready
    for fragment in fragments:
        assert fragment in found["CredentialsHealthy"]["message"]


def test_a_run_as_vault_that_is_ready_still_carries_the_advice():
    ready = conditions(report(make_policy(**RUN_AS), assess(make_spec(**RUN_AS), run_as()), [], [], NOW))["Ready"]
    assert ready["reason"] == "Converged" and "Run As account is retired" in ready["message"]
    assert MIGRATE in ready["message"]
    identity = conditions(report(make_policy(), assess(make_spec(), converged()), [], [], NOW))["Ready"]
    assert "Run As" not in identity["message"]


def test_a_mapping_health_error_carries_the_recommended_action():
    observation = converged(mappings=(mapping(health_errors=(MI_UNAUTHORIZED,)),))
    found = conditions(report(make_policy(), assess(make_spec(), observation), [], [], NOW))
    assert found["MappingsConfigured"]["reason"] == "MappingHealthError"
    assert "ManagedIdentityUnauthorized" in found["MappingsConfigured"]["message"]
    assert "Assign the Contributor role on the Recovery Services vault" in found["MappingsConfigured"]["message"]
    assert found["Stalled"]["status"] == "True"


def jobs_status(status="Completed", start="2024-06-09T22:00:00Z", projected=10, free=500):
    return {
        "monthToDateMinutes": 3,
        "projectedMonthMinutes": projected,
        "freeMinutesPerMonth": free,
        "projectedCost": "0.00",
        "currency": "INR",
        "lastRun": {"status": status, "startTime": start},
    }


def job(status, start):
    return port.Job("j", port.SITE_RECOVERY_RUNBOOK, status, start, start + timedelta(minutes=1))


def job_events(before, jobs, **spec):
    status = {"jobs": before} if before is not None else {}
    outcome = report(make_policy(status=status, **spec), assess(make_spec(**spec), converged(jobs=jobs)), [], [], NOW)
    return [
        (event.type, event.reason, event.message)
        for event in outcome.events
        if event.reason in ("UpdateJobFailed", "JobMinutesOverFreeTier")
    ]


FAILED_AT = NOW - timedelta(hours=14)  # 2024-06-09T22:00:00Z


def test_a_failed_update_job_is_one_warning():
    first = job_events(jobs_status(start="2024-06-08T22:00:00Z"), (job("Failed", FAILED_AT),))
    assert first == [("Warning", "UpdateJobFailed", first[0][2])]
    assert "started at 2024-06-09T22:00:00Z failed" in first[0][2]
    assert job_events(jobs_status("Failed"), (job("Failed", FAILED_AT),)) == [], "the same job: no second Event"
    assert job_events(jobs_status(), (job("Completed", FAILED_AT),)) == []


def test_passing_the_free_minutes_is_one_warning():
    many = tuple(job("Completed", NOW - timedelta(days=day, hours=1)) for day in range(1, 9))
    spec = {"costModel": {"freeMinutesPerMonth": 5, "pricePerMinute": "1.00", "currency": "EUR"}}
    events = job_events(
        jobs_status(status="Completed", start="2024-06-09T11:00:00Z", projected=3, free=5), many, **spec
    )
    assert [(kind, reason) for kind, reason, _ in events] == [("Warning", "JobMinutesOverFreeTier")]
    assert "more than the 5 free minutes" in events[0][2] and "EUR" in events[0][2]
    over = jobs_status(status="Completed", start="2024-06-09T11:00:00Z", projected=30, free=5)
    assert job_events(over, many, **spec) == [], "already over: no second Event"


def test_identity_on_a_run_as_vault_plans_the_migration():
    legacy = run_as(role_assignments=())
    actions = plan(assess(make_spec(), legacy), NOW)
    assert [type(action).__name__ for action in actions] == ["EnableIdentity"], "the identity comes first"
    with_identity = run_as(automation_account=account(), role_assignments=())
    actions = plan(assess(make_spec(), with_identity), NOW)
    assert isinstance(actions[0], GrantRole)
    migrations = [action for action in actions if isinstance(action, MigrateMapping)]
    assert len(migrations) == 1 and migrations[0].authentication_type == "SystemAssignedIdentity"
    outcome = report(
        make_policy(), assess(make_spec(), converged()), [], [ActionResult(migrations[0], changed=True)], NOW
    )
    assert [(e.type, e.reason, e.message) for e in outcome.events] == [
        (
            "Normal",
            "MigratedToManagedIdentity",
            "Moved mapping m1 from the retired Run As account to the "
            "system-assigned identity of automation account vault1-asr-automationaccount.",
        )
    ]
    plain = plan(
        assess(make_spec(), converged(mappings=(mapping(auto_update="Disabled", authentication_type="RunAsAccount"),))),
        NOW,
    )
    assert [type(action) for action in plain] == [UpdateMapping], "a disabled mapping is simply enabled"


def test_a_repair_puts_the_role_again():
    actions = plan(assess(make_spec(), converged()), NOW, force=True)
    grants = [action for action in actions if isinstance(action, GrantRole)]
    assert len(grants) == 1 and grants[0].force
    assert not [action for action in plan(assess(make_spec(), converged()), NOW) if isinstance(action, GrantRole)]


def test_warnings_are_not_mapping_health_errors():
    observation = converged(mappings=(mapping(health_errors=(EXPIRING,)),))
    found = conditions(report(make_policy(), assess(make_spec(), observation), [], [], NOW))
    assert found["MappingsConfigured"]["reason"] == "Converged" and found["Ready"]["status"] == "True"
    assert C.CREDENTIALS_HEALTHY in found
