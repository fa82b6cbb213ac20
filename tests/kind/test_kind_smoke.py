"""Smoke test of the shipped artefacts on a real cluster: the image from the Dockerfile and the chart, installed
into kind the way docs/install.md says, with no Azure behind it.

What only a real API server can show: the pods (two replicas in kopf's peering, the chart's default) are
admitted into a namespace that enforces the restricted Pod Security Standard and turn Ready on kopf's /healthz,
and exactly one of them leads; the chart's RBAC (checked offline against recorded
requests in tests/chart/test_rbac.py) is enough for kopf in practice (no Forbidden in the logs); a policy gets
its finalizer and a status that names the problem; Secrets are readable only where the values grant it; and
deleting a policy releases its finalizer.
"""

from __future__ import annotations

import json

import pytest

from tests.kind.kind_kit import DENIED_NAMESPACE, GRANTED_NAMESPACE, OPERATOR_NAMESPACE, RELEASE, ROOT
from tests.support import wait_for

FINALIZER = "asr.autoupdate.dev/cleanup"


def policy(namespace: str, name: str, *, secret: str | None = None) -> dict:
    """A policy of its own vault (two policies of one vault would end in PolicyConflict, hiding the reason)."""
    spec = {
        "vault": {
            "subscriptionId": "11111111-2222-3333-4444-555555555555",
            "resourceGroup": "rg-dr",
            "name": f"rsv-{namespace}-{name}",
        },
        "updateMode": "Automatic",
    }
    if secret:
        spec["credentialsSecretRef"] = {"name": secret}
    return {
        "apiVersion": "asr.autoupdate.dev/v1alpha1",
        "kind": "MobilityUpdatePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def get_json(tools, *args: str) -> dict:
    return json.loads(tools.kubectl("get", *args, "-o", "json").stdout)


def conditions(tools, namespace: str, name: str) -> dict[str, dict]:
    found = get_json(tools, "mup", name, "-n", namespace)
    return {c["type"]: c for c in (found.get("status") or {}).get("conditions") or []}


def operator_pods(tools) -> list[dict]:
    return get_json(tools, "pods", "-n", OPERATOR_NAMESPACE, "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]


def pod_logs(tools) -> dict[str, str]:
    return {
        pod["metadata"]["name"]: tools.kubectl("logs", "-n", OPERATOR_NAMESPACE, pod["metadata"]["name"]).stdout
        for pod in operator_pods(tools)
    }


@pytest.mark.kind
def test_operator_pods_are_admitted_as_restricted_and_ready(tools, release):
    pods = operator_pods(tools)
    assert len(pods) == 2  # the chart's default replicaCount, in peering
    for pod in pods:
        assert pod["spec"]["securityContext"]["runAsUser"] == 65532
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"  # a standby is Ready too: kopf's /healthz answers while paused
    namespace = get_json(tools, "namespace", OPERATOR_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.kind
def test_exactly_one_replica_leads(tools, release):
    leaders = wait_for(
        lambda: [name for name, log in pod_logs(tools).items() if "Leading in peering" in log],
        timeout=120,
        interval=2,
        what="a replica to lead",
    )
    assert len(leaders) == 1, leaders
    peering = get_json(tools, "clusterkopfpeering", f"{RELEASE}-{OPERATOR_NAMESPACE}")
    assert sorted(peering["status"]) == sorted(pod["metadata"]["name"] for pod in operator_pods(tools))


@pytest.mark.kind
def test_liveness_endpoint_answers_inside_the_pod(tools, release):
    probe = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status)"
    result = tools.kubectl("exec", "-n", OPERATOR_NAMESPACE, f"deployment/{RELEASE}", "--", "python", "-c", probe)
    assert result.stdout.strip() == "200"


@pytest.mark.kind
def test_the_image_carries_no_sandbox(tools, release):
    check = "import importlib.util as u; print(u.find_spec('asr_sandbox') is None, u.find_spec('pytest') is None)"
    result = tools.kubectl("exec", "-n", OPERATOR_NAMESPACE, f"deployment/{RELEASE}", "--", "python", "-c", check)
    assert result.stdout.split() == ["True", "True"]


@pytest.mark.kind
def test_policy_gets_finalizer_and_a_status_naming_the_problem(tools, release):
    tools.kubectl("apply", "-f", "-", input=json.dumps(policy(GRANTED_NAMESPACE, "own-identity")))
    found = wait_for(
        lambda: conditions(tools, GRANTED_NAMESPACE, "own-identity").get("Ready"),
        timeout=180,
        interval=2,
        what="a Ready condition on the policy",
    )
    assert found["status"] in ("False", "Unknown")
    assert found["reason"] and found["message"]
    body = get_json(tools, "mup", "own-identity", "-n", GRANTED_NAMESPACE)
    assert FINALIZER in body["metadata"]["finalizers"]
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]


@pytest.mark.kind
def test_secrets_are_read_only_where_the_chart_grants_it(tools, release):
    for namespace in (GRANTED_NAMESPACE, DENIED_NAMESPACE):
        tools.kubectl(
            "-n",
            namespace,
            "create",
            "secret",
            "generic",
            "azure-sp",
            "--from-literal=tenantId=00000000-0000-0000-0000-000000000001",
            "--from-literal=clientId=00000000-0000-0000-0000-000000000002",
            "--from-literal=clientSecret=not-a-secret",
            check=False,
        )
        tools.kubectl("apply", "-f", "-", input=json.dumps(policy(namespace, "with-secret", secret="azure-sp")))

    def reasons(namespace: str) -> set[str] | None:
        found = conditions(tools, namespace, "with-secret")
        return {c["reason"] for c in found.values()} if "Ready" in found else None

    denied = wait_for(lambda: reasons(DENIED_NAMESPACE), timeout=180, interval=2, what="status in the denied namespace")
    assert "CredentialsSecretInvalid" in denied
    granted = wait_for(
        lambda: reasons(GRANTED_NAMESPACE), timeout=180, interval=2, what="status in the granted namespace"
    )
    assert "CredentialsSecretInvalid" not in granted


@pytest.mark.kind
def test_operator_logs_show_no_forbidden_request(tools, release):
    logs = "\n".join(pod_logs(tools).values())
    for sign in ("Forbidden", "Not enough permissions", "forbidden"):
        # The denied namespace's Secret is refused on purpose; the operator reports it in status, not as kopf's
        # own permission problem.
        offending = [line for line in logs.splitlines() if sign in line and "secrets" not in line]
        assert not offending, "\n".join(offending[:20])


@pytest.mark.kind
def test_deleting_a_policy_releases_its_finalizer(tools, release):
    tools.kubectl("apply", "-f", "-", input=json.dumps(policy(GRANTED_NAMESPACE, "short-lived")))
    wait_for(
        lambda: (
            FINALIZER
            in (get_json(tools, "mup", "short-lived", "-n", GRANTED_NAMESPACE)["metadata"].get("finalizers") or [])
        ),
        timeout=120,
        interval=2,
        what="the finalizer",
    )
    tools.kubectl("delete", "mup", "short-lived", "-n", GRANTED_NAMESPACE, "--wait=true", "--timeout=120s", timeout=180)
    gone = tools.kubectl("get", "mup", "short-lived", "-n", GRANTED_NAMESPACE, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


@pytest.mark.kind
def test_helm_lint_strict_passes_with_the_real_helm(tools):
    result = tools.helm("lint", "--strict", str(ROOT / "charts" / "asr-autoupdate-operator"))
    assert "0 chart(s) failed" in result.stdout


def test_the_smoke_policies_are_valid_against_the_crd(kubectl, crd):
    """Runs everywhere (against the sandbox's real kube-apiserver), so the kind lane never fails on a malformed
    fixture."""
    for namespace in (GRANTED_NAMESPACE, DENIED_NAMESPACE):
        kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for namespace, name, secret in (
        (GRANTED_NAMESPACE, "own-identity", None),
        (GRANTED_NAMESPACE, "short-lived", None),
        (GRANTED_NAMESPACE, "with-secret", "azure-sp"),
        (DENIED_NAMESPACE, "with-secret", "azure-sp"),
    ):
        obj = policy(namespace, name, secret=secret)
        kubectl("create", "--dry-run=server", "--validate=strict", "-f", "-", input=json.dumps(obj))
