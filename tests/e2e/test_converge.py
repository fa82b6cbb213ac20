"""A policy applied with kubectl converges Azure: account, identity, role, mappings, schedules; then Ready."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from azure.mgmt.automation.models import Schedule

from asr_autoupdate.api.regions import region_time_zone
from tests.e2e.kit import (
    CONTRIBUTOR,
    SITE_RECOVERY_RUNBOOK,
    a2a_mappings,
    arm_requests,
    automation_accounts,
    condition,
    default_account_name,
    events_for,
    get_policy,
    operator_object_id,
    policy,
    vault_spec,
    wait_ready,
)
from tests.support import wait_for


def test_automatic_policy_converges_and_reads_ready(description, namespace, kubectl, custom, core, arm, start_operator):
    vault = vault_spec(description, 0)
    start_operator()
    kubectl.apply(policy("weu", namespace, vault, schedule={"time": "02:30"}))
    kubectl("wait", "--for=condition=Ready", "mup/weu", "-n", namespace, "--timeout=90s")
    body = get_policy(custom, namespace, "weu")
    status = body["status"]

    account_name = "rsv-weu-prod-asr-automationaccount"
    automation = arm.automation(vault["subscriptionId"])
    account = automation.automation_account.get(vault["resourceGroup"], account_name)
    assert account.identity.type == "SystemAssigned" and account.identity.principal_id
    assert account.location == "westeurope"
    assert status["automationAccount"]["principalId"] == account.identity.principal_id
    assert status["automationAccount"]["createdByPolicy"] is True

    vault_id = (
        f"/subscriptions/{vault['subscriptionId']}/resourceGroups/{vault['resourceGroup']}"
        f"/providers/Microsoft.RecoveryServices/vaults/{vault['name']}"
    )
    assignments = list(
        arm.authorization(vault["subscriptionId"]).role_assignments.list_for_scope(
            vault_id, filter=f"assignedTo('{account.identity.principal_id}')"
        )
    )
    assert [a.role_definition_id.rsplit("/", 1)[-1] for a in assignments] == [CONTRIBUTOR]

    mappings = list(
        arm.site_recovery(vault["subscriptionId"]).replication_protection_container_mappings.list(
            vault["resourceGroup"], vault["name"]
        )
    )
    a2a = [m for m in mappings if m.properties.provider_specific_details.instance_type == "A2A"]
    assert a2a
    for mapping in a2a:
        details = mapping.properties.provider_specific_details
        assert details.agent_auto_update_status == "Enabled"
        assert details.automation_account_arm_id.lower() == account.id.lower()
        assert details.automation_account_authentication_type == "SystemAssignedIdentity"
        schedule: Schedule = automation.schedule.get(vault["resourceGroup"], account_name, details.schedule_name)
        # no timeZone in the spec: the zone of the mapping's source region, where its VMs run
        assert schedule.time_zone == source_zone(arm, vault, mapping)
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

    zones = sorted({source_zone(arm, vault, mapping) for mapping in a2a})
    assert len(zones) == 2, "the forward and the failback mapping come from two regions"
    assert {s["timeZone"] for s in status["schedules"]} == set(zones)
    table = kubectl("get", "mup", "-n", namespace).stdout
    assert f"02:30 {', '.join(zones)}" in table and "rsv-weu-prod" in table and "True" in table


def source_zone(arm, vault: dict, mapping) -> str:
    """The time zone of the region of the mapping's source fabric."""
    fabric_name = mapping.id.split("/replicationFabrics/")[1].split("/")[0]
    fabric = arm.site_recovery(vault["subscriptionId"]).replication_fabrics.get(
        vault["resourceGroup"], vault["name"], fabric_name
    )
    zone = region_time_zone(fabric.properties.custom_details.location)
    assert zone, fabric_name
    return zone


