"""Site Recovery's update runbook on the emulated clock: due schedules run jobs that upgrade agents when the
account's credentials are healthy, and fail with the portal's health errors when they are not."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from tests.sandbox.azure.update_kit import ASR_RUNBOOK, LATEST, WEU, enable, forward_mapping, move_clock_to

RG, VAULT, ACCOUNT = WEU.rg, WEU.vault, WEU.account
# Site Recovery's schedule keeps the zone of the replicated VMs' region: the mapping's source, North Europe.
DUBLIN = ZoneInfo("Europe/Dublin")
# More than a day even when a DST change makes the day 25 hours long.
NEXT_DAY = datetime.timedelta(days=1, hours=2)
# A job is New for 5 s, then Activating for 10 s, before it runs.
QUEUED = datetime.timedelta(seconds=15)


def midnights(first: datetime.datetime, count: int) -> list[datetime.datetime]:
    """The schedule's runs: 00:00 in Dublin on consecutive days (23 or 25 hours apart around DST)."""
    day = first.astimezone(DUBLIN).date()
    return [
        datetime.datetime.combine(day + datetime.timedelta(days=n), datetime.time(0), tzinfo=DUBLIN)
        for n in range(count)
    ]


async def items(azure) -> dict[str, object]:
    return {
        item.properties.friendly_name: item.properties.provider_specific_details
        async for item in azure.site_recovery.replication_protected_items.list(RG, VAULT)
    }


async def jobs(azure, filter_text: str | None = None) -> list:
    return [job async for job in azure.automation.job.list_by_automation_account(RG, ACCOUNT, filter=filter_text)]


async def test_due_schedule_runs_a_job_that_upgrades_agents(sandbox, azure) -> None:
    schedule = (await enable(sandbox, azure)).schedule
    next_run = schedule.properties.next_run
    assert await jobs(azure) == []

    move_clock_to(sandbox, next_run + QUEUED + datetime.timedelta(seconds=10))
    running = await jobs(azure)
    assert [(j.properties.runbook.name, j.properties.status) for j in running] == [(ASR_RUNBOOK, "Running")]
    assert running[0].properties.creation_time == next_run
    assert running[0].properties.start_time == next_run + QUEUED
    during = await items(azure)
    assert during["vm-web-02"].is_agent_upgrade_in_progress is True
    assert during["vm-web-01"].is_agent_upgrade_in_progress is False

    sandbox.admin("POST", "/clock", {"advanceSeconds": 60})
    [job] = await jobs(azure, "properties/status eq 'Completed'")
    full = await azure.automation.job.get(RG, ACCOUNT, job.name)
    assert full.properties.end_time - full.properties.start_time == datetime.timedelta(seconds=40)
    after = await items(azure)
    assert {
        name: (d.agent_version, d.is_replication_agent_update_required, d.is_agent_upgrade_in_progress)
        for name, d in after.items()
    } == {name: (LATEST, False, False) for name in after}
    refreshed = await azure.automation.schedule.get(RG, ACCOUNT, schedule.name)
    assert refreshed.properties.next_run == midnights(next_run, 2)[1]
    state_account = sandbox.state()["automationAccounts"][0]
    assert state_account["jobMinutes"] == round(40 / 60, 4)


async def test_days_of_catch_up_run_one_job_per_occurrence(sandbox, azure) -> None:
    schedule = (await enable(sandbox, azure)).schedule
    runs = midnights(schedule.properties.next_run, 3)
    move_clock_to(sandbox, runs[-1] + datetime.timedelta(hours=1))
    starts = sorted(job.properties.start_time for job in await jobs(azure))
    assert starts == [run + QUEUED for run in runs]
    assert all(job.properties.status == "Completed" for job in await jobs(azure))
    since = (runs[0] + datetime.timedelta(hours=12)).astimezone(datetime.UTC)
    recent = await jobs(
        azure,
        f"properties/runbook/name eq '{ASR_RUNBOOK}' and "
        f"properties/startTime ge {since.strftime('%Y-%m-%dT%H:%M:%SZ')}",
    )
    assert len(recent) == 2


