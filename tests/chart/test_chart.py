"""The Helm chart, offline: it lints, renders valid Kubernetes objects for every supported version, deploys a
restricted operator (two replicas in kopf's peering by default, one standalone on request), refuses bad
values, and ships the repository's CRDs (kopf's peering CRDs included) unchanged.

Rendering uses helm-python-sdk (Helm v4's SDK; no helm binary exists here), validation kubernetes-validate
(the API's own JSON schemas, strict: unknown fields fail). `helm lint --strict`, `helm template | kubeconform`
and `ct install` run in the kind lane (.github/workflows/kind.yml).
"""

from __future__ import annotations

import json

import helm_python
import kubernetes_validate
import pytest
import yaml

from tests.chart.chart_kit import (
    CHART_DIR,
    CLIENT,
    CRD_NAMES,
    NAMESPACE,
    PEERING_CRD_NAMES,
    PEERING_KINDS,
    PEM,
    RELEASE,
    ROOT,
    TENANT,
    VARIANTS,
    chart,
    container,
    of_kind,
    one,
    render,
    render_files,
)

# The CRD's CEL rules need 1.29 (Chart.yaml kubeVersion); 1.30 is the oldest version still widely supported;
# the newest the validator knows stands for "current".
KUBERNETES_VERSIONS = ["1.29.0", "1.30.0", kubernetes_validate.latest_version()]
SELECTOR_LABELS = {"app.kubernetes.io/name": "asr-autoupdate-operator", "app.kubernetes.io/instance": RELEASE}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request) -> tuple[str, list[dict]]:
    return request.param, render(VARIANTS[request.param])


# -- lint and validity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["defaults", "workload-identity", "watch-namespaces", "sovereign-cloud"])
def test_lint_finds_no_warning_or_error(name):
    report = helm_python.lint(str(CHART_DIR), VARIANTS[name], strict=True, namespace=NAMESPACE, kube_version="v1.30.0")
    serious = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and serious == [], report


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_kubernetes(variant, version):
    name, manifests = variant
    assert manifests, f"{name} rendered nothing"
    for manifest in manifests:
        if manifest["apiVersion"].startswith(("monitoring.coreos.com/", "kopf.dev/")):
            continue  # not built-in kinds: test_service_monitor_scrapes_the_metrics_service and
            # test_peering_objects_are_valid_against_the_shipped_crds check them
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(
                f"{name}: {manifest['kind']}/{manifest['metadata']['name']} invalid on {version}: "
                f"{error.message} at {list(error.path)}"
            )


def test_every_object_carries_the_standard_labels(variant):
    name, manifests = variant
    for manifest in manifests:
        labels = manifest["metadata"]["labels"]
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert key in labels, f"{name}: {manifest['kind']}/{manifest['metadata']['name']} lacks {key}"


def test_namespaced_objects_land_in_the_release_namespace_unless_they_are_roles(variant):
    name, manifests = variant
    for manifest in manifests:
        if manifest["kind"] in ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"):
            assert "namespace" not in manifest["metadata"]
        elif manifest["kind"] not in ("Role", "RoleBinding", "KopfPeering"):
            assert manifest["metadata"]["namespace"] == NAMESPACE, f"{name}: {manifest['kind']}"


def test_notes_render_with_the_commands_users_need():
    notes = render_files()[f"{CHART_DIR.name}/templates/NOTES.txt"]
    for name in CRD_NAMES:
        assert f"kubectl apply --server-side -f crds/{name}" in notes
    assert "kubectl apply --server-side -f crds/peering/" in notes
    assert notes.index("kubectl delete mupf --all -A") < notes.index("kubectl delete mup --all -A")
    assert "rollout status deployment/asr-autoupdate-operator" in notes
    assert "kubectl get mup -n <namespace> -l asr.autoupdate.dev/fleet=<fleet> -L asr.autoupdate.dev/wave" in notes


# -- the CRDs ------------------------------------------------------------------------------------------------


def crd_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_chart_crds_are_byte_identical_to_the_repository_crds():
    shipped = crd_files(CHART_DIR / "crds")
    assert shipped == sorted(CRD_NAMES + PEERING_CRD_NAMES) == crd_files(ROOT / "crds")
    for name in shipped:
        assert (CHART_DIR / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), (
            "charts/asr-autoupdate-operator/crds/ is a copy of crds/: run "
            "`cp crds/*.yaml charts/asr-autoupdate-operator/crds/ && cp crds/peering/*.yaml "
            "charts/asr-autoupdate-operator/crds/peering/`"
        )


