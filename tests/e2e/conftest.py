"""End-to-end fixtures: the sandbox (both emulators), kubectl as a user's client, the `kubernetes` client,
the Azure SDK for reading Azure back, and `asr-autoupdate run` as a subprocess.

The sandbox lives for the session; each test gets a fresh Azure estate (admin reset), its own namespace and
its own operator process watching only that namespace, ended by PID at teardown.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import uuid

import kubernetes
import pytest
import yaml
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.automation import AutomationClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.process import OperatorProcess, SandboxProcess
from tests.e2e.kit import GROUP, PLURAL


ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "mobilityupdatepolicies.asr.autoupdate.dev.yaml"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    process = SandboxProcess(tmp_path_factory.mktemp("sandbox"))
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def description(sandbox) -> dict:
    return sandbox.description


@pytest.fixture(scope="session")
def admin(description) -> AdminClient:
    return AdminClient(description["adminEndpoint"], description["caBundle"])


class Kubectl:
    """kubectl 1.32 as a user runs it, against the sandbox's kubeconfig."""

    def __init__(self, kubeconfig: str):
        self.env = {**os.environ, "KUBECONFIG": kubeconfig}

    def __call__(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 150) -> subprocess.CompletedProcess:
        result = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def apply(self, manifest: dict, *, check: bool = True) -> subprocess.CompletedProcess:
        return self("apply", "-f", "-", input=yaml.safe_dump(manifest), check=check)


@pytest.fixture(scope="session")
def kubectl(description) -> Kubectl:
    return Kubectl(description["kubeconfig"])


@pytest.fixture(scope="session")
def crd(kubectl) -> None:
    kubectl("apply", "-f", str(CRD_PATH))
    kubectl("wait", "--for=condition=Established", f"crd/{PLURAL}.{GROUP}", "--timeout=30s")


@pytest.fixture(scope="session")
def kube(description):
    client = kubernetes.config.new_client_from_config(config_file=description["kubeconfig"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def custom(kube) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(kube)


@pytest.fixture(scope="session")
def core(kube) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(kube)


class Arm:
    """The real (sync) Azure SDK clients, as a person checking Azure would use them."""

    def __init__(self, description: dict):
        self.description = description
        self.endpoint = description["armEndpoint"]
        self.ca = description["caBundle"]
        self.credential = ClientSecretCredential(
            description["tenantId"], description["clientId"], description["clientSecret"],
            authority=description["authorityHost"], disable_instance_discovery=True, connection_verify=self.ca,
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
    return Arm(description)


@pytest.fixture
def namespace(crd, admin, kubectl) -> str:
    """A fresh Azure estate and a namespace of the test's own."""
    admin.reset()
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


@pytest.fixture
def start_operator(sandbox, namespace, tmp_path):
    """Start `asr-autoupdate run -n <namespace>`; every process started is ended by PID at teardown."""
    started: list[OperatorProcess] = []

    def start(*extra: str) -> OperatorProcess:
        process = OperatorProcess(
            sandbox.state_dir,
            args=["-n", namespace, "--drift-tick", "1", *extra],
            log_path=tmp_path / f"operator-{len(started)}.log",
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
