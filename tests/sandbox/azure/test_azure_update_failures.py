"""A chosen vault's update runs fail (admin `POST /vaults/update-job-failure`), the way a real run fails: the job
ends Failed with the exception, that vault's agents stay behind and its mappings show the health error, while a
vault served by another account upgrades. And a new agent release published mid-test is what the next run installs.
"""

from __future__ import annotations

import datetime

from asr_sandbox.admin_client import AdminClient
from tests.sandbox.azure.update_kit import (
    ASR_RUNBOOK,
    EUS,
    LATEST,
    WEU,
    Protected,
    enable,
    forward_mapping,
    move_clock_to,
)

# Past a run: 15 s queued, 40 s running, with room to spare.
AFTER_RUN = datetime.timedelta(minutes=5)


async def next_run(azure, target: Protected, schedule_name: str) -> datetime.datetime:
    return (await azure.automation.schedule.get(target.rg, target.account, schedule_name)).properties.next_run


async def finished_jobs(azure, target: Protected) -> list:
    """The account's update jobs, oldest first, each with its exception (the list answer carries none)."""
    listed = [job async for job in azure.automation.job.list_by_automation_account(target.rg, target.account)]
    full = [await azure.automation.job.get(target.rg, target.account, job.name) for job in listed]
    assert all(job.properties.runbook.name == ASR_RUNBOOK for job in full)
    return sorted(full, key=lambda job: job.properties.start_time)


async def agents(azure, target: Protected) -> dict[str, tuple[str, bool, bool]]:
    """Per VM of the forward container: agent version, update required, upgrade in progress."""
    return {
        item.properties.friendly_name: (
            item.properties.provider_specific_details.agent_version,
            item.properties.provider_specific_details.is_replication_agent_update_required,
            item.properties.provider_specific_details.is_agent_upgrade_in_progress,
        )
        async for item in azure.site_recovery.replication_protected_items.list_by_replication_protection_containers(
            target.rg, target.vault, target.fabric, target.container
        )
    }


def admin_client(sandbox) -> AdminClient:
    return AdminClient(sandbox.info["adminEndpoint"], sandbox.ca)


def vault_in_state(sandbox, vault_id: str) -> dict:
    return next(v for v in sandbox.state()["vaults"] if v["id"].lower() == vault_id.lower())


async def test_a_failing_vault_fails_its_job_while_another_accounts_vault_upgrades(sandbox, azure) -> None:
    weu = await enable(sandbox, azure, WEU)
    weu_id, weu_schedule = weu.vault_id, weu.schedule
    eus_schedule = (await enable(sandbox, azure, EUS)).schedule
    weu_before = await agents(azure, WEU)
    admin = admin_client(sandbox)
    answer = admin.fail_update_jobs(weu_id.upper())
    assert answer == {"vaultId": weu_id, "updateJobFailure": {"message": None}}
    assert vault_in_state(sandbox, weu_id)["updateJobFailure"] == {"message": None}

    move_clock_to(sandbox, max(weu_schedule.properties.next_run, eus_schedule.properties.next_run) + AFTER_RUN)
    weu_jobs = await finished_jobs(azure, WEU)
    assert weu_jobs and {job.properties.status for job in weu_jobs} == {"Failed"}
    expected = (
        "Failed to update Mobility Service on 1 of 4 protected items in vault 'rsv-weu-prod': "
        "the extension installation timed out (simulated)."
    )
    assert {job.properties.exception for job in weu_jobs} == {expected}
    assert await agents(azure, WEU) == weu_before  # vm-web-02 and vm-sql-01 still behind, none in progress
    mapping = await forward_mapping(azure, WEU)
    assert mapping.properties.health == "Critical"
    [error] = mapping.properties.health_error_details
    assert (error.error_code, error.error_source, error.error_level) == (
        "AgentUpdateFailed",
        "AgentAutoUpdate",
        "Error",
    )
    assert error.error_message == expected and error.entity_id == mapping.id

    eus_jobs = await finished_jobs(azure, EUS)
    assert eus_jobs and {job.properties.status for job in eus_jobs} == {"Completed"}
    assert {version for version, _required, _busy in (await agents(azure, EUS)).values()} == {LATEST}
    assert (await forward_mapping(azure, EUS)).properties.health == "Normal"

    # Switched off: the next run completes, upgrades and clears the health error.
    assert admin.fail_update_jobs(weu_id, fail=False)["updateJobFailure"] is None
    assert vault_in_state(sandbox, weu_id)["updateJobFailure"] is None
    move_clock_to(sandbox, await next_run(azure, WEU, weu_schedule.name) + AFTER_RUN)
    latest = (await finished_jobs(azure, WEU))[-1]
    assert (latest.properties.status, latest.properties.exception) == ("Completed", None)
    assert set((await agents(azure, WEU)).values()) == {(LATEST, False, False)}
    mapping = await forward_mapping(azure, WEU)
    assert (mapping.properties.health, mapping.properties.health_error_details) == ("Normal", [])


