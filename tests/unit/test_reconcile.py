"""reconcile() and finalize() end to end over the in-memory Azure: convergence, idempotence, safety."""

import dataclasses
from collections import Counter
from datetime import timedelta

import pytest

from asr_autoupdate.api import POLICY_TAG
from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import PermissionError_, ThrottledError
from asr_autoupdate.reconcile import finalize, reconcile
from tests.unit.fake_azure import FakeAzure
from tests.unit.policy_builders import ACCOUNT, NOW, VAULT, make_policy, protected_item

FORBIDDEN = PermissionError_("does not have authorization", status=403, code="AuthorizationFailed")
THROTTLED = ThrottledError("throttled", status=429, code="SubscriptionRequestsThrottled", retry_after=12)


class OperatorKilled(Exception):
    """Stands for the process dying in the middle of a pass."""


@pytest.fixture
def azure() -> FakeAzure:
    """A westeurope vault with two A2A Paired mappings, one that is not A2A, and two protected items."""
    fake = FakeAzure(NOW)
    fake.add_vault(VAULT, "westeurope")
    fake.add_fabric(VAULT, "fabric1", "westeurope")  # the mappings' source region
    fake.add_mapping(VAULT, "m1")
    fake.add_mapping(VAULT, "m2")
    fake.add_mapping(VAULT, "hyperv", instance_type="HyperVReplicaAzure")
    fake.protected_items[VAULT.id.lower().strip("/")] = [protected_item("vm1"), protected_item("vm2")]
    return fake


def conditions(outcome):
    return {entry["type"]: (entry["status"], entry["reason"]) for entry in outcome.status["conditions"]}


def a2a(azure):
    return [m for m in azure.mappings[VAULT.id.lower().strip("/")].values() if m.instance_type == "A2A"]


def account_schedules(azure):
    return list(azure.schedules[ACCOUNT.id.lower().strip("/")].values())


def assert_converged(outcome):
    assert conditions(outcome)["Ready"] == ("True", "Converged"), outcome.status["conditions"]
    assert outcome.retry is None


async def test_new_policy_converges_in_one_pass(azure):
    outcome = await reconcile(azure, make_policy(schedule={"time": "06:30"}), NOW)
    assert_converged(outcome)
    [created] = azure.accounts.values()
    assert (created.id.lower(), created.location) == (ACCOUNT.id.lower(), "westeurope")
    assert created.tags == {POLICY_TAG: "dr/vault1"} and created.principal_id
    [assignment] = azure.role_assignments
    assert (assignment.scope, assignment.principal_id, assignment.role_guid) == (
        VAULT.id,
        created.principal_id,
        port.CONTRIBUTOR_ROLE,
    )
    for mapping in a2a(azure):
        assert (mapping.auto_update, mapping.authentication_type) == ("Enabled", "SystemAssignedIdentity")
        assert port.same_id(mapping.automation_account_id, ACCOUNT.id)
    hyperv = azure.mappings[VAULT.id.lower().strip("/")]["hyperv"]
    assert hyperv.auto_update == "Disabled", "mappings that are not A2A are left alone"
    schedules = account_schedules(azure)
    assert len(schedules) == 2 and {s.time_zone for s in schedules} == {"Europe/Amsterdam"}
    assert all(s.start_time == NOW.replace(hour=4, minute=30) + timedelta(days=1) for s in schedules)
    assert [m.schedule_name for m in a2a(azure)] == [s.name for s in schedules], "Site Recovery's names are kept"
    assert Counter(e.reason for e in outcome.events) == {
        "AutomationAccountCreated": 1,
        "RoleAssigned": 1,
        "MappingUpdated": 2,
        "ScheduleRewritten": 2,
    }
    assert outcome.status["mappings"] == {"total": 3, "configured": 2, "skipped": 1}
    assert outcome.status["automationAccount"]["createdByPolicy"] is True
    assert outcome.status["scheduleSummary"] == "06:30 Europe/Amsterdam"
    assert outcome.recheck_after == 3600


async def test_second_pass_writes_nothing(azure):
    first = await reconcile(azure, make_policy(), NOW)
    azure.writes.clear()
    second = await reconcile(azure, make_policy(status=first.status), NOW + timedelta(hours=1))
    third = await reconcile(azure, make_policy(status=second.status), NOW + timedelta(hours=2))
    assert_converged(third)
    assert azure.writes == []
    assert (len(azure.accounts), len(azure.role_assignments)) == (1, 1)
    assert second.events == third.events == ()


