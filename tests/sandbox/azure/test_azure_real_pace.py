"""Site Recovery at Azure's pace, through the real async SDK: a mapping operation runs for minutes of emulated
time before its change shows, one runs per mapping at a time, it ends as `operationOutcome` says; ARM answers
after a (seeded) latency; new identities replicate on the emulated clock; and the `real` and `fast` profiles.

No test sleeps or waits for the real durations: each moves the emulated clock past an operation's end.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import re
import subprocess
import sys
import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from asr_sandbox.azure.services.settings import PROFILES, ArmLatency, EmulatorSettings
from tests.support import wait_for

API = "2025-08-01"
RG, VAULT = "rg-asr-weu", "rsv-weu-prod"
FABRIC, CONTAINER = "asr-a2a-default-northeurope", "asr-a2a-default-northeurope-container"
MAPPING = "northeurope-westeurope-24-hour-retention-policy"
REVERSE = (
    "asr-a2a-default-westeurope",
    "asr-a2a-default-westeurope-container",
    "westeurope-northeurope-24-hour-retention-policy",
)
ACCOUNT = "aa-weu-asr"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
DURATION = 120
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(autouse=True)
def real_operations(sandbox) -> None:
    """Operations of two emulated minutes (the real default) over the suite's instant ones."""
    sandbox.admin("POST", "/config", {"operationDurationSeconds": DURATION})


# ---- helpers ------------------------------------------------------------------------------------------


async def create_account(azure) -> str:
    account = await azure.automation.automation_account.create_or_update(
        RG,
        ACCOUNT,
        {"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {"sku": {"name": "Basic"}}},
    )
    return account.id


def enabling(account_id: str) -> dict:
    return {
        "properties": {
            "providerSpecificInput": {
                "instanceType": "A2A",
                "agentAutoUpdateStatus": "Enabled",
                "automationAccountArmId": account_id,
                "automationAccountAuthenticationType": "SystemAssignedIdentity",
            }
        }
    }


def mapping_path(sandbox, mapping: tuple[str, str, str] = (FABRIC, CONTAINER, MAPPING)) -> str:
    fabric, container, name = mapping
    return (
        f"/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/"
        f"vaults/{VAULT}/replicationFabrics/{fabric}/replicationProtectionContainers/{container}/"
        f"replicationProtectionContainerMappings/{name}"
    )


async def send(azure, method: str, url: str, body: dict | None = None):
    """One plain ARM request through the SDK's own pipeline (token, TLS), for the headers an LRO poller hides."""
    if url.startswith("/"):
        url += f"?api-version={API}"
    return await azure.site_recovery.send_request(HttpRequest(method, url, json=body))


async def auto_update_status(azure, mapping: tuple[str, str, str] = (FABRIC, CONTAINER, MAPPING)) -> str:
    found = await azure.site_recovery.replication_protection_container_mappings.get(RG, VAULT, *mapping)
    return found.properties.provider_specific_details.agent_auto_update_status


def advance(sandbox, seconds: float) -> None:
    sandbox.admin("POST", "/clock", {"advanceSeconds": seconds})


def parse(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---- a mapping operation takes its time ---------------------------------------------------------------


async def test_the_mapping_keeps_its_old_settings_until_the_operation_ends(sandbox, azure) -> None:
    account_id = await create_account(azure)
    poller = await azure.site_recovery.replication_protection_container_mappings.begin_update(
        RG, VAULT, FABRIC, CONTAINER, MAPPING, enabling(account_id)
    )
    assert await auto_update_status(azure) == "Disabled"
    [running] = sandbox.state()["operationsInFlight"]
    assert running["mapping"].endswith(MAPPING) and running["outcome"] == "Succeeded"
    assert parse(running["ends"]) - parse(running["started"]) == datetime.timedelta(seconds=DURATION)
    [job] = [j async for j in azure.site_recovery.replication_jobs.list(RG, VAULT)]
    assert (job.properties.state, job.properties.end_time) == ("InProgress", None)
    assert sandbox.state()["automationAccounts"][0]["schedules"] == []

    advance(sandbox, DURATION - 5)
    assert await auto_update_status(azure) == "Disabled"
    advance(sandbox, 10)
    assert await auto_update_status(azure) == "Enabled"
    assert sandbox.state()["operationsInFlight"] == []

    mapping = await poller.result()
    assert mapping.properties.provider_specific_details.schedule_name.startswith(MAPPING + "_")
    job = await azure.site_recovery.replication_jobs.get(RG, VAULT, job.name)
    assert job.properties.state == "Succeeded"
    assert job.properties.end_time - job.properties.start_time == datetime.timedelta(seconds=DURATION)
    [operation] = sandbox.state()["operations"]
    assert (operation["status"], operation["endTime"]) == ("Succeeded", operation["ends"])


async def test_the_operation_is_polled_at_the_status_and_result_addresses_with_retry_after(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"lroRetryAfterSeconds": 7})
    account_id = await create_account(azure)
    started = await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))
    assert started.status_code == 202 and started.headers["Retry-After"] == "7"
    status_url, result_url = started.headers["Azure-AsyncOperation"], started.headers["Location"]
    vault_id = mapping_path(sandbox).split("/replicationFabrics/")[0]
    assert re.fullmatch(
        rf"https://.+{vault_id}/replicationOperationStatus/{GUID.pattern}\?api-version={API}", status_url
    )
    assert re.fullmatch(
        rf"https://.+{vault_id}/replicationOperationResults/{GUID.pattern}\?api-version={API}", result_url
    )

    running = await send(azure, "GET", status_url)
    body = running.json()
    assert (running.status_code, running.headers["Retry-After"]) == (200, "7")
    assert (body["status"], body["endTime"], "error" in body) == ("InProgress", None, False)
    assert body["name"] == status_url.split("?")[0].rsplit("/", 1)[-1] and body["startTime"]
    pending = await send(azure, "GET", result_url)
    assert (pending.status_code, pending.headers["Retry-After"]) == (202, "7")
    assert pending.headers["Location"].split("?")[0] == result_url.split("?")[0]

    advance(sandbox, DURATION)
    done = await send(azure, "GET", status_url)
    assert done.json()["status"] == "Succeeded" and done.json()["endTime"]
    assert "Retry-After" not in done.headers
    result = await send(azure, "GET", result_url)
    assert result.status_code == 200
    assert result.json()["properties"]["providerSpecificDetails"]["agentAutoUpdateStatus"] == "Enabled"