async def test_a_chosen_message_is_the_jobs_exception_and_a_reset_clears_the_switch(sandbox, azure) -> None:
    enabled = await enable(sandbox, azure, WEU)
    vault_id, schedule = enabled.vault_id, enabled.schedule
    message = "The Mobility Service extension failed to install on vm-sql-01 (error 1603)."
    admin_client(sandbox).fail_update_jobs(vault_id, message=message)
    assert vault_in_state(sandbox, vault_id)["updateJobFailure"] == {"message": message}
    move_clock_to(sandbox, schedule.properties.next_run + AFTER_RUN)
    [job] = await finished_jobs(azure, WEU)
    assert (job.properties.status, job.properties.exception) == ("Failed", message)
    [error] = (await forward_mapping(azure, WEU)).properties.health_error_details
    assert error.error_message == message

    sandbox.admin("POST", "/reset")
    assert all(vault["updateJobFailure"] is None for vault in sandbox.state()["vaults"])


def test_the_switch_refuses_unknown_vaults_and_bad_bodies(sandbox) -> None:
    url = sandbox.info["adminEndpoint"] + "/vaults/update-job-failure"
    vault_id = sandbox.state()["vaults"][0]["id"]
    missing = vault_id.rsplit("/", 1)[0] + "/rsv-nowhere"
    status, body = sandbox.raw("POST", url, {"vaultId": missing, "fail": True})
    assert status == 404 and body["error"] == f"no vault {missing!r} in the estate (vaultId is the vault's full ARM id)"
    for bad in (
        {"fail": True},
        {"vaultId": vault_id},
        {"vaultId": vault_id, "fail": "yes"},
        {"vaultId": vault_id, "fail": True, "message": ""},
        {"vaultId": vault_id, "fail": True, "messages": "typo"},
        {"vaultId": 7, "fail": True},
    ):
        status, body = sandbox.raw("POST", url, bad)
        assert status == 400 and body["error"], bad
    assert all(vault["updateJobFailure"] is None for vault in sandbox.state()["vaults"])


async def test_a_new_agent_release_is_what_the_next_run_installs(sandbox, azure) -> None:
    released = "9.64.0.1"
    sandbox.admin("POST", "/config", {"latestAgentVersion": released})
    details = [
        item["properties"]["providerSpecificDetails"]
        for vault in sandbox.state()["vaults"]
        for item in vault["protectedItems"]
    ]
    assert len(details) == 9
    assert all(d["isReplicationAgentUpdateRequired"] is (d["agentVersion"] != released) for d in details)
    assert all(d["isReplicationAgentUpdateRequired"] for d in details)  # no agent runs the new release yet

    schedule = (await enable(sandbox, azure, WEU)).schedule
    move_clock_to(sandbox, schedule.properties.next_run + AFTER_RUN)
    [job] = await finished_jobs(azure, WEU)
    assert job.properties.status == "Completed"
    assert set((await agents(azure, WEU)).values()) == {(released, False, False)}
    # The vault no run covered still waits for the release.
    assert {required for _v, required, _busy in (await agents(azure, EUS)).values()} == {True}