@pytest.mark.parametrize("dies_in", ["create_role_assignment", "begin_mapping_update", "put_schedule"])
async def test_a_pass_that_dies_is_simply_repeated(azure, dies_in):
    azure.fail(dies_in, OperatorKilled())
    with pytest.raises(OperatorKilled):
        await reconcile(azure, make_policy(schedule={"time": "06:30"}), NOW)
    assert_converged(await reconcile(azure, make_policy(schedule={"time": "06:30"}), NOW))
    assert (len(azure.accounts), len(azure.role_assignments)) == (1, 1)
    assert azure.writes.count("put_automation_account") == 1
    assert sum(len(job_schedules) for job_schedules in azure.job_schedules.values()) == 2


async def test_creation_looks_first(azure):
    """Another writer created the account between observe and act: no second PUT that would claim it."""
    outcome = await reconcile(azure, make_policy(), NOW, max_rounds=0)
    azure.add_account(ACCOUNT, "westeurope", principal_id="someone", tags={"owner": "team"})
    outcome = await reconcile(azure, make_policy(status=outcome.status), NOW)
    assert "put_automation_account" not in azure.writes
    assert outcome.status["automationAccount"]["createdByPolicy"] is False


async def test_observe_mode_never_writes(azure):
    outcome = await reconcile(azure, make_policy(managementPolicy="Observe"), NOW)
    assert azure.writes == []
    assert conditions(outcome)["Stalled"] == ("True", "DriftDetected")
    assert outcome.retry is None and outcome.recheck_after == 3600
    assert [event.reason for event in outcome.events] == ["DriftDetected"]


async def test_manual_turns_auto_update_off_and_creates_nothing(azure):
    await reconcile(azure, make_policy(), NOW)
    azure.writes.clear()
    outcome = await reconcile(azure, make_policy(updateMode="Manual"), NOW)
    assert_converged(outcome)
    assert [m.auto_update for m in a2a(azure)] == ["Disabled", "Disabled"]
    assert azure.writes == ["begin_mapping_update", "begin_mapping_update"]


async def test_manual_on_a_fresh_vault_needs_no_account(azure):
    assert_converged(await reconcile(azure, make_policy(updateMode="Manual"), NOW))
    assert azure.accounts == {} and azure.writes == []


async def test_forbidden_account_creation_stalls(azure):
    azure.fail("put_automation_account", FORBIDDEN)
    outcome = await reconcile(azure, make_policy(), NOW)
    assert conditions(outcome)["Stalled"] == ("True", "InsufficientPermissions")
    assert (outcome.retry.kind, outcome.retry.delay) == ("person", 300)
    assert azure.writes == ["put_automation_account"]
    assert [event.type for event in outcome.events] == ["Warning"]


async def test_throttling_retries_after_azures_delay(azure):
    azure.fail("list_mappings", THROTTLED, times=10)
    outcome = await reconcile(azure, make_policy(), NOW)
    assert conditions(outcome)["Reconciling"] == ("True", "Progressing")  # waiting, not failing
    assert (outcome.retry.kind, outcome.retry.delay) == ("wait", 12)


async def test_a_running_mapping_update_is_picked_up_by_the_next_pass(azure):
    azure.leave_mapping_updates_running(2)
    first = await reconcile(azure, make_policy(), NOW)
    assert conditions(first)["MappingsConfigured"] == ("False", "Progressing")
    assert first.retry.kind == "wait"
    assert azure.writes.count("begin_mapping_update") == 2, "no second PATCH while the first still runs"
    azure.calls.clear()
    assert (await reconcile(azure, make_policy(status=first.status), NOW + timedelta(seconds=10))).retry.delay == 20
    assert "get_operation_status" not in azure.calls, "Azure asked for 30 s between polls"
    azure.finish_mapping_updates()
    assert_converged(await reconcile(azure, make_policy(status=first.status), NOW + timedelta(seconds=30)))
    assert azure.writes.count("begin_mapping_update") == 2


async def test_an_operation_ending_while_the_mappings_are_read_is_not_a_missing_schedule(azure):
    """The schedules are read after the mappings: Site Recovery's new schedule is in the list when a mapping
    already names it (read side by side, this pass reported ScheduleNotFound: seen at 1,000 vaults)."""
    azure.leave_mapping_updates_running(2)
    first = await reconcile(azure, make_policy(), NOW)
    azure.finish_updates_while_mappings_are_read()
    outcome = await reconcile(azure, make_policy(status=first.status), NOW + timedelta(seconds=30))
    assert "ScheduleNotFound" not in {reason for _, reason in conditions(outcome).values()}, conditions(outcome)
    assert not [event for event in outcome.events if event.reason == "ScheduleNotFound"]


