"""ARM's throttling and response headers, and injected faults, as the SDK's retry policy meets them."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

RG, VAULT = "rg-asr-weu", "rsv-weu-prod"


async def test_injected_429_is_retried_after_retry_after(sandbox, azure) -> None:
    sandbox.admin(
        "POST",
        "/faults",
        {"method": "PUT", "pathPattern": "/automationAccounts/aa-weu-asr$", "status": 429, "retryAfter": 1, "count": 1},
    )
    sandbox.admin("DELETE", "/requests")
    account = await azure.automation.automation_account.create_or_update(
        RG, "aa-weu-asr", {"location": "westeurope", "properties": {"sku": {"name": "Basic"}}}
    )
    assert account.name == "aa-weu-asr"
    puts = [(r["status"], r["fault"] is not None) for r in sandbox.requests() if r["method"] == "PUT"]
    assert puts == [(429, True), (201, False)]
    assert sandbox.admin("GET", "/faults")["faults"] == []


async def test_subscription_read_bucket_throttles_with_arms_message(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"readBucketSize": 2, "readRefillPerSecond": 0.5})
    impatient = sandbox.clients(azure.credential, retry_total=0)
    headers = []
    await impatient.vaults.vaults.get(
        RG, VAULT, cls=lambda response, body, _: headers.append(response.http_response.headers)
    )
    await impatient.vaults.vaults.get(RG, VAULT)
    with pytest.raises(HttpResponseError) as raised:
        await impatient.vaults.vaults.get(RG, VAULT)
    for client in (impatient.automation, impatient.site_recovery, impatient.vaults, impatient.authorization):
        await client.close()
    assert raised.value.status_code == 429
    assert raised.value.error.code == "SubscriptionRequestsThrottled"
    operator = sandbox.state()["operatorObjectId"]
    assert raised.value.error.message == (
        f"Number of 'read' requests for subscription '{sandbox.subscription_a}' actor '{operator}' exceeded. "
        "Please try again after '2' seconds."
    )
    assert raised.value.response.headers["Retry-After"] == "2"
    assert headers[0]["x-ms-ratelimit-remaining-subscription-reads"] == "1"
    assert headers[0]["x-ms-ratelimit-remaining-subscription-global-reads"] == "29"
    for name in ("x-ms-request-id", "x-ms-correlation-request-id", "x-ms-routing-request-id"):
        assert headers[0][name]


async def test_writes_have_their_own_bucket(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"readBucketSize": 1, "readRefillPerSecond": 0})
    headers = []
    await azure.automation.automation_account.create_or_update(
        RG,
        "aa-weu-asr",
        {"location": "westeurope", "properties": {"sku": {"name": "Basic"}}},
        cls=lambda response, body, _: headers.append(response.http_response.headers),
    )
    assert headers[0]["x-ms-ratelimit-remaining-subscription-writes"] == "199"
    assert headers[0]["x-ms-ratelimit-remaining-subscription-global-writes"] == "2999"


async def test_dropped_connection_and_server_error_are_retried(sandbox, azure) -> None:
    sandbox.admin("POST", "/faults", {"method": "GET", "pathPattern": "vaults/rsv-weu-prod$", "drop": True, "count": 1})
    sandbox.admin(
        "POST", "/faults", {"pathPattern": "vaults/rsv-weu-prod$", "status": 503, "count": 1, "retryAfter": 0}
    )
    sandbox.admin("DELETE", "/requests")
    assert (await azure.vaults.vaults.get(RG, VAULT)).name == VAULT
    statuses = [r["status"] for r in sandbox.requests() if r["path"].endswith(VAULT)]
    assert statuses == [None, 503, 200]


async def test_a_persistent_fault_answers_with_its_code_until_deleted(sandbox, azure) -> None:
    fault = sandbox.admin(
        "POST",
        "/faults",
        {
            "method": "PATCH",
            "pathPattern": "replicationProtectionContainerMappings",
            "status": 409,
            "code": "Conflict",
            "message": "Another operation is in progress on the mapping.",
        },
    )
    for _ in range(2):
        with pytest.raises(HttpResponseError) as raised:
            await azure.site_recovery.replication_protection_container_mappings.begin_update(
                RG,
                VAULT,
                "asr-a2a-default-northeurope",
                "asr-a2a-default-northeurope-container",
                "northeurope-westeurope-24-hour-retention-policy",
                {"properties": {"providerSpecificInput": {"instanceType": "A2A", "agentAutoUpdateStatus": "Disabled"}}},
            )
        assert raised.value.error.message == "Another operation is in progress on the mapping."
    assert sandbox.admin("GET", "/faults")["faults"][0]["hits"] == 2
    sandbox.admin("DELETE", f"/faults/{fault['id']}")
    assert sandbox.admin("GET", "/faults")["faults"] == []


def test_a_fault_with_a_client_id_answers_only_that_applications_token_requests(sandbox) -> None:
    """The token endpoint's path is every caller's: `clientId` picks one application's requests."""
    url = f"{sandbox.url}/{sandbox.info['tenantId']}/oauth2/v2.0/token"
    sandbox.admin(
        "POST",
        "/principals",
        {
            "kind": "ServicePrincipal",
            "clientId": "c1e47000-0000-4000-8000-000000000001",
            "objectId": "0b1e7000-0000-4000-8000-000000000001",
            "clientSecret": "other-secret",
        },
    )
    fault = sandbox.admin(
        "POST", "/faults", {"pathPattern": "/oauth2/", "status": 503, "clientId": sandbox.info["clientId"]}
    )
    assert fault["clientId"] == sandbox.info["clientId"].lower()

    def token(client_id: str, secret: str) -> int:
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": f"{sandbox.url}/.default",
        }
        return sandbox.raw("POST", url, form=form)[0]

    assert token(sandbox.info["clientId"], sandbox.info["clientSecret"]) == 503
    assert token("c1e47000-0000-4000-8000-000000000001", "other-secret") == 200
    assert sandbox.admin("GET", "/faults")["faults"][0]["hits"] == 1
    sandbox.admin("DELETE", f"/faults/{fault['id']}")
    assert token(sandbox.info["clientId"], sandbox.info["clientSecret"]) == 200
