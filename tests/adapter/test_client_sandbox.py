"""Every `AzureClient` call over HTTPS against the Azure emulator, with the real token flow.

The emulator speaks ARM's wire behaviour (LROs, paging with nextLink, RBAC, 409/404/429 bodies); faults,
clock moves and the request log come from its admin API. No test sleeps: waits are bounded by deadlines.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from asr_autoupdate.azure import errors, port, throttle
from asr_autoupdate.azure.client import AzureClient, AzureClientPool
from asr_autoupdate.azure.credentials import AzureSettings, ServicePrincipal
from tests.adapter.conftest import Admin
from tests.pem import self_signed
from tests.support import async_wait_for

SUB_A = "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17"
WEU = port.VaultRef(SUB_A, "rg-asr-weu", "rsv-weu-prod")
EUS = port.VaultRef(SUB_A, "rg-asr-eus", "rsv-eus-prod")
ACCOUNT = port.AccountRef(SUB_A, "rg-asr-weu", "rsv-weu-prod-asr-automationaccount")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def account_with_access(azure: AzureClient, admin: Admin) -> port.AutomationAccount:
    """An automation account whose identity holds Contributor on the West Europe vault."""
    admin.configure(principalPropagationDelaySeconds=0)
    account = await azure.put_automation_account(ACCOUNT, location="westeurope", tags={"managed-by": "test"})
    await azure.create_role_assignment(WEU.id, account.principal_id, port.CONTRIBUTOR_ROLE)
    return account


async def updated(azure: AzureClient, admin: Admin, mapping: port.Mapping, **change) -> port.Mapping:
    """Send a mapping update, let the emulated clock pass its end, poll it as a later pass would, re-read."""
    update = await azure.begin_mapping_update(mapping, **change)
    assert update.status_url is not None
    admin.post("/clock", {"advanceSeconds": 600})
    answer = await azure.get_operation_status(WEU, update.status_url)
    assert answer.succeeded, answer
    return next(m for m in await azure.list_mappings(WEU) if m.id == mapping.id)


async def enabled_mapping(azure: AzureClient, admin: Admin) -> port.Mapping:
    account = await account_with_access(azure, admin)
    mapping = next(m for m in await azure.list_mappings(WEU) if m.manageable)
    return await updated(
        azure,
        admin,
        mapping,
        enabled=True,
        automation_account_id=account.id,
        authentication_type="SystemAssignedIdentity",
    )


# --- identity and vaults ----------------------------------------------------------------------------


async def test_get_vault_and_none_when_missing(azure: AzureClient, admin: Admin) -> None:
    vault = await azure.get_vault(WEU)
    assert vault is not None and vault.location == "westeurope" and port.same_id(vault.id, WEU.id)
    assert await azure.get_vault(port.VaultRef(SUB_A, "rg-asr-weu", "no-such-vault")) is None
    assert await azure.get_vault(port.VaultRef(SUB_A, "no-such-group", "rsv-weu-prod")) is None
    paths = [(r["method"], r["path"].lower()) for r in admin.requests()]
    assert ("GET", WEU.id.lower()) in paths


async def test_wrong_secret_is_an_authentication_error_without_the_secret(admin: Admin, make_client) -> None:
    description = admin.description
    wrong = "wrong-secret-" + uuid.uuid4().hex
    client = make_client(ServicePrincipal(description["tenantId"], description["clientId"], client_secret=wrong))
    with pytest.raises(errors.AuthenticationError) as caught:
        await client.get_vault(WEU)
    assert wrong not in str(caught.value) and "\n" not in str(caught.value)
    assert not any(r["path"].lower() == WEU.id.lower() for r in admin.requests()), "ARM must never be reached"


async def test_operator_identity_from_the_environment(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    description = admin.description
    for name, value in {
        "AZURE_TENANT_ID": description["tenantId"],
        "AZURE_CLIENT_ID": description["clientId"],
        "AZURE_CLIENT_SECRET": description["clientSecret"],
        "AZURE_AUTHORITY_HOST": description["authorityHost"],
        "ASR_AUTOUPDATE_ARM_ENDPOINT": description["armEndpoint"],
        "ASR_AUTOUPDATE_CA_BUNDLE": description["caBundle"],
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    async with AzureClient(AzureSettings.from_env()) as client:
        assert (await client.get_vault(WEU)) is not None


async def test_403_is_a_permission_error(admin: Admin, make_client) -> None:
    reader_secret = "reader-" + uuid.uuid4().hex
    reader = admin.post(
        "/principals", {"kind": "ServicePrincipal", "clientSecret": reader_secret, "displayName": "reader"}
    )
    admin.post(
        "/role-assignments", {"principalId": reader["objectId"], "role": "Reader", "scope": f"/subscriptions/{SUB_A}"}
    )
    identity = ServicePrincipal(admin.description["tenantId"], reader["clientId"], client_secret=reader_secret)
    client = make_client(identity)
    assert await client.get_vault(WEU) is not None  # reading is allowed
    with pytest.raises(errors.PermissionError_) as caught:
        await client.put_automation_account(ACCOUNT, location="westeurope", tags={})
    assert caught.value.status == 403 and caught.value.code == "AuthorizationFailed"


# --- automation account -----------------------------------------------------------------------------


async def test_account_put_is_idempotent_with_a_system_identity(azure: AzureClient, admin: Admin) -> None:
    assert await azure.get_automation_account(ACCOUNT) is None
    first = await azure.put_automation_account(ACCOUNT, location="westeurope", tags={"owner": "policy-a"})
    second = await azure.put_automation_account(ACCOUNT, location="westeurope", tags={"owner": "policy-a"})
    assert first.principal_id and first.principal_id == second.principal_id
    assert port.same_id(first.id, ACCOUNT.id) and first.tags == {"owner": "policy-a"}
    assert await azure.get_automation_account(ACCOUNT) == second
    accounts = [a for a in admin.state()["automationAccounts"] if port.same_id(a["id"], ACCOUNT.id)]
    assert len(accounts) == 1 and accounts[0]["identity"]["type"] == "SystemAssigned"


async def test_delete_account_is_idempotent(azure: AzureClient) -> None:
    await azure.put_automation_account(ACCOUNT, location="westeurope", tags={})
    await azure.delete_automation_account(ACCOUNT)
    assert await azure.get_automation_account(ACCOUNT) is None
    await azure.delete_automation_account(ACCOUNT)


# --- role assignments -------------------------------------------------------------------------------


async def test_principal_not_found_right_after_identity_creation_is_transient(azure: AzureClient, admin: Admin) -> None:
    admin.configure(principalPropagationDelaySeconds=60)
    account = await azure.put_automation_account(ACCOUNT, location="westeurope", tags={})
    with pytest.raises(errors.TransientError) as caught:
        await azure.create_role_assignment(WEU.id, account.principal_id, port.CONTRIBUTOR_ROLE)
    assert caught.value.code == "PrincipalNotFound"


async def test_role_assignment_created_twice_is_one_assignment(azure: AzureClient, admin: Admin) -> None:
    admin.configure(principalPropagationDelaySeconds=0)
    account = await azure.put_automation_account(ACCOUNT, location="westeurope", tags={})
    first = await azure.create_role_assignment(WEU.id, account.principal_id, port.CONTRIBUTOR_ROLE)
    second = await azure.create_role_assignment(WEU.id, account.principal_id, port.CONTRIBUTOR_ROLE)
    assert first == second and first.role_guid == port.CONTRIBUTOR_ROLE and port.same_id(first.scope, WEU.id)
    mine = [a for a in admin.state()["roleAssignments"] if a["principalId"] == account.principal_id]
    assert len(mine) == 1 and mine[0]["principalType"] == "ServicePrincipal"


async def test_existing_assignment_under_another_name_is_returned(azure: AzureClient, admin: Admin) -> None:
    admin.configure(principalPropagationDelaySeconds=0)
    account = await azure.put_automation_account(ACCOUNT, location="westeurope", tags={})
    made_in_portal = admin.post(
        "/role-assignments", {"principalId": account.principal_id, "role": "Contributor", "scope": WEU.id}
    )
    found = await azure.create_role_assignment(WEU.id, account.principal_id, port.CONTRIBUTOR_ROLE)
    assert found.id.rsplit("/", 1)[-1] == made_in_portal["name"]
    statuses = [r["status"] for r in admin.requests() if r["method"] == "PUT" and "roleAssignments" in r["path"]]
    assert statuses == [409]


async def test_list_includes_inherited_assignments_and_delete(azure: AzureClient, admin: Admin) -> None:
    admin.configure(principalPropagationDelaySeconds=0)
    account = await azure.put_automation_account(ACCOUNT, location="westeurope", tags={})
    admin.post(
        "/role-assignments", {"principalId": account.principal_id, "role": "Reader", "scope": f"/subscriptions/{SUB_A}"}
    )
    direct = await azure.create_role_assignment(WEU.id, account.principal_id, port.CONTRIBUTOR_ROLE)
    listed = await azure.list_role_assignments(WEU.id, account.principal_id)
    assert {a.role_guid for a in listed} == {port.CONTRIBUTOR_ROLE, "acdd72a7-3385-48ef-bd42-f606fba81ae7"}
    assert any(port.same_id(a.scope, f"/subscriptions/{SUB_A}") for a in listed), "inherited from the subscription"
    assert all(a.principal_id == account.principal_id for a in listed)
    await azure.delete_role_assignment(direct.id)
    assert [a.role_guid for a in await azure.list_role_assignments(WEU.id, account.principal_id)] == [
        "acdd72a7-3385-48ef-bd42-f606fba81ae7"
    ]
    await azure.delete_role_assignment(direct.id)  # already gone: no error


# --- Site Recovery ----------------------------------------------------------------------------------


async def test_list_mappings_tells_a2a_from_others(azure: AzureClient) -> None:
    mappings = await azure.list_mappings(EUS)
    assert len(mappings) == 3
    assert sorted(m.instance_type for m in mappings) == ["A2A", "A2A", "InMageRcm"]
    assert sum(m.manageable for m in mappings) == 2
    assert all(m.auto_update == "Disabled" for m in mappings if m.manageable)


async def test_update_mapping_enable_with_explicit_auth_type_then_disable(azure: AzureClient, admin: Admin) -> None:
    account = await account_with_access(azure, admin)
    mapping = next(m for m in await azure.list_mappings(WEU) if m.manageable)
    enabled = await updated(
        azure, admin, mapping, enabled=True, automation_account_id=account.id, authentication_type=None
    )
    assert enabled.auto_update == "Enabled"
    # the service's default is RunAsAccount: only an explicit type gives a managed identity
    assert enabled.authentication_type == "SystemAssignedIdentity"
    assert port.same_id(enabled.automation_account_id, account.id)
    assert enabled.schedule_name and enabled.schedule_name.startswith(mapping.name + "_") and enabled.job_schedule_name
    disabled = await updated(azure, admin, enabled, enabled=False, automation_account_id=None, authentication_type=None)
    assert disabled.auto_update == "Disabled"
    patches = [r for r in admin.requests() if r["method"] == "PATCH"]
    lists = [
        r
        for r in admin.requests()
        if r["method"] == "GET" and r["path"].endswith("/replicationProtectionContainerMappings")
    ]
    assert len(patches) == 2 and {r["apiVersion"] for r in patches} == {lists[0]["apiVersion"]}, "the SDK's own version"


async def test_a_mapping_update_returns_at_once_and_is_followed_by_polls(azure: AzureClient, admin: Admin) -> None:
    """One PATCH, no waiting: the answer says where to poll and when; the mapping changes when Site Recovery
    ends the operation, not before."""
    account = await account_with_access(azure, admin)
    admin.configure(lroRetryAfterSeconds=30, operationDurationSeconds=120)
    mapping = next(m for m in await azure.list_mappings(WEU) if m.manageable)
    started = time.monotonic()
    update = await azure.begin_mapping_update(
        mapping, enabled=True, automation_account_id=account.id, authentication_type="SystemAssignedIdentity"
    )
    assert time.monotonic() - started < 5, "the PATCH does not wait for the operation"
    assert update.status_url and "/replicationOperationStatus/" in update.status_url and update.retry_after == 30
    running = await azure.get_operation_status(WEU, update.status_url)
    assert running.running and running.retry_after == 30
    still = next(m for m in await azure.list_mappings(WEU) if m.id == mapping.id)
    assert still.auto_update == "Disabled", "the mapping keeps its old settings while the operation runs"
    with pytest.raises(errors.AzureError) as busy:
        await azure.begin_mapping_update(
            mapping, enabled=True, automation_account_id=account.id, authentication_type="SystemAssignedIdentity"
        )
    assert busy.value.status == 409
    admin.post("/clock", {"advanceSeconds": 121})
    done = await azure.get_operation_status(WEU, update.status_url)
    assert done.succeeded
    assert next(m for m in await azure.list_mappings(WEU) if m.id == mapping.id).auto_update == "Enabled"
    assert len([r for r in admin.requests() if r["method"] == "PATCH"]) == 2


async def test_an_operation_address_elsewhere_is_never_called(azure: AzureClient, admin: Admin) -> None:
    elsewhere = "https://attacker.example" + WEU.id + "/replicationOperationStatus/x"
    with pytest.raises(errors.InvalidRequestError):
        await azure.get_operation_status(WEU, elsewhere)
    other_vault = admin.description["armEndpoint"].rstrip("/") + EUS.id + "/replicationOperationStatus/x"
    with pytest.raises(errors.InvalidRequestError):
        await azure.get_operation_status(WEU, other_vault)
    assert not [r for r in admin.requests() if "replicationOperationStatus" in r["path"]]


async def test_an_unknown_operation_is_not_found(azure: AzureClient, admin: Admin) -> None:
    unknown = admin.description["armEndpoint"].rstrip("/") + WEU.id + "/replicationOperationStatus/" + str(uuid.uuid4())
    with pytest.raises(errors.NotFoundError):
        await azure.get_operation_status(WEU, unknown + "?api-version=2025-08-01")


async def test_fabrics_name_each_mappings_source_region(azure: AzureClient) -> None:
    fabrics = {fabric.name.lower(): fabric.location for fabric in await azure.list_fabrics(WEU)}
    for mapping in await azure.list_mappings(WEU):
        assert fabrics.get((mapping.fabric_name or "").lower()), mapping.id


async def test_update_mapping_failure_carries_the_service_code(azure: AzureClient, admin: Admin) -> None:
    mapping = next(m for m in await azure.list_mappings(WEU) if m.manageable)
    update = await azure.begin_mapping_update(
        mapping, enabled=True, automation_account_id=ACCOUNT.id, authentication_type="SystemAssignedIdentity"
    )
    assert update.status_url is not None
    admin.post("/clock", {"advanceSeconds": 600})
    answer = await azure.get_operation_status(WEU, update.status_url)
    assert answer.failed and answer.error_code == "AutomationAccountNotFound"


async def test_protected_items_across_pages(azure: AzureClient, admin: Admin) -> None:
    admin.configure(pageSize=1)
    items = await azure.list_protected_items(WEU)
    assert sorted(i.name for i in items) == sorted({i.name for i in items}) and len(items) == 4
    behind = [i for i in items if i.update_required]
    assert len(behind) == 2 and all(i.agent_version and i.agent_expiry for i in items)
    pages = [r for r in admin.requests() if r["path"].lower().endswith("/replicationprotecteditems")]
    assert len(pages) >= 4


# --- Automation ---------------------------------------------------------------------------------------


async def test_schedules_are_listed_and_rewritten_under_the_same_name(azure: AzureClient, admin: Admin) -> None:
    mapping = await enabled_mapping(azure, admin)
    schedules = await azure.list_schedules(ACCOUNT)
    assert [s.name for s in schedules] == [mapping.schedule_name]
    assert schedules[0].frequency == "Day" and schedules[0].time_zone
    start = (parse_iso(admin.now()) + timedelta(days=1)).replace(hour=3, minute=30, second=0, microsecond=0)
    spec = port.ScheduleSpec(mapping.schedule_name, start, "Week", 2, "Europe/Amsterdam", ("Sunday", "Wednesday"))
    written = await azure.put_schedule(ACCOUNT, spec)
    assert (written.name, written.frequency, written.interval, written.time_zone, written.week_days) == (
        mapping.schedule_name,
        "Week",
        2,
        "Europe/Amsterdam",
        ("Sunday", "Wednesday"),
    )
    assert written.start_time == start.astimezone(UTC)
    after = await azure.list_schedules(ACCOUNT)
    assert len(after) == 1 and after[0].week_days == ("Sunday", "Wednesday") and after[0].next_run


async def test_a_schedule_is_paused_and_resumed_in_place(azure: AzureClient, admin: Admin) -> None:
    mapping = await enabled_mapping(azure, admin)
    [before] = await azure.list_schedules(ACCOUNT)
    paused = await azure.set_schedule_enabled(ACCOUNT, mapping.schedule_name or "", enabled=False)
    assert not paused.is_enabled and paused.name == before.name
    [listed] = await azure.list_schedules(ACCOUNT)
    assert not listed.is_enabled and listed.next_run == before.next_run, "a paused schedule keeps its next run"
    assert (await azure.set_schedule_enabled(ACCOUNT, before.name, enabled=True)).is_enabled
    patches = [r for r in admin.requests() if r["method"] == "PATCH" and "/schedules/" in r["path"]]
    assert len(patches) == 2
    with pytest.raises(errors.NotFoundError):
        await azure.set_schedule_enabled(ACCOUNT, "no-such-schedule", enabled=False)


async def test_schedule_starting_within_five_minutes_is_invalid(azure: AzureClient, admin: Admin) -> None:
    await azure.put_automation_account(ACCOUNT, location="westeurope", tags={})
    soon = parse_iso(admin.now()) + timedelta(minutes=2)
    with pytest.raises(errors.InvalidRequestError) as caught:
        await azure.put_schedule(ACCOUNT, port.ScheduleSpec("s", soon, "Day", 1, "UTC"))
    assert "5 minutes" in caught.value.message


async def test_schedule_put_409_is_a_conflict_not_a_schedule(azure: AzureClient, admin: Admin) -> None:
    await azure.put_automation_account(ACCOUNT, location="westeurope", tags={})
    start = parse_iso(admin.now()) + timedelta(hours=2)
    await azure.put_schedule(ACCOUNT, port.ScheduleSpec("s", start, "Day", 1, "UTC"))
    admin.configure(schedulePutOnExisting="conflict409")
    with pytest.raises(errors.ConflictError) as caught:
        await azure.put_schedule(ACCOUNT, port.ScheduleSpec("s", start, "Day", 1, "UTC"))
    assert caught.value.status == 409 and caught.value.code == "Conflict"


async def test_job_schedules_link_the_site_recovery_runbook(azure: AzureClient, admin: Admin) -> None:
    mapping = await enabled_mapping(azure, admin)
    links = await azure.list_job_schedules(ACCOUNT)
    assert links == [port.JobSchedule(mapping.job_schedule_name, mapping.schedule_name, port.SITE_RECOVERY_RUNBOOK)]


async def test_run_as_certificate_and_connection(azure: AzureClient, admin: Admin) -> None:
    account = await azure.put_automation_account(ACCOUNT, location="westeurope", tags={})
    assert await azure.get_certificate(ACCOUNT, port.RUN_AS_CERTIFICATE) is None
    assert await azure.get_connection(ACCOUNT, port.RUN_AS_CONNECTION) is None
    seeded = admin.post("/runas", {"automationAccountId": account.id})
    certificate = await azure.get_certificate(ACCOUNT, port.RUN_AS_CERTIFICATE)
    connection = await azure.get_connection(ACCOUNT, port.RUN_AS_CONNECTION)
    assert certificate is not None and certificate.thumbprint and certificate.expiry_time
    assert connection is not None and connection.connection_type == "AzureServicePrincipal"
    assert connection.fields["CertificateThumbprint"] == certificate.thumbprint
    assert connection.fields["ApplicationId"] == seeded["applicationId"]


async def test_jobs_since_a_time_after_the_clock_moves(azure: AzureClient, admin: Admin) -> None:
    await enabled_mapping(azure, admin)
    before = parse_iso(admin.now())
    assert await azure.list_jobs(ACCOUNT, runbook_name=port.SITE_RECOVERY_RUNBOOK, since=before) == []
    admin.post("/clock", {"advanceSeconds": 2 * 24 * 3600})
    jobs = await azure.list_jobs(ACCOUNT, runbook_name=port.SITE_RECOVERY_RUNBOOK, since=before)
    assert len(jobs) >= 2 and all(j.runbook_name == port.SITE_RECOVERY_RUNBOOK for j in jobs)
    assert all(j.start_time >= before for j in jobs) and any(j.status == "Completed" for j in jobs)
    later = jobs[0].start_time + timedelta(seconds=1)
    assert all(
        j.start_time >= later
        for j in await azure.list_jobs(ACCOUNT, runbook_name=port.SITE_RECOVERY_RUNBOOK, since=later)
    )
    assert await azure.list_jobs(ACCOUNT, runbook_name="Someone-Else's-Runbook", since=before) == []


# --- failures, retries and the shared budget ----------------------------------------------------------


async def test_5xx_that_persists_is_transient(azure: AzureClient, admin: Admin) -> None:
    admin.fault(method="GET", pathPattern="/vaults/rsv-weu-prod$", status=503, count=10)
    with pytest.raises(errors.TransientError) as caught:
        await azure.get_vault(WEU)
    assert caught.value.status == 503
    vault_gets = [r for r in admin.requests() if r["path"].lower() == WEU.id.lower()]
    assert len(vault_gets) == 4, "one try and retry_total=3 retries"


async def test_5xx_once_is_retried_by_the_sdk(azure: AzureClient, admin: Admin) -> None:
    admin.fault(method="GET", pathPattern="/vaults/rsv-weu-prod$", status=500, count=1)
    assert await azure.get_vault(WEU) is not None


async def test_dropped_connection_is_transient(azure: AzureClient, admin: Admin) -> None:
    await azure.get_vault(WEU)  # the token is in hand; only ARM drops
    admin.fault(method="GET", pathPattern="/vaults/rsv-weu-prod$", drop=True, count=10)
    with pytest.raises(errors.TransientError) as caught:
        await azure.get_vault(WEU)
    assert caught.value.status == 0


async def test_long_retry_after_becomes_throttled_error_and_holds_every_client(
    azure: AzureClient, admin: Admin, make_client
) -> None:
    admin.fault(method="GET", pathPattern="/vaults/rsv-weu-prod$", status=429, retryAfter=30, count=1)
    with pytest.raises(errors.ThrottledError) as caught:
        await azure.get_vault(WEU)
    assert caught.value.retry_after == 30 and caught.value.code == "SubscriptionRequestsThrottled"
    sent = len(admin.requests())

    # another policy's client (another identity even) for the same subscription does not call at all
    with pytest.raises(errors.ThrottledError) as held:
        await make_client().list_mappings(EUS)
    assert 25 < held.value.retry_after <= 30
    assert len(admin.requests()) == sent, "nothing may reach ARM while the subscription is paused"
    stats = throttle.stats()[SUB_A]
    assert (stats.throttled, stats.pauses, stats.rejected) == (1, 1, 1)
    # other subscriptions are not held
    other_vault = admin.description["vaults"][2]
    assert (
        await azure.get_vault(
            port.VaultRef(other_vault["subscriptionId"], other_vault["resourceGroup"], other_vault["name"])
        )
        is not None
    )


async def test_short_retry_after_is_honoured_and_shared(azure: AzureClient, admin: Admin, make_client) -> None:
    admin.fault(method="GET", pathPattern="/vaults/rsv-weu-prod$", status=429, retryAfter=1, count=1)
    first = asyncio.create_task(azure.get_vault(WEU))

    async def throttled_once() -> bool:
        stats = throttle.stats().get(SUB_A)
        return bool(stats and stats.throttled == 1)

    await async_wait_for(throttled_once, what="the 429 to reach the budget")
    mappings = await make_client().list_mappings(EUS)
    assert mappings and (await first) is not None

    stats = throttle.stats()[SUB_A]
    assert stats.throttled == 1 and stats.pauses == 1 and stats.waits >= 1 and stats.rejected == 0
    log = [r for r in admin.requests() if r["subscription"] and r["subscription"].lower() == SUB_A]
    statuses = [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"]) for r in log]
    throttled_at = statuses.index(("GET", "rsv-weu-prod", 429))
    assert ("GET", "replicationProtectionContainerMappings", 200) in statuses[throttled_at + 1 :]
    assert all(status != 429 for _, _, status in statuses[throttled_at + 1 :])
    gap = parse_iso(log[-1]["time"]) - parse_iso(log[throttled_at]["time"])
    assert gap >= timedelta(seconds=0.9), "the second client waited for the Retry-After"


async def test_arm_rate_limit_headers_are_recorded(azure: AzureClient) -> None:
    await azure.get_vault(WEU)
    stats = throttle.stats()[SUB_A]
    assert stats.requests >= 1 and stats.remaining_reads is not None and stats.remaining_reads < 250


async def test_pool_shares_one_client_per_identity(azure: AzureClient) -> None:
    pool = AzureClientPool(azure.settings)
    identity = azure.identity
    assert identity is not None
    try:
        client = await pool.get(identity, user="dr/a")
        same = ServicePrincipal(identity.tenant_id, identity.client_id, client_secret=identity.client_secret)
        assert await pool.get(same, user="dr/b") is client
        assert await client.get_vault(WEU) is not None
    finally:
        await pool.close()


async def test_a_rotated_secrets_client_is_closed_once_no_policy_uses_it(azure: AzureClient) -> None:
    pool = AzureClientPool(azure.settings)
    identity = azure.identity
    assert identity is not None
    rotated = ServicePrincipal(identity.tenant_id, identity.client_id, client_secret="rotated-" + "x" * 8)
    try:
        old = await pool.get(identity, user="dr/a")
        await pool.get(identity, user="dr/b")
        await pool.get(None, user="dr/c")  # the operator's own identity
        assert pool.identities == 2
        await pool.get(rotated, user="dr/a")  # a's Secret was rotated: b still uses the old one
        assert pool.identities == 3 and await pool.get(identity, user="dr/b") is old
        await pool.release("dr/b")  # b was deleted: nobody uses the old secret now
        assert pool.identities == 2
        assert await pool.get(identity, user="dr/d") is not old  # a new client, the closed one is gone
        await pool.release("dr/c")
        assert pool.identities == 3, "the operator's own identity stays until shutdown"
    finally:
        await pool.close()
    assert pool.identities == 0


# --- more identities ----------------------------------------------------------------------------------


async def test_certificate_identity_from_a_secret(admin: Admin, make_client) -> None:
    bundle, certificate_pem, _ = self_signed()
    principal = admin.post("/principals", {"kind": "ServicePrincipal", "certificatePem": certificate_pem})
    admin.post(
        "/role-assignments",
        {"principalId": principal["objectId"], "role": "Reader", "scope": f"/subscriptions/{SUB_A}"},
    )
    identity = ServicePrincipal.from_secret_data(
        {"tenantId": admin.description["tenantId"], "clientId": principal["clientId"], "clientCertificate": bundle}
    )
    assert await make_client(identity).get_vault(WEU) is not None


async def test_workload_identity_token_file(
    azure: AzureClient, admin: Admin, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # The emulator models no federated credential: it accepts any assertion for a principal that has a
    # registered certificate and presents no thumbprint. Enough to prove the chain reaches the
    # workload identity credential with the authority and CA settings applied.
    principal = admin.post("/principals", {"kind": "ServicePrincipal", "certificateThumbprint": "AB" * 20})
    admin.post(
        "/role-assignments",
        {"principalId": principal["objectId"], "role": "Reader", "scope": f"/subscriptions/{SUB_A}"},
    )
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXNyIn0.c2ln")
    for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_TENANT_ID", admin.description["tenantId"])
    monkeypatch.setenv("AZURE_CLIENT_ID", principal["clientId"])
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    async with AzureClient(azure.settings) as client:  # no identity given: the operator's own
        assert await client.get_vault(WEU) is not None


async def test_arm_refusing_the_token_is_an_authentication_error(azure: AzureClient, admin: Admin) -> None:
    admin.fault(
        method="GET", pathPattern="/vaults/rsv-weu-prod$", status=401, code="InvalidAuthenticationToken", count=1
    )
    with pytest.raises(errors.AuthenticationError) as caught:
        await azure.get_vault(WEU)
    assert caught.value.status == 401 and caught.value.code == "InvalidAuthenticationToken"