async def test_max_rounds_bounds_a_pass(azure):
    outcome = await reconcile(azure, make_policy(), NOW, max_rounds=1)
    assert conditions(outcome)["Reconciling"] == ("True", "Progressing")
    assert azure.writes == ["put_automation_account"]


async def test_drift_and_new_mappings_are_repaired_on_the_next_pass(azure):
    first = await reconcile(azure, make_policy(), NOW)
    vault_mappings = azure.mappings[VAULT.id.lower().strip("/")]
    vault_mappings["m1"] = dataclasses.replace(vault_mappings["m1"], auto_update="Disabled")
    azure.add_mapping(VAULT, "m3")
    azure.writes.clear()
    assert_converged(await reconcile(azure, make_policy(status=first.status), NOW + timedelta(hours=1)))
    assert azure.writes == ["begin_mapping_update", "begin_mapping_update"]
    assert all(m.auto_update == "Enabled" for m in a2a(azure))


async def test_a_conflicting_policy_never_reaches_azure(azure):
    outcome = await reconcile(azure, make_policy(), NOW, conflict="other/owner")
    assert azure.calls == []
    assert conditions(outcome)["Stalled"] == ("True", "PolicyConflict")
    assert "other/owner" in outcome.status["conditions"][0]["message"]


async def test_an_invalid_spec_never_reaches_azure(azure):
    outcome = await reconcile(azure, make_policy(schedule={"timeZone": "Mars/Olympus_Mons"}), NOW)
    assert azure.calls == []
    assert conditions(outcome)["Stalled"] == ("True", "InvalidSpec")
    assert outcome.retry.kind == "invalid"


async def test_repair_reapplies_once_per_token(azure):
    first = await reconcile(azure, make_policy(), NOW)
    azure.writes.clear()
    repaired = await reconcile(azure, make_policy(status=first.status, repair_token="r1"), NOW)
    assert azure.writes == ["create_role_assignment", "begin_mapping_update", "begin_mapping_update"], (
        "the role is put again"
    )
    assert len(azure.role_assignments) == 1, "an idempotent put: not duplicated"
    assert "RoleAssigned" not in {event.reason for event in repaired.events}, "nothing changed, no Event"
    assert repaired.status["lastRepair"] == {"token": "r1", "time": "2024-06-10T12:00:00Z", "result": "Converged"}
    azure.writes.clear()
    status = {**first.status, "lastRepair": repaired.status["lastRepair"]}
    await reconcile(azure, make_policy(status=status, repair_token="r1"), NOW)
    assert azure.writes == [], "an answered token asks for nothing more"


async def test_run_as_is_diagnosed_not_created(azure):
    outcome = await reconcile(azure, make_policy(authentication="RunAsAccount"), NOW)
    assert azure.writes == []
    assert conditions(outcome)["AutomationAccountReady"] == ("False", "RunAsAccountNotFound")


async def test_run_as_account_keeps_its_mappings_configured(azure):
    azure.add_account(ACCOUNT, "westeurope", principal_id=None)
    key = ACCOUNT.id.lower().strip("/")
    azure.certificates[(key, port.RUN_AS_CERTIFICATE)] = port.Certificate(
        port.RUN_AS_CERTIFICATE, "AB12", NOW + timedelta(days=30)
    )
    azure.connections[(key, port.RUN_AS_CONNECTION)] = port.Connection(
        port.RUN_AS_CONNECTION, "AzureServicePrincipal", {"CertificateThumbprint": "ab12"}
    )
    outcome = await reconcile(azure, make_policy(authentication="RunAsAccount"), NOW)
    assert_converged(outcome)
    assert conditions(outcome)["CredentialsHealthy"] == ("True", "RunAsCertificateExpiring")
    assert [m.authentication_type for m in a2a(azure)] == ["RunAsAccount", "RunAsAccount"]
    assert "put_automation_account" not in azure.writes and "create_role_assignment" not in azure.writes


# --- finalize ------------------------------------------------------------------------------------------------


async def converged_estate(azure, **overrides):
    await reconcile(azure, make_policy(**overrides), NOW)
    azure.writes.clear()
    azure.calls.clear()


