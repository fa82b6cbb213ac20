"""The Azure emulator as a subprocess, and `AzureClient`s that speak real HTTPS and OAuth to it.

The emulator starts once per session (`python -m asr_sandbox.azure --state-dir DIR`), is reset before every
test that uses it (`POST /_sandbox/reset`: estate, clock, settings, faults and request log), and is ended by
its PID at the end. The process-wide throttle registry is reset with it, so counters start at zero.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from asr_autoupdate.azure import throttle
from asr_autoupdate.azure.client import AzureClient
from asr_autoupdate.azure.credentials import AzureSettings, ServicePrincipal

START_DEADLINE_SECONDS = 30.0
# Start-up settings that `reset` returns to: no LRO delay between polls.
EMULATOR_CONFIG = {"lroRetryAfterSeconds": 0}


class Admin:
    """The emulator's `/_sandbox` admin API over HTTPS (blocking: it answers from another process at once)."""

    def __init__(self, description: dict[str, Any]):
        self.description = description
        self.base = description["adminEndpoint"].rstrip("/")
        self._context = ssl.create_default_context(cafile=description["caBundle"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=10) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"admin {method} {path} -> {error.code}: {error.read().decode()}") from None
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("POST", path, body or {})

    def delete(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("DELETE", path, body)

    # the few questions tests ask again and again

    def configure(self, **settings: Any) -> Any:
        return self.post("/config", settings)

    def fault(self, **spec: Any) -> dict[str, Any]:
        return self.post("/faults", spec)

    def requests(self) -> list[dict[str, Any]]:
        return self.get("/requests")["requests"]

    def state(self) -> dict[str, Any]:
        return self.get("/state")

    def now(self) -> str:
        return self.get("/clock")["now"]


def sandbox_settings(description: dict[str, Any], **overrides: Any) -> AzureSettings:
    """What the operator would get from operator.env, with test-speed LRO polling and retries."""
    values: dict[str, Any] = {
        "arm_endpoint": description["armEndpoint"],
        "authority_host": description["authorityHost"],
        "ca_bundle": description["caBundle"],
        "polling_interval": 0,
        "retry_backoff_factor": 0.05,
        "max_retry_after": 2.0,
    }
    values.update(overrides)
    return AzureSettings(**values)


def operator_identity(description: dict[str, Any]) -> ServicePrincipal:
    return ServicePrincipal(description["tenantId"], description["clientId"], client_secret=description["clientSecret"])


@pytest.fixture(scope="session")
def azure_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Start the emulator, wait for its azure.json (with a deadline), end it by PID afterwards."""
    try:
        import asr_sandbox.azure.__main__  # noqa: F401
        from asr_sandbox.process import AzureEmulatorProcess
    except ImportError as error:
        pytest.skip(f"the Azure emulator is not available: {error}")
    emulator = AzureEmulatorProcess(
        tmp_path_factory.mktemp("azure-emulator"), config=EMULATOR_CONFIG, startup_timeout=START_DEADLINE_SECONDS
    )
    try:
        try:
            description = emulator.start()
        except (RuntimeError, TimeoutError) as error:
            pytest.fail(f"{error}:\n{emulator.log_tail()}")
        yield description
    finally:
        emulator.stop()


@pytest.fixture
def admin(azure_emulator: dict[str, Any]) -> Admin:
    """The admin API of an emulator freshly reset to its seed; the throttle counters start from zero too."""
    sandbox = Admin(azure_emulator)
    sandbox.post("/reset")
    throttle.registry().reset()
    return sandbox


@pytest.fixture
async def make_client(admin: Admin) -> AsyncIterator[Callable[..., AzureClient]]:
    """Make more `AzureClient`s (another policy, another identity); all are closed after the test.

    `make_client()` is the operator's principal; `make_client(identity)` another one; settings overrides
    go as keywords.
    """
    made: list[AzureClient] = []

    def make(identity: ServicePrincipal | None = None, **settings: Any) -> AzureClient:
        client = AzureClient(
            sandbox_settings(admin.description, **settings), identity or operator_identity(admin.description)
        )
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.close()


@pytest.fixture
def azure(make_client: Callable[..., AzureClient]) -> AzureClient:
    """An `AzureClient` for the operator's principal (Owner on both seeded subscriptions)."""
    return make_client()