def test_real_pace_is_the_default_and_asks_for_polls_every_30_seconds() -> None:
    settings = EmulatorSettings()
    assert (settings.lro_retry_after_seconds, settings.operation_duration_seconds) == (30, 120.0)
    assert settings.principal_propagation_delay_seconds == 60.0
    assert (settings.arm_latency_median_seconds, settings.arm_latency_max_seconds) == (0.15, 2.0)


async def test_a_second_update_while_one_runs_is_refused_with_site_recoverys_409(sandbox, azure) -> None:
    account_id = await create_account(azure)
    first = await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))
    assert first.status_code == 202

    refusals = [
        await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id)),
        await send(azure, "PUT", mapping_path(sandbox), enabling(account_id)),
        await send(azure, "POST", mapping_path(sandbox) + "/remove", {"properties": {}}),
        await send(azure, "DELETE", mapping_path(sandbox)),
    ]
    for refused in refusals:
        assert refused.status_code == 409, refused.request.method
        error = refused.json()["error"]
        assert set(error) == {"code", "message", "possibleCauses", "recommendedAction", "activityId"}
        assert error["code"] == "AnotherOperationInProgress"
        assert f"'{MAPPING}'" in error["message"] and GUID.fullmatch(error["activityId"])
    with pytest.raises(HttpResponseError) as raised:
        poller = await azure.site_recovery.replication_protection_container_mappings.begin_update(
            RG, VAULT, FABRIC, CONTAINER, MAPPING, enabling(account_id)
        )
        await poller.result()
    assert raised.value.status_code == 409 and raised.value.error.code == "AnotherOperationInProgress"

    # the other mapping of the vault is not blocked, and neither is this one once the operation has ended
    other = await send(azure, "PATCH", mapping_path(sandbox, REVERSE), enabling(account_id))
    assert other.status_code == 202
    advance(sandbox, DURATION)
    assert (await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))).status_code == 202
    assert len(sandbox.state()["operations"]) == 3


async def test_a_bad_provider_input_is_still_refused_at_once(sandbox, azure) -> None:
    body = {"properties": {"providerSpecificInput": {"instanceType": "InMageRcm"}}}
    refused = await send(azure, "PATCH", mapping_path(sandbox), body)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidProviderInput"
    assert sandbox.state()["operations"] == []


@pytest.mark.parametrize("outcome", ["Succeeded", "PartiallySucceeded", "CompletedWithInformation"])
async def test_outcomes_that_apply_the_change(sandbox, azure, outcome: str) -> None:
    sandbox.admin("POST", "/config", {"operationOutcome": outcome})
    account_id = await create_account(azure)
    status_url = (await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))).headers[
        "Azure-AsyncOperation"
    ]
    advance(sandbox, DURATION)
    body = (await send(azure, "GET", status_url)).json()
    assert (body["status"], "error" in body) == (outcome, False)
    assert await auto_update_status(azure) == "Enabled"
    [job] = [j async for j in azure.site_recovery.replication_jobs.list(RG, VAULT)]
    assert job.properties.state == outcome


