"""report() as tables: every reason on its condition, and the kstatus summary and retry it leads to."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from asr_autoupdate.api import POLICY_TAG
from asr_autoupdate.api.conditions import ConditionType as C
from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    PermissionError_,
    ThrottledError,
    TransientError,
)
from asr_autoupdate.reconcile import blocked
from asr_autoupdate.reconcile.desired import assess
from asr_autoupdate.reconcile.model import ActionResult, Part
from asr_autoupdate.reconcile.plan import plan
from asr_autoupdate.reconcile.report import report
from tests.unit.policy_builders import (
    NOW,
    account,
    converged,
    make_policy,
    make_spec,
    mapping,
    protected_item,
    schedule,
)

FORBIDDEN = PermissionError_("The client 'x' does not have authorization", status=403, code="AuthorizationFailed")
THROTTLED = ThrottledError("Too many requests", status=429, code="SubscriptionRequestsThrottled", retry_after=7)
UNAVAILABLE = TransientError("Service unavailable", status=503)
REFUSED = InvalidRequestError("bad", status=400, code="BadRequest")
CONFLICT = ConflictError("exists", status=409, code="Conflict")
UNAUTHENTICATED = AuthenticationError("AADSTS7000215: Invalid client secret", status=401, code="invalid_client")
PRINCIPAL_NOT_FOUND = TransientError("replication delay", status=400, code="PrincipalNotFound")
RUN_AS_REFUSAL = "The Run As account does not have the permission to access the recovery services resource."
AREAS = (
    C.AUTOMATION_ACCOUNT_READY,
    C.CREDENTIALS_HEALTHY,
    C.MAPPINGS_CONFIGURED,
    C.SCHEDULE_CONFIGURED,
    C.AGENTS_CURRENT,
)


def certificate(thumbprint="ABC123", expiry=NOW + timedelta(days=200)):
    return port.Certificate(port.RUN_AS_CERTIFICATE, thumbprint, expiry)


def connection(thumbprint="abc123"):
    fields = {"ApplicationId": "app", "TenantId": "tenant", "CertificateThumbprint": thumbprint, "SubscriptionId": "s"}
    return port.Connection(port.RUN_AS_CONNECTION, "AzureServicePrincipal", fields)


def run_as(**changes):
    values = dict(
        role_assignments=(),
        run_as_certificate=certificate(),
        run_as_connection=connection(),
        mappings=(mapping(authentication_type="RunAsAccount"),),
    )
    values.update(changes)
    return converged(**values)


def failing(overrides, observation, error, force=False):
    """The plan's first action, failed with `error`; the plan stays what is left to do."""
    remaining = plan(assess(make_spec(**overrides), observation), NOW, force=force)
    return remaining, [ActionResult(remaining[0], changed=False, error=error)]


def pending(overrides, observation):
    remaining = plan(assess(make_spec(**overrides), observation), NOW)
    return remaining, [ActionResult(remaining[0], changed=True, pending=True)]


def still_planned(overrides, observation):
    return plan(assess(make_spec(**overrides), observation), NOW), []


RUN_AS = {"authentication": "RunAsAccount"}
OBSERVE = {"managementPolicy": "Observe"}
MANUAL = {"updateMode": "Manual"}
NO_ACCOUNT = converged(automation_account=None)
DISABLED = converged(mappings=(mapping(auto_update="Disabled"),))
HEALTH = port.HealthError("AutoUpdateFailed", "Updating the agent failed", "Check the automation account, then retry")


def read_failure(part, error, **changes):
    return converged(failures={part: error}, **changes)


