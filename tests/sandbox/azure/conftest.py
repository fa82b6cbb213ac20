"""Fixtures for the Azure emulator tests: one emulator process per session, a fresh estate per test.

Every emulated operation is driven through the real async Azure SDK clients, the way the operator calls them.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.automation.aio import AutomationClient
from azure.mgmt.recoveryservices.aio import RecoveryServicesClient
from azure.mgmt.recoveryservicessiterecovery.aio import SiteRecoveryManagementClient

from asr_sandbox.process import AzureEmulatorProcess

START_DEADLINE_SECONDS = 30
# The fast pace, and on top of it mapping operations that end as they start, polled with no delay: most tests
# are about what an operation does, not how long it takes. Reset returns to these start-up settings; the
# real-pace tests (test_azure_real_pace.py) set durations of their own and move the emulated clock.
START_PACE = "fast"
START_CONFIG = {"lroRetryAfterSeconds": 0, "operationDurationSeconds": 0}


@dataclass
class Clients:
    credential: ClientSecretCredential
    automation: AutomationClient
    site_recovery: SiteRecoveryManagementClient
    vaults: RecoveryServicesClient
    authorization: AuthorizationManagementClient

    async def close(self) -> None:
        for client in (self.automation, self.site_recovery, self.vaults, self.authorization):
            await client.close()
        await self.credential.close()


@dataclass
class Sandbox:
    """What azure.json says, plus a way to call the admin API."""

    info: dict[str, Any]
    ssl_context: ssl.SSLContext

    @property
    def url(self) -> str:
        return self.info["armEndpoint"]

    @property
    def ca(self) -> str:
        return self.info["caBundle"]

    @property
    def subscription_a(self) -> str:
        return self.info["subscriptions"][0]["subscriptionId"]

    @property
    def subscription_b(self) -> str:
        return self.info["subscriptions"][1]["subscriptionId"]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call `/_sandbox{path}`; admin errors raise AssertionError with the emulator's message."""
        status, answer = self.raw(method, self.info["adminEndpoint"] + path, body)
        assert status < 300, f"admin {method} {path} -> {status}: {answer}"
        return answer

    def raw(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        *,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Plain HTTPS (admin API and token-endpoint error checks only)."""
        data, all_headers = None, dict(headers or {})
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, context=self.ssl_context, timeout=10) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            return error.code, json.loads(text) if text else None

    def credential(self, client_id: str, client_secret: str) -> ClientSecretCredential:
        return ClientSecretCredential(
            self.info["tenantId"],
            client_id,
            client_secret,
            authority=self.url,
            disable_instance_discovery=True,
            connection_verify=self.ca,
        )

    def clients(
        self, credential: ClientSecretCredential, subscription_id: str | None = None, **options: Any
    ) -> Clients:
        """The four management clients as the operator builds them (tests poll LROs without delay)."""
        common = {"base_url": self.url, "connection_verify": self.ca, "polling_interval": 0, **options}
        subscription_id = subscription_id or self.subscription_a
        return Clients(
            credential=credential,
            automation=AutomationClient(credential, subscription_id, **common),
            site_recovery=SiteRecoveryManagementClient(credential, subscription_id, **common),
            vaults=RecoveryServicesClient(credential, subscription_id, **common),
            authorization=AuthorizationManagementClient(credential, subscription_id, **common),
        )

    def state(self) -> dict[str, Any]:
        return self.admin("GET", "/state")

    def mapping(self, mapping_id_suffix: str) -> dict[str, Any]:
        for vault in self.state()["vaults"]:
            for mapping in vault["mappings"]:
                if mapping["id"].lower().endswith(mapping_id_suffix.lower()):
                    return mapping
        raise AssertionError(f"no mapping ending {mapping_id_suffix}")

    def requests(self) -> list[dict[str, Any]]:
        return self.admin("GET", "/requests")["requests"]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One emulator process for the session, ended by its PID at the end."""
    emulator = AzureEmulatorProcess(
        tmp_path_factory.mktemp("azure-sandbox"),
        pace=START_PACE,
        config=START_CONFIG,
        startup_timeout=START_DEADLINE_SECONDS,
    )
    try:
        try:
            info = emulator.start()
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}:\n{emulator.log_tail()}") from None
        yield Sandbox(info, ssl.create_default_context(cafile=info["caBundle"]))
    finally:
        emulator.stop()


@pytest.fixture(autouse=True)
def fresh_estate(sandbox: Sandbox) -> Sandbox:
    sandbox.admin("POST", "/reset")
    return sandbox


@pytest.fixture
async def azure(sandbox: Sandbox) -> AsyncIterator[Clients]:
    """The operator's own clients on subscription A (Owner on both subscriptions)."""
    clients = sandbox.clients(sandbox.credential(sandbox.info["clientId"], sandbox.info["clientSecret"]))
    yield clients
    await clients.close()
