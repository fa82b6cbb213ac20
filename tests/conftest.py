"""The session's sandbox, shared by every suite that speaks Kubernetes or Azure for real: the Azure emulator
and a real kube-apiserver + etcd (built by hack/controlplane/build on first use), as `asr-autoupdate sandbox`
runs them, ended by PID at the end of the session. The emulator runs the `fast` pace, named here rather than left
to a default: mapping operations of one emulated second, no ARM latency, identities usable at once."""

from __future__ import annotations

import kubernetes
import pytest

from asr_sandbox.process import SandboxProcess
from tests.kube_kit import Kubectl, install_crd


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with SandboxProcess(tmp_path_factory.mktemp("sandbox"), pace="fast") as process:
        yield process


@pytest.fixture(scope="session")
def description(sandbox) -> dict:
    return sandbox.description


@pytest.fixture(scope="session")
def kubectl(description) -> Kubectl:
    """kubectl as the cluster's admin (a client certificate in group system:masters)."""
    return Kubectl(description["kubeconfig"])


@pytest.fixture(scope="session")
def crd(kubectl) -> None:
    install_crd(kubectl)


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