def test_helm_installs_exactly_those_crds():
    """Helm installs everything under crds/, the peering/ folder too (kubectl's `-f crds/` does not recurse)."""
    installed = {}
    for crd in chart().crds:
        data = crd["data"]
        name = crd["filename"].partition("/crds/")[2]
        installed[name] = data.encode() if isinstance(data, str) else bytes(data)
    assert sorted(installed) == sorted(CRD_NAMES + PEERING_CRD_NAMES)
    for name, data in installed.items():
        assert data == (ROOT / "crds" / name).read_bytes()
        kubernetes_validate.validate(yaml.safe_load(data), "1.30.0", strict=True)


def peering_crds() -> dict[str, dict]:
    """kopf's peering CRDs by kind."""
    found = [yaml.safe_load((ROOT / "crds" / name).read_text()) for name in PEERING_CRD_NAMES]
    return {crd["spec"]["names"]["kind"]: crd for crd in found}


def test_peering_crds_are_kopfs():
    """The group, kinds, plurals and scopes kopf 1.x looks for (kopf._cogs.structs.references), with a status
    kopf writes by merge-patching the object (no status subresource, or kopf would PATCH /status)."""
    from kopf._cogs.structs import references

    crds = peering_crds()
    assert sorted(crds) == sorted(PEERING_KINDS)
    for kind, selector, scope in (
        ("ClusterKopfPeering", references.CLUSTER_PEERINGS_K, "Cluster"),
        ("KopfPeering", references.NAMESPACED_PEERINGS_K, "Namespaced"),
    ):
        spec = crds[kind]["spec"]
        assert (spec["group"], "v1") == (selector.group, selector.version) == ("kopf.dev", "v1")
        assert spec["names"]["plural"] == selector.any_name and spec["scope"] == scope
        [version] = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        assert "subresources" not in version
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def test_chart_versions_match_the_operator():
    metadata = chart().metadata
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{metadata["appVersion"]}"' in pyproject
    assert metadata["apiVersion"] == "v2"
    assert metadata["kubeVersion"] == ">=1.29.0-0"


# -- the Deployment ------------------------------------------------------------------------------------------


ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_replicas_and_strategy_follow_peering(variant):
    """In peering, the replicas roll (a new pod starts as a standby: it is the youngest); standalone, one
    replica is recreated (never two side by side)."""
    name, manifests = variant
    values = VARIANTS[name]
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == values.get("replicaCount", 2)
    peering = (values.get("peering") or {}).get("enabled", True)
    assert deployment["spec"]["strategy"] == (ROLLING if peering else {"type": "Recreate"})
    assert deployment["spec"]["selector"]["matchLabels"] == SELECTOR_LABELS


def test_two_replicas_in_peering_by_default():
    deployment = one(render(), "Deployment")
    assert deployment["spec"]["replicas"] == 2 and deployment["spec"]["strategy"] == ROLLING
    standalone = one(render(VARIANTS["standalone"]), "Deployment")
    assert standalone["spec"]["replicas"] == 1 and standalone["spec"]["strategy"] == {"type": "Recreate"}


def test_more_than_one_replica_without_peering_is_refused():
    with pytest.raises(helm_python.HelmError, match=r"replicaCount above 1 needs peering\.enabled"):
        render({"replicaCount": 2, "peering": {"enabled": False}})
    render({"replicaCount": 1, "peering": {"enabled": False}})


