"""Fixtures of the kind lane (see kind_kit.py for what it needs and the knobs): a cluster, the image loaded into
it, and the chart installed the way docs/install.md tells users to. Skipped, with the reason, where Docker,
kind, helm or kubectl is missing.
"""

from __future__ import annotations

import os
import subprocess
import warnings

import pytest

from tests.kind.kind_kit import (
    CHART_DIR,
    CRD_DIR,
    GRANTED_NAMESPACE,
    OPERATOR_NAMESPACE,
    POLICY_NAMESPACES,
    RELEASE,
    ROOT,
    Tools,
    image_serves_metrics,
    missing_prerequisites,
)


def pytest_configure(config):
    config.addinivalue_line("markers", "kind: needs Docker, kind, helm and kubectl (the kind lane)")


@pytest.fixture(scope="session")
def tools(tmp_path_factory) -> Tools:
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    cluster = os.environ.get("ASR_KIND_CLUSTER", "asr-autoupdate")
    existing = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, timeout=60).stdout.split()
    created = cluster not in existing
    if created:
        command = ["kind", "create", "cluster", "--name", cluster, "--wait", "180s"]
        if os.environ.get("ASR_KIND_NODE_IMAGE"):
            command += ["--image", os.environ["ASR_KIND_NODE_IMAGE"]]
        subprocess.run(command, check=True, timeout=600)
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    kubeconfig.write_text(
        subprocess.run(
            ["kind", "get", "kubeconfig", "--name", cluster], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    )
    yield Tools(kubeconfig, cluster)
    if created and os.environ.get("ASR_KIND_KEEP") != "1":
        subprocess.run(["kind", "delete", "cluster", "--name", cluster], timeout=300)


@pytest.fixture(scope="session")
def image(tools) -> str:
    """The operator image, built from the Dockerfile unless CI built it already, loaded into the nodes."""
    name = os.environ.get("ASR_KIND_IMAGE")
    if not name:
        name = "asr-autoupdate-operator:kind"
        tools.run("docker", "build", "--tag", name, str(ROOT), timeout=1800)
    tools.run("kind", "load", "docker-image", name, "--name", tools.cluster, timeout=600)
    return name


@pytest.fixture(scope="session")
def release(tools, image) -> dict:
    """The CRD applied the way docs/install.md says, then the chart installed into a PSA-restricted namespace."""
    tools.kubectl("apply", "--server-side", "-f", str(CRD_DIR), "-f", str(CRD_DIR / "peering"))
    tools.kubectl(
        "wait", "--for=condition=Established", "crd/mobilityupdatepolicies.asr.autoupdate.dev", "--timeout=60s"
    )
    for namespace in (OPERATOR_NAMESPACE, *POLICY_NAMESPACES):  # Roles need their namespace to exist
        tools.kubectl("create", "namespace", namespace, check=False)
    tools.kubectl(
        "label", "--overwrite", "namespace", OPERATOR_NAMESPACE, "pod-security.kubernetes.io/enforce=restricted"
    )
    # No Azure here: the operator's own identity is a dummy service principal whose authority and ARM
    # endpoint refuse connections, so every pass ends quickly in a status that names the problem.
    tools.kubectl(
        "-n",
        OPERATOR_NAMESPACE,
        "create",
        "secret",
        "generic",
        "asr-operator-sp",
        "--from-literal=AZURE_TENANT_ID=00000000-0000-0000-0000-000000000001",
        "--from-literal=AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000002",
        "--from-literal=AZURE_CLIENT_SECRET=not-a-secret",
        check=False,
    )
    repository, _, tag = image.rpartition(":")
    values = [
        f"image.repository={repository}",
        f"image.tag={tag}",
        "image.pullPolicy=Never",
        "azure.armEndpoint=https://127.0.0.1:9",
        "azure.authorityHost=https://127.0.0.1:9",
        "azure.credentials.existingSecret=asr-operator-sp",
        f"rbac.credentialsSecrets.namespaces={{{GRANTED_NAMESPACE}}}",
    ]
    if not image_serves_metrics(tools, image):
        warnings.warn(
            "the image's `asr-autoupdate run` has no --metrics-port: installing with metrics.enabled=false",
            stacklevel=2,
        )
        values.append("metrics.enabled=false")
    tools.helm(
        "upgrade",
        "--install",
        RELEASE,
        str(CHART_DIR),
        "--namespace",
        OPERATOR_NAMESPACE,
        *[arg for value in values for arg in ("--set", value)],
        "--wait",
        "--timeout",
        "300s",
        timeout=600,
    )
    yield {"name": RELEASE, "namespace": OPERATOR_NAMESPACE, "values": values}
    tools.kubectl("delete", "mup", "--all", "-A", "--wait=true", "--timeout=120s", check=False, timeout=180)
    tools.helm("uninstall", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--wait", check=False)
    tools.kubectl("delete", "-f", str(CRD_DIR), "-f", str(CRD_DIR / "peering"), "--ignore-not-found", check=False)
    tools.kubectl("delete", "namespace", *POLICY_NAMESPACES, "--ignore-not-found", "--wait=false", check=False)
