"""The emulator's answers against Microsoft's published examples, read through the real async SDK clients.

Automation jobs go New -> Activating -> Running -> an end; schedule times come back to the minute in the
schedule's zone; Automation lists page by `$skip`; the account names who last wrote it; Site Recovery answers
its placeholders (`…/replicationJobs/None`, 1753-01-01T01:01:01Z) rather than null.
"""

from __future__ import annotations

import base64
import datetime
import math
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

from azure.core.rest import HttpRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

RG, ACCOUNT = "rg-asr-weu", "aa-weu-asr"
VAULT = "rsv-weu-prod"
FABRIC, CONTAINER = "asr-a2a-default-northeurope", "asr-a2a-default-northeurope-container"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
UNSET = datetime.datetime(1753, 1, 1, 1, 1, 1, tzinfo=datetime.UTC)
# The emulator's New and Activating phases, and the default jobDurationSeconds the fixtures start with.
NEW, ACTIVATING, DURATION = 5, 10, 40
API = "2023-11-01"


def emulated_now(sandbox) -> datetime.datetime:
    return datetime.datetime.fromisoformat(sandbox.admin("GET", "/clock")["now"].replace("Z", "+00:00"))


def advance(sandbox, seconds: float) -> None:
    sandbox.admin("POST", "/clock", {"advanceSeconds": seconds})


def account_path(sandbox, name: str = ACCOUNT) -> str:
    return f"/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}/providers/Microsoft.Automation/automationAccounts/{name}"


async def wire(azure, path: str) -> dict[str, Any]:
    """The raw JSON of a GET, sent through the management client's own pipeline (for exact wire strings)."""
    separator = "&" if "?" in path else "?"
    response = await azure.automation.send_request(HttpRequest("GET", f"{path}{separator}api-version={API}"))
    assert response.status_code == 200, response.text()
    return response.json()