async def test_orphan_leaves_azure_alone(azure):
    await converged_estate(azure)
    outcome = await finalize(azure, make_policy(), NOW)
    assert (outcome.retry, outcome.status, azure.calls) == (None, {}, []), "Azure is not even read"


async def test_disable_turns_every_mapping_off_and_keeps_the_account(azure):
    await converged_estate(azure, deletionPolicy="Disable")
    outcome = await finalize(azure, make_policy(deletionPolicy="Disable"), NOW)
    assert outcome.retry is None
    assert [m.auto_update for m in a2a(azure)] == ["Disabled", "Disabled"]
    assert len(azure.accounts) == 1 and len(azure.role_assignments) == 1


async def test_delete_removes_what_the_policy_created(azure):
    await converged_estate(azure, deletionPolicy="Delete")
    outcome = await finalize(azure, make_policy(deletionPolicy="Delete"), NOW)
    assert outcome.retry is None
    assert azure.accounts == {} and azure.role_assignments == []
    assert azure.writes == [
        "begin_mapping_update",
        "begin_mapping_update",
        "delete_role_assignment",
        "delete_automation_account",
    ]
    assert [event.reason for event in outcome.events] == [
        "MappingUpdated",
        "MappingUpdated",
        "RoleRevoked",
        "AutomationAccountDeleted",
    ]


async def test_delete_keeps_an_account_it_did_not_create(azure):
    azure.add_account(ACCOUNT, "westeurope", principal_id="team-principal", tags={"owner": "team"})
    await converged_estate(azure, deletionPolicy="Delete")
    outcome = await finalize(azure, make_policy(deletionPolicy="Delete"), NOW)
    assert outcome.retry is None
    assert len(azure.accounts) == 1 and len(azure.role_assignments) == 1
    assert azure.writes == ["begin_mapping_update", "begin_mapping_update"]


@pytest.mark.parametrize(
    "overrides, conflict",
    [
        pytest.param({"deletionPolicy": "Delete", "managementPolicy": "Observe"}, None, id="observe-mode"),
        pytest.param({"deletionPolicy": "Delete"}, "other/owner", id="vault-owned-by-another-policy"),
    ],
)
async def test_finalize_without_writing(azure, overrides, conflict):
    await converged_estate(azure)
    outcome = await finalize(azure, make_policy(**overrides), NOW, conflict=conflict)
    assert (outcome.retry, azure.calls) == (None, [])


async def test_failed_cleanup_keeps_the_finalizer_and_says_why(azure):
    await converged_estate(azure, deletionPolicy="Disable")
    azure.fail("begin_mapping_update", FORBIDDEN)
    outcome = await finalize(azure, make_policy(deletionPolicy="Disable"), NOW)
    assert outcome.retry.kind == "person"
    assert conditions(outcome)["Stalled"] == ("True", "InsufficientPermissions")


async def test_unreadable_mappings_keep_the_finalizer(azure):
    await converged_estate(azure, deletionPolicy="Delete")
    azure.fail("list_mappings", THROTTLED)
    outcome = await finalize(azure, make_policy(deletionPolicy="Delete"), NOW)
    assert (outcome.retry.kind, outcome.retry.delay) == ("wait", 12)
    assert len(azure.accounts) == 1, "the account is not deleted while mappings may still point at it"


async def test_invalid_spec_keeps_the_finalizer(azure):
    outcome = await finalize(azure, make_policy(deletionPolicy="Delete", schedule={"timeZone": "Nowhere/Land"}), NOW)
    assert outcome.retry.kind == "invalid" and azure.calls == []


# --- Site Recovery operations followed through status (reconcile/operations.py) -------------------------------


async def running_pass(azure, **overrides):
    azure.leave_mapping_updates_running(2)
    return await reconcile(azure, make_policy(**overrides), NOW)


async def test_an_update_in_flight_is_remembered_in_status_with_what_was_asked(azure):
    first = await running_pass(azure)
    records = first.status["operations"]
    assert [record["mapping"] for record in records] == ["m1", "m2"]
    for record in records:
        assert (
            record["statusUrl"].startswith("https://fake-arm.invalid/")
            and "/replicationOperationStatus/" in record["statusUrl"]
        )
        assert record["requested"] == {
            "agentAutoUpdateStatus": "Enabled",
            "automationAccountArmId": ACCOUNT.id,
            "automationAccountAuthenticationType": "SystemAssignedIdentity",
        }
        assert record["started"] == "2024-06-10T12:00:00Z" and record["retryAfterSeconds"] == 30
        assert "finished" not in record
    assert (first.retry.kind, first.retry.delay) == ("wait", 30)
    ready = next(c for c in first.status["conditions"] if c["type"] == "MappingsConfigured")
    assert ready["message"].startswith("2 of 2 mappings updating in Site Recovery")
    assert not [event for event in first.events if event.type == "Warning"], "waiting is not a problem"