async def test_a_failed_outcome_leaves_the_mapping_as_it_was(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"operationOutcome": "Failed"})
    account_id = await create_account(azure)
    poller = await azure.site_recovery.replication_protection_container_mappings.begin_update(
        RG, VAULT, FABRIC, CONTAINER, MAPPING, enabling(account_id)
    )
    advance(sandbox, DURATION)
    with pytest.raises(HttpResponseError) as raised:
        await poller.result()
    assert "ProtectionContainerMappingOperationFailed" in str(raised.value)
    assert await auto_update_status(azure) == "Disabled"
    [operation] = sandbox.state()["operations"]
    assert operation["status"] == "Failed"
    assert operation["error"]["code"] == "ProtectionContainerMappingOperationFailed"
    assert f"'{MAPPING}'" in operation["error"]["message"]
    [job] = [j async for j in azure.site_recovery.replication_jobs.list(RG, VAULT)]
    assert job.properties.state == "Failed" and job.properties.end_time is not None
    assert sandbox.state()["automationAccounts"][0]["schedules"] == []


async def test_a_refused_change_fails_only_at_the_end(sandbox, azure) -> None:
    missing = (
        f"/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}/providers/Microsoft.Automation/"
        "automationAccounts/aa-gone"
    )
    started = await send(azure, "PATCH", mapping_path(sandbox), enabling(missing))
    status_url = started.headers["Azure-AsyncOperation"]
    assert (await send(azure, "GET", status_url)).json()["status"] == "InProgress"
    advance(sandbox, DURATION)
    body = (await send(azure, "GET", status_url)).json()
    assert body["status"] == "Failed" and body["error"]["code"] == "AutomationAccountNotFound"
    result = await send(azure, "GET", started.headers["Location"])
    assert result.status_code == 400 and result.json()["error"]["code"] == "AutomationAccountNotFound"


async def test_never_ends_keeps_the_operation_in_progress_for_good(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"operationOutcome": "NeverEnds"})
    account_id = await create_account(azure)
    status_url = (await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))).headers[
        "Azure-AsyncOperation"
    ]
    advance(sandbox, 7 * 24 * 3600)
    body = (await send(azure, "GET", status_url)).json()
    assert (body["status"], body["endTime"]) == ("InProgress", None)
    assert await auto_update_status(azure) == "Disabled"
    [running] = sandbox.state()["operationsInFlight"]
    assert (running["outcome"], running["ends"]) == ("NeverEnds", None)
    assert (await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))).status_code == 409


async def test_any_other_outcome_is_answered_verbatim_without_the_change(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"operationOutcome": "Cancelled"})
    account_id = await create_account(azure)
    status_url = (await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))).headers[
        "Azure-AsyncOperation"
    ]
    advance(sandbox, DURATION)
    answer = await send(azure, "GET", status_url)
    assert answer.json()["status"] == "Cancelled" and answer.json()["endTime"]
    assert "Retry-After" not in answer.headers
    assert await auto_update_status(azure) == "Disabled"


async def test_the_outcome_is_fixed_when_the_operation_starts(sandbox, azure) -> None:
    account_id = await create_account(azure)
    status_url = (await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))).headers[
        "Azure-AsyncOperation"
    ]
    sandbox.admin("POST", "/config", {"operationOutcome": "Failed"})
    advance(sandbox, DURATION)
    assert (await send(azure, "GET", status_url)).json()["status"] == "Succeeded"


