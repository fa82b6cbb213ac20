"""`asr-autoupdate sandbox`: the interface of design/testing.md that tests, the demo and users rely on."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.recoveryservices import RecoveryServicesClient

from asr_sandbox.process import SandboxProcess, read_env_file

REQUIRED_KEYS = {
    "kubeconfig", "armEndpoint", "authorityHost", "caBundle", "tenantId", "clientId", "clientSecret",
    "subscriptionId", "adminEndpoint", "vaults",
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    process = SandboxProcess(tmp_path_factory.mktemp("sandbox-command"))
    process.start()
    yield process
    process.stop()


def test_sandbox_json_describes_both_emulators_and_a_believable_estate(sandbox):
    description = sandbox.description
    assert REQUIRED_KEYS <= set(description)
    assert description["armEndpoint"].startswith("https://127.0.0.1:")
    assert description["adminEndpoint"] == description["armEndpoint"] + "/_sandbox"
    vaults = description["vaults"]
    assert len(vaults) == 3
    assert len({vault["subscriptionId"] for vault in vaults}) == 2
    assert len({vault["location"] for vault in vaults}) == 3


def test_files_holding_the_secret_are_private(sandbox):
    for name in ("sandbox.json", "operator.env"):
        mode = stat.S_IMODE(os.stat(sandbox.state_dir / name).st_mode)
        assert mode == 0o600, name


def test_operator_env_reaches_azure_through_azure_identity(sandbox):
    env = read_env_file(sandbox.state_dir / "operator.env")
    credential = ClientSecretCredential(
        env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True,
        connection_verify=env["ASR_AUTOUPDATE_CA_BUNDLE"],
    )
    vault = sandbox.description["vaults"][0]
    client = RecoveryServicesClient(
        credential, vault["subscriptionId"], base_url=env["ASR_AUTOUPDATE_ARM_ENDPOINT"],
        connection_verify=env["ASR_AUTOUPDATE_CA_BUNDLE"],
    )
    found = client.vaults.get(vault["resourceGroup"], vault["name"])
    assert found.location == vault["location"]


def test_kubeconfig_serves_kubectl(sandbox):
    result = subprocess.run(
        ["kubectl", "get", "namespaces", "-o", "name"], capture_output=True, text=True, timeout=30,
        env={**os.environ, "KUBECONFIG": str(sandbox.state_dir / "kubeconfig")},
    )
    assert result.returncode == 0, result.stderr
    assert "namespace/default" in result.stdout.split()


def test_sigterm_ends_the_sandbox_cleanly(tmp_path):
    process = SandboxProcess(tmp_path)
    process.start()
    process.stop()
    assert process.process.returncode == 0