async def test_a_successor_polls_the_operation_from_status_instead_of_patching_again(azure):
    first = await running_pass(azure)
    azure.writes.clear()
    azure.calls.clear()
    still = await reconcile(azure, make_policy(status=first.status), NOW + timedelta(seconds=30))
    assert azure.writes == [] and azure.calls.count("get_operation_status") == 2
    assert conditions(still)["Reconciling"] == ("True", "Progressing")
    azure.finish_mapping_updates()
    done = await reconcile(azure, make_policy(status=still.status), NOW + timedelta(seconds=60))
    assert_converged(done)
    assert azure.writes == [], "never a second PATCH for the same mapping"
    assert [(r["mapping"], r["result"]) for r in done.status["operations"]] == [
        ("m1", "Succeeded"),
        ("m2", "Succeeded"),
    ]


@pytest.mark.parametrize("status", ["PartiallySucceeded", "CompletedWithInformation", "succeeded"])
async def test_site_recoverys_other_success_statuses_end_the_wait(azure, status):
    first = await running_pass(azure)
    azure.end_mapping_updates(status)
    assert_converged(await reconcile(azure, make_policy(status=first.status), NOW + timedelta(seconds=30)))


async def test_an_operation_that_ends_failed_reports_mapping_update_failed(azure):
    first = await running_pass(azure)
    azure.end_mapping_updates("Failed", "AutomationAccountNotFound")
    failed = await reconcile(azure, make_policy(status=first.status), NOW + timedelta(minutes=2), max_rounds=0)
    assert conditions(failed)["MappingsConfigured"] == ("False", "MappingUpdateFailed")
    assert "AutomationAccountNotFound" in next(
        c["message"] for c in failed.status["conditions"] if c["type"] == "MappingsConfigured"
    )
    assert failed.retry.kind == "person"
    assert {(r["result"], r["errorCode"]) for r in failed.status["operations"]} == {
        ("Failed", "AutomationAccountNotFound")
    }


async def test_an_unknown_status_is_waited_on_then_given_up_after_an_hour(azure):
    first = await running_pass(azure)
    azure.end_mapping_updates("Validating")  # a status azure-core's poller would loop on forever
    later = await reconcile(azure, make_policy(status=first.status), NOW + timedelta(minutes=30))
    assert (
        conditions(later)["Reconciling"] == ("True", "Progressing") and azure.writes.count("begin_mapping_update") == 2
    )
    given_up = await reconcile(azure, make_policy(status=later.status), NOW + timedelta(minutes=61))
    assert_converged(given_up)  # the change had been applied: judged afresh, nothing to send
    assert {r["result"] for r in given_up.status["operations"]} == {"NotFollowed"}


async def test_an_operation_azure_forgot_is_judged_afresh(azure):
    first = await running_pass(azure)
    forgotten = {
        **first.status,
        "operations": [dict(r, statusUrl=r["statusUrl"] + "-gone") for r in first.status["operations"]],
    }
    azure.finish_mapping_updates()
    assert_converged(await reconcile(azure, make_policy(status=forgotten), NOW + timedelta(seconds=30)))


async def test_a_mapping_busy_with_someone_elses_operation_is_waited_on_not_failed(azure):
    first = await running_pass(azure)
    lost = {key: value for key, value in first.status.items() if key != "operations"}  # the records were lost
    busy = await reconcile(azure, make_policy(status=lost), NOW)
    assert conditions(busy)["Reconciling"] == ("True", "Progressing")
    assert busy.retry.kind == "wait" and not [e for e in busy.events if e.type == "Warning"]
    assert azure.updates_in_flight == 2, "the 409 refused the second update: Site Recovery runs only the first"


async def test_unreadable_records_in_status_are_dropped_not_fatal(azure):
    status = {"operations": [{"mapping": 3}, "junk", {"mapping": "m1", "statusUrl": "x"}]}
    assert_converged(await reconcile(azure, make_policy(status=status), NOW))


