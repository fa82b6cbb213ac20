"""CredentialsHealthy end to end: every Run As fault seeded through the sandbox, expiry by advancing the
emulated clock, the migration of a Run As vault to the managed identity, and the repair annotation.

Run As accounts can no longer be created in Azure; the sandbox's `POST /runas` builds a legacy one on an
account the test makes without an identity, each piece optional or deliberately wrong. The operator reads the
certificate and connection assets itself; what lives in Microsoft Entra ID (the application, its service
principal, its role on the vault) and a certificate that expires on Azure's clock it learns from the health
errors Site Recovery's update job leaves on the mappings, so those cases advance the clock past a run.
Every operator here checks for drift every second (`--drift-interval-override 1`).
"""

from __future__ import annotations

from tests.e2e.kit import (
    CONTRIBUTOR,
    REPAIR_ANNOTATION,
    a2a_mappings,
    arm_requests,
    condition,
    default_account_name,
    describe_requests,
    event_uids,
    events_for,
    get_policy,
    operator_object_id,
    paired_a2a_mappings,
    policy,
    pretty,
    role_assignments_on_vault,
    role_guid,
    vault_spec,
    wait_condition,
    wait_event,
    wait_ready,
    writes,
)
from tests.support import wait_for

DRIFT = ("--drift-interval-override", "1")
DAY = 86400
MIGRATE = "spec.authentication: SystemAssignedIdentity"


def run_as_account(arm, admin, description: dict, index: int, **run_as) -> dict:
    """An automation account without an identity beside vault `index`, with a (possibly broken) Run As setup;
    answers POST /runas's answer plus the account id."""
    vault = description["vaults"][index]
    automation = arm.automation(vault["subscriptionId"])
    account = automation.automation_account.create_or_update(
        vault["resourceGroup"],
        default_account_name(vault),
        {"location": vault["location"], "properties": {"sku": {"name": "Basic"}}},
    )
    assert account.identity is None or not account.identity.principal_id
    answer = admin.post("runas", {"automationAccountId": account.id, **run_as})
    return {**answer, "accountId": account.id}


def run_as_policy(name: str, namespace: str, description: dict, index: int, **spec) -> dict:
    return policy(name, namespace, vault_spec(description, index), authentication="RunAsAccount", **spec)


def wait_mappings_enabled(custom, namespace: str, name: str) -> dict:
    """Until the operator has enabled every A2A Paired mapping (with Run As, whatever credentials say)."""

    def enabled():
        body = get_policy(custom, namespace, name)
        mappings = (body.get("status") or {}).get("mappings") or {}
        return (
            body
            if mappings.get("configured") and mappings["configured"] == mappings["total"] - mappings["skipped"]
            else None
        )

    return wait_for(enabled, timeout=30, what=f"{namespace}/{name}: every mapping configured")


def run_update_job(admin, days: float = 1) -> None:
    """Move Azure's clock past the next daily run (00:00 in the vault's zone) and the job's end."""
    admin.advance_clock(days * DAY + 300)


def vault_reads(admin, vault: dict) -> int:
    """GETs of the vault itself: every pass reads it once."""
    path = (
        f"/subscriptions/{vault['subscriptionId']}/resourceGroups/{vault['resourceGroup']}"
        f"/providers/Microsoft.RecoveryServices/vaults/{vault['name']}"
    ).lower()
    return sum(1 for r in admin.requests() if r["method"] == "GET" and r["path"].lower() == path)


def wait_checks(admin, vault: dict, count: int) -> None:
    """Until the operator has looked at the vault `count` more times."""
    start = vault_reads(admin, vault)
    wait_for(lambda: vault_reads(admin, vault) >= start + count, timeout=20, what=f"{count} more drift checks")


def assert_credentials(body: dict, status: str, reason: str, *fragments: str) -> dict:
    found = condition(body, "CredentialsHealthy")
    assert (found.get("status"), found.get("reason")) == (status, reason), pretty(found)
    for fragment in fragments:
        assert fragment in found["message"], pretty(found)
    return found


