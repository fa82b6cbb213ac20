"""The examples applied server-side, as Argo CD and Flux apply them (`kubectl apply --server-side` with their
field managers), on the real kube-apiserver: the operator's status writes and finalizer never take ownership of
a field the applier owns, so every re-sync applies cleanly (no conflict, no `--force-conflicts`), a spec change
made in Git reaches Azure, and the status survives every apply."""

from __future__ import annotations

import copy
import pathlib

import yaml

from tests.e2e.kit import get_policy, wait_condition, wait_ready

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
ARGO_CD = "argocd-controller"
FLUX = "kustomize-controller"


def example_policies(namespace: str) -> list[dict]:
    """The example policies as they are in Git, moved into the test's namespace."""
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] == "MobilityUpdatePolicy":
                document["metadata"]["namespace"] = namespace
                found.append(document)
    return found


def sync(kubectl, manifests: list[dict], manager: str) -> None:
    """One GitOps sync: a server-side apply that must not conflict with anything the operator wrote."""
    result = kubectl.apply(manifests, "--server-side", f"--field-manager={manager}", check=False)
    assert result.returncode == 0, f"{manager}'s apply conflicted: {result.stderr}"


def managers_of(body: dict) -> dict[str, dict]:
    """Each field manager's owned fields (the main resource; the status subresource kept apart)."""
    owned = {}
    for entry in body["metadata"].get("managedFields") or []:
        key = entry["manager"] + ("/status" if entry.get("subresource") == "status" else "")
        owned[key] = {**owned.get(key, {}), **entry["fieldsV1"]}
    return owned


def test_gitops_syncs_apply_cleanly_alongside_the_operator(description, namespace, kubectl, custom, start_operator):
    manifests = example_policies(namespace)
    names = [m["metadata"]["name"] for m in manifests]
    assert len(names) == 3
    start_operator()
    sync(kubectl, manifests, ARGO_CD)
    for name in names:
        wait_ready(custom, namespace, name, timeout=90)

    # Ownership: the applier owns spec; the operator owns status (through the subresource) and its finalizer
    for name in names:
        owned = managers_of(get_policy(custom, namespace, name))
        assert "f:spec" in owned[ARGO_CD]
        operator_managers = [manager for manager in owned if manager != ARGO_CD]
        assert operator_managers, owned
        for manager in operator_managers:
            assert "f:spec" not in owned[manager], f"{manager} took ownership of spec fields: {owned[manager]}"
        assert any("f:status" in owned[manager] for manager in operator_managers if manager.endswith("/status"))

    # A re-sync of the same manifests: nothing conflicts, nothing changes, status stays
    before = {name: get_policy(custom, namespace, name) for name in names}
    sync(kubectl, manifests, ARGO_CD)
    for name in names:
        after = get_policy(custom, namespace, name)
        assert after["metadata"]["generation"] == before[name]["metadata"]["generation"]
        assert after["status"]["conditions"] == before[name]["status"]["conditions"]

    # A change in Git: applied without force, converged by the operator
    changed = copy.deepcopy(manifests)
    changed[0]["spec"]["schedule"] = {**changed[0]["spec"].get("schedule", {}), "time": "04:15"}
    sync(kubectl, changed, ARGO_CD)
    body = wait_condition(custom, namespace, names[0], "Ready", "True", reason="Converged", timeout=90)
    assert body["metadata"]["generation"] == before[names[0]]["metadata"]["generation"] + 1
    assert body["status"]["scheduleSummary"].startswith("04:15")


def test_a_second_applier_takes_a_field_only_by_force(description, namespace, kubectl, custom, start_operator):
    """Plain SSA semantics on the real server, which is what keeps two GitOps tools honest: a different value
    for a field Argo CD owns conflicts, and status is never part of it."""
    [manifest, *_] = example_policies(namespace)
    start_operator()
    sync(kubectl, [manifest], ARGO_CD)
    wait_ready(custom, namespace, manifest["metadata"]["name"], timeout=90)
    rival = copy.deepcopy(manifest)
    rival["spec"]["schedule"] = {**rival["spec"].get("schedule", {}), "time": "05:45"}
    refused = kubectl.apply([rival], "--server-side", f"--field-manager={FLUX}", check=False)
    assert refused.returncode != 0 and "conflict" in refused.stderr.lower(), refused.stderr
    assert ".spec.schedule.time" in refused.stderr and ".status" not in refused.stderr, refused.stderr