def test_custom_account_and_weekly_schedule_rewrite_site_recovery_schedules_in_place(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    subscription = vault["subscriptionId"]
    admin.post(
        "seed",
        {
            "subscriptions": [
                {
                    "subscriptionId": subscription,
                    "resourceGroups": [{"name": "rg-automation", "location": "westeurope"}],
                }
            ]
        },
    )
    start_operator()
    schedule_spec = {
        "time": "06:15",
        "timeZone": "Asia/Tokyo",
        "frequency": "Week",
        "interval": 2,
        "weekDays": ["Saturday", "Sunday"],
    }
    kubectl.apply(
        policy(
            "weekly",
            namespace,
            vault,
            schedule=schedule_spec,
            automationAccount={"name": "aa-dr-updates", "resourceGroup": "rg-automation"},
        )
    )
    body = wait_ready(custom, namespace, "weekly")
    status = body["status"]

    automation = arm.automation(subscription)
    account = automation.automation_account.get("rg-automation", "aa-dr-updates")
    assert account.location == "westeurope" and account.identity.principal_id
    assert status["automationAccount"]["id"].lower() == account.id.lower()
    assert not [a for a in automation_accounts(arm, subscription) if a.name == default_account_name(vault)]

    mappings = a2a_mappings(arm, vault)
    schedules = {s.name: s for s in automation.schedule.list_by_automation_account("rg-automation", "aa-dr-updates")}
    job_schedules = list(automation.job_schedule.list_by_automation_account("rg-automation", "aa-dr-updates"))
    # Site Recovery made one schedule `<mapping>_<guid>` and one job schedule per mapping; they were rewritten
    # under the same names, and nothing else was created next to them
    assert len(schedules) == len(mappings) == len(job_schedules) == 2
    rewrites = {
        r["path"].rsplit("/", 1)[-1]: r
        for r in arm_requests(admin)
        if r["method"] == "PUT" and "/schedules/" in r["path"]
    }
    for mapping in mappings:
        details = mapping.properties.provider_specific_details
        assert details.automation_account_arm_id.lower() == account.id.lower()
        assert re.fullmatch(rf"{re.escape(mapping.name)}_[0-9a-f-]{{36}}", details.schedule_name), details.schedule_name
        schedule = schedules[details.schedule_name]
        assert (schedule.frequency, schedule.interval, schedule.time_zone) == ("Week", 2, "Asia/Tokyo")
        assert sorted(schedule.advanced_schedule.week_days) == ["Saturday", "Sunday"]
        local = schedule.start_time.astimezone(ZoneInfo("Asia/Tokyo"))
        assert (local.hour, local.minute, local.strftime("%A")) in {(6, 15, "Saturday"), (6, 15, "Sunday")}
        rewritten_at = datetime.fromisoformat(rewrites[details.schedule_name]["time"])
        assert schedule.start_time >= rewritten_at + timedelta(minutes=5)
        [job_schedule] = [js for js in job_schedules if js.schedule.name == details.schedule_name]
        assert job_schedule.runbook.name == SITE_RECOVERY_RUNBOOK
        assert job_schedule.job_schedule_id.lower() == details.job_schedule_name.lower()
    assert set(rewrites) == set(schedules)

    reported = sorted(status["schedules"], key=lambda entry: entry["mapping"])
    assert [entry["mapping"] for entry in reported] == sorted(m.name for m in mappings)
    for entry in reported:
        assert entry["name"] in schedules
        assert (entry["time"], entry["timeZone"], entry["frequency"], entry["interval"]) == (
            "06:15",
            "Asia/Tokyo",
            "Week",
            2,
        )
        assert sorted(entry["weekDays"]) == ["Saturday", "Sunday"]
        assert entry["nextRun"]
    assert status["scheduleSummary"] == "06:15 Asia/Tokyo every 2 weeks on Saturday, Sunday"
    assert condition(body, "ScheduleConfigured")["status"] == "True"
    rewritten = [e for e in events_for(core, namespace, "weekly") if e.reason == "ScheduleRewritten"]
    assert {e.message.split()[2] for e in rewritten} == set(schedules), [e.message for e in rewritten]


def test_without_a_schedule_site_recoverys_own_schedules_are_kept_reported_and_recreated(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    """spec.schedule omitted: Site Recovery's daily 00:00 in each source region's zone stays as Site Recovery
    made it (and as a person edits it); status reports it; a schedule deleted by hand comes back through the
    mapping, never through a schedule the operator writes."""
    vault = vault_spec(description, 0)
    start_operator("--drift-interval-override", "1")
    kubectl.apply(policy("as-made", namespace, vault))
    body = wait_ready(custom, namespace, "as-made")
    account = default_account_name(vault)
    automation = arm.automation(vault["subscriptionId"])
    mappings = a2a_mappings(arm, vault)
    zones = sorted({source_zone(arm, vault, mapping) for mapping in mappings})
    assert {(s["time"], s["timeZone"]) for s in body["status"]["schedules"]} == {("00:00", zone) for zone in zones}
    assert body["status"]["scheduleSummary"] == f"00:00 {', '.join(zones)}"
    assert "Site Recovery's own schedules are kept" in condition(body, "ScheduleConfigured")["message"]
    operator = operator_object_id(admin)
    assert not [r for r in arm_requests(admin, operator) if r["method"] == "PUT" and "/schedules/" in r["path"]]

    # a person moves one schedule: the operator leaves it (and reports it as it is now)
    name = mappings[0].properties.provider_specific_details.schedule_name
    zone = ZoneInfo(automation.schedule.get(vault["resourceGroup"], account, name).time_zone)
    start = (datetime.now(zone) + timedelta(days=1)).replace(hour=5, minute=0, second=0, microsecond=0)
    edited = {"startTime": start.isoformat(), "frequency": "Day", "interval": 1, "timeZone": str(zone)}
    automation.schedule.create_or_update(vault["resourceGroup"], account, name, {"name": name, "properties": edited})
    wait_for(
        lambda: (
            {s["time"] for s in get_policy(custom, namespace, "as-made")["status"]["schedules"]} == {"00:00", "05:00"}
        ),
        timeout=30,
        what="status.schedules to show the edited time",
    )
    assert condition(get_policy(custom, namespace, "as-made"), "Ready")["status"] == "True"

    # a schedule deleted by hand is recreated by setting its mapping again
    admin.delete("requests")
    automation.schedule.delete(vault["resourceGroup"], account, name)

    def patched():
        requests = arm_requests(admin, operator)
        return [
            r for r in requests if r["method"] == "PATCH" and "replicationProtectionContainerMappings/" in r["path"]
        ]

    wait_for(patched, timeout=30, what="the mapping set again for its lost schedule")

    def restored():
        names = {s.name for s in automation.schedule.list_by_automation_account(vault["resourceGroup"], account)}
        wanted = {m.properties.provider_specific_details.schedule_name for m in a2a_mappings(arm, vault)}
        body = get_policy(custom, namespace, "as-made")
        ready = condition(body, "Ready")["status"] == "True"
        return wanted <= names and len(body["status"].get("schedules") or []) == len(mappings) and ready

    wait_for(restored, timeout=60, what="the schedule recreated through its mapping")
    requests = arm_requests(admin, operator)
    assert not [r for r in requests if r["method"] == "PUT" and "/schedules/" in r["path"]], "never written itself"


def test_the_operator_reuses_its_arm_connections_and_closes_them_when_stopped(
    description, namespace, kubectl, custom, admin, start_operator
):
    """The sandbox gives the operator its CA as ASR_AUTOUPDATE_CA_BUNDLE, the way that used to cost a TLS
    handshake per ARM call: calls now share kept-alive connections, and a SIGTERM closes every one of them
    without aiohttp's "Unclosed client session" / "Unclosed connector" in the operator's log."""
    vault = vault_spec(description, 0)
    operator = start_operator()
    kubectl.apply(policy("reuse", namespace, vault, schedule={"time": "02:30"}))
    wait_ready(custom, namespace, "reuse")
    calls = arm_requests(admin, operator_object_id(admin))
    connections = {r["connection"] for r in calls}
    assert len(calls) >= 10 and None not in connections
    assert len(connections) <= len(calls) // 3, f"{len(calls)} ARM calls used {len(connections)} connections"

    operator.stop()
    assert operator.child is not None and operator.child.popen.returncode is not None
    unclosed = [line for line in operator.log_text().splitlines() if "Unclosed" in line]
    assert not unclosed, unclosed