def test_run_as_assets_are_checked_by_the_operator(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    """Missing certificate asset, missing connection asset, unequal thumbprints: one vault each, no job needed."""
    run_as_account(arm, admin, description, 0, certificate=None)
    run_as_account(arm, admin, description, 1, connection=None)
    run_as_account(arm, admin, description, 2, connection={"thumbprint": "0" * 40})
    start_operator(*DRIFT)
    for name, index in (("no-cert", 0), ("no-conn", 1), ("thumbprint", 2)):
        kubectl.apply(run_as_policy(name, namespace, description, index))

    body = wait_condition(custom, namespace, "no-cert", "CredentialsHealthy", "False", reason="RunAsAccountNotFound")
    found = assert_credentials(
        body, "False", "RunAsAccountNotFound", "certificate asset AzureRunAsCertificate", MIGRATE
    )
    assert condition(body, "Stalled")["status"] == "True" and condition(body, "Ready")["message"] == found["message"]

    body = wait_condition(custom, namespace, "no-conn", "CredentialsHealthy", "False", reason="RunAsAccountNotFound")
    assert_credentials(body, "False", "RunAsAccountNotFound", "connection asset AzureRunAsConnection", MIGRATE)

    body = wait_condition(
        custom, namespace, "thumbprint", "CredentialsHealthy", "False", reason="RunAsThumbprintMismatch"
    )
    assert_credentials(
        body, "False", "RunAsThumbprintMismatch", "AzureRunAsConnection", "Renew the certificate", MIGRATE
    )
    warnings = {e.reason for e in events_for(core, namespace, "thumbprint") if e.type == "Warning"}
    assert "RunAsThumbprintMismatch" in warnings


def test_run_as_principal_and_role_are_judged_by_site_recoverys_job(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    """No service principal, no role on the vault, and a healthy Run As account: one job run tells them apart;
    the failed jobs show in status.jobs and as one Warning Event each."""
    missing_principal = run_as_account(arm, admin, description, 0, servicePrincipal=False)
    run_as_account(arm, admin, description, 1, roleScope=None)
    run_as_account(arm, admin, description, 2)
    start_operator(*DRIFT)
    for name, index in (("no-sp", 0), ("no-role", 1), ("healthy", 2)):
        kubectl.apply(run_as_policy(name, namespace, description, index))

    healthy = wait_ready(custom, namespace, "healthy")
    assert_credentials(healthy, "True", "RunAsAccountRetired", MIGRATE)
    assert "Run As account is retired" in condition(healthy, "Ready")["message"], "Ready carries the advice too"
    for name in ("no-sp", "no-role"):
        # before any job ran, nothing tells the operator about Entra ID: the assets look right
        body = wait_mappings_enabled(custom, namespace, name)
        assert condition(body, "CredentialsHealthy")["reason"] == "RunAsAccountRetired"
    before = {name: event_uids(core, namespace, name) for name in ("no-sp", "no-role")}

    run_update_job(admin)
    body = wait_condition(custom, namespace, "no-sp", "CredentialsHealthy", "False", reason="RunAsAccountNotFound")
    assert_credentials(
        body,
        "False",
        "RunAsAccountNotFound",
        f"application or service principal (ApplicationId {missing_principal['applicationId']})",
        MIGRATE,
    )
    body = wait_condition(
        custom, namespace, "no-role", "CredentialsHealthy", "False", reason="RunAsAccountUnauthorized"
    )
    assert_credentials(body, "False", "RunAsAccountUnauthorized", "may not access the vault", MIGRATE)
    # the mapping's own health error, with Site Recovery's recommended action
    mappings = condition(body, "MappingsConfigured")
    assert (mappings["status"], mappings["reason"]) == ("False", "MappingHealthError"), pretty(mappings)
    assert "RunAsAccountUnauthorized" in mappings["message"] and "Run As accounts are retired" in mappings["message"]

    for name in ("no-sp", "no-role"):
        wait_for(
            lambda name=name: (get_policy(custom, namespace, name)["status"].get("jobs") or {}).get("lastRun"),
            timeout=15,
            what="status.jobs.lastRun",
        )
        last_run = get_policy(custom, namespace, name)["status"]["jobs"]["lastRun"]
        assert last_run["status"] == "Failed" and last_run["startTime"] and last_run["endTime"], pretty(last_run)
        event = wait_event(core, namespace, name, "UpdateJobFailed", since=before[name])
        assert event.type == "Warning" and last_run["startTime"] in event.message
    healthy = wait_for(
        lambda: (lambda b: (b["status"].get("jobs") or {}).get("lastRun") and b)(
            get_policy(custom, namespace, "healthy")
        ),
        timeout=15,
        what="healthy: status.jobs.lastRun",
    )
    assert healthy["status"]["jobs"]["lastRun"]["status"] == "Completed"
    assert condition(healthy, "Ready")["status"] == "True"

    # a few more drift checks post nothing new: one Warning per failed job
    wait_checks(admin, vault_spec(description, 1), 3)
    for name in ("no-sp", "no-role"):
        failed = [e for e in events_for(core, namespace, name) if e.reason == "UpdateJobFailed"]
        assert len(failed) == 1 and (failed[0].count or 1) == 1, [(e.reason, e.count) for e in failed]


def test_certificate_expiry_follows_azures_clock(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    """A certificate valid for 90 days: healthy; 31 days later Site Recovery warns (still Ready); at day 91 the
    job fails and the account is Stalled as expired. A certificate already within 60 days warns at once."""
    run_as_account(arm, admin, description, 0, certificate={"expiresInDays": 90})
    soon = run_as_account(arm, admin, description, 1, certificate={"expiresInDays": 30})
    start_operator(*DRIFT)
    kubectl.apply(run_as_policy("ageing", namespace, description, 0))
    kubectl.apply(run_as_policy("soon", namespace, description, 1))

    body = wait_ready(custom, namespace, "soon")
    assert_credentials(body, "True", "RunAsCertificateExpiring", soon["certificate"]["expiryTime"][:10], MIGRATE)
    body = wait_ready(custom, namespace, "ageing")
    assert_credentials(body, "True", "RunAsAccountRetired")

    run_update_job(admin, days=31)
    body = wait_condition(custom, namespace, "ageing", "CredentialsHealthy", "True", reason="RunAsCertificateExpiring")
    assert condition(body, "Ready")["status"] == "True", "a warning stops nothing"
    assert condition(body, "MappingsConfigured")["status"] == "True", "Site Recovery's warning is no health error"

    run_update_job(admin, days=60)
    body = wait_condition(custom, namespace, "ageing", "CredentialsHealthy", "False", reason="RunAsCertificateExpired")
    assert_credentials(
        body, "False", "RunAsCertificateExpired", "so auto-update has stopped", "Renew the certificate", MIGRATE
    )
    assert condition(body, "Stalled")["status"] == "True"


def test_identity_asked_for_on_a_run_as_vault_migrates_it(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    """Identity on, Contributor on the vault, every mapping switched, and a job run that upgrades the agents."""
    vault = vault_spec(description, 0)
    run_as_account(arm, admin, description, 0)
    start_operator(*DRIFT)
    kubectl.apply(run_as_policy("legacy", namespace, description, 0))
    wait_ready(custom, namespace, "legacy")
    schedules_before = {m.properties.provider_specific_details.schedule_name for m in paired_a2a_mappings(arm, vault)}
    before = event_uids(core, namespace, "legacy")

    kubectl.apply(policy("legacy", namespace, vault, authentication="SystemAssignedIdentity"))
    body = wait_ready(custom, namespace, "legacy")

    account = arm.automation(vault["subscriptionId"]).automation_account.get(
        vault["resourceGroup"], default_account_name(vault)
    )
    assert account.identity.type == "SystemAssigned" and account.identity.principal_id
    assert body["status"]["automationAccount"]["principalId"] == account.identity.principal_id
    assert body["status"]["automationAccount"]["createdByPolicy"] is False, "the Run As account was not ours"
    assert CONTRIBUTOR in {role_guid(a) for a in role_assignments_on_vault(arm, vault, account.identity.principal_id)}
    mappings = paired_a2a_mappings(arm, vault)
    for mapping in mappings:
        details = mapping.properties.provider_specific_details
        assert details.automation_account_authentication_type == "SystemAssignedIdentity"
        assert details.automation_account_arm_id.lower() == account.id.lower()
    assert {m.properties.provider_specific_details.schedule_name for m in mappings} == schedules_before, (
        "Site Recovery keeps the schedules of the same account"
    )
    found = assert_credentials(body, "True", "Converged", "has Contributor on the vault")
    assert "Run As" not in found["message"]
    wait_event(core, namespace, "legacy", "IdentityEnabled", since=before)
    wait_event(core, namespace, "legacy", "RoleAssigned", since=before)
    for mapping in mappings:
        wait_event(core, namespace, "legacy", "MigratedToManagedIdentity", since=before, message=mapping.name)

    # verified by Site Recovery itself: the next run authenticates with the identity and upgrades the agents
    run_update_job(admin)
    body = wait_condition(custom, namespace, "legacy", "AgentsCurrent", "True", reason="Converged")
    assert body["status"]["jobs"]["lastRun"]["status"] == "Completed"
    assert condition(body, "Ready")["status"] == "True"
    assert not [m for m in a2a_mappings(arm, vault) if m.properties.health_error_details]


def test_repair_reapplies_everything_and_rereads_health(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    """A job failed while the identity had no role: once the role is back, the operator sets each mapping again
    (as Microsoft's enable script does for a mapping with a health error), once, and the health error clears;
    a repair later puts the role and every mapping again and records status.lastRepair."""
    vault = vault_spec(description, 0)
    start_operator(*DRIFT)
    kubectl.apply(policy("weu", namespace, vault))
    principal = wait_ready(custom, namespace, "weu")["status"]["automationAccount"]["principalId"]

    # someone takes the role away (and the policy is told not to grant it), then the nightly run fails
    kubectl.apply(policy("weu", namespace, vault, grantVaultAccess=False))
    admin.delete("role-assignments", {"principalId": principal})
    wait_condition(custom, namespace, "weu", "CredentialsHealthy", "False", reason="IdentityNotAuthorized")
    before = event_uids(core, namespace, "weu")
    run_update_job(admin)
    body = wait_condition(custom, namespace, "weu", "MappingsConfigured", "False", reason="MappingHealthError")
    assert "ManagedIdentityUnauthorized" in condition(body, "MappingsConfigured")["message"]
    assert "Assign the Contributor role" in condition(body, "MappingsConfigured")["message"], "Site Recovery's advice"
    event = wait_event(core, namespace, "weu", "UpdateJobFailed", since=before)
    assert event.type == "Warning"

    # granting the role again (the policy does it) heals the credentials; the operator then sets the mappings
    # with a health error again, one update each, and Site Recovery's health follows
    admin.delete("requests")
    kubectl.apply(policy("weu", namespace, vault))
    body = wait_ready(custom, namespace, "weu")
    assert condition(body, "CredentialsHealthy")["reason"] == "Converged"
    assert not [m for m in a2a_mappings(arm, vault) if m.properties.health_error_details]
    assert "lastRepair" not in body["status"]
    changes = writes(arm_requests(admin, operator_object_id(admin)))
    reapplied = [
        r for r in changes if "replicationProtectionContainerMappings/" in r["path"] and r["method"] == "PATCH"
    ]
    assert len(reapplied) == len(paired_a2a_mappings(arm, vault)), describe_requests(changes)

    admin.delete("requests")
    kubectl("annotate", "mup", "weu", "-n", namespace, f"{REPAIR_ANNOTATION}=after-the-failed-run")
    body = wait_for(
        lambda: (
            lambda b: (
                (b["status"].get("lastRepair") or {}).get("token") == "after-the-failed-run"
                and b["status"]["lastRepair"]["result"] == "Converged"
                and b
            )
        )(get_policy(custom, namespace, "weu")),
        timeout=20,
        what="status.lastRepair",
    )
    assert body["status"]["lastRepair"]["result"] == "Converged" and body["status"]["lastRepair"]["time"]
    body = wait_ready(custom, namespace, "weu")
    assert condition(body, "MappingsConfigured")["reason"] == "Converged"
    assert not [m for m in a2a_mappings(arm, vault) if m.properties.health_error_details]

    changes = writes(arm_requests(admin, operator_object_id(admin)))
    patched = [r for r in changes if "replicationProtectionContainerMappings/" in r["path"] and r["method"] == "PATCH"]
    assert len(patched) == len(paired_a2a_mappings(arm, vault)), describe_requests(changes)
    assert [r for r in changes if "roleAssignments/" in r["path"] and r["method"] == "PUT"], describe_requests(changes)
    assert CONTRIBUTOR in {role_guid(a) for a in role_assignments_on_vault(arm, vault, principal)}
    assert len(role_assignments_on_vault(arm, vault, principal)) == 1, "the role is put again, not duplicated"
