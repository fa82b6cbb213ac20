"""The chart's RBAC as rendered, offline: what each of the values grants, and where.

Whether the grants are enough, and each one needed, is proven by the real kube-apiserver's enforcement in
tests/e2e/test_chart_rbac.py (the operator runs as the chart's ServiceAccount; removing any one grant fails a
named test there). This file checks the values' meaning: Secrets only where `rbac.credentialsSecrets` says,
policy and fleet rights kept inside the watched namespaces, peering rights only with peering and only on the
peering objects of the mode, no wildcards, one resource per rule.
"""

from __future__ import annotations

import pytest

from tests.chart.chart_kit import NAMESPACE, VARIANTS, of_kind, render


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
        b
        for b in of_kind(manifests, "RoleBinding")
        if namespace is not None and b["metadata"]["namespace"] == namespace
    ]
    for binding in bindings:
        subjects = binding["subjects"]
        assert all(s["kind"] == "ServiceAccount" and s["namespace"] == NAMESPACE for s in subjects), subjects
        ref = binding["roleRef"]
        key = (
            ("ClusterRole", ref["name"])
            if ref["kind"] == "ClusterRole"
            else ("Role", binding["metadata"]["namespace"], ref["name"])
        )
        assert key in roles, f"{binding['metadata']['name']} refers to a role the chart does not create: {ref}"
        for rule in roles[key]["rules"]:
            granted |= expand(rule)
    return granted


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_no_variant_grants_wildcards_or_more_than_the_operators_rules(name):
    manifests = render(VARIANTS[name])
    granted = set()
    for role in of_kind(manifests, "ClusterRole") + of_kind(manifests, "Role"):
        for rule in role["rules"]:
            granted |= expand(rule)
    assert granted <= set().union(*(expand(rule) for rule in RULES_OF_EVERY_MODE)), name


# The union of what the chart's modes grant (the operator's needs are proven by test_chart_rbac.py).
RULES_OF_EVERY_MODE = [
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    {
        "apiGroups": ["asr.autoupdate.dev"],
        "resources": ["mobilityupdatepolicies"],
        "verbs": ["list", "watch", "patch", "create", "delete"],
    },
    {"apiGroups": ["asr.autoupdate.dev"], "resources": ["mobilityupdatepolicies/status"], "verbs": ["patch"]},
    {
        "apiGroups": ["asr.autoupdate.dev"],
        "resources": ["mobilityupdatefleets"],
        "verbs": ["list", "watch", "patch"],
    },
    {
        "apiGroups": ["asr.autoupdate.dev"],
        "resources": ["mobilityupdatefleets/status"],
        "verbs": ["patch"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"], "verbs": ["list", "watch", "patch"]},
    {"apiGroups": ["kopf.dev"], "resources": ["kopfpeerings"], "verbs": ["list", "watch", "patch"]},
]


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


# What the operator may do with its own kinds, wherever it watches: kopf's verbs on both, and the fleet's
# creation and deletion of its child policies.
OWN_KINDS = {
    ("asr.autoupdate.dev", resource, verb)
    for resource, verbs in {
        "mobilityupdatepolicies": ("list", "watch", "patch", "create", "delete"),
        "mobilityupdatepolicies/status": ("patch",),
        "mobilityupdatefleets": ("list", "watch", "patch"),
        "mobilityupdatefleets/status": ("patch",),
    }.items()
    for verb in verbs
}


def test_cluster_wide_mode_grants_exactly_the_operators_rights_on_policies_and_fleets():
    granted = grants(render(), None)
    assert {g for g in granted if g[0] == "asr.autoupdate.dev"} == OWN_KINDS
    # policies are only patched, never replaced; fleets are the user's: the operator never creates or deletes one
    for absent in (
        ("asr.autoupdate.dev", "mobilityupdatepolicies", "update"),
        ("asr.autoupdate.dev", "mobilityupdatepolicies", "deletecollection"),
        ("asr.autoupdate.dev", "mobilityupdatefleets", "create"),
        ("asr.autoupdate.dev", "mobilityupdatefleets", "delete"),
    ):
        assert absent not in granted


def test_namespaced_mode_grants_the_same_rights_in_each_watched_namespace_only():
    manifests = render(VARIANTS["watch-namespaces"])
    for namespace in ("dr-weu", "dr-apac"):
        assert {g for g in grants(manifests, namespace) if g[0] == "asr.autoupdate.dev"} == OWN_KINDS
    assert not {g for g in grants(manifests, "payments") if g[0] == "asr.autoupdate.dev"}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_rule_names_one_resource(name):
    """tests/e2e/test_chart_rbac.py takes out one verb of one resource at a time."""
    manifests = render(VARIANTS[name])
    for role in of_kind(manifests, "ClusterRole") + of_kind(manifests, "Role"):
        for rule in role["rules"]:
            assert len(rule["apiGroups"]) == 1 and len(rule["resources"]) == 1, rule


# kopf's peering (kopf/_core/engines/peering.py): the observer lists and watches the peering objects, the
# keep-alive and the clean-up of dead peers merge-patch one; nothing GETs, creates, updates or deletes one.
PEERING_VERBS = {"list", "watch", "patch"}


def kopf_grants(granted: set[tuple[str, str, str]]) -> set[tuple[str, str]]:
    return {(resource, verb) for group, resource, verb in granted if group == "kopf.dev"}


def test_cluster_wide_peering_grants_list_watch_patch_on_cluster_peerings_only():
    manifests = render()
    assert kopf_grants(grants(manifests, None)) == {("clusterkopfpeerings", verb) for verb in PEERING_VERBS}
    [cluster_role] = of_kind(manifests, "ClusterRole")
    assert {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"], "verbs": ["list", "watch", "patch"]} in (
        cluster_role["rules"]
    )


def test_namespaced_peering_grants_list_watch_patch_in_each_watched_namespace_only():
    manifests = render(VARIANTS["watch-namespaces"])
    for namespace in ("dr-weu", "dr-apac"):
        assert kopf_grants(grants(manifests, namespace)) == {("kopfpeerings", verb) for verb in PEERING_VERBS}
    assert kopf_grants(grants(manifests, None)) == set()  # the ClusterRole: discovery only
    assert kopf_grants(grants(manifests, "payments")) == set()


@pytest.mark.parametrize("values", [VARIANTS["standalone"], {**VARIANTS["standalone"], "watchNamespaces": ["dr-weu"]}])
def test_standalone_grants_nothing_on_peering_objects(values):
    manifests = render(values)
    for namespace in (None, "dr-weu"):
        assert kopf_grants(grants(manifests, namespace)) == set()
