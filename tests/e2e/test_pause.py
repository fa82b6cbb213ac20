"""spec.updatesPaused: a change freeze in one line of Git. Everything stays configured, Site Recovery's update
schedules are disabled (and no update job runs), one enabled by hand is disabled again, and false resumes."""

from __future__ import annotations

from tests.e2e.kit import (
    a2a_mappings,
    assert_kstatus,
    condition,
    default_account_name,
    get_policy,
    policy,
    vault_spec,
    wait_condition,
    wait_event,
    wait_ready,
)
from tests.support import wait_for

DAY = 24 * 3600


def schedules(arm, vault: dict) -> list:
    return list(
        arm.automation(vault["subscriptionId"]).schedule.list_by_automation_account(
            vault["resourceGroup"], default_account_name(vault)
        )
    )


def update_jobs(admin, vault: dict) -> list:
    account = next(a for a in admin.state()["automationAccounts"] if a["name"] == default_account_name(vault))
    return account["jobs"]


def test_a_pause_disables_the_schedules_until_it_is_lifted(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    start_operator("--drift-interval-override", "1")
    kubectl.apply(policy("frozen", namespace, vault, updatesPaused=True))
    body = wait_ready(custom, namespace, "frozen")
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    assert "updates paused" in condition(body, "Ready")["message"]
    scheduled = condition(body, "ScheduleConfigured")
    assert (scheduled["status"], scheduled["reason"]) == ("True", "UpdatesPaused"), scheduled
    mappings = a2a_mappings(arm, vault)
    assert all(m.properties.provider_specific_details.agent_auto_update_status == "Enabled" for m in mappings)
    assert len(schedules(arm, vault)) == len(mappings) and not [s for s in schedules(arm, vault) if s.is_enabled]
    assert {s["enabled"] for s in body["status"]["schedules"]} == {False}
    assert "(paused)" in kubectl("get", "mup", "frozen", "-n", namespace).stdout

    # a day passes: the paused schedules run nothing
    admin.advance_clock(DAY + 300)
    assert update_jobs(admin, vault) == []

    # someone enables one in the portal during the freeze: drift, disabled again
    name = schedules(arm, vault)[0].name
    arm.automation(vault["subscriptionId"]).schedule.update(
        vault["resourceGroup"], default_account_name(vault), name, {"name": name, "properties": {"isEnabled": True}}
    )
    wait_event(core, namespace, "frozen", "SchedulePaused", message=name)
    wait_for(lambda: not [s for s in schedules(arm, vault) if s.is_enabled], timeout=30, what="paused again")

    # the freeze is lifted in Git: every schedule runs again
    kubectl.apply(policy("frozen", namespace, vault, updatesPaused=False))
    body = wait_condition(custom, namespace, "frozen", "ScheduleConfigured", "True", reason="Converged")
    assert all(s.is_enabled for s in schedules(arm, vault))
    assert "(paused)" not in (get_policy(custom, namespace, "frozen")["status"].get("scheduleSummary") or "")
    wait_event(core, namespace, "frozen", "ScheduleResumed")
    admin.advance_clock(DAY + 300)
    wait_for(lambda: update_jobs(admin, vault), timeout=30, what="an update job once resumed")