async def test_cleanup_waits_for_updates_in_flight(azure):
    first = await reconcile(azure, make_policy(deletionPolicy="Delete"), NOW)
    azure.leave_mapping_updates_running(2)
    disabling = await finalize(azure, make_policy(status=first.status, deletionPolicy="Delete"), NOW)
    assert disabling.retry.kind == "wait" and len(disabling.status["operations"]) == 2
    assert "delete_automation_account" not in azure.writes
    again = await finalize(
        azure, make_policy(status=disabling.status, deletionPolicy="Delete"), NOW + timedelta(seconds=30)
    )
    assert again.retry.kind == "wait" and "delete_automation_account" not in azure.writes
    azure.finish_mapping_updates()
    done = await finalize(azure, make_policy(status=again.status, deletionPolicy="Delete"), NOW + timedelta(seconds=60))
    assert done.retry is None and azure.accounts == {}


async def test_a_repair_is_answered_once_its_updates_are_sent_and_its_result_follows_them(azure):
    first = await reconcile(azure, make_policy(), NOW)
    azure.writes.clear()
    azure.leave_mapping_updates_running(2)
    repairing = await reconcile(azure, make_policy(status=first.status, repair_token="t1"), NOW)
    assert repairing.status["lastRepair"]["result"] == "Progressing" and repairing.status["lastRepair"]["token"] == "t1"
    assert azure.writes.count("begin_mapping_update") == 2
    later = NOW + timedelta(seconds=30)
    azure.finish_mapping_updates()
    done = await reconcile(azure, make_policy(status=repairing.status, repair_token="t1"), later)
    assert_converged(done)
    assert done.status["lastRepair"] == {"token": "t1", "time": "2024-06-10T12:00:30Z", "result": "Converged"}
    assert azure.writes.count("begin_mapping_update") == 2, "the repair is not forced a second time"
    quiet = await reconcile(azure, make_policy(status={**done.status}, repair_token="t1"), later)
    assert "lastRepair" not in quiet.status, "an answered repair is left as it is"


async def test_a_pause_disables_every_schedule_and_a_resume_enables_them(azure):
    converged_ = await reconcile(azure, make_policy(), NOW)
    azure.writes.clear()
    paused = await reconcile(azure, make_policy(status=converged_.status, updatesPaused=True), NOW)
    assert_converged(paused)
    assert azure.writes == ["set_schedule_enabled", "set_schedule_enabled"]
    assert not [s for s in account_schedules(azure) if s.is_enabled]
    assert conditions(paused)["ScheduleConfigured"] == ("True", "UpdatesPaused")
    ready = next(c for c in paused.status["conditions"] if c["type"] == "Ready")
    assert "updates paused" in ready["message"]
    assert paused.status["scheduleSummary"].endswith(" (paused)")
    assert {s["enabled"] for s in paused.status["schedules"]} == {False}
    assert [e.reason for e in paused.events] == ["SchedulePaused", "SchedulePaused"]

    # a person enables one during the freeze: drift, paused again
    name = account_schedules(azure)[0].name.lower()
    azure.schedules[ACCOUNT.id.lower().strip("/")][name] = dataclasses.replace(
        azure.schedules[ACCOUNT.id.lower().strip("/")][name], is_enabled=True
    )
    azure.writes.clear()
    again = await reconcile(azure, make_policy(status=paused.status, updatesPaused=True), NOW)
    assert_converged(again) and azure.writes == ["set_schedule_enabled"]

    azure.writes.clear()
    resumed = await reconcile(azure, make_policy(status=again.status), NOW)
    assert_converged(resumed)
    assert azure.writes == ["set_schedule_enabled", "set_schedule_enabled"]
    assert all(s.is_enabled for s in account_schedules(azure))
    assert [e.reason for e in resumed.events] == ["ScheduleResumed", "ScheduleResumed"]


async def test_observe_mode_reports_a_schedule_enabled_during_a_pause_as_drift(azure):
    first = await reconcile(azure, make_policy(updatesPaused=True), NOW)
    assert_converged(first)
    for key, schedule in list(azure.schedules[ACCOUNT.id.lower().strip("/")].items()):
        azure.schedules[ACCOUNT.id.lower().strip("/")][key] = dataclasses.replace(schedule, is_enabled=True)
    azure.writes.clear()
    observed = await reconcile(
        azure, make_policy(status=first.status, updatesPaused=True, managementPolicy="Observe"), NOW
    )
    assert conditions(observed)["Stalled"] == ("True", "DriftDetected") and azure.writes == []
    assert "pause schedule" in next(c for c in observed.status["conditions"] if c["type"] == "Ready")["message"]
