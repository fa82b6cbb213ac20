"""The chart's RBAC grants what the operator asks the API server for, and nothing else.

`operator-requests.json` lists the operator's requests (verb, group, resource, subresource, namespace), for
both ways it runs: `cluster-wide` (`--all-namespaces`, the chart's default) and `namespaced` (`-n NAME`, the
chart's `watchNamespaces`). It was first written from kopf 1.45.2's source and the operator's code (each
entry's `why`), then checked against the Kubernetes emulator's request log of a real `asr-autoupdate run` in
both modes; `record_requests.py` regenerates it from the log after an end-to-end run.

Each request is checked against the chart rendered in the same mode: a ClusterRole bound by a
ClusterRoleBinding covers every namespace, a Role only its own. Secrets are granted only where
`rbac.credentialsSecrets` says, so the renders name the namespaces the requests went to.
"""

from __future__ import annotations

import importlib.metadata
import inspect

import pytest

from tests.chart.chart_kit import NAMESPACE, VARIANTS, of_kind, operator_requests, render, triple

REQUESTS = operator_requests()

# Granted although no request needs it, each with the reason. Anything else granted fails the test.
ALLOWANCE = {
    ("asr.autoupdate.dev", "mobilityupdatepolicies", "get"):
        "no wider than `list`, which already returns whole objects; `kubectl auth can-i get` and tools that "
        "read one policy behave as users expect",
}


