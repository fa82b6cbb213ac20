"""`asr-autoupdate sandbox`: the interface of design/testing.md that tests, the demo and users rely on."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import ssl
import stat
import urllib.error
import urllib.request

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.recoveryservices import RecoveryServicesClient

from asr_sandbox.azure.services.settings import PROFILES
from asr_sandbox.cli import PACES, add_demo_command, add_sandbox_command
from asr_sandbox.process import SandboxProcess, read_env_file
from tests.kube_kit import Kubectl
from tests.support import wait_for

KUBE_VERSION = "v1.36.3"

REQUIRED_KEYS = {
    "kubeconfig",
    "armEndpoint",
    "authorityHost",
    "caBundle",
    "tenantId",
    "clientId",
    "clientSecret",
    "subscriptionId",
    "adminEndpoint",
    "vaults",
}


def test_sandbox_json_describes_azure_the_control_plane_and_a_believable_estate(sandbox):
    description = sandbox.description
    assert set(description) >= REQUIRED_KEYS
    assert description["armEndpoint"].startswith("https://127.0.0.1:")
    assert description["adminEndpoint"] == description["armEndpoint"] + "/_sandbox"
    vaults = description["vaults"]
    assert len(vaults) == 3
    assert len({vault["subscriptionId"] for vault in vaults}) == 2
    assert len({vault["location"] for vault in vaults}) == 3
    assert description["kubeEndpoint"].startswith("https://127.0.0.1:")
    assert description["kubeVersion"] == KUBE_VERSION
    assert description["pace"] == "fast"  # what tests/conftest.py asked for


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    add_sandbox_command(commands)
    add_demo_command(commands)
    return parser.parse_args(argv)


def test_the_sandbox_runs_azures_real_pace_unless_told_and_the_demo_the_fast_one():
    assert set(PACES) == set(PROFILES)
    assert _parse("sandbox", "--state-dir", "x").pace == "real"
    assert _parse("sandbox", "--state-dir", "x", "--pace", "fast").pace == "fast"
    assert _parse("sandbox", "--state-dir", "x", "--config", '{"operationDurationSeconds": 10}').config == {
        "operationDurationSeconds": 10
    }
    assert _parse("demo").pace == "fast"
    assert _parse("demo", "--pace", "real").pace == "real"
    with pytest.raises(SystemExit):
        _parse("sandbox", "--state-dir", "x", "--pace", "leisurely")


def test_the_kubernetes_half_is_the_real_kube_apiserver_with_rbac(sandbox):
    kubectl = Kubectl(sandbox.state_dir / "kubeconfig")
    version = json.loads(kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == KUBE_VERSION
    assert version["clientVersion"]["minor"] == version["serverVersion"]["minor"]
    # anonymous requests may read health and version, nothing else: authorization is RBAC for real
    context = ssl.create_default_context(cafile=sandbox.description["kubeCaBundle"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(sandbox.description["kubeEndpoint"] + "/api/v1/namespaces", context=context)
    assert refused.value.code == 403
    assert kubectl("auth", "can-i", "create", "clusterroles").stdout.strip() == "yes"


def test_files_holding_the_secret_are_private(sandbox):
    for name in ("sandbox.json", "operator.env"):
        mode = stat.S_IMODE(os.stat(sandbox.state_dir / name).st_mode)
        assert mode == 0o600, name


def test_operator_env_reaches_azure_through_azure_identity(sandbox):
    env = read_env_file(sandbox.state_dir / "operator.env")
    credential = ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
        connection_verify=env["ASR_AUTOUPDATE_CA_BUNDLE"],
    )
    vault = sandbox.description["vaults"][0]
    client = RecoveryServicesClient(
        credential,
        vault["subscriptionId"],
        base_url=env["ASR_AUTOUPDATE_ARM_ENDPOINT"],
        connection_verify=env["ASR_AUTOUPDATE_CA_BUNDLE"],
    )
    found = client.vaults.get(vault["resourceGroup"], vault["name"])
    assert found.location == vault["location"]


def test_kubeconfig_serves_kubectl(sandbox):
    result = Kubectl(sandbox.state_dir / "kubeconfig")("get", "namespaces", "-o", "name")
    assert "namespace/default" in result.stdout.split()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (not yet reaped by its parent) counts as gone
    return pathlib.Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def test_sigterm_ends_the_sandbox_and_its_control_plane(tmp_path):
    process = SandboxProcess(tmp_path)
    process.start()
    pids = process.description["controlPlanePids"]
    assert pids and all(_alive(pid) for pid in pids)
    process.stop()
    assert process.process.returncode == 0
    assert not any(_alive(pid) for pid in pids)


def test_a_killed_sandbox_takes_its_control_plane_with_it(tmp_path):
    process = SandboxProcess(tmp_path)
    process.start()
    pids = process.description["controlPlanePids"]
    process.kill()
    wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=20, what="etcd and kube-apiserver gone")