async def test_identity_without_a_role_fails_and_marks_the_mapping(sandbox, azure) -> None:
    schedule = (await enable(sandbox, azure, grant=False)).schedule
    move_clock_to(sandbox, schedule.properties.next_run + datetime.timedelta(minutes=5))
    [job] = await jobs(azure)
    full = await azure.automation.job.get(RG, ACCOUNT, job.name)
    assert full.properties.status == "Failed"
    assert "does not have the permission to access the recovery services resource" in full.properties.exception
    mapping = await forward_mapping(azure)
    assert mapping.properties.health == "Critical"
    [error] = mapping.properties.health_error_details
    assert error.error_code == "ManagedIdentityUnauthorized" and error.error_level == "Error"
    assert "Contributor" in error.recommended_action and error.entity_id == mapping.id
    assert (await items(azure))["vm-web-02"].agent_version == "9.62.7172.1"

    # Granting the role and letting the next run pass clears the health error.
    vault_id = (await azure.vaults.vaults.get(RG, VAULT)).id
    principal_id = (await azure.automation.automation_account.get(RG, ACCOUNT)).identity.principal_id
    sandbox.admin("POST", "/role-assignments", {"principalId": principal_id, "role": "Contributor", "scope": vault_id})
    move_clock_to(sandbox, schedule.properties.next_run + NEXT_DAY)
    mapping = await forward_mapping(azure)
    assert (mapping.properties.health, mapping.properties.health_error_details) == ("Normal", [])
    assert (await items(azure))["vm-web-02"].agent_version == LATEST


async def test_run_as_thumbprint_mismatch_fails_as_run_as_account_not_found(sandbox, azure) -> None:
    enabled = await enable(sandbox, azure, auth="RunAsAccount", grant=False)
    account, schedule = enabled.account, enabled.schedule
    sandbox.admin("POST", "/runas", {"automationAccountId": account.id, "connection": {"thumbprint": "0" * 40}})
    move_clock_to(sandbox, schedule.properties.next_run + datetime.timedelta(minutes=5))
    [job] = await jobs(azure)
    full = await azure.automation.job.get(RG, ACCOUNT, job.name)
    assert full.properties.status == "Failed"
    assert full.properties.exception.startswith("Run As account is not found.")
    [error] = (await forward_mapping(azure)).properties.health_error_details
    assert error.error_code == "RunAsAccountNotFound"
    assert "Thumbprint is not identical" in error.possible_causes


async def test_run_as_expired_certificate_and_healthy_run_as(sandbox, azure) -> None:
    enabled = await enable(sandbox, azure, auth="RunAsAccount", grant=False)
    account, schedule = enabled.account, enabled.schedule
    next_run = schedule.properties.next_run
    expiry = (next_run - datetime.timedelta(hours=1)).astimezone(datetime.UTC).isoformat()
    sandbox.admin("POST", "/runas", {"automationAccountId": account.id, "certificate": {"expiryTime": expiry}})
    move_clock_to(sandbox, next_run + datetime.timedelta(minutes=5))
    mapping = await forward_mapping(azure)
    assert [e.error_code for e in mapping.properties.health_error_details] == ["RunAsCertificateExpired"]

    sandbox.admin("POST", "/runas", {"automationAccountId": account.id})  # renewed: Contributor on the subscription
    move_clock_to(sandbox, next_run + NEXT_DAY)
    statuses = sorted((job.properties.start_time, job.properties.status) for job in await jobs(azure))
    assert [status for _, status in statuses] == ["Failed", "Completed"]
    assert (await items(azure))["vm-sql-01"].agent_version == LATEST


async def test_disabled_schedule_does_not_run(sandbox, azure) -> None:
    schedule = (await enable(sandbox, azure)).schedule
    await azure.automation.schedule.update(
        RG, ACCOUNT, schedule.name, {"name": schedule.name, "properties": {"isEnabled": False}}
    )
    move_clock_to(sandbox, schedule.properties.next_run + datetime.timedelta(hours=2))
    assert await jobs(azure) == []
    resumed = await azure.automation.schedule.update(
        RG, ACCOUNT, schedule.name, {"name": schedule.name, "properties": {"isEnabled": True}}
    )
    assert resumed.properties.next_run == midnights(schedule.properties.next_run, 2)[1]


async def test_a_new_agent_release_makes_current_agents_outdated(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"latestAgentVersion": "9.64.7300.1"})
    outdated = {name for name, d in (await items(azure)).items() if d.is_replication_agent_update_required}
    assert outdated == {"vm-web-01", "vm-web-02", "vm-sql-01", "vm-app-01"}
