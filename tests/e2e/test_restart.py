"""The operator dies (SIGKILL) in the middle of a pass; its successor finishes without doubling anything."""

from __future__ import annotations

import pytest

from tests.e2e.kit import (
    CONTRIBUTOR,
    SITE_RECOVERY_RUNBOOK,
    a2a_mappings,
    assert_kstatus,
    automation_accounts,
    default_account_name,
    policy,
    role_assignments_on_vault,
    role_guid,
    vault_spec,
    wait_ready,
)
from tests.support import wait_for


@pytest.mark.parametrize(
    "slow_call",
    [
        pytest.param({"method": "PUT", "pathPattern": r"/automationAccounts/[^/]+$"}, id="during-account-create"),
        pytest.param(
            {"method": "PATCH", "pathPattern": r"/replicationProtectionContainerMappings/"}, id="during-mapping-update"
        ),
    ],
)
def test_a_restart_mid_pass_converges_without_duplicates(
    slow_call, description, namespace, kubectl, custom, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    admin.post("faults", {**slow_call, "latencySeconds": 3, "count": 1})
    first = start_operator()
    kubectl.apply(policy("crashy", namespace, vault, schedule={"time": "04:00"}))
    # the fault is spent when its request arrives: the operator is now waiting on that slow call
    wait_for(lambda: admin.get("faults")["faults"] == [], timeout=30, what="the slow call to start")
    first.kill()

    start_operator()
    body = wait_ready(custom, namespace, "crashy", timeout=60)
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")

    [account] = automation_accounts(arm, vault["subscriptionId"])
    assert account.name == default_account_name(vault)
    principal = account.identity.principal_id
    assert body["status"]["automationAccount"]["principalId"] == principal
    assert [role_guid(a) for a in role_assignments_on_vault(arm, vault, principal)] == [CONTRIBUTOR]
    automation = arm.automation(vault["subscriptionId"])
    schedules = list(automation.schedule.list_by_automation_account(vault["resourceGroup"], account.name))
    job_schedules = list(automation.job_schedule.list_by_automation_account(vault["resourceGroup"], account.name))
    mappings = a2a_mappings(arm, vault)
    assert len(schedules) == len(job_schedules) == len(mappings) == 2
    for mapping in mappings:
        details = mapping.properties.provider_specific_details
        assert details.agent_auto_update_status == "Enabled"
        assert [s.name for s in schedules if s.name == details.schedule_name] == [details.schedule_name]
        linked = [js for js in job_schedules if js.schedule.name == details.schedule_name]
        assert len(linked) == 1 and linked[0].runbook.name == SITE_RECOVERY_RUNBOOK
    assert {s["time"] for s in body["status"]["schedules"]} == {"04:00"}