async def create_account(azure, name: str = ACCOUNT):
    return await azure.automation.automation_account.create_or_update(
        RG,
        name,
        {"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {"sku": {"name": "Basic"}}},
    )


async def create_runbook(azure, name: str = "Report"):
    return await azure.automation.runbook.create_or_update(
        RG, ACCOUNT, name, {"location": "westeurope", "properties": {"runbookType": "Python3"}}
    )


# ---- jobs -------------------------------------------------------------------------------------------


async def test_a_job_is_new_then_activating_then_running_then_completed(sandbox, azure) -> None:
    await create_account(azure)
    await create_runbook(azure)
    job_id = str(uuid.uuid4())
    created = await azure.automation.job.create(RG, ACCOUNT, job_id, {"properties": {"runbook": {"name": "Report"}}})
    queued_at = created.properties.creation_time

    async def seen() -> list[tuple[Any, ...]]:
        """(status, startTime, endTime, provisioningState) from GET, then from the list."""
        one = await azure.automation.job.get(RG, ACCOUNT, job_id)
        [listed] = [j async for j in azure.automation.job.list_by_automation_account(RG, ACCOUNT)]
        return [(p.status, p.start_time, p.end_time, p.provisioning_state) for p in (one.properties, listed.properties)]

    assert (created.properties.status, created.properties.start_time) == ("New", None)
    assert created.properties.provisioning_state == "Processing"
    assert await seen() == [("New", None, None, "Processing")] * 2
    raw = (await wire(azure, f"{account_path(sandbox)}/jobs/{job_id}"))["properties"]
    assert raw["startTime"] is None and raw["endTime"] is None and raw["status"] == "New"
    assert raw["lastStatusModifiedTime"] == raw["creationTime"]

    advance(sandbox, NEW)
    assert await seen() == [("Activating", None, None, "Processing")] * 2

    advance(sandbox, ACTIVATING)
    started = queued_at + datetime.timedelta(seconds=NEW + ACTIVATING)
    assert await seen() == [("Running", started, None, "Processing")] * 2

    advance(sandbox, DURATION)
    ended = started + datetime.timedelta(seconds=DURATION)
    assert await seen() == [("Completed", started, ended, "Succeeded")] * 2
    state_jobs = sandbox.state()["automationAccounts"][0]["jobs"]
    assert [job["status"] for job in state_jobs] == ["Completed"]


async def test_jobs_waiting_to_run_are_outside_a_start_time_filter(sandbox, azure) -> None:
    """A job without startTime never matches `properties/startTime ge …`, as a null never matches an OData filter."""
    await create_account(azure)
    await create_runbook(azure)
    since = (emulated_now(sandbox) - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    job_id = str(uuid.uuid4())
    await azure.automation.job.create(RG, ACCOUNT, job_id, {"properties": {"runbook": {"name": "Report"}}})

    async def matching(text: str) -> list[str]:
        return [j.name async for j in azure.automation.job.list_by_automation_account(RG, ACCOUNT, filter=text)]

    assert await matching(f"properties/startTime ge {since}") == []
    assert await matching(f"properties/creationTime ge {since}") == [job_id]
    assert await matching("properties/status eq 'New'") == [job_id]
    advance(sandbox, NEW + ACTIVATING)
    assert await matching(f"properties/startTime ge {since}") == [job_id]


# ---- schedules --------------------------------------------------------------------------------------


async def test_schedule_times_come_back_to_the_minute_in_the_schedule_zone(sandbox, azure) -> None:
    await create_account(azure)
    year = emulated_now(sandbox).year + 1
    start = datetime.datetime(year, 1, 15, 0, 0, 37, 249481, tzinfo=AMSTERDAM)  # winter: +01:00
    expiry = datetime.datetime(year, 7, 1, 12, 30, 45, tzinfo=datetime.UTC)  # summer: +02:00
    body = {
        "name": "nightly",
        "properties": {
            # .NET's seven fractional digits, in UTC, as the SDK and most tools send it
            "startTime": start.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "9Z",
            "expiryTime": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "frequency": "Day",
            "interval": 1,
            "timeZone": "Europe/Amsterdam",
        },
    }
    answered = await azure.automation.schedule.create_or_update(RG, ACCOUNT, "nightly", body)
    assert answered.properties.start_time == start.replace(second=0, microsecond=0)
    assert answered.properties.next_run == answered.properties.start_time

    raw = (await wire(azure, f"{account_path(sandbox)}/schedules/nightly"))["properties"]
    assert raw["startTime"] == f"{year}-01-15T00:00:00+01:00" and raw["startTimeOffsetMinutes"] == 60.0
    assert raw["nextRun"] == f"{year}-01-15T00:00:00+01:00" and raw["nextRunOffsetMinutes"] == 60.0
    assert raw["expiryTime"] == f"{year}-07-01T14:30:00+02:00" and raw["expiryTimeOffsetMinutes"] == 120.0
    # creationTime and lastModifiedTime stay as ARM writes them
    assert raw["creationTime"].endswith("Z")

    # the run is at the whole minute too: a day later the next run is the next midnight
    advance(sandbox, (start - emulated_now(sandbox)).total_seconds() + 60)
    raw = (await wire(azure, f"{account_path(sandbox)}/schedules/nightly"))["properties"]
    assert raw["nextRun"] == f"{year}-01-16T00:00:00+01:00"


async def test_utc_and_never_expiring_schedules(sandbox, azure) -> None:
    await create_account(azure)
    start = (emulated_now(sandbox) + datetime.timedelta(hours=2)).replace(microsecond=0)
    body = {"name": "utc", "properties": {"startTime": start.isoformat(), "frequency": "Hour", "interval": 1}}
    answered = await azure.automation.schedule.create_or_update(RG, ACCOUNT, "utc", body)
    assert answered.properties.time_zone == "UTC"
    assert answered.properties.expiry_time.year == 9999
    raw = (await wire(azure, f"{account_path(sandbox)}/schedules/utc"))["properties"]
    assert raw["startTime"] == start.replace(second=0).strftime("%Y-%m-%dT%H:%M:00+00:00")
    assert raw["expiryTime"] == "9999-12-31T23:59:59.9999999+00:00" and raw["expiryTimeOffsetMinutes"] == 0.0

    # what the service answered, sent back in a zone east of UTC, is still "never expires"
    again = {**body["properties"], "timeZone": "Asia/Singapore", "expiryTime": raw["expiryTime"]}
    await azure.automation.schedule.create_or_update(RG, ACCOUNT, "utc", {"name": "utc", "properties": again})
    raw = (await wire(azure, f"{account_path(sandbox)}/schedules/utc"))["properties"]
    assert raw["expiryTime"] == "9999-12-31T23:59:59.9999999+00:00" and raw["startTime"].endswith("+08:00")


async def test_a_paused_schedule_keeps_a_next_run_and_runs_nothing(sandbox, azure) -> None:
    await create_account(azure)
    await create_runbook(azure)
    start = datetime.datetime.combine(
        # the next midnight at least five minutes on: Automation refuses a start time closer than that
        (emulated_now(sandbox) + datetime.timedelta(minutes=6)).astimezone(AMSTERDAM).date()
        + datetime.timedelta(days=1),
        datetime.time(0),
        tzinfo=AMSTERDAM,
    )
    body = {
        "name": "nightly",
        "properties": {"startTime": start.isoformat(), "frequency": "Day", "timeZone": "Europe/Amsterdam"},
    }
    await azure.automation.schedule.create_or_update(RG, ACCOUNT, "nightly", body)
    link = {"properties": {"schedule": {"name": "nightly"}, "runbook": {"name": "Report"}}}
    await azure.automation.job_schedule.create(RG, ACCOUNT, str(uuid.uuid4()), link)

    paused = await azure.automation.schedule.update(RG, ACCOUNT, "nightly", {"properties": {"isEnabled": False}})
    assert paused.properties.is_enabled is False and paused.properties.next_run == start
    assert (await azure.automation.schedule.get(RG, ACCOUNT, "nightly")).properties.next_run == start

    # Two nights pass: nothing runs, and the next run shown moves on to the next midnight (never null, never past).
    advance(sandbox, (start - emulated_now(sandbox)).total_seconds() + 86400 + 3600)
    assert [j async for j in azure.automation.job.list_by_automation_account(RG, ACCOUNT)] == []
    skipped = (await azure.automation.schedule.get(RG, ACCOUNT, "nightly")).properties
    assert skipped.is_enabled is False
    assert skipped.next_run.astimezone(AMSTERDAM).time() == datetime.time(0)
    assert skipped.next_run > emulated_now(sandbox)

    resumed = await azure.automation.schedule.update(RG, ACCOUNT, "nightly", {"properties": {"isEnabled": True}})
    assert resumed.properties.next_run == skipped.next_run
    advance(sandbox, (skipped.next_run - emulated_now(sandbox)).total_seconds() + NEW + ACTIVATING + DURATION)
    [job] = [j async for j in azure.automation.job.list_by_automation_account(RG, ACCOUNT)]
    assert job.properties.status == "Completed" and job.properties.creation_time == skipped.next_run


# ---- paging -----------------------------------------------------------------------------------------


def _der_certificate(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode()


class PageRecorder:
    """A per-call `raw_response_hook` (an azure-core pipeline option): the URL of every page the SDK fetched and
    the nextLink each page answered."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.next_links: list[str] = []

    def __call__(self, pipeline_response: Any) -> None:
        self.urls.append(str(pipeline_response.http_request.url))
        link = pipeline_response.http_response.json().get("nextLink")
        if link:
            self.next_links.append(link)


async def _collect(
    pager: Callable[..., AsyncIterator[Any]], *args: Any, **kwargs: Any
) -> tuple[list[str], PageRecorder]:
    recorder = PageRecorder()
    names = [item.name async for item in pager(*args, raw_response_hook=recorder, **kwargs)]
    return names, recorder


async def test_automation_lists_page_by_skip_and_list_everything_once(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"pageSize": 2})
    automation = azure.automation
    accounts = [ACCOUNT, "aa-weu-second", "aa-weu-third"]
    for name in accounts:
        await create_account(azure, name)
    runbooks = [f"Report-{n}" for n in range(5)]
    for name in runbooks:
        await create_runbook(azure, name)
    start = (emulated_now(sandbox) + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    schedules = [f"nightly-{n}" for n in range(5)]
    links = [str(uuid.uuid4()) for _ in schedules]
    for schedule, runbook, link in zip(schedules, runbooks, links, strict=True):
        await automation.schedule.create_or_update(
            RG, ACCOUNT, schedule, {"name": schedule, "properties": {"startTime": start, "frequency": "Day"}}
        )
        await automation.job_schedule.create(
            RG, ACCOUNT, link, {"properties": {"schedule": {"name": schedule}, "runbook": {"name": runbook}}}
        )
    jobs = [str(uuid.uuid4()) for _ in range(5)]
    for n, job in enumerate(jobs):
        runbook = "Report-0" if n < 3 else "Report-1"
        await automation.job.create(RG, ACCOUNT, job, {"properties": {"runbook": {"name": runbook}}})
    certificates = [f"cert-{n}" for n in range(3)]
    for name in certificates:
        await automation.certificate.create_or_update(
            RG, ACCOUNT, name, {"name": name, "properties": {"base64Value": _der_certificate(name)}}
        )
    connections = [f"conn-{n}" for n in range(3)]
    for name in connections:
        await automation.connection.create_or_update(
            RG,
            ACCOUNT,
            name,
            {"name": name, "properties": {"connectionType": {"name": "Azure"}, "fieldDefinitionValues": {}}},
        )

    base = account_path(sandbox)
    subscription = f"/subscriptions/{sandbox.subscription_a}/providers/Microsoft.Automation/automationAccounts"
    group = (
        f"/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}/providers/Microsoft.Automation/automationAccounts"
    )
    cases = [
        (automation.automation_account.list, (), {}, accounts, subscription),
        (automation.automation_account.list_by_resource_group, (RG,), {}, accounts, group),
        (automation.runbook.list_by_automation_account, (RG, ACCOUNT), {}, runbooks, f"{base}/runbooks"),
        (automation.schedule.list_by_automation_account, (RG, ACCOUNT), {}, schedules, f"{base}/schedules"),
        (automation.job_schedule.list_by_automation_account, (RG, ACCOUNT), {}, links, f"{base}/jobSchedules"),
        (automation.job.list_by_automation_account, (RG, ACCOUNT), {}, jobs, f"{base}/jobs"),
        (automation.certificate.list_by_automation_account, (RG, ACCOUNT), {}, certificates, f"{base}/certificates"),
        (automation.connection.list_by_automation_account, (RG, ACCOUNT), {}, connections, f"{base}/connections"),
        (
            automation.job.list_by_automation_account,
            (RG, ACCOUNT),
            {"filter": "properties/runbook/name eq 'Report-0'"},
            jobs[:3],
            f"{base}/jobs",
        ),
    ]
    for pager, args, kwargs, expected, path in cases:
        sandbox.admin("DELETE", "/requests")
        names, pages = await _collect(pager, *args, **kwargs)
        assert sorted(names) == sorted(expected) and len(names) == len(set(names)), (path, names)
        assert len(pages.urls) == math.ceil(len(expected) / 2), (path, pages.urls)
        for n, link in enumerate(pages.next_links, start=1):
            parsed = urllib.parse.urlsplit(link)
            assert f"{parsed.scheme}://{parsed.netloc}" == sandbox.url and parsed.path == path, link
            query = urllib.parse.parse_qs(parsed.query)
            assert query["$skip"] == [str(2 * n)] and query["api-version"], link
            assert parsed.query.startswith("api-version=") and "$skip=" in parsed.query, link
            if "filter" in kwargs:
                assert query["$filter"] == [kwargs["filter"]], link
        # the SDK followed each nextLink to the emulator
        assert all("skip=" in url for url in pages.urls[1:]), pages.urls
        logged = [r for r in sandbox.requests() if r["method"] == "GET" and r["path"].lower() == path.lower()]
        assert len(logged) == len(pages.urls) and all(r["status"] == 200 for r in logged), logged


async def test_other_providers_keep_skiptoken_paging(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"pageSize": 2})
    recorder = PageRecorder()
    items = [
        i async for i in azure.site_recovery.replication_protected_items.list(RG, VAULT, raw_response_hook=recorder)
    ]
    assert len(items) == len({item.id for item in items}) > 2
    assert recorder.next_links and all("skiptoken" in link.lower() for link in recorder.next_links)


# ---- who wrote it -----------------------------------------------------------------------------------


async def test_the_account_names_who_last_wrote_it(sandbox, azure) -> None:
    created = await create_account(azure)
    assert created.properties.last_modified_by == sandbox.info["clientId"]
    updated = await azure.automation.automation_account.update(RG, ACCOUNT, {"tags": {"owner": "dr"}})
    assert updated.properties.last_modified_by == sandbox.info["clientId"]
    [listed] = [a async for a in azure.automation.automation_account.list_by_resource_group(RG)]
    assert listed.properties.last_modified_by == sandbox.info["clientId"]


# ---- Site Recovery's placeholders --------------------------------------------------------------------


async def test_protected_items_answer_site_recovery_placeholders(sandbox, azure) -> None:
    vault = await azure.vaults.vaults.get(RG, VAULT)
    items = [i async for i in azure.site_recovery.replication_protected_items.list(RG, VAULT)]
    assert items
    for item in items:
        scenario = item.properties.current_scenario
        assert scenario.scenario_name == "None" and scenario.start_time == UNSET
        assert scenario.job_id.lower() == f"{vault.id}/replicationJobs/None".lower()
        assert scenario.job_id.startswith("/Subscriptions/")
        assert item.properties.last_successful_failover_time == UNSET
        assert item.properties.last_successful_test_failover_time == UNSET
    one = await azure.site_recovery.replication_protected_items.get(RG, VAULT, FABRIC, CONTAINER, items[0].name)
    assert one.properties.current_scenario.start_time == UNSET


async def test_unset_a2a_times_are_the_1753_placeholder(sandbox, azure) -> None:
    vault = await azure.vaults.vaults.get(RG, VAULT)
    sandbox.admin(
        "POST",
        "/seed",
        {
            "vaults": [
                {
                    "subscriptionId": sandbox.subscription_a,
                    "resourceGroup": RG,
                    "name": VAULT,
                    "location": vault.location,
                    "fabrics": [
                        {
                            "name": FABRIC,
                            "location": "northeurope",
                            "instanceType": "Azure",
                            "friendlyName": "northeurope",
                            "containers": [
                                {
                                    "name": CONTAINER,
                                    "friendlyName": CONTAINER,
                                    "fabricType": "Azure",
                                    "protectedItems": [
                                        {
                                            "friendlyName": "vm-never-measured",
                                            "details": {"lastRpoCalculatedTime": None, "lastHeartbeat": None},
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
    [item] = [
        i
        async for i in azure.site_recovery.replication_protected_items.list(RG, VAULT)
        if i.properties.friendly_name == "vm-never-measured"
    ]
    details = item.properties.provider_specific_details
    assert details.last_rpo_calculated_time == UNSET and details.last_heartbeat == UNSET
    assert details.agent_expiry_date is not None and details.agent_expiry_date.year > 2000
