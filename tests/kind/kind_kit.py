"""The kind lane's tools and constants: the image built from the Dockerfile and the chart installed into kind.

Needs a Docker engine and the `kind`, `helm` and `kubectl` binaries; without them every test here is skipped
with the reason (this repository's own machines have neither Docker nor kind: the lane runs in
.github/workflows/kind.yml).

Knobs (environment):
  ASR_KIND_IMAGE         an image already built from the Dockerfile (default: build `asr-autoupdate-operator:kind`)
  ASR_KIND_CLUSTER       the kind cluster's name (default `asr-autoupdate`); an existing one is reused and kept
  ASR_KIND_NODE_IMAGE    kindest/node image for a new cluster (the Kubernetes version under test)
  ASR_KIND_KEEP=1        keep the cluster this run created
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "charts" / "asr-autoupdate-operator"
CRD_FILE = ROOT / "crds" / "mobilityupdatepolicies.asr.autoupdate.dev.yaml"
CRD_DIR = ROOT / "crds"
RELEASE = "asr-autoupdate-operator"
OPERATOR_NAMESPACE = "asr-system"
TOOLS = ("docker", "kind", "helm", "kubectl")
# Policies live here: the operator may read Secrets in the first (rbac.credentialsSecrets.namespaces), not the second.
GRANTED_NAMESPACE, DENIED_NAMESPACE = "kind-smoke-granted", "kind-smoke-denied"
POLICY_NAMESPACES = (GRANTED_NAMESPACE, DENIED_NAMESPACE)


def missing_prerequisites() -> str | None:
    """Why the kind lane cannot run here, or None when it can."""
    problems = [f"`{tool}` is not on PATH" for tool in TOOLS if shutil.which(tool) is None]
    if shutil.which("docker"):
        try:
            info = subprocess.run(
                ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
            )
            if info.returncode != 0:
                detail = (info.stderr.strip().splitlines() or ["no answer"])[-1]
                problems.append(f"docker cannot reach an engine ({detail})")
        except subprocess.TimeoutExpired:
            problems.append("docker cannot reach an engine (`docker info` timed out)")
    if problems:
        return "kind lane needs a Docker engine, kind, helm and kubectl: " + "; ".join(problems)
    return None


class Tools:
    """kubectl, helm and kind against the lane's cluster, each call bounded in time."""

    def __init__(self, kubeconfig: pathlib.Path, cluster: str):
        self.cluster = cluster
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 300):
        result = subprocess.run(
            list(args), input=input, capture_output=True, text=True, env=self.env, timeout=timeout, cwd=ROOT
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def kubectl(self, *args: str, **kwargs):
        return self.run("kubectl", *args, **kwargs)

    def helm(self, *args: str, **kwargs):
        return self.run("helm", *args, **kwargs)


def image_serves_metrics(tools: Tools, image: str) -> bool:
    help_text = tools.run("docker", "run", "--rm", image, "run", "--help", timeout=120).stdout
    return "--metrics-port" in help_text