async def test_create_and_remove_show_only_at_their_end(sandbox, azure) -> None:
    target = (await azure.site_recovery.replication_protection_containers.get(RG, VAULT, *REVERSE[:2])).id
    name = "northeurope-westeurope-72-hour-retention-policy"
    created = await send(
        azure,
        "PUT",
        mapping_path(sandbox, (FABRIC, CONTAINER, name)),
        {"properties": {"targetProtectionContainerId": target, "policyId": "72-hour-retention-policy"}},
    )
    assert created.status_code == 202
    with pytest.raises(ResourceNotFoundError):
        await azure.site_recovery.replication_protection_container_mappings.get(RG, VAULT, FABRIC, CONTAINER, name)
    again = await send(azure, "PUT", mapping_path(sandbox, (FABRIC, CONTAINER, name)), {"properties": {}})
    assert again.status_code == 409
    advance(sandbox, DURATION)
    assert (await send(azure, "GET", created.headers["Location"])).json()["name"] == name

    removed = await send(azure, "DELETE", mapping_path(sandbox, (FABRIC, CONTAINER, name)))
    assert removed.status_code == 202
    assert (await send(azure, "GET", removed.headers["Location"])).status_code == 202
    await azure.site_recovery.replication_protection_container_mappings.get(RG, VAULT, FABRIC, CONTAINER, name)
    advance(sandbox, DURATION)
    assert (await send(azure, "GET", removed.headers["Location"])).status_code == 204
    with pytest.raises(ResourceNotFoundError):
        await azure.site_recovery.replication_protection_container_mappings.get(RG, VAULT, FABRIC, CONTAINER, name)


async def test_operations_end_in_the_order_they_are_due(sandbox, azure) -> None:
    account_id = await create_account(azure)
    slow = await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))
    sandbox.admin("POST", "/config", {"operationDurationSeconds": 30})
    quick = await send(azure, "PATCH", mapping_path(sandbox, REVERSE), enabling(account_id))
    advance(sandbox, 60)
    assert (await send(azure, "GET", quick.headers["Azure-AsyncOperation"])).json()["status"] == "Succeeded"
    assert (await send(azure, "GET", slow.headers["Azure-AsyncOperation"])).json()["status"] == "InProgress"
    advance(sandbox, DURATION)
    ends = {op["mappingId"].rsplit("/", 1)[-1]: parse(op["endTime"]) for op in sandbox.state()["operations"]}
    assert ends[REVERSE[2]] < ends[MAPPING]


async def test_a_reset_forgets_the_operations_in_flight(sandbox, azure) -> None:
    account_id = await create_account(azure)
    await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))
    sandbox.admin("POST", "/reset")
    state = sandbox.state()
    assert state["operations"] == [] and state["operationsInFlight"] == []


# ---- the schedule's zone ------------------------------------------------------------------------------


async def test_the_schedule_keeps_the_source_regions_zone_not_the_vaults(sandbox, azure) -> None:
    """Both mappings of the West Europe vault: VMs from North Europe and (failback) from West Europe."""
    account_id = await create_account(azure)
    for mapping in ((FABRIC, CONTAINER, MAPPING), REVERSE):
        assert (await send(azure, "PATCH", mapping_path(sandbox, mapping), enabling(account_id))).status_code == 202
    advance(sandbox, DURATION)
    zones = {}
    for mapping in ((FABRIC, CONTAINER, MAPPING), REVERSE):
        found = await azure.site_recovery.replication_protection_container_mappings.get(RG, VAULT, *mapping)
        schedule_name = found.properties.provider_specific_details.schedule_name
        schedule = await azure.automation.schedule.get(RG, ACCOUNT, schedule_name)
        zones[mapping[2]] = schedule.properties.time_zone
    assert (await azure.vaults.vaults.get(RG, VAULT)).location == "westeurope"
    assert zones == {MAPPING: "Europe/Dublin", REVERSE[2]: "Europe/Amsterdam"}


# ---- identities replicate on the emulated clock -------------------------------------------------------


async def test_a_new_identity_becomes_visible_when_the_emulated_clock_passes_the_delay(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"principalPropagationDelaySeconds": 600})
    account = await azure.automation.automation_account.create_or_update(
        RG,
        ACCOUNT,
        {"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {"sku": {"name": "Basic"}}},
    )
    principal_id = account.identity.principal_id
    vault_id = (await azure.vaults.vaults.get(RG, VAULT)).id
    body = {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{sandbox.subscription_a}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{CONTRIBUTOR}",
            "principalId": principal_id,
            "principalType": "ServicePrincipal",
        }
    }

    def replicated() -> bool:
        return next(p for p in sandbox.state()["principals"] if p["objectId"] == principal_id)["replicated"]

    with pytest.raises(HttpResponseError) as raised:
        await azure.authorization.role_assignments.create(vault_id, str(uuid.uuid4()), body)
    assert raised.value.error.code == "PrincipalNotFound" and not replicated()
    advance(sandbox, 601)
    assert replicated()
    created = await azure.authorization.role_assignments.create(vault_id, str(uuid.uuid4()), body)
    assert created.principal_id == principal_id


# ---- ARM latency -------------------------------------------------------------------------------------


async def timed(call) -> float:
    started = time.monotonic()
    await call()
    return time.monotonic() - started


