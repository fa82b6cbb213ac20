"""The checks that are the same for both CRDs (MobilityUpdatePolicy and MobilityUpdateFleet), run once per CRD:
its identity, a structural and documented schema with portable CEL, the bad fixtures refused with their
messages, and, on the real server, the CRD accepted as structural, the operator's status stored as written, the
printer columns and `kubectl explain`. What only one CRD has stays in test_crd.py and test_fleet_crd.py.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from asr_autoupdate.api import GROUP, VERSION
from tests.badinput import schema_nodes
from tests.contract.crd_kit import (
    CEL_FUNCTIONS,
    CRDS,
    FLEET,
    NAMESPACE,
    POLICY,
    Crd,
    dry_run,
    expectation,
    fleet_status,
    policy_status,
    printed_row,
    renamed,
    stored,
    without_nulls,
)

STATUS = {POLICY.label: policy_status, FLEET.label: fleet_status}
NODES = [(definition, path, node) for definition in CRDS for path, node in schema_nodes(definition.schema)]
RULES = [
    (definition, rule)
    for definition in CRDS
    for _, node in schema_nodes(definition.schema)
    for rule in node.get("x-kubernetes-validations", [])
]
BAD = [(definition, path) for definition in CRDS for path in sorted((definition.fixtures / "bad").glob("*.yaml"))]
COLUMNS = [
    (POLICY, "NAME", None),
    (POLICY, "VAULT", "vault1"),
    (POLICY, "MODE", "Automatic"),
    (POLICY, "SCHEDULE", "00:00 Europe/Amsterdam"),
    (POLICY, "READY", "True"),
    (POLICY, "REASON", "Converged"),
    (POLICY, "AGENTS BEHIND", "0"),
    (POLICY, "AGE", re.compile(r"^\d+[smhd]")),
    (FLEET, "NAME", None),
    (FLEET, "VAULTS", "3"),
    (FLEET, "READY VAULTS", "2"),
    (FLEET, "AGENTS BEHIND", "3"),
    (FLEET, "WAVES", "canary Open, production Held"),
    (FLEET, "READY", "False"),
    (FLEET, "REASON", "WaveHeld"),
    (FLEET, "AGE", re.compile(r"^\d+[smhd]")),
]
EXPLAINED = [
    *((POLICY, field) for field in ("spec", "spec.vault", "spec.schedule.timeZone", "status.conditions")),
    *(
        (FLEET, field)
        for field in (
            "spec",
            "spec.template",
            "spec.waves",
            "spec.waves.gate.soakDays",
            "status.waves.phase",
            "status.vaults",
        )
    ),
]


def ids(*values) -> str:
    return "/".join(str(value) for value in values)


# -- offline ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("definition", CRDS, ids=str)
def test_identity_of_the_api(definition: Crd):
    spec = definition.document["spec"]
    assert definition.document["metadata"]["name"] == definition.name
    assert (spec["group"], spec["scope"]) == (GROUP, "Namespaced")
    assert spec["names"] == {
        "kind": definition.kind,
        "listKind": f"{definition.kind}List",
        "plural": definition.plural,
        "singular": definition.singular,
        "shortNames": [definition.short_name],
        "categories": ["asr"],
    }
    entry = definition.version_entry
    assert (entry["name"], entry["served"], entry["storage"]) == (VERSION, True, True)
    assert entry["subresources"] == {"status": {}}


@pytest.mark.parametrize("definition, path, node", NODES, ids=[ids(definition, path) for definition, path, _ in NODES])
def test_every_schema_node_is_structural_and_explained(definition: Crd, path, node):
    assert node.get("type"), f"{path} has no type"
    assert set(node) <= definition.keywords, f"{path} uses {set(node) - definition.keywords}"
    assert node.get("description"), f"{path} needs a description for kubectl explain"
    assert "x-kubernetes-preserve-unknown-fields" not in node
    if node["type"] == "object":
        assert node.get("properties") or isinstance(node.get("additionalProperties"), dict), (
            f"{path}: an object without properties would need preserve-unknown-fields"
        )
        assert not (node.get("properties") and "additionalProperties" in node), f"{path}: not structural"
    for required in node.get("required", []):
        assert required in node["properties"], f"{path} requires an undeclared {required}"


@pytest.mark.parametrize(
    "definition, rule", RULES, ids=[ids(definition, rule["message"]) for definition, rule in RULES]
)
def test_cel_rules_use_only_portable_functions(definition: Crd, rule):
    called = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", rule["rule"]))
    assert called <= CEL_FUNCTIONS, f"{called - CEL_FUNCTIONS} may not exist on every supported cluster"
    assert rule["message"] and "messageExpression" not in rule


# -- the real server ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("definition", CRDS, ids=str)
def test_the_real_server_accepts_the_crd_as_structural(server, definition: Crd):
    found = json.loads(server("get", "crd", definition.name, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in found["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert conditions.get("NamesAccepted") == "True"
    assert "NonStructuralSchema" not in conditions
    assert found["status"]["acceptedNames"]["shortNames"] == [definition.short_name]


@pytest.mark.parametrize("definition, path", BAD, ids=[ids(definition, path.stem) for definition, path in BAD])
def test_bad_fixtures_are_refused_with_a_clear_message(server, definition: Crd, path):
    obj = yaml.safe_load(path.read_text())
    if len(obj["metadata"]["name"]) > 60:
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": NAMESPACE}}  # renamed() would shorten it
    else:
        obj = renamed(obj, "bad")
    accepted, refusal = dry_run(server, obj)
    assert accepted is None, f"{path.name} was accepted"
    assert expectation(path) in refusal


@pytest.mark.parametrize("definition", CRDS, ids=str)
def test_the_status_the_operator_writes_fits_the_schema(server, with_status, definition: Crd):
    # nothing pruned, nothing refused: every key the operator wrote is stored (a None asks a merge patch to
    # remove a key)
    assert stored(server, definition, with_status[definition.label])["status"] == without_nulls(
        STATUS[definition.label]()
    )


@pytest.mark.parametrize(
    "definition, column, value", COLUMNS, ids=[ids(definition, column) for definition, column, _ in COLUMNS]
)
def test_printer_columns_through_kubectl_get(server, with_status, definition: Crd, column, value):
    name = with_status[definition.label]
    row = printed_row(server, definition, name)
    assert column in row, f"kubectl get shows {list(row)}"
    if value is None:
        assert row[column] == name
    elif isinstance(value, re.Pattern):
        assert value.match(row[column]), row[column]
    else:
        assert row[column] == value


@pytest.mark.parametrize("definition", CRDS, ids=str)
def test_printer_columns_are_all_shown(server, with_status, definition: Crd):
    row = printed_row(server, definition, with_status[definition.label])
    declared = [
        entry["name"].upper()
        for entry in definition.version_entry["additionalPrinterColumns"]
        if entry.get("priority", 0) == 0
    ]
    assert list(row) == ["NAME", *declared]


@pytest.mark.parametrize(
    "definition, field", EXPLAINED, ids=[ids(definition, field) for definition, field in EXPLAINED]
)
def test_kubectl_explain_shows_the_schema_descriptions(server, definition: Crd, field):
    explained = server("explain", f"{definition.plural}.{field}").stdout
    node = definition.schema
    for part in field.split("."):
        node = node.get("items", node)["properties"][part]
    first_words = " ".join(node["description"].split()[:4])
    assert first_words in " ".join(explained.split()), explained