# id, spec overrides, observation, (remaining, results), {area: (status, reason)}, summary reason, kstatus, retry
CASES = [
    (
        "converged",
        {},
        converged(),
        ([], []),
        {area: ("True", "Converged") for area in AREAS},
        "Converged",
        "ready",
        None,
    ),
    (
        "vault-not-found",
        {},
        converged(vault=None),
        ([], []),
        {area: ("Unknown", "VaultNotFound") for area in AREAS},
        "VaultNotFound",
        "stalled",
        "person",
    ),
    (
        "vault-throttled",
        {},
        read_failure(Part.VAULT, THROTTLED, vault=None),
        ([], []),
        {area: ("Unknown", "Progressing") for area in AREAS},
        "Progressing",
        "reconciling",
        "wait",
    ),
    (
        "vault-forbidden",
        {},
        read_failure(Part.VAULT, FORBIDDEN, vault=None),
        ([], []),
        {C.MAPPINGS_CONFIGURED: ("Unknown", "InsufficientPermissions")},
        "InsufficientPermissions",
        "stalled",
        "person",
    ),
    (
        "sign-in-failed",
        {},
        read_failure(Part.VAULT, UNAUTHENTICATED, vault=None),
        ([], []),
        {C.AUTOMATION_ACCOUNT_READY: ("Unknown", "AuthenticationFailed")},
        "AuthenticationFailed",
        "stalled",
        "person",
    ),
    (
        "account-create-forbidden",
        {},
        NO_ACCOUNT,
        failing({}, NO_ACCOUNT, FORBIDDEN),
        {
            C.AUTOMATION_ACCOUNT_READY: ("False", "InsufficientPermissions"),
            C.CREDENTIALS_HEALTHY: ("Unknown", "Waiting"),
            C.SCHEDULE_CONFIGURED: ("Unknown", "Waiting"),
        },
        "InsufficientPermissions",
        "stalled",
        "person",
    ),
    (
        "account-create-conflict",
        {},
        NO_ACCOUNT,
        failing({}, NO_ACCOUNT, CONFLICT),
        {C.AUTOMATION_ACCOUNT_READY: ("False", "AutomationAccountConflict")},
        "AutomationAccountConflict",
        "stalled",
        "person",
    ),
    (
        "account-create-throttled",
        {},
        NO_ACCOUNT,
        failing({}, NO_ACCOUNT, THROTTLED),
        {C.AUTOMATION_ACCOUNT_READY: ("False", "Progressing")},
        "Progressing",
        "reconciling",
        "wait",
    ),
    (
        "account-in-other-region",
        {},
        converged(automation_account=account(location="northeurope")),
        ([], []),
        {
            C.AUTOMATION_ACCOUNT_READY: ("False", "AutomationAccountConflict"),
            C.CREDENTIALS_HEALTHY: ("Unknown", "Waiting"),
        },
        "AutomationAccountConflict",
        "stalled",
        "person",
    ),
    (
        "account-being-created",
        {},
        NO_ACCOUNT,
        still_planned({}, NO_ACCOUNT),
        {C.AUTOMATION_ACCOUNT_READY: ("False", "Progressing")},
        "Progressing",
        "reconciling",
        "wait",
    ),
    (
        "account-unreadable",
        {},
        read_failure(Part.AUTOMATION_ACCOUNT, UNAVAILABLE, automation_account=None),
        ([], []),
        {C.AUTOMATION_ACCOUNT_READY: ("Unknown", "AzureUnavailable")},
        "AzureUnavailable",
        "reconciling",
        "transient",
    ),
    (
        "observe-account-missing",
        OBSERVE,
        NO_ACCOUNT,
        still_planned(OBSERVE, NO_ACCOUNT),
        {C.AUTOMATION_ACCOUNT_READY: ("False", "DriftDetected")},
        "DriftDetected",
        "stalled",
        None,
    ),
    (
        "identity-not-authorized",
        {"grantVaultAccess": False},
        converged(role_assignments=()),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("False", "IdentityNotAuthorized")},
        "IdentityNotAuthorized",
        "stalled",
        "person",
    ),
    (
        "role-grant-forbidden",
        {},
        converged(role_assignments=()),
        failing({}, converged(role_assignments=()), FORBIDDEN),
        {C.CREDENTIALS_HEALTHY: ("False", "InsufficientPermissions")},
        "InsufficientPermissions",
        "stalled",
        "person",
    ),
    (
        "role-grant-principal-not-replicated",
        {},
        converged(role_assignments=()),
        failing({}, converged(role_assignments=()), PRINCIPAL_NOT_FOUND),
        {C.CREDENTIALS_HEALTHY: ("False", "Progressing")},
        "Progressing",
        "reconciling",
        "wait",
    ),
    (
        "roles-unreadable",
        {},
        read_failure(Part.ROLE_ASSIGNMENTS, UNAVAILABLE, role_assignments=()),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("Unknown", "AzureUnavailable")},
        "AzureUnavailable",
        "reconciling",
        "transient",
    ),
    (
        "mapping-update-refused",
        {},
        DISABLED,
        failing({}, DISABLED, REFUSED),
        {C.MAPPINGS_CONFIGURED: ("False", "MappingUpdateFailed")},
        "MappingUpdateFailed",
        "stalled",
        "person",
    ),
    (
        "mapping-update-still-running",
        {},
        DISABLED,
        pending({}, DISABLED),
        {C.MAPPINGS_CONFIGURED: ("False", "Progressing")},
        "Progressing",
        "reconciling",
        "wait",
    ),
    (
        "mapping-health-error",
        {},
        converged(mappings=(mapping(health_errors=(HEALTH,)),)),
        ([], []),
        {C.MAPPINGS_CONFIGURED: ("False", "MappingHealthError")},
        "MappingHealthError",
        "stalled",
        "person",
    ),
    (
        "mappings-unreadable",
        {},
        read_failure(Part.MAPPINGS, UNAVAILABLE, mappings=()),
        ([], []),
        {C.MAPPINGS_CONFIGURED: ("Unknown", "AzureUnavailable")},
        "AzureUnavailable",
        "reconciling",
        "transient",
    ),
    (
        "mappings-read-refused",
        {},
        read_failure(Part.MAPPINGS, REFUSED, mappings=()),
        ([], []),
        {C.MAPPINGS_CONFIGURED: ("Unknown", "AzureRequestFailed")},
        "AzureRequestFailed",
        "stalled",
        "person",
    ),
    (
        "no-mappings-yet",
        {},
        converged(mappings=(), schedules=(), job_schedules=()),
        ([], []),
        {C.MAPPINGS_CONFIGURED: ("True", "Converged"), C.SCHEDULE_CONFIGURED: ("True", "Converged")},
        "Converged",
        "ready",
        None,
    ),
    (
        "observe-mapping-drift",
        OBSERVE,
        DISABLED,
        still_planned(OBSERVE, DISABLED),
        {C.MAPPINGS_CONFIGURED: ("False", "DriftDetected")},
        "DriftDetected",
        "stalled",
        None,
    ),
    (
        "schedule-missing",
        {},
        converged(schedules=()),
        ([], []),
        {C.SCHEDULE_CONFIGURED: ("False", "ScheduleNotFound")},
        "ScheduleNotFound",
        "stalled",
        "person",
    ),
    (
        "job-schedule-missing",
        {},
        converged(job_schedules=()),
        ([], []),
        {C.SCHEDULE_CONFIGURED: ("False", "ScheduleNotFound")},
        "ScheduleNotFound",
        "stalled",
        "person",
    ),
    (
        "schedule-disabled",
        {},
        converged(schedules=(schedule(is_enabled=False),)),
        ([], []),
        {C.SCHEDULE_CONFIGURED: ("False", "ScheduleDisabled")},
        "ScheduleDisabled",
        "stalled",
        "person",
    ),
    (
        "schedule-not-created-yet",
        {},
        converged(mappings=(mapping(schedule_name=None, job_schedule_name=None),)),
        ([], []),
        {C.SCHEDULE_CONFIGURED: ("False", "Progressing")},
        "Progressing",
        "reconciling",
        "wait",
    ),
    (
        "schedule-rewrite-refused",
        {"schedule": {"time": "06:30"}},
        converged(),
        failing({"schedule": {"time": "06:30"}}, converged(), REFUSED),
        {C.SCHEDULE_CONFIGURED: ("False", "AzureRequestFailed")},
        "AzureRequestFailed",
        "stalled",
        "person",
    ),
    (
        "schedule-being-rewritten",
        {"schedule": {"time": "06:30"}},
        converged(),
        still_planned({"schedule": {"time": "06:30"}}, converged()),
        {C.SCHEDULE_CONFIGURED: ("False", "Progressing")},
        "Progressing",
        "reconciling",
        "wait",
    ),
    (
        "schedules-unreadable",
        {},
        read_failure(Part.JOB_SCHEDULES, UNAVAILABLE),
        ([], []),
        {C.SCHEDULE_CONFIGURED: ("Unknown", "AzureUnavailable")},
        "AzureUnavailable",
        "reconciling",
        "transient",
    ),
    (
        "region-without-known-zone",
        {"schedule": {"time": "06:30"}},
        converged(fabrics=(port.Fabric("f1", "moon"),)),
        ([], []),
        {C.SCHEDULE_CONFIGURED: ("False", "InvalidSpec")},
        "InvalidSpec",
        "stalled",
        "invalid",
    ),
    (
        "run-as-healthy-but-retired",
        RUN_AS,
        run_as(),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("True", "RunAsAccountRetired"), C.MAPPINGS_CONFIGURED: ("True", "Converged")},
        "Converged",
        "ready",
        None,
    ),
    (
        "run-as-certificate-missing",
        RUN_AS,
        run_as(run_as_certificate=None),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("False", "RunAsAccountNotFound")},
        "RunAsAccountNotFound",
        "stalled",
        "person",
    ),
    (
        "run-as-connection-missing",
        RUN_AS,
        run_as(run_as_connection=None),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("False", "RunAsAccountNotFound")},
        "RunAsAccountNotFound",
        "stalled",
        "person",
    ),
    (
        "run-as-thumbprints-differ",
        RUN_AS,
        run_as(run_as_connection=connection("DEF456")),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("False", "RunAsThumbprintMismatch")},
        "RunAsThumbprintMismatch",
        "stalled",
        "person",
    ),
    (
        "run-as-certificate-expired",
        RUN_AS,
        run_as(run_as_certificate=certificate(expiry=NOW - timedelta(days=1))),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("False", "RunAsCertificateExpired")},
        "RunAsCertificateExpired",
        "stalled",
        "person",
    ),
    (
        "run-as-certificate-expiring",
        RUN_AS,
        run_as(run_as_certificate=certificate(expiry=NOW + timedelta(days=59))),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("True", "RunAsCertificateExpiring")},
        "Converged",
        "ready",
        None,
    ),
    (
        "run-as-unauthorized",
        RUN_AS,
        run_as(
            mappings=(
                mapping(authentication_type="RunAsAccount", health_errors=(port.HealthError("E1", RUN_AS_REFUSAL),)),
            )
        ),
        ([], []),
        {
            C.CREDENTIALS_HEALTHY: ("False", "RunAsAccountUnauthorized"),
            C.MAPPINGS_CONFIGURED: ("False", "MappingHealthError"),
        },
        "RunAsAccountUnauthorized",
        "stalled",
        "person",
    ),
    (
        "run-as-certificate-unreadable",
        RUN_AS,
        run_as(failures={Part.RUN_AS_CERTIFICATE: FORBIDDEN}, run_as_certificate=None),
        ([], []),
        {C.CREDENTIALS_HEALTHY: ("Unknown", "InsufficientPermissions")},
        "InsufficientPermissions",
        "stalled",
        "person",
    ),
    (
        "run-as-account-missing",
        RUN_AS,
        run_as(automation_account=None),
        ([], []),
        {C.AUTOMATION_ACCOUNT_READY: ("False", "RunAsAccountNotFound"), C.CREDENTIALS_HEALTHY: ("Unknown", "Waiting")},
        "RunAsAccountNotFound",
        "stalled",
        "person",
    ),
    (
        "agents-behind-do-not-gate-ready",
        {},
        converged(protected_items=(protected_item(update_required=True), protected_item("vm2"))),
        ([], []),
        {C.AGENTS_CURRENT: ("False", "AgentUpdateRequired")},
        "Converged",
        "ready",
        None,
    ),
    (
        "agents-unreadable-forbidden-do-not-gate",
        {},
        read_failure(Part.PROTECTED_ITEMS, FORBIDDEN, protected_items=()),
        ([], []),
        {C.AGENTS_CURRENT: ("Unknown", "InsufficientPermissions")},
        "Converged",
        "ready",
        None,
    ),
    (
        "agents-unreadable-throttled-retry-early",
        {},
        read_failure(Part.PROTECTED_ITEMS, THROTTLED, protected_items=()),
        ([], []),
        {C.AGENTS_CURRENT: ("Unknown", "Progressing")},
        "Converged",
        "ready",
        "wait",
    ),
    (
        "jobs-unreadable-retry-early",
        {},
        read_failure(Part.JOBS, UNAVAILABLE),
        ([], []),
        {C.AGENTS_CURRENT: ("True", "Converged")},
        "Converged",
        "ready",
        "transient",
    ),
    (
        "manual-converged",
        MANUAL,
        converged(mappings=(mapping(auto_update="Disabled"),)),
        ([], []),
        {
            C.AUTOMATION_ACCOUNT_READY: ("True", "NotRequired"),
            C.CREDENTIALS_HEALTHY: ("True", "NotRequired"),
            C.MAPPINGS_CONFIGURED: ("True", "Converged"),
            C.SCHEDULE_CONFIGURED: ("True", "NotRequired"),
        },
        "Converged",
        "ready",
        None,
    ),
    (
        "manual-disabling",
        MANUAL,
        converged(),
        still_planned(MANUAL, converged()),
        {C.MAPPINGS_CONFIGURED: ("False", "Progressing")},
        "Progressing",
        "reconciling",
        "wait",
    ),
    (
        "token-refused-on-a-write",
        {},
        DISABLED,
        failing({}, DISABLED, UNAUTHENTICATED),
        {C.MAPPINGS_CONFIGURED: ("False", "AuthenticationFailed")},
        "AuthenticationFailed",
        "stalled",
        "person",
    ),
]
KSTATUS = {
    "ready": ("True", "False", "False"),
    "reconciling": ("False", "True", "False"),
    "stalled": ("False", "False", "True"),
}


