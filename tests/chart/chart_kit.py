"""Render the Helm chart offline (helm-python-sdk: Helm v4's Go SDK, no cluster, no helm binary) and look into it.

Shared by the chart tests. `render()` returns the manifests as dicts, NOTES.txt left out; the chart's own
CRDs are not rendered (Helm installs `crds/` as they are) and are checked byte for byte instead.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any

import helm_python
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "charts" / "asr-autoupdate-operator"
CRD_NAME = "mobilityupdatepolicies.asr.autoupdate.dev.yaml"
FLEET_CRD_NAME = "mobilityupdatefleets.asr.autoupdate.dev.yaml"
CRD_NAMES = sorted([CRD_NAME, FLEET_CRD_NAME])
# kopf's peering CRDs, in crds/peering/ of the repository and of the chart (paths relative to crds/)
PEERING_CRD_NAMES = ["peering/clusterkopfpeerings.kopf.dev.yaml", "peering/kopfpeerings.kopf.dev.yaml"]
PEERING_KINDS = ("ClusterKopfPeering", "KopfPeering")
RELEASE = "asr-autoupdate-operator"
NAMESPACE = "asr-system"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0b1f6c35-2f0e-4d8a-9d6b-5e7a3c1d9f42"
PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUFAKE\n-----END CERTIFICATE-----\n"

# The value sets every structural test renders: the defaults and each way users are expected to deviate.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "workload-identity": {"workloadIdentity": {"enabled": True, "clientId": CLIENT, "tenantId": TENANT}},
    "watch-namespaces": {"watchNamespaces": ["dr-weu", "dr-apac"]},
    "service-monitor": {
        "metrics": {
            "serviceMonitor": {
                "enabled": True,
                "interval": "30s",
                "scrapeTimeout": "10s",
                "labels": {"release": "kube-prometheus-stack"},
            }
        }
    },
    "metrics-off": {"metrics": {"enabled": False}},
    "standalone": {"replicaCount": 1, "peering": {"enabled": False}},
    "one-replica-in-peering": {"replicaCount": 1},
    "three-replicas": {"replicaCount": 3, "peering": {"name": "asr-ha", "lifetime": 15}},
    "sovereign-cloud": {
        "image": {
            "repository": "registry.example.com/asr/asr-autoupdate-operator",
            "digest": "sha256:" + "ab" * 32,
            "pullPolicy": "Always",
        },
        "imagePullSecrets": [{"name": "registry"}],
        "azure": {
            "armEndpoint": "https://management.usgovcloudapi.net",
            "authorityHost": "https://login.microsoftonline.us",
            "caBundle": {"pem": PEM},
            "credentials": {"existingSecret": "asr-operator-sp", "optional": True},
        },
        "serviceAccount": {"annotations": {"example.com/owner": "dr-team"}},
        "rbac": {"credentialsSecrets": {"namespaces": ["dr-weu"]}},
        "logFormat": "text",
        "verbose": True,
        "extraArgs": ["--drift-tick=30"],
        "extraEnv": [{"name": "ASR_AUTOUPDATE_LRO_POLLING_INTERVAL", "value": "15"}],
        "podAnnotations": {"example.com/team": "dr"},
        "podLabels": {"example.com/cost-centre": "42"},
        "priorityClassName": "platform-critical",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}
                            ]
                        }
                    ]
                }
            }
        },
    },
    "ca-from-secret": {"azure": {"caBundle": {"existingSecret": "corp-ca", "key": "bundle.pem"}}},
    "secrets-in-all-namespaces": {"rbac": {"credentialsSecrets": {"allNamespaces": True}}},
    "existing-service-account": {
        "serviceAccount": {"create": False, "name": "asr-operator"},
        "workloadIdentity": {"enabled": True},
    },
}


@functools.cache
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(str(CHART_DIR))


def render_files(values: dict[str, Any] | None = None, *, namespace: str = NAMESPACE) -> dict[str, str]:
    return chart().render(values=values or {}, name=RELEASE, namespace=namespace, is_install=True)


def render(values: dict[str, Any] | None = None, *, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    manifests = []
    for path, text in sorted(render_files(values, namespace=namespace).items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def of_kind(manifests: list[dict], kind: str) -> list[dict]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[dict], kind: str) -> dict:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(manifests: list[dict]) -> dict:
    [operator] = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return operator
