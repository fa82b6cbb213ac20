"""Drift: what someone changes in Azure after Ready is put back on the next drift check, and leaves an Event.

The operator runs with `--drift-interval-override 2`, so the drift timer fires within seconds; the repair
annotation needs no override at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.kit import (
    CONTRIBUTOR,
    REPAIR_ANNOTATION,
    a2a_mappings,
    arm_requests,
    assert_kstatus,
    default_account_name,
    describe_requests,
    event_uids,
    get_policy,
    operator_object_id,
    policy,
    role_assignments_on_vault,
    role_guid,
    set_mapping,
    vault_spec,
    wait_event,
    wait_ready,
    writes,
)
from tests.support import wait_for

DRIFT = ("--drift-interval-override", "2")


@pytest.fixture
def converged(description, namespace, kubectl, custom, core, start_operator):
    """A Ready policy for rsv-weu-prod at 02:30, an operator checking for drift every 2 s, and the Events so far."""
    vault = vault_spec(description, 0)

    def converge(*operator_args: str) -> dict:
        start_operator(*operator_args)
        kubectl.apply(policy("drift", namespace, vault, schedule={"time": "02:30"}))
        body = wait_ready(custom, namespace, "drift")
        return {
            "vault": vault,
            "body": body,
            "events": event_uids(core, namespace, "drift"),
            "account": body["status"]["automationAccount"],
        }

    return converge


def _enabled_with(arm, vault: dict, account_id: str) -> list:
    """The A2A mappings, once every one is Enabled with the account; None until then."""
    mappings = a2a_mappings(arm, vault)
    ok = all(
        m.properties.provider_specific_details.agent_auto_update_status == "Enabled"
        and (m.properties.provider_specific_details.automation_account_arm_id or "").lower() == account_id.lower()
        for m in mappings
    )
    return mappings if ok else None


def test_a_mapping_disabled_by_hand_is_enabled_again(namespace, custom, core, arm, converged):
    before = converged(*DRIFT)
    vault, account_id = before["vault"], before["account"]["id"]
    flipped = a2a_mappings(arm, vault)[0]
    set_mapping(arm, vault, flipped, enabled=False)

    event = wait_event(core, namespace, "drift", "MappingUpdated", since=before["events"], message=flipped.name)
    assert event.type == "Normal" and "Enabled" in event.message
    mappings = wait_for(lambda: _enabled_with(arm, vault, account_id), timeout=30, what="mappings enabled again")
    assert all(m.properties.provider_specific_details.schedule_name for m in mappings)
    body = wait_ready(custom, namespace, "drift")
    assert body["status"]["mappings"]["configured"] == len(mappings)
    assert {s["time"] for s in body["status"]["schedules"]} == {"02:30"}


def test_a_mapping_added_after_ready_gets_the_setting(namespace, custom, core, admin, arm, converged):
    before = converged(*DRIFT)
    vault, account_id = before["vault"], before["account"]["id"]
    new_mapping = "northeurope-westeurope-72-hour-retention-policy"
    admin.post(
        "seed",
        {
            "vaults": [
                {
                    **vault,
                    "location": "westeurope",
                    "fabrics": [
                        {
                            "name": "asr-a2a-default-northeurope",
                            "location": "northeurope",
                            "instanceType": "Azure",
                            "containers": [
                                {
                                    "name": "asr-a2a-default-northeurope-container",
                                    "mappings": [
                                        {
                                            "name": new_mapping,
                                            "target": "asr-a2a-default-westeurope/asr-a2a-default-westeurope-container",
                                            "policy": "72-hour-retention-policy",
                                            "instanceType": "A2A",
                                            "state": "Paired",
                                            "agentAutoUpdateStatus": "Disabled",
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    )

    wait_event(core, namespace, "drift", "MappingUpdated", since=before["events"], message=new_mapping)
    mappings = wait_for(lambda: _enabled_with(arm, vault, account_id), timeout=30, what="all mappings enabled")
    assert new_mapping in {m.name for m in mappings} and len(mappings) == 3
    body = wait_for(
        lambda: (b := wait_ready(custom, namespace, "drift"))["status"]["mappings"]["configured"] == 3 and b,
        timeout=30,
        what="status counting the new mapping",
    )
    assert body["status"]["mappings"]["total"] == 3
    assert {s["mapping"] for s in body["status"]["schedules"]} == {m.name for m in mappings}
    assert {s["time"] for s in body["status"]["schedules"]} == {"02:30"}


def test_a_schedule_edited_by_hand_is_rewritten(namespace, custom, core, admin, arm, converged):
    before = converged(*DRIFT)
    vault = before["vault"]
    automation = arm.automation(vault["subscriptionId"])
    account = default_account_name(vault)
    schedule_name = a2a_mappings(arm, vault)[0].properties.provider_specific_details.schedule_name
    # the zone of the mapping's source region, where the operator put it (the spec names no zone)
    zone_name = automation.schedule.get(vault["resourceGroup"], account, schedule_name).time_zone
    zone = ZoneInfo(zone_name)
    now = datetime.fromisoformat(admin.get("clock")["now"].replace("Z", "+00:00"))
    start = (now + timedelta(days=1)).astimezone(zone).replace(hour=4, minute=45, second=0, microsecond=0)
    automation.schedule.create_or_update(
        vault["resourceGroup"],
        account,
        schedule_name,
        {
            "name": schedule_name,
            "properties": {
                "startTime": start.astimezone(UTC).isoformat(),
                "frequency": "Day",
                "interval": 1,
                "timeZone": zone_name,
            },
        },
    )
    edited = automation.schedule.get(vault["resourceGroup"], account, schedule_name)
    assert edited.start_time.astimezone(zone).strftime("%H:%M") == "04:45"

    wait_event(core, namespace, "drift", "ScheduleRewritten", since=before["events"], message=schedule_name)

    def rewritten():
        schedule = automation.schedule.get(vault["resourceGroup"], account, schedule_name)
        return schedule.start_time.astimezone(zone).strftime("%H:%M") == "02:30" and schedule

    schedule = wait_for(rewritten, timeout=30, what="the schedule back at 02:30")
    assert schedule.time_zone == zone_name and schedule.frequency == "Day"
    assert len(list(automation.schedule.list_by_automation_account(vault["resourceGroup"], account))) == 2
    assert len(list(automation.job_schedule.list_by_automation_account(vault["resourceGroup"], account))) == 2
    body = wait_ready(custom, namespace, "drift")
    assert {s["time"] for s in body["status"]["schedules"]} == {"02:30"}


def test_a_removed_role_assignment_is_granted_again(namespace, custom, core, admin, arm, converged):
    before = converged(*DRIFT)
    vault, principal = before["vault"], before["account"]["principalId"]
    [assignment] = role_assignments_on_vault(arm, vault, principal)
    arm.authorization(vault["subscriptionId"]).role_assignments.delete_by_id(assignment.id)
    assert role_assignments_on_vault(arm, vault, principal) == []

    event = wait_event(core, namespace, "drift", "RoleAssigned", since=before["events"])
    assert principal in event.message
    granted = wait_for(lambda: role_assignments_on_vault(arm, vault, principal), timeout=30, what="the role again")
    assert [role_guid(a) for a in granted] == [CONTRIBUTOR]
    assert_kstatus(wait_ready(custom, namespace, "drift"), ready="True", reconciling="False", stalled="False")


def test_a_deleted_automation_account_is_recreated_with_everything_hanging_off_it(
    namespace, custom, core, admin, arm, converged
):
    before = converged(*DRIFT)
    vault, old_principal = before["vault"], before["account"]["principalId"]
    automation = arm.automation(vault["subscriptionId"])
    account = default_account_name(vault)
    automation.automation_account.delete(vault["resourceGroup"], account)

    wait_event(core, namespace, "drift", "AutomationAccountCreated", since=before["events"], timeout=30)

    def recreated():
        body = get_policy(custom, namespace, "drift")
        ready = next((c for c in body["status"]["conditions"] if c["type"] == "Ready"), {})
        principal = (body["status"].get("automationAccount") or {}).get("principalId")
        return ready.get("status") == "True" and principal and principal != old_principal and body

    body = wait_for(recreated, timeout=45, what="Ready again with a new account identity")
    principal = body["status"]["automationAccount"]["principalId"]
    recreated_account = automation.automation_account.get(vault["resourceGroup"], account)
    assert recreated_account.identity.principal_id == principal
    assert [role_guid(a) for a in role_assignments_on_vault(arm, vault, principal)] == [CONTRIBUTOR]
    mappings = _enabled_with(arm, vault, recreated_account.id)
    assert mappings, "every mapping must point at the recreated account"
    schedules = {s.name: s for s in automation.schedule.list_by_automation_account(vault["resourceGroup"], account)}
    job_schedules = list(automation.job_schedule.list_by_automation_account(vault["resourceGroup"], account))
    assert len(schedules) == len(job_schedules) == len(mappings)
    for mapping in mappings:
        details = mapping.properties.provider_specific_details
        schedule = schedules[details.schedule_name]
        assert schedule.start_time.astimezone(ZoneInfo(schedule.time_zone)).strftime("%H:%M") == "02:30"
        assert any(js.job_schedule_id.lower() == details.job_schedule_name.lower() for js in job_schedules)
    assert body["status"]["automationAccount"]["createdByPolicy"] is True


def test_the_repair_annotation_runs_one_pass_at_once(namespace, kubectl, custom, core, admin, arm, converged):
    before = converged()  # no drift override: only the annotation can cause this pass
    admin.delete("requests")
    kubectl("annotate", "mup", "drift", "-n", namespace, f"{REPAIR_ANNOTATION}=token1")

    def repaired():
        body = get_policy(custom, namespace, "drift")
        last = body["status"].get("lastRepair") or {}
        return last.get("token") == "token1" and last.get("result") == "Converged" and body

    # the repair pass answers the token once it sent its updates; the result follows them to their end
    body = wait_for(repaired, timeout=20, what="status.lastRepair: token1 Converged")
    last_repair = body["status"]["lastRepair"]
    assert last_repair["result"] == "Converged" and last_repair["time"]
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    # a repair applies every mapping's setting again, even where it looked right
    for mapping in a2a_mappings(arm, before["vault"]):
        wait_event(core, namespace, "drift", "MappingUpdated", since=before["events"], message=mapping.name)
    patched = [r for r in writes(arm_requests(admin, operator_object_id(admin))) if "Mappings/" in r["path"]]
    assert len(patched) == 2, describe_requests(patched)