def conditions_of(status):
    return {entry["type"]: entry for entry in status["conditions"]}


@pytest.mark.parametrize(
    "overrides, observation, work, areas, summary, kstatus, retry",
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_report(overrides, observation, work, areas, summary, kstatus, retry):
    remaining, results = work
    policy, spec = make_policy(generation=4, **overrides), make_spec(**overrides)
    outcome = report(policy, assess(spec, observation), remaining, results, NOW)
    conditions = conditions_of(outcome.status)
    assert list(conditions) == [str(kind) for kind in C], "every condition, every time, in a stable order"
    for area, (status, reason) in areas.items():
        assert (conditions[area]["status"], conditions[area]["reason"]) == (status, reason), area
    ready, reconciling, stalled = (conditions[kind] for kind in (C.READY, C.RECONCILING, C.STALLED))
    assert (ready["status"], reconciling["status"], stalled["status"]) == KSTATUS[kstatus]
    assert ready["reason"] == reconciling["reason"] == stalled["reason"] == summary
    assert ready["message"] == reconciling["message"] == stalled["message"]
    assert (outcome.retry.kind if outcome.retry else None) == retry
    assert all(entry["observedGeneration"] == 4 for entry in outcome.status["conditions"])
    assert outcome.status["observedGeneration"] == 4
    for entry in outcome.status["conditions"]:
        assert entry["message"].endswith(".") and "\n" not in entry["message"]


@pytest.mark.parametrize(
    "reason, fields, kstatus, retry",
    [
        pytest.param(
            "InvalidSpec",
            {"problem": "spec.schedule.timeZone: 'Mars/Base' is not a known IANA time zone"},
            ("False", "False", "True"),
            "invalid",
            id="invalid-spec",
        ),
        pytest.param(
            "PolicyConflict",
            {"vault": "vault1", "owner": "other/policy"},
            ("False", "False", "True"),
            "person",
            id="policy-conflict",
        ),
        pytest.param(
            "CredentialsSecretInvalid",
            {"secret": "azure-sp", "problem": "lacks the key clientId"},
            ("False", "False", "True"),
            "person",
            id="credentials-secret-invalid",
        ),
        pytest.param("InternalError", {}, ("Unknown", "True", "False"), "internal", id="internal-error"),
    ],
)
def test_blocked(reason, fields, kstatus, retry):
    outcome = blocked(make_policy(generation=2), NOW, reason, **fields)
    conditions = conditions_of(outcome.status)
    assert tuple(conditions[kind]["status"] for kind in (C.READY, C.RECONCILING, C.STALLED)) == kstatus
    assert {entry["reason"] for entry in conditions.values()} == {reason}
    assert all(conditions[area]["status"] == "Unknown" for area in AREAS)
    assert set(outcome.status) == {"observedGeneration", "conditions"}, "earlier status sections stay"
    assert outcome.retry.kind == retry
    assert [event.type for event in outcome.events] == ["Warning"]


def test_transient_retry_honours_retry_after():
    remaining, results = failing({}, NO_ACCOUNT, THROTTLED)
    outcome = report(make_policy(), assess(make_spec(), NO_ACCOUNT), remaining, results, NOW)
    assert (outcome.retry.kind, outcome.retry.delay) == ("wait", 7)  # throttled: waiting, not failing
    person = report(make_policy(), assess(make_spec(), converged(vault=None)), [], [], NOW)
    assert person.retry.delay == 300


def test_converged_rechecks_after_the_drift_interval():
    outcome = report(
        make_policy(driftCheckIntervalSeconds=900),
        assess(make_spec(driftCheckIntervalSeconds=900), converged()),
        [],
        [],
        NOW,
    )
    assert (outcome.retry, outcome.recheck_after) == (None, 900)


def test_messages_name_what_to_do():
    health = conditions_of(
        report(
            make_policy(), assess(make_spec(), converged(mappings=(mapping(health_errors=(HEALTH,)),))), [], [], NOW
        ).status
    )
    assert "Check the automation account, then retry" in health["MappingsConfigured"]["message"]
    region = conditions_of(
        report(
            make_policy(),
            assess(make_spec(), converged(automation_account=account(location="northeurope"))),
            [],
            [],
            NOW,
        ).status
    )
    assert "northeurope, not in the vault's region westeurope" in region["Ready"]["message"]
    drift = conditions_of(
        report(
            make_policy(**OBSERVE), assess(make_spec(**OBSERVE), NO_ACCOUNT), *still_planned(OBSERVE, NO_ACCOUNT), NOW
        ).status
    )
    assert "create automation account vault1-asr-automationaccount in westeurope" in drift["Ready"]["message"]
    differing = converged(role_assignments=(), mappings=(mapping(auto_update="Disabled"),))
    observed = conditions_of(
        report(
            make_policy(**OBSERVE), assess(make_spec(**OBSERVE), differing), *still_planned(OBSERVE, differing), NOW
        ).status
    )
    assert observed["Ready"]["message"].startswith(
        "Observe mode, Azure differs from the spec: grant Contributor on the vault to the automation account's "
        "identity principal-1; set auto-update Enabled on mapping m1."
    )
    assert observed["MappingsConfigured"]["message"].startswith(
        "Observe mode, Azure differs from the spec: set auto-update Enabled on mapping m1."
    )
    expired = run_as(run_as_certificate=certificate(expiry=datetime(2024, 5, 1, tzinfo=UTC)))
    run_as_status = conditions_of(
        report(make_policy(**RUN_AS), assess(make_spec(**RUN_AS), expired), [], [], NOW).status
    )
    assert "expired on 2024-05-01" in run_as_status["CredentialsHealthy"]["message"]
    assert "SystemAssignedIdentity" in run_as_status["CredentialsHealthy"]["message"]


def test_messages_carry_no_raw_error_text_and_stay_stable():
    """Two failures that differ only in Azure's wording give the same status: nothing churns, nothing leaks."""
    first = report(make_policy(), assess(make_spec(), NO_ACCOUNT), *failing({}, NO_ACCOUNT, UNAUTHENTICATED), NOW)
    other_words = AuthenticationError("AADSTS7000222: secret expired at 12:01:02", status=401, code="invalid_client")
    second = report(make_policy(), assess(make_spec(), NO_ACCOUNT), *failing({}, NO_ACCOUNT, other_words), NOW)
    assert first.status == second.status
    assert "AADSTS" not in json.dumps(first.status) + json.dumps([e.message for e in first.events])


def test_last_transition_time_and_warning_events_follow_changes():
    later = NOW + timedelta(minutes=5)
    first = report(make_policy(), assess(make_spec(), converged(vault=None)), [], [], NOW)
    again = report(make_policy(status=first.status), assess(make_spec(), converged(vault=None)), [], [], later)
    assert [event.reason for event in first.events] == ["VaultNotFound"]
    assert again.events == (), "a steady problem posts no new Event"
    assert again.status["conditions"] == first.status["conditions"], "nothing churns while nothing changes"
    healed = report(make_policy(status=again.status), assess(make_spec(), converged()), [], [], later)
    ready = conditions_of(healed.status)["Ready"]
    assert (ready["status"], ready["lastTransitionTime"]) == ("True", "2024-06-10T12:05:00Z")
    assert conditions_of(healed.status)["Reconciling"]["lastTransitionTime"] == "2024-06-10T12:00:00Z"


def test_changes_become_normal_events():
    remaining = plan(assess(make_spec(), DISABLED), NOW)
    results = [ActionResult(remaining[0], changed=True)]
    outcome = report(make_policy(), assess(make_spec(), converged()), [], results, NOW)
    assert [(e.type, e.reason, e.message) for e in outcome.events] == [
        ("Normal", "MappingUpdated", "Set auto-update Enabled on mapping m1.")
    ]


def test_status_sections():
    observation = converged(
        automation_account=account(tags={POLICY_TAG: "someone/else"}),
        mappings=(mapping(), mapping("m2", auto_update="Disabled"), mapping("h1", instance_type="HyperV")),
        protected_items=(
            protected_item("vm1", agent_version="9.60.0.0", update_required=True, upgrade_in_progress=True),
            protected_item("vm2", agent_expiry=NOW + timedelta(days=10), replication_health="Critical"),
            protected_item("vm3", certificate_expiry=NOW + timedelta(days=40)),
            protected_item("vm4", agent_version=None),
        ),
        jobs=(
            port.Job(
                "j1",
                port.SITE_RECOVERY_RUNBOOK,
                "Completed",
                datetime(2024, 6, 1, 22, 0, tzinfo=UTC),
                datetime(2024, 6, 1, 22, 1, 30, tzinfo=UTC),
            ),
            port.Job(
                "j2",
                port.SITE_RECOVERY_RUNBOOK,
                "Failed",
                datetime(2024, 6, 9, 22, 0, tzinfo=UTC),
                datetime(2024, 6, 9, 22, 0, 45, tzinfo=UTC),
            ),
        ),
    )
    status = report(
        make_policy(),
        assess(make_spec(costModel={"freeMinutesPerMonth": 0, "pricePerMinute": "0.5"}), observation),
        [],
        [],
        NOW,
    ).status
    assert status["automationAccount"]["createdByPolicy"] is False
    assert status["mappings"] == {"total": 3, "configured": 1, "skipped": 1}
    assert status["agents"] == {
        "total": 4,
        "current": 3,
        "updateRequired": 1,
        "upgradeInProgress": 1,
        "expiringSoon": 1,
        "replicationCritical": 1,
        "versions": [
            {"version": "9.62.1.0", "count": 2},
            {"version": "9.60.0.0", "count": 1},
            {"version": "unknown", "count": 1},
        ],
    }
    # 135 s in 9.5 days of a 30-day June: 3 minutes so far, 8 projected (ceil of 2.25 * 30 / 9.5)
    assert status["jobs"] == {
        "monthToDateMinutes": 3,
        "projectedMonthMinutes": 8,
        "freeMinutesPerMonth": 0,
        "projectedCost": "4.00",
        "currency": "INR",
        "lastRun": {"status": "Failed", "startTime": "2024-06-09T22:00:00Z", "endTime": "2024-06-09T22:00:45Z"},
    }
    assert status["schedules"] == [
        {
            "name": "m1_a85ea38f",
            "mapping": "m1",
            "time": "00:00",
            "timeZone": "Europe/Amsterdam",
            "frequency": "Day",
            "interval": 1,
            "nextRun": "2024-06-10T22:00:00Z",
            "enabled": True,
        }
    ]
    assert status["scheduleSummary"] == "00:00 Europe/Amsterdam"


@pytest.mark.parametrize(
    "overrides, observation, absent, removed",
    [
        pytest.param(
            {},
            converged(vault=None),
            (),
            ("mappings", "agents", "schedules", "scheduleSummary"),
            id="vault-gone-clears-its-sections",
        ),
        pytest.param(
            {},
            converged(automation_account=None),
            (),
            ("automationAccount", "jobs"),
            id="account-gone-clears-its-sections",
        ),
        pytest.param(
            {},
            read_failure(Part.MAPPINGS, UNAVAILABLE),
            ("mappings", "schedules"),
            (),
            id="unread-mappings-keep-the-last-value",
        ),
        pytest.param({}, read_failure(Part.PROTECTED_ITEMS, UNAVAILABLE), ("agents",), (), id="unread-agents"),
        pytest.param({}, read_failure(Part.JOBS, UNAVAILABLE), ("jobs",), (), id="unread-jobs"),
        pytest.param(
            {},
            read_failure(Part.VAULT, UNAVAILABLE, vault=None),
            ("mappings", "agents", "schedules", "scheduleSummary", "automationAccount", "jobs"),
            (),
            id="unread-vault-keeps-everything",
        ),
        pytest.param(MANUAL, converged(), (), ("schedules", "scheduleSummary"), id="manual-has-no-schedule"),
    ],
)
def test_sections_left_out_or_removed(overrides, observation, absent, removed):
    status = report(make_policy(**overrides), assess(make_spec(**overrides), observation), [], [], NOW).status
    assert all(key not in status for key in absent)
    assert all(key in status and status[key] is None for key in removed)


def test_repair_is_recorded_unless_it_must_be_retried():
    repaired = report(make_policy(repair_token="t1"), assess(make_spec(), converged()), [], [], NOW, repaired=True)
    assert repaired.status["lastRepair"] == {"token": "t1", "time": "2024-06-10T12:00:00Z", "result": "Converged"}
    throttled = read_failure(Part.MAPPINGS, THROTTLED)
    retried = report(make_policy(repair_token="t1"), assess(make_spec(), throttled), [], [], NOW, repaired=True)
    assert "lastRepair" not in retried.status


@pytest.mark.parametrize(
    "error, kind, delay, backoff",
    [
        pytest.param(THROTTLED, "wait", 7, False, id="retry-after-from-azure"),
        pytest.param(PRINCIPAL_NOT_FOUND, "wait", 5, True, id="new-identity-is-waited-for-with-backoff"),
        pytest.param(UNAVAILABLE, "transient", 30, False, id="general-transient"),
    ],
)
def test_transient_retry_delay(error, kind, delay, backoff):
    outcome = report(make_policy(), assess(make_spec(), NO_ACCOUNT), *failing({}, NO_ACCOUNT, error), NOW)
    assert (outcome.retry.kind, outcome.retry.delay, outcome.retry.backoff) == (kind, delay, backoff)


@pytest.mark.parametrize(
    "observation, needs",
    [
        pytest.param(NO_ACCOUNT, "Contributor on resource group rg-dr", id="create-the-account"),
        pytest.param(converged(role_assignments=()), "Owner or User Access Administrator on the vault", id="grant"),
        pytest.param(
            converged(mappings=(mapping(auto_update="Disabled"),)), "Contributor on the vault", id="update-a-mapping"
        ),
    ],
)
def test_insufficient_permissions_names_the_role_and_scope_that_is_missing(observation, needs):
    outcome = report(make_policy(), assess(make_spec(), observation), *failing({}, observation, FORBIDDEN), NOW)
    ready = conditions_of(outcome.status)["Ready"]
    assert ready["reason"] == "InsufficientPermissions"
    assert f"Grant the operator's identity {needs}, then request a repair" in ready["message"], ready["message"]
