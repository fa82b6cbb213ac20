"""Every answer carries Azure's clock in `Date`: the emulated one, so a client timing soaks by the service's
clock sees the emulated time pass (a clock advanced three days is three days later in `Date` too)."""

from __future__ import annotations

import datetime
import email.utils
import urllib.error
import urllib.request

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

RG, VAULT = "rg-asr-weu", "rsv-weu-prod"
FABRIC, CONTAINER = "asr-a2a-default-northeurope", "asr-a2a-default-northeurope-container"
MAPPING = "northeurope-westeurope-24-hour-retention-policy"
THREE_DAYS = 3 * 86400
# `Date` has whole seconds; the request itself takes a moment.
SLACK = datetime.timedelta(seconds=2)


def emulated_now(sandbox) -> datetime.datetime:
    return datetime.datetime.fromisoformat(sandbox.admin("GET", "/clock")["now"].replace("Z", "+00:00"))


def date_of(headers) -> datetime.datetime:
    return email.utils.parsedate_to_datetime(headers["Date"])


def assert_emulated(date: datetime.datetime, before: datetime.datetime, after: datetime.datetime) -> None:
    assert before - SLACK <= date <= after + SLACK, (date, before, after)


def plain_get(sandbox, url: str):
    """Status and headers of a plain HTTPS GET (error answers included)."""
    request = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(request, context=sandbox.ssl_context, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


async def test_arm_answers_are_dated_by_the_emulated_clock(sandbox, azure) -> None:
    sandbox.admin("POST", "/clock", {"advanceSeconds": THREE_DAYS})
    before = emulated_now(sandbox)
    assert before - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=2, hours=23)
    answers = []
    await azure.vaults.vaults.get(RG, VAULT, cls=lambda response, body, _: answers.append(response.http_response))
    after = emulated_now(sandbox)
    assert answers[0].status_code == 200
    date = date_of(answers[0].headers)
    assert_emulated(date, before, after)
    # The exact IMF-fixdate form ARM writes.
    assert answers[0].headers["Date"] == email.utils.format_datetime(date, usegmt=True)

    with pytest.raises(ResourceNotFoundError) as missing:
        await azure.vaults.vaults.get(RG, "rsv-nowhere")
    assert missing.value.status_code == 404
    assert_emulated(date_of(missing.value.response.headers), before, emulated_now(sandbox))


async def test_injected_429_and_unauthenticated_answers_carry_the_emulated_date(sandbox, azure) -> None:
    sandbox.admin("POST", "/clock", {"advanceSeconds": THREE_DAYS})
    sandbox.admin("POST", "/faults", {"method": "GET", "pathPattern": f"vaults/{VAULT}$", "status": 429, "count": 1})
    impatient = sandbox.clients(azure.credential, retry_total=0)
    before = emulated_now(sandbox)
    try:
        with pytest.raises(HttpResponseError) as throttled:
            await impatient.vaults.vaults.get(RG, VAULT)
    finally:
        for client in (impatient.automation, impatient.site_recovery, impatient.vaults, impatient.authorization):
            await client.close()
    assert throttled.value.status_code == 429
    assert_emulated(date_of(throttled.value.response.headers), before, emulated_now(sandbox))

    # Refused before any handler runs (no token), the token authority's discovery, the admin API.
    vault_url = (
        f"{sandbox.url}/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}/providers/"
        f"Microsoft.RecoveryServices/vaults/{VAULT}?api-version=2024-04-01"
    )
    discovery = f"{sandbox.url}/{sandbox.info['tenantId']}/v2.0/.well-known/openid-configuration"
    for url, status in (
        (vault_url, 401),
        (discovery, 200),
        (sandbox.info["adminEndpoint"] + "/clock", 200),
    ):
        answered, headers = plain_get(sandbox, url)
        assert answered == status, url
        assert_emulated(date_of(headers), before, emulated_now(sandbox))


async def test_long_running_operation_and_paged_answers_are_dated_too(sandbox, azure) -> None:
    sandbox.admin("POST", "/clock", {"advanceSeconds": THREE_DAYS})
    sandbox.admin("POST", "/config", {"pageSize": 1, "operationDurationSeconds": 1})
    answers = []
    clients = sandbox.clients(azure.credential, raw_response_hook=lambda response: answers.append(response))
    before = emulated_now(sandbox)
    try:
        poller = await clients.site_recovery.replication_protection_container_mappings.begin_update(
            RG,
            VAULT,
            FABRIC,
            CONTAINER,
            MAPPING,
            {"properties": {"providerSpecificInput": {"instanceType": "A2A", "agentAutoUpdateStatus": "Disabled"}}},
        )
        sandbox.admin("POST", "/clock", {"advanceSeconds": 5})
        await poller.result()
        names = [v.name async for v in clients.vaults.vaults.list_by_subscription_id()]
    finally:
        await clients.close()
    after = emulated_now(sandbox)
    assert sorted(names) == ["rsv-eus-prod", "rsv-weu-prod"]
    arm = [a.http_response for a in answers if "/subscriptions/" in a.http_request.url.lower()]
    statuses = [response.status_code for response in arm]
    assert 202 in statuses and statuses.count(200) >= 3, statuses
    for response in arm:
        assert_emulated(date_of(response.headers), before, after)