async def test_every_arm_request_takes_the_configured_latency(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"armLatencyMedianSeconds": 0.05, "armLatencySigma": 0})
    durations = [await timed(lambda: azure.vaults.vaults.get(RG, VAULT)) for _ in range(3)]
    assert all(duration >= 0.05 for duration in durations), durations


async def test_the_latency_is_capped_and_spares_the_admin_api(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"armLatencyMedianSeconds": 30, "armLatencyMaxSeconds": 0.2})
    assert 0.2 <= await timed(lambda: azure.vaults.vaults.get(RG, VAULT)) < 10
    started = time.monotonic()
    sandbox.admin("GET", "/config")
    assert time.monotonic() - started < 0.2


def test_the_latency_draws_are_a_reproducible_lognormal_sequence() -> None:
    def draws(**settings) -> list[float]:
        latency = ArmLatency(EmulatorSettings(**settings))
        return [latency.next_delay() for _ in range(200)]

    first = draws(latency_seed=0)
    assert first == draws(latency_seed=0) and first != draws(latency_seed=1)
    assert all(0 < delay <= 2.0 for delay in first)
    median = sorted(first)[100]
    assert 0.1 < median < 0.22, median
    assert draws(arm_latency_median_seconds=0) == [0.0] * 200
    assert all(delay == pytest.approx(0.15) for delay in draws(arm_latency_sigma=0))


# ---- settings and profiles ---------------------------------------------------------------------------


def test_the_fast_profile_and_overrides_on_top_of_it() -> None:
    fast = EmulatorSettings.of_pace("fast")
    assert (fast.lro_retry_after_seconds, fast.operation_duration_seconds) == (1, 1.0)
    assert (fast.principal_propagation_delay_seconds, fast.arm_latency_median_seconds) == (0.0, 0.0)
    assert EmulatorSettings.of_pace("real") == EmulatorSettings()
    assert EmulatorSettings.of_pace("fast", {"operationDurationSeconds": 5}).operation_duration_seconds == 5.0
    assert set(PROFILES) == {"real", "fast"}
    with pytest.raises(ValueError, match="unknown pace"):
        EmulatorSettings.of_pace("leisurely")


def test_the_session_emulator_runs_the_fast_pace_its_fixture_asked_for(sandbox) -> None:
    assert sandbox.info["pace"] == "fast"
    sandbox.admin("POST", "/reset")
    config = sandbox.admin("GET", "/config")
    assert config["armLatencyMedianSeconds"] == 0 and config["principalPropagationDelaySeconds"] == 0
    assert config["operationDurationSeconds"] == 0 and config["lroRetryAfterSeconds"] == 0  # the suite's own


@pytest.mark.parametrize(
    "change",
    [
        {"operationDurationSecs": 1},
        {"operationOutcome": ""},
        {"operationOutcome": 3},
        {"armLatencySigma": "wide"},
        {"latencySeed": -1},
        {"armLatencyMaxSeconds": True},
    ],
)
def test_unknown_settings_and_bad_values_are_refused(sandbox, change: dict) -> None:
    status, answer = sandbox.raw("POST", sandbox.info["adminEndpoint"] + "/config", change)
    assert status == 400 and answer["error"]
    assert sandbox.admin("GET", "/config")["operationOutcome"] == "Succeeded"


def test_the_module_runs_the_real_pace_unless_told(tmp_path: pathlib.Path) -> None:
    """`python -m asr_sandbox.azure` with no --pace: the real profile, named in azure.json; ended by its PID."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asr_sandbox.azure", "--state-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        azure_json = tmp_path / "azure.json"
        wait_for(azure_json.exists, timeout=30, interval=0.05, what="azure.json")
        assert json.loads(azure_json.read_text())["pace"] == "real"
    finally:
        process.terminate()
        process.wait(timeout=15)
    refused = subprocess.run(
        [sys.executable, "-m", "asr_sandbox.azure", "--state-dir", str(tmp_path), "--pace", "leisurely"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "--pace" in refused.stderr


async def test_a_never_ending_operation_ends_when_the_admin_api_says_so(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"operationOutcome": "NeverEnds"})
    account_id = await create_account(azure)
    status_url = (await send(azure, "PATCH", mapping_path(sandbox), enabling(account_id))).headers[
        "Azure-AsyncOperation"
    ]
    assert sandbox.admin("POST", "/operations/end", {}) == {"ended": 1}
    assert (await send(azure, "GET", status_url)).json()["status"] == "Succeeded"
    assert await auto_update_status(azure) == "Enabled"
    assert sandbox.state()["operationsInFlight"] == []
    assert sandbox.admin("POST", "/operations/end", {}) == {"ended": 0}
