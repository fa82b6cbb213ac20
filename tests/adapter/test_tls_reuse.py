"""Connections to ARM are kept alive and reused whichever way the CA is given, and closed without warnings.

azure-core's aiohttp transport, given a CA file as `connection_verify`, builds a new `ssl.SSLContext` for
every request, and aiohttp keys its connection pool by that context: every call then paid a TLS handshake.
The emulator logs the client's end of the TCP connection each request came on (`connection`, `ip:port`),
so these tests count connections instead of trusting that they are reused.
"""

from __future__ import annotations

import gc
import logging
import time
import warnings
from typing import Any

import pytest

from asr_autoupdate.azure import errors, port
from asr_autoupdate.azure.client import AzureClient
from tests.adapter.conftest import Admin, operator_identity, sandbox_settings

SUB_A = "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17"
SUB_B = "a6b2e8d4-1c3f-4e5a-8b7d-9f0e1d2c3b4a"
WEU = port.VaultRef(SUB_A, "rg-asr-weu", "rsv-weu-prod")
SEA = port.VaultRef(SUB_B, "rg-asr-sea", "rsv-sea-dr")

ROUNDS = 10  # three calls each, through two of the subscription's four SDK clients
MAX_CONNECTIONS = 4

CA_ENVIRONMENT = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def arm_requests(admin: Admin) -> list[dict[str, Any]]:
    """ARM's requests in the emulator's log (the token endpoint's are not ARM's)."""
    return [r for r in admin.requests() if r["subscription"]]


@pytest.mark.parametrize("ca_given_as", ["setting", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
async def test_sequential_calls_reuse_a_few_connections(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, ca_given_as: str
) -> None:
    ca = admin.description["caBundle"]
    for name in CA_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    if ca_given_as == "setting":
        settings = sandbox_settings(admin.description)
    else:
        settings = sandbox_settings(admin.description, ca_bundle=None)
        monkeypatch.setenv(ca_given_as, ca)
    async with AzureClient(settings, operator_identity(admin.description)) as azure:
        for _ in range(ROUNDS):
            assert await azure.get_vault(WEU) is not None
            assert await azure.list_mappings(WEU)
            assert await azure.list_fabrics(WEU)

    calls = arm_requests(admin)
    connections = {r["connection"] for r in calls}
    assert len(calls) >= 3 * ROUNDS and all(r["status"] == 200 for r in calls)
    assert None not in connections, "the emulator logs every request's connection"
    assert len(connections) <= MAX_CONNECTIONS, (
        f"{len(calls)} sequential ARM calls used {len(connections)} TLS connections (CA as {ca_given_as})"
    )


async def test_closing_the_client_leaves_no_unclosed_session(admin: Admin, caplog: pytest.LogCaptureFixture) -> None:
    """Every session the client made (each subscription's, the credential's) is closed by `close()`: neither
    aiohttp's ResourceWarning nor its "Unclosed client session" / "Unclosed connector" log line appears once
    the objects are collected."""
    caplog.set_level(logging.DEBUG, logger="asyncio")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        azure = AzureClient(sandbox_settings(admin.description), operator_identity(admin.description))
        assert await azure.get_vault(WEU) is not None
        assert await azure.get_vault(SEA) is not None  # a second subscription: a second set of SDK clients
        await azure.close()
        del azure
        gc.collect()
    unclosed = [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    unclosed += [r.getMessage() for r in caplog.records if "Unclosed" in r.getMessage()]
    assert not unclosed, unclosed
    assert {r["subscription"].lower() for r in arm_requests(admin)} == {SUB_A, SUB_B}


async def test_the_read_timeout_still_applies_to_each_request(admin: Admin, make_client) -> None:
    """The timeouts now travel on the transport (a client given `transport=` ignores its own timeout keywords):
    an answer slower than `read_timeout` fails that request, instead of waiting for it."""
    azure = make_client(read_timeout=0.3, retry_total=0)
    assert await azure.get_vault(WEU) is not None  # a token and a kept-alive connection first
    admin.fault(method="GET", pathPattern="/vaults/rsv-weu-prod$", latencySeconds=2, count=1)
    started = time.monotonic()
    with pytest.raises(errors.TransientError) as caught:
        await azure.get_vault(WEU)
    assert time.monotonic() - started < 1.5, "the request waited past its read timeout"
    assert caught.value.code == "ConnectionFailed"
    for sdk_client in (azure._for(SUB_A).vaults, azure._for(SUB_A).automation):
        configuration = sdk_client._client._pipeline._transport.connection_config
        assert (configuration.timeout, configuration.read_timeout) == (azure.settings.connection_timeout, 0.3)


async def test_an_unreadable_ca_file_is_a_connection_failure_of_the_call(admin: Admin, make_client, tmp_path) -> None:
    """As when azure-core read the file per request: the call fails as ConnectionFailed, nothing escapes raw."""
    azure = make_client(ca_bundle=str(tmp_path / "missing.pem"), retry_total=0)
    with pytest.raises(errors.TransientError) as caught:
        await azure.get_vault(WEU)
    assert caught.value.code == "ConnectionFailed"
