"""A policy applied with kubectl converges Azure: account, identity, role, mappings, schedules; then Ready."""

from __future__ import annotations

from azure.mgmt.automation.models import Schedule

from tests.e2e.kit import condition, events_for, get_policy, policy, vault_spec, wait_condition

CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
SITE_RECOVERY_RUNBOOK = "MS-SR-Update-MobilityServiceForA2AVirtualMachines"


def test_automatic_policy_converges_and_reads_ready(description, namespace, kubectl, custom, core, arm, start_operator):
    vault = vault_spec(description, 0)
    start_operator()
    kubectl.apply(policy("weu", namespace, vault, schedule={"time": "02:30"}))
    kubectl("wait", "--for=condition=Ready", f"mup/weu", "-n", namespace, "--timeout=90s")
    body = get_policy(custom, namespace, "weu")
    status = body["status"]

    account_name = "rsv-weu-prod-asr-automationaccount"
    automation = arm.automation(vault["subscriptionId"])
    account = automation.automation_account.get(vault["resourceGroup"], account_name)
    assert account.identity.type == "SystemAssigned" and account.identity.principal_id
    assert account.location == "westeurope"
    assert status["automationAccount"]["principalId"] == account.identity.principal_id
    assert status["automationAccount"]["createdByPolicy"] is True

    vault_id = (f"/subscriptions/{vault['subscriptionId']}/resourceGroups/{vault['resourceGroup']}"
                f"/providers/Microsoft.RecoveryServices/vaults/{vault['name']}")
    assignments = list(arm.authorization(vault["subscriptionId"]).role_assignments.list_for_scope(
        vault_id, filter=f"assignedTo('{account.identity.principal_id}')"))
    assert [a.role_definition_id.rsplit("/", 1)[-1] for a in assignments] == [CONTRIBUTOR]

    mappings = list(arm.site_recovery(vault["subscriptionId"]).replication_protection_container_mappings.list(
        vault["resourceGroup"], vault["name"]))
    a2a = [m for m in mappings if m.properties.provider_specific_details.instance_type == "A2A"]
    assert a2a
    for mapping in a2a:
        details = mapping.properties.provider_specific_details
        assert details.agent_auto_update_status == "Enabled"
        assert details.automation_account_arm_id.lower() == account.id.lower()
        assert details.automation_account_authentication_type == "SystemAssignedIdentity"
        schedule: Schedule = automation.schedule.get(vault["resourceGroup"], account_name, details.schedule_name)
        assert schedule.time_zone == "Europe/Amsterdam"
        assert schedule.frequency == "Day" and schedule.interval == 1
        assert schedule.next_run.astimezone().hour is not None
    schedules = list(automation.schedule.list_by_automation_account(vault["resourceGroup"], account_name))
    job_schedules = list(automation.job_schedule.list_by_automation_account(vault["resourceGroup"], account_name))
    assert len(schedules) == len(a2a) and len(job_schedules) == len(a2a)
    assert {js.runbook.name for js in job_schedules} == {SITE_RECOVERY_RUNBOOK}

    assert status["mappings"]["configured"] == len(a2a)
    assert {s["time"] for s in status["schedules"]} == {"02:30"}
    for kind in ("Ready", "AutomationAccountReady", "CredentialsHealthy", "MappingsConfigured", "ScheduleConfigured"):
        assert condition(body, kind)["status"] == "True", kind
    assert condition(body, "Reconciling")["status"] == "False"
    assert condition(body, "Stalled")["status"] == "False"
    reasons = {event.reason for event in events_for(core, namespace, "weu")}
    assert reasons, "changes made must leave Events"

    table = kubectl("get", "mup", "-n", namespace).stdout
    assert "02:30 Europe/Amsterdam" in table and "rsv-weu-prod" in table and "True" in table
