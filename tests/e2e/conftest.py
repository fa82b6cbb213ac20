"""End-to-end fixtures: the sandbox (the Azure emulator and the real kube-apiserver, tests/conftest.py),
kubectl as a user's client, the `kubernetes` client, the Azure SDK for reading Azure back, and
`asr-autoupdate run` as a subprocess.

The sandbox lives for the session; each test gets a fresh Azure estate (admin reset), its own namespace and
its own operator process watching only that namespace, ended by PID at teardown. The operator runs as the
chart's ServiceAccount under the chart's own RBAC (namespaced mode: `watchNamespaces: [<the test's
namespace>]`), rendered and applied for real, with a token from the TokenRequest API: a verb the chart lacks
fails the test.

Three settings keep each test at seconds rather than minutes, all documented knobs rather than shortcuts:
the session sandbox runs the emulator's `fast` pace (mapping operations of one emulated second polled with
Retry-After 1, no ARM latency), its `principalPropagationDelaySeconds` is 0 after each reset (a new identity is
usable at once; TEST_AZURE_CONFIG says so even if the pace changes; mark a test `@pytest.mark.azure_config(...)`
to shape the emulator otherwise, e.g. `operationDurationSeconds=120` for Azure's pace), and the operator runs
with `ASR_AUTOUPDATE_LRO_POLLING_INTERVAL=1`, a floor for any poll that comes without a Retry-After (the SDK's
default of 30 s is longer than the operator's 10 s bound on a mapping update).
"""

from __future__ import annotations

import pathlib
from datetime import datetime

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.automation import AutomationClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.process import OperatorProcess
from tests.chart import chart_kit
from tests.e2e.kit import fresh_estate
from tests.kube_kit import install_chart_identity, service_account_kubeconfig


@pytest.fixture(scope="session")
def admin(description) -> AdminClient:
    return AdminClient(description["adminEndpoint"], description["caBundle"])


# The person who checks and changes Azure by hand in these tests: a principal of its own (Owner on every
# subscription, added after each reset), so that the request log tells the operator's calls from the test's.
PERSON = {
    "kind": "ServicePrincipal",
    "displayName": "e2e-person",
    "objectId": "7e2e0000-0000-4000-8000-00000000e2e0",
    "clientId": "7e2e0000-0000-4000-8000-0000000c11e0",
    "clientSecret": "e2e-person-secret",
}


class Arm:
    """The real (sync) Azure SDK clients, as a person checking Azure would use them."""

    def __init__(self, description: dict, client_id: str | None = None, client_secret: str | None = None):
        self.description = description
        self.endpoint = description["armEndpoint"]
        self.ca = description["caBundle"]
        self.credential = ClientSecretCredential(
            description["tenantId"],
            client_id or description["clientId"],
            client_secret or description["clientSecret"],
            authority=description["authorityHost"],
            disable_instance_discovery=True,
            connection_verify=self.ca,
        )

    def _options(self) -> dict:
        return {"base_url": self.endpoint, "connection_verify": self.ca, "polling_interval": 0}

    def automation(self, subscription_id: str) -> AutomationClient:
        return AutomationClient(self.credential, subscription_id, **self._options())

    def site_recovery(self, subscription_id: str) -> SiteRecoveryManagementClient:
        return SiteRecoveryManagementClient(self.credential, subscription_id, **self._options())

    def authorization(self, subscription_id: str) -> AuthorizationManagementClient:
        return AuthorizationManagementClient(self.credential, subscription_id, **self._options())


@pytest.fixture(scope="session")
def arm(description) -> Arm:
    """The SDK as the person (PERSON) sees Azure; `namespace` makes sure the person exists in the estate."""
    return Arm(description, PERSON["clientId"], PERSON["clientSecret"])


TEST_AZURE_CONFIG = {"principalPropagationDelaySeconds": 0}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "azure_config(**settings): emulator settings (admin POST /config) after the reset"
    )
    config.addinivalue_line("markers", "fault_cell: one cell of the fault matrix (tests/e2e/test_fault_matrix.py)")