def expand(rule: dict) -> set[tuple[str, str, str]]:
    for field in ("apiGroups", "resources", "verbs"):
        assert "*" not in rule.get(field, []), f"wildcard in {rule}"
    assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
    return {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def grants(manifests: list[dict], namespace: str | None) -> set[tuple[str, str, str]]:
    """What the operator's ServiceAccount may do at cluster scope (None) or in `namespace`."""
    roles = {("ClusterRole", m["metadata"]["name"]): m for m in of_kind(manifests, "ClusterRole")}
    roles |= {("Role", m["metadata"]["namespace"], m["metadata"]["name"]): m for m in of_kind(manifests, "Role")}
    granted: set[tuple[str, str, str]] = set()
    bindings = of_kind(manifests, "ClusterRoleBinding") + [
        b for b in of_kind(manifests, "RoleBinding") if namespace is not None and b["metadata"]["namespace"] == namespace
    ]
    for binding in bindings:
        subjects = binding["subjects"]
        assert all(s["kind"] == "ServiceAccount" and s["namespace"] == NAMESPACE for s in subjects), subjects
        ref = binding["roleRef"]
        key = ("ClusterRole", ref["name"]) if ref["kind"] == "ClusterRole" else (
            "Role", binding["metadata"]["namespace"], ref["name"])
        assert key in roles, f"{binding['metadata']['name']} refers to a role the chart does not create: {ref}"
        for rule in roles[key]["rules"]:
            granted |= expand(rule)
    return granted


def render_for(mode: str | None, requests: list[dict]) -> list[dict]:
    """The chart as a user would install it to run the operator the way the requests were recorded."""
    namespaces = sorted({r["namespace"] for r in requests if r.get("namespace")})
    if mode == "namespaced":
        return render({"watchNamespaces": namespaces})
    secret_namespaces = sorted({r["namespace"] for r in requests if r["resource"] == "secrets" and r.get("namespace")})
    return render({"rbac": {"credentialsSecrets": {"namespaces": secret_namespaces}}})


def test_the_request_list_is_well_formed():
    assert REQUESTS, "operator-requests.json is empty"
    for request in REQUESTS:
        assert {"verb", "resource", "namespace"} <= set(request), request
        assert request.get("mode") in (None, "cluster-wide", "namespaced"), request
    assert {r.get("mode") for r in REQUESTS} == {"cluster-wide", "namespaced"}, "record both modes"


def test_rbac_covers_operator_requests():
    missing = []
    for mode in ("cluster-wide", "namespaced", None):
        requests = [r for r in REQUESTS if r.get("mode") == mode]
        if not requests:
            continue
        renders = [render_for(mode, requests)] if mode else [render_for(m, requests) for m in ("cluster-wide",
                                                                                               "namespaced")]
        for request in requests:
            if not any(triple(request) in grants(manifests, request.get("namespace")) for manifests in renders):
                missing.append(f"{mode or 'any mode'}: {request['verb']} {triple(request)[:2]} "
                               f"in {request.get('namespace') or 'cluster scope'}")
    assert not missing, "the chart does not grant:\n" + "\n".join(missing)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_rbac_grants_nothing_beyond_requests_and_allowance(name):
    manifests = render(VARIANTS[name])
    requested = {triple(r) for r in REQUESTS}
    granted = set()
    for role in of_kind(manifests, "ClusterRole") + of_kind(manifests, "Role"):
        for rule in role["rules"]:
            granted |= expand(rule)
    extra = granted - requested - set(ALLOWANCE)
    assert not extra, f"{name} grants what the operator never asks for: {sorted(extra)}"


def test_every_allowance_is_still_used():
    granted = set()
    for role in of_kind(render(), "ClusterRole"):
        for rule in role["rules"]:
            granted |= expand(rule)
    assert set(ALLOWANCE) <= granted, "drop allowances the chart no longer grants"


def test_cluster_wide_mode_grants_no_secrets_and_no_namespaces_by_default():
    manifests = render()
    assert of_kind(manifests, "Role") == [] and of_kind(manifests, "RoleBinding") == []
    [cluster_role] = of_kind(manifests, "ClusterRole")
    granted = set().union(*(expand(rule) for rule in cluster_role["rules"]))
    assert not {g for g in granted if g[1] in ("secrets", "namespaces")}
    assert ("asr.autoupdate.dev", "mobilityupdatepolicies/status", "patch") in granted
    assert ("", "events", "create") in granted and ("", "events", "patch") not in granted


def test_secrets_are_readable_only_where_the_values_say():
    listed = render({"rbac": {"credentialsSecrets": {"namespaces": ["dr-weu", "dr-apac"]}}})
    assert ("", "secrets", "get") in grants(listed, "dr-weu")
    assert ("", "secrets", "get") not in grants(listed, "payments")
    assert ("", "secrets", "get") not in grants(listed, None)
    everywhere = render(VARIANTS["secrets-in-all-namespaces"])
    assert ("", "secrets", "get") in grants(everywhere, "payments")
    for manifests in (listed, everywhere):
        for verb in ("list", "watch", "create", "patch", "update", "delete"):
            assert ("", "secrets", verb) not in grants(manifests, "dr-weu")
    namespaced = render({"watchNamespaces": ["dr-weu"], "rbac": {"credentialsSecrets": {"inWatchedNamespaces": False}}})
    assert ("", "secrets", "get") not in grants(namespaced, "dr-weu")


def test_namespaced_mode_keeps_policy_rights_inside_the_watched_namespaces():
    manifests = render(VARIANTS["watch-namespaces"])
    [cluster_role] = of_kind(manifests, "ClusterRole")
    assert set().union(*(expand(rule) for rule in cluster_role["rules"])) == {
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        ("", "namespaces", "list"),
        ("", "namespaces", "watch"),
    }
    assert sorted(r["metadata"]["namespace"] for r in of_kind(manifests, "Role")) == ["dr-apac", "dr-weu"]
    assert sorted(b["metadata"]["namespace"] for b in of_kind(manifests, "RoleBinding")) == ["dr-apac", "dr-weu"]
    inside, outside = grants(manifests, "dr-weu"), grants(manifests, "payments")
    assert ("asr.autoupdate.dev", "mobilityupdatepolicies", "watch") in inside
    assert ("", "secrets", "get") in inside
    assert not {g for g in outside if g[1] != "customresourcedefinitions" and g[1] != "namespaces"}


def test_cluster_wide_secret_values_are_refused_with_watch_namespaces():
    import helm_python

    with pytest.raises(helm_python.HelmError, match="cluster-wide mode only"):
        render({"watchNamespaces": ["dr-weu"], "rbac": {"credentialsSecrets": {"allNamespaces": True}}})


def test_rbac_create_false_renders_no_rbac():
    manifests = render({"rbac": {"create": False}})
    assert not [m for m in manifests if m["apiVersion"].startswith("rbac.authorization.k8s.io/")]


def test_kopf_behaviour_the_rbac_relies_on():
    """Re-derive the RBAC (and operator-requests.json) when any of these stops being true."""
    from kopf._cogs.clients import events, patching
    from kopf._cogs.structs import references

    from asr_autoupdate import handlers

    assert importlib.metadata.version("kopf").startswith("1.45."), "new kopf: re-derive the RBAC from its source"
    # Events: core/v1, created with POST only (no aggregation by PATCH, no events.k8s.io).
    assert (references.EVENTS.group, references.EVENTS.version) == ("", "v1")
    source = inspect.getsource(events.post_event)
    assert "api.post(" in source and "api.patch(" not in source
    # Status goes through the /status subresource when the CRD declares it (it does).
    assert "subresource='status'" in inspect.getsource(patching.patch_obj)
    # Standalone: no KopfPeering/ClusterKopfPeering objects are read or written.
    assert "standalone=True" in inspect.getsource(handlers.run)