def test_peering_arguments_and_identity_reach_the_operator():
    from asr_autoupdate.cli import build_parser

    operator = container(render())
    assert operator["args"][-2:] == ["--peering=asr-autoupdate-operator-asr-system", "--peering-lifetime=30"]
    [pod_id] = [e for e in operator["env"] if e["name"] == "POD_ID"]  # kopf's identity: the pod's name
    assert pod_id == {"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    parsed = build_parser().parse_args(container(render(VARIANTS["three-replicas"]))["args"])
    assert (parsed.peering, parsed.peering_lifetime) == ("asr-ha", 15)
    standalone = container(render(VARIANTS["standalone"]))
    assert not [a for a in standalone["args"] if a.startswith("--peering")]
    assert "POD_ID" not in {e["name"] for e in standalone["env"]}
    assert build_parser().parse_args(standalone["args"]).peering is None


def test_the_chart_creates_the_peering_object_the_operator_is_told():
    """Cluster-wide one ClusterKopfPeering; with watchNamespaces a KopfPeering in each (kopf keeps a namespaced
    operator's peering per namespace); standalone none. kopf stays paused without it."""
    [cluster] = [m for m in render() if m["kind"] in PEERING_KINDS]
    assert (cluster["apiVersion"], cluster["kind"]) == ("kopf.dev/v1", "ClusterKopfPeering")
    assert f"--peering={cluster['metadata']['name']}" in container(render())["args"]
    manifests = render(VARIANTS["watch-namespaces"])
    namespaced = [m for m in manifests if m["kind"] in PEERING_KINDS]
    assert {(m["kind"], m["metadata"]["namespace"]) for m in namespaced} == {
        ("KopfPeering", "dr-weu"),
        ("KopfPeering", "dr-apac"),
    }
    assert {f"--peering={m['metadata']['name']}" for m in namespaced} <= set(container(manifests)["args"])
    assert not [m for m in render(VARIANTS["standalone"]) if m["kind"] in PEERING_KINDS]
    [named] = [m for m in render(VARIANTS["three-replicas"]) if m["kind"] in PEERING_KINDS]
    assert named["metadata"]["name"] == "asr-ha"


def test_peering_objects_are_valid_against_the_shipped_crds(variant):
    name, manifests = variant
    crds = peering_crds()
    for manifest in (m for m in manifests if m["apiVersion"].startswith("kopf.dev/")):
        crd = crds[manifest["kind"]]["spec"]
        assert manifest["apiVersion"] == f"{crd['group']}/{crd['versions'][0]['name']}", name
        assert ("namespace" in manifest["metadata"]) == (crd["scope"] == "Namespaced"), name
        assert set(manifest) == {"apiVersion", "kind", "metadata"}, name  # kopf writes the status


def test_a_pod_disruption_budget_keeps_one_replica(variant):
    name, manifests = variant
    budgets = of_kind(manifests, "PodDisruptionBudget")
    if VARIANTS[name].get("replicaCount", 2) == 1:
        assert budgets == [], name
        return
    [budget] = budgets
    assert budget["apiVersion"] == "policy/v1"
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": SELECTOR_LABELS}}
    labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert SELECTOR_LABELS.items() <= labels.items()


def test_replicas_prefer_different_nodes_unless_affinity_is_set():
    expected = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": SELECTOR_LABELS},
                    },
                }
            ]
        }
    }
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]
    assert pod["affinity"] == expected  # preferred: a one-node cluster still schedules both
    own = one(render(VARIANTS["sovereign-cloud"]), "Deployment")["spec"]["template"]["spec"]
    assert own["affinity"] == VARIANTS["sovereign-cloud"]["affinity"]
    single = one(render(VARIANTS["one-replica-in-peering"]), "Deployment")["spec"]["template"]["spec"]
    assert "affinity" not in single