@pytest.fixture
def namespace(request, crd, admin, kubectl) -> str:
    """A fresh Azure estate and a namespace of the test's own."""
    marker = request.node.get_closest_marker("azure_config")
    return fresh_estate(admin, kubectl, {**TEST_AZURE_CONFIG, **(marker.kwargs if marker else {})}, PERSON)


LRO_POLLING_INTERVAL = "1"
OPERATOR_NAMESPACE = "asr-system"


@pytest.fixture
def operator_kubeconfig(namespace, kubectl, core, description, tmp_path) -> pathlib.Path:
    """The chart's identity for this namespace (namespaced mode: a Role in it, secrets included, as the chart's
    defaults grant), applied to the real server, and a kubeconfig with a token for its ServiceAccount."""
    manifests = chart_kit.render({"watchNamespaces": [namespace]}, namespace=OPERATOR_NAMESPACE)
    install_chart_identity(kubectl, manifests, OPERATOR_NAMESPACE)
    [account] = [m for m in manifests if m["kind"] == "ServiceAccount"]
    return service_account_kubeconfig(
        core, description, OPERATOR_NAMESPACE, account["metadata"]["name"], tmp_path / "operator-kubeconfig"
    )


@pytest.fixture
def apiserver_outages() -> list[tuple[datetime, datetime]]:
    """Spans of local time in which a test had kube-apiserver down or starting again (tests/e2e/
    test_kubernetes_faults.py): a server that is starting answers 403 until its RBAC caches are filled, so the
    chart's ServiceAccount is refused then whatever its rights. `start_operator` forgives denials logged inside
    a span, and only those."""
    return []


@pytest.fixture
def start_operator(sandbox, namespace, operator_kubeconfig, tmp_path, monkeypatch, apiserver_outages):
    """Start `asr-autoupdate run -n <namespace>` as the chart's ServiceAccount; every process started is ended by
    PID at teardown."""
    started: list[OperatorProcess] = []
    monkeypatch.setenv("ASR_AUTOUPDATE_LRO_POLLING_INTERVAL", LRO_POLLING_INTERVAL)

    def start(*extra: str) -> OperatorProcess:
        process = OperatorProcess(
            sandbox.state_dir,
            args=["-n", namespace, "--drift-tick", "1", *extra],
            log_path=tmp_path / f"operator-{len(started)}.log",
            kubeconfig=operator_kubeconfig,
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        # SIGKILL: a graceful stop waits ~2 s for handlers that are sleeping until their retry, and nothing
        # here depends on how the operator shuts down
        process.kill()
    lines = [line for process in started for line in process.log_text().splitlines()]
    refused = [line for line in lines if RBAC_DENIAL in line and not _within(line, apiserver_outages)]
    assert not refused, "the API server refused the chart's ServiceAccount:\n" + "\n".join(refused[:5])
    ticks = ("Timer 'drift_check' succeeded", "Timer 'fleet_tick' succeeded")
    assert not [line for line in lines if any(tick in line for tick in ticks)], "a timer tick is not news"


# How kube-apiserver words an RBAC denial; Azure's 403s (AuthorizationFailed) read differently.
RBAC_DENIAL = 'forbidden: User "system:serviceaccount:'


def pytest_terminal_summary(terminalreporter, config):
    """The fault matrix's one line per cell and its counts (tests/e2e/test_fault_matrix.py), when it ran."""
    from tests.e2e.test_fault_matrix import MATRIX_LINES

    lines = config.stash.get(MATRIX_LINES, None)
    if lines:
        terminalreporter.section("fault matrix")
        for line in lines:
            terminalreporter.write_line(line)


def _within(line: str, spans: list[tuple[datetime, datetime]]) -> bool:
    """Whether a log line of kopf's text format (`[2026-12-04 23:07:18,831] ...`) was written inside a span."""
    try:
        moment = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    except ValueError:
        return False
    return any(start <= moment <= end for start, end in spans)
