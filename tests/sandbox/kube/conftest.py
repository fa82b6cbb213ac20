"""Fixtures for the Kubernetes emulator tests: one emulator process per session, a namespace per test."""

from __future__ import annotations

import subprocess
import uuid

import kubernetes
import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from tests.sandbox.kube.kube_testing import CRD_FILE, KubeServer, wait_until


@pytest.fixture(scope="session")
def kube(tmp_path_factory) -> KubeServer:
    server = KubeServer(tmp_path_factory.mktemp("kube-emulator")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def api_client(kube) -> kubernetes.client.ApiClient:
    client = kubernetes.config.new_client_from_config(config_file=str(kube.kubeconfig))
    yield client
    client.close()


@pytest.fixture(scope="session")
def core(api_client) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def custom(api_client) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def widget_crd(api_client) -> dict:
    """The Widget CRD, registered once through the API (and so served for the whole session)."""
    crd = yaml.safe_load(CRD_FILE.read_text())
    extensions = kubernetes.client.ApiextensionsV1Api(api_client)
    try:
        extensions.create_custom_resource_definition(crd)
    except ApiException as e:  # the kubectl tests may have applied it first
        if e.status != 409:
            raise
    custom = kubernetes.client.CustomObjectsApi(api_client)
    wait_until(lambda: custom.list_cluster_custom_object("example.dev", "v1", "widgets") is not None,
               what="widgets to be served")
    return crd


@pytest.fixture
def namespace(core) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def kubectl(kube, tmp_path):
    """Run kubectl 1.32 against the emulator; returns the CompletedProcess (check=False)."""
    cache = tmp_path / "kubectl-cache"

    def run(*args: str, input: str | None = None, timeout: float = 20.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["kubectl", f"--kubeconfig={kube.kubeconfig}", f"--cache-dir={cache}", *args],
            input=input, capture_output=True, text=True, timeout=timeout,
        )

    return run