def test_pod_meets_the_restricted_pod_security_standard(variant):
    _name, manifests = variant
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["runAsGroup"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    operator = container(manifests)
    context = operator["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 65532 and context["runAsGroup"] == 65532
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in context and "hostNetwork" not in pod and "hostPID" not in pod
    # With a read-only root, Python and kopf write only to an emptyDir at /tmp.
    mounts = {m["mountPath"]: m["name"] for m in operator["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert pod["automountServiceAccountToken"] is True  # kopf talks to the API with the pod's token


def test_probes_ask_kopfs_liveness_endpoint(variant):
    _name, manifests = variant
    operator = container(manifests)
    ports = {p["name"]: p["containerPort"] for p in operator["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert f"--liveness=http://0.0.0.0:{ports['healthz']}/healthz" in operator["args"]


def test_default_arguments_watch_every_namespace_with_json_logs_and_metrics():
    operator = container(render())
    assert operator["image"] == "asr-autoupdate-operator:0.1.0"
    assert operator["args"] == [
        "run",
        "--all-namespaces",
        "--liveness=http://0.0.0.0:8080/healthz",
        "--log-format=json",
        "--metrics-port=8000",
        "--peering=asr-autoupdate-operator-asr-system",
        "--peering-lifetime=30",
    ]
    assert {p["name"]: p["containerPort"] for p in operator["ports"]} == {"healthz": 8080, "metrics": 8000}


def test_watch_namespaces_become_namespace_flags():
    args = container(render(VARIANTS["watch-namespaces"]))["args"]
    assert "--all-namespaces" not in args
    assert [a for a in args if a.startswith("--namespace=")] == ["--namespace=dr-weu", "--namespace=dr-apac"]


def test_metrics_off_removes_flag_port_service_and_monitor():
    manifests = render(VARIANTS["metrics-off"])
    operator = container(manifests)
    assert [a for a in operator["args"] if a.startswith("--metrics-port")] == ["--metrics-port=0"]
    assert [p["name"] for p in operator["ports"]] == ["healthz"]
    assert of_kind(manifests, "Service") == [] and of_kind(manifests, "ServiceMonitor") == []


def _parse_with_the_operator_cli(args: list[str]):
    from asr_autoupdate.cli import build_parser

    return build_parser().parse_args(args)


def test_operator_cli_accepts_the_chart_arguments_without_metrics():
    for name in ("metrics-off",):
        parsed = _parse_with_the_operator_cli(container(render(VARIANTS[name]))["args"])
        assert parsed.command == "run" and parsed.log_format == "json"


@pytest.mark.parametrize("name", ["defaults", "watch-namespaces", "sovereign-cloud"])
def test_operator_cli_accepts_the_chart_arguments(name):
    parsed = _parse_with_the_operator_cli(container(render(VARIANTS[name]))["args"])
    assert parsed.command == "run"


def test_workload_identity_labels_the_pod_and_annotates_the_service_account():
    manifests = render(VARIANTS["workload-identity"])
    template = one(manifests, "Deployment")["spec"]["template"]
    assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    account = one(manifests, "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": CLIENT,
        "azure.workload.identity/tenant-id": TENANT,
    }
    assert template["spec"]["serviceAccountName"] == account["metadata"]["name"]
    default = render()
    assert "azure.workload.identity/use" not in one(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert "annotations" not in one(default, "ServiceAccount")["metadata"]


def test_workload_identity_without_client_id_is_refused():
    with pytest.raises(helm_python.HelmError, match=r"workloadIdentity\.clientId is required"):
        render({"workloadIdentity": {"enabled": True}})


def test_existing_service_account_is_used_not_created():
    manifests = render(VARIANTS["existing-service-account"])
    assert of_kind(manifests, "ServiceAccount") == []
    assert one(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "asr-operator"
    for binding in of_kind(manifests, "ClusterRoleBinding") + of_kind(manifests, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "asr-operator", "namespace": NAMESPACE}]


def test_azure_settings_reach_the_operator_environment():
    manifests = render(VARIANTS["sovereign-cloud"])
    operator = container(manifests)
    env = {e["name"]: e.get("value") for e in operator["env"]}
    assert env["ASR_AUTOUPDATE_ARM_ENDPOINT"] == "https://management.usgovcloudapi.net"
    assert env["AZURE_AUTHORITY_HOST"] == "https://login.microsoftonline.us"
    assert env["ASR_AUTOUPDATE_CA_BUNDLE"] == "/etc/asr-autoupdate/ca/ca.pem"
    assert env["ASR_AUTOUPDATE_LRO_POLLING_INTERVAL"] == "15"
    assert operator["envFrom"] == [{"secretRef": {"name": "asr-operator-sp", "optional": True}}]
    assert operator["image"] == "registry.example.com/asr/asr-autoupdate-operator@sha256:" + "ab" * 32
    assert operator["args"][-2:] == ["--verbose", "--drift-tick=30"]
    assert operator["args"][-4:-2] == ["--peering=asr-autoupdate-operator-asr-system", "--peering-lifetime=30"]
    config_map = one(manifests, "ConfigMap")
    assert config_map["data"]["ca.pem"].strip() == PEM.strip()
    pod = one(manifests, "Deployment")["spec"]["template"]
    assert pod["metadata"]["annotations"]["checksum/ca-bundle"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["ca-bundle"]["configMap"]["name"] == config_map["metadata"]["name"]


BUDGET_ENV = {
    "ASR_AUTOUPDATE_READS_PER_SECOND": "read_rate",
    "ASR_AUTOUPDATE_READ_BURST": "read_burst",
    "ASR_AUTOUPDATE_WRITES_PER_SECOND": "write_rate",
    "ASR_AUTOUPDATE_WRITE_BURST": "write_burst",
    "ASR_AUTOUPDATE_PASSES_PER_SUBSCRIPTION": "passes_per_subscription",
}


def test_default_environment_names_no_cloud_and_no_secret():
    operator = container(render())
    assert {e["name"] for e in operator["env"]} == {
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "TMPDIR",
        "POD_ID",
        *BUDGET_ENV,
    }
    assert "envFrom" not in operator


def test_the_request_budget_defaults_are_the_operators_and_values_reach_the_environment():
    from asr_autoupdate.azure.throttle import BUDGET_ENVIRONMENT, BudgetSettings, budget_from_env

    defaults = {e["name"]: e["value"] for e in container(render())["env"] if e["name"] in BUDGET_ENV}
    assert set(BUDGET_ENVIRONMENT.values()) == set(BUDGET_ENV)
    assert budget_from_env(defaults) == BudgetSettings()
    raised = {e["name"]: e.get("value") for e in container(render({"requestBudget": {"readsPerSecond": 20}}))["env"]}
    assert budget_from_env(raised).read_rate == 20.0


def test_ca_bundle_from_an_existing_secret_is_mounted_by_key():
    manifests = render(VARIANTS["ca-from-secret"])
    env = {e["name"]: e.get("value") for e in container(manifests)["env"]}
    assert env["ASR_AUTOUPDATE_CA_BUNDLE"] == "/etc/asr-autoupdate/ca/bundle.pem"
    volumes = {v["name"]: v for v in one(manifests, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["ca-bundle"]["secret"] == {
        "secretName": "corp-ca",
        "items": [{"key": "bundle.pem", "path": "bundle.pem"}],
    }
    assert of_kind(manifests, "ConfigMap") == []


def test_two_ca_bundle_sources_are_refused():
    with pytest.raises(helm_python.HelmError, match="at most one of"):
        render({"azure": {"caBundle": {"pem": PEM, "existingConfigMap": "corp-ca"}}})


def test_service_monitor_scrapes_the_metrics_service():
    manifests = render(VARIANTS["service-monitor"])
    monitor, service = one(manifests, "ServiceMonitor"), one(manifests, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(monitor["spec"]) == {"selector", "namespaceSelector", "endpoints"}
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "scheme": "http", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]
    assert service["spec"]["selector"] == SELECTOR_LABELS
    assert of_kind(render(), "ServiceMonitor") == []


def test_service_monitor_without_metrics_is_refused():
    with pytest.raises(helm_python.HelmError, match=r"needs metrics\.enabled"):
        render({"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}})


# -- values and their schema ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, complaint",
    [
        ({"replicaCount": 0}, "replicaCount"),
        ({"replicaCount": "2"}, "replicaCount"),
        ({"peering": {"lifetime": 4}}, "lifetime"),
        ({"peering": {"lifetime": "30s"}}, "lifetime"),
        ({"peering": {"name": "Asr_HA"}}, "name"),
        ({"peering": {"enabled": "yes"}}, "enabled"),
        ({"peering": {"leaseSeconds": 30}}, "leaseSeconds"),
        ({"logFormat": "xml"}, "logFormat"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"watchNamespaces": ["team-*"]}, "watchNamespaces"),
        ({"watchNamespaces": "dr"}, "watchNamespaces"),
        ({"metrics": {"port": "8000"}}, "port"),
        ({"metrics": {"serviceMonitor": {"interval": "1 minute"}}}, "interval"),
        ({"workloadIdentity": {"enabled": True, "clientId": "not-a-uuid"}}, "clientId"),
        ({"azure": {"armEndpoint": "http://management.azure.com"}}, "armEndpoint"),
        ({"image": {"digest": "latest"}}, "digest"),
        ({"replicas": 1}, "replicas"),
        ({"azure": {"caBundel": {}}}, "caBundel"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v),
)
def test_schema_refuses_bad_values(values, complaint):
    with pytest.raises(helm_python.HelmValuesError, match=complaint):
        render(values)


def test_schema_is_strict_and_describes_every_value():
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(values), "values.yaml and values.schema.json disagree on the keys"
    assert schema["properties"]["replicaCount"]["minimum"] == 1 and values["replicaCount"] == 2
    from asr_autoupdate import peering

    assert schema["properties"]["peering"]["properties"]["lifetime"]["minimum"] == peering.MIN_LIFETIME
    assert values["peering"]["lifetime"] == peering.DEFAULT_LIFETIME
    assert schema["properties"]["logFormat"]["enum"] == ["json", "text"]
    assert schema["properties"]["image"]["properties"]["pullPolicy"]["enum"] == ["Always", "IfNotPresent", "Never"]

    def walk(node, path):
        """Every object we define (not Kubernetes pass-through objects) refuses unknown keys."""
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
            for key, child in node["properties"].items():
                walk(child, f"{path}.{key}")

    walk(schema, "values")
    chart().validate_schema(values)


def test_install_guide_mentions_every_value():
    guide = (ROOT / "docs" / "install.md").read_text()
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    undocumented = [key for key in values if f"`{key}" not in guide]
    assert not undocumented, f"docs/install.md does not mention {undocumented}"
