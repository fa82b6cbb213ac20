"""The CRD against the contract: structural, documented, and refusing exactly the bad input api.md names.

Fixtures live in `fixtures/`: `good/` must be accepted, `bad/` refused with the message on each file's first
line (`# expect: ...`), `updates/` hold an old and a new object (`# expect: accepted` or a message). They are
checked with the same schema + CEL validation the Kubernetes emulator applies (`asr_sandbox.kube.validation`).
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from asr_autoupdate.api import GROUP, KIND, PLURAL, VERSION
from asr_autoupdate.api.spec import parse_spec
from asr_autoupdate.reconcile.report import report
from asr_sandbox.kube import validation
from asr_sandbox.kube.table import find
from tests.unit.policy_builders import NOW, converged, make_policy, make_spec

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / f"{PLURAL}.{GROUP}.yaml"
FIXTURES = pathlib.Path(__file__).parent / "fixtures"
CRD = yaml.safe_load(CRD_FILE.read_text())
[VERSION_ENTRY] = CRD["spec"]["versions"]
SCHEMA = VERSION_ENTRY["schema"]["openAPIV3Schema"]

# What a structural schema node may say (apiextensions v1), and the CEL functions every supported
# Kubernetes version and the emulator's CEL share.
SCHEMA_KEYWORDS = {
    "type", "description", "properties", "required", "items", "enum", "default", "pattern", "format",
    "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "x-kubernetes-validations",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
}
CEL_FUNCTIONS = {"has", "size", "matches", "startsWith", "endsWith", "contains", "all", "exists", "exists_one"}
API_SPEC_FIELDS = {
    "vault", "updateMode", "automationAccount", "authentication", "grantVaultAccess", "schedule",
    "credentialsSecretRef", "managementPolicy", "deletionPolicy", "driftCheckIntervalSeconds", "costModel",
}
API_STATUS_FIELDS = {"observedGeneration", "conditions", "automationAccount", "mappings", "schedules", "agents", "jobs",
                     "lastRepair"}


def schema_nodes(node, path="openAPIV3Schema"):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")


def policy_object(spec, status=None):
    obj = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": "vault1", "namespace": "dr"},
           "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


def refusals(obj, old=None):
    """What the API server answers, unknown fields included (kubectl's server-side validation is Strict)."""
    unknown = [f"unknown field {path}" for path in validation.unknown_fields(CRD, obj)]
    return validation.validate(CRD, obj, old) + unknown


def expectation(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must say what it expects on its first line"
    return first.removeprefix("# expect: ")


def without_nulls(value):
    """Status as stored after a merge patch: a None asks to remove a key."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def test_identity_of_the_api():
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert (spec["group"], spec["scope"]) == (GROUP, "Namespaced")
    assert spec["names"] == {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL,
                             "singular": "mobilityupdatepolicy", "shortNames": ["mup"], "categories": ["asr"]}
    assert (VERSION_ENTRY["name"], VERSION_ENTRY["served"], VERSION_ENTRY["storage"]) == (VERSION, True, True)
    assert VERSION_ENTRY["subresources"] == {"status": {}}


def test_the_crd_is_accepted_by_the_api_server_rules():
    assert [str(error) for error in validation.check_crd(CRD)] == []


@pytest.mark.parametrize("path, node", list(schema_nodes(SCHEMA)), ids=[path for path, _ in schema_nodes(SCHEMA)])
def test_every_schema_node_is_structural_and_explained(path, node):
    assert node.get("type"), f"{path} has no type"
    assert set(node) <= SCHEMA_KEYWORDS, f"{path} uses {set(node) - SCHEMA_KEYWORDS}"
    assert node.get("description"), f"{path} needs a description for kubectl explain"
    if node["type"] == "object":
        assert node.get("properties"), f"{path}: an object without properties would need preserve-unknown-fields"
    for required in node.get("required", []):
        assert required in node["properties"], f"{path} requires an undeclared {required}"


RULES = [rule for _, node in schema_nodes(SCHEMA) for rule in node.get("x-kubernetes-validations", [])]


@pytest.mark.parametrize("rule", RULES, ids=[rule["message"] for rule in RULES])
def test_cel_rules_use_only_portable_functions(rule):
    called = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", rule["rule"]))
    assert called <= CEL_FUNCTIONS, f"{called - CEL_FUNCTIONS} may not exist on every supported cluster"
    assert rule["message"] and "messageExpression" not in rule


def test_spec_and_status_name_what_api_md_names():
    properties = SCHEMA["properties"]
    assert set(properties["spec"]["properties"]) == API_SPEC_FIELDS
    assert API_STATUS_FIELDS | {"scheduleSummary"} == set(properties["status"]["properties"])


def test_schema_defaults_are_the_operators_defaults():
    """The API server's defaults and parse_spec's must agree, or the stored object would lie."""
    minimal = policy_object({"vault": {"subscriptionId": "11111111-2222-3333-4444-555555555555",
                                       "resourceGroup": "rg-dr", "name": "vault1"}, "updateMode": "Automatic"})
    stored = validation.apply_defaults_and_prune(CRD, minimal)
    assert parse_spec(stored["spec"], namespace="dr", name="vault1") == parse_spec(
        minimal["spec"], namespace="dr", name="vault1")


@pytest.mark.parametrize("path", sorted((FIXTURES / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_good_fixtures_are_accepted(path):
    obj = yaml.safe_load(path.read_text())
    assert refusals(obj) == []
    parse_spec(validation.apply_defaults_and_prune(CRD, obj)["spec"], namespace="dr", name=obj["metadata"]["name"])


@pytest.mark.parametrize("path", sorted((FIXTURES / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_fixtures_are_refused_with_a_clear_message(path):
    answers = refusals(yaml.safe_load(path.read_text()))
    assert any(expectation(path) in answer for answer in answers), answers


@pytest.mark.parametrize("path", sorted((FIXTURES / "updates").glob("*.yaml")), ids=lambda p: p.stem)
def test_updates(path):
    old, new = yaml.safe_load_all(path.read_text())
    answers = refusals(new, validation.apply_defaults_and_prune(CRD, old))
    if expectation(path) == "accepted":
        assert answers == []
    else:
        assert any(expectation(path) in answer for answer in answers), answers


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_examples_are_accepted(path):
    for obj in yaml.safe_load_all(path.read_text()):
        if obj and obj.get("kind") == KIND:
            assert refusals(obj) == []
            parse_spec(validation.apply_defaults_and_prune(CRD, obj)["spec"], namespace="default",
                       name=obj["metadata"]["name"])


def sample_status():
    return report(make_policy(), make_spec(), converged(), [], [], NOW).status


def test_the_status_the_operator_writes_fits_the_schema():
    obj = policy_object(make_policy().spec, without_nulls(sample_status()))
    assert refusals(obj) == []


@pytest.mark.parametrize(
    "column, value",
    [
        ("Vault", "vault1"),
        ("Mode", "Automatic"),
        ("Schedule", "00:00 Europe/Amsterdam"),
        ("Ready", "True"),
        ("Reason", "Converged"),
        ("Agents Behind", 0),
        ("Age", "2024-06-10T12:00:00Z"),
    ],
)
def test_printer_columns_resolve(column, value):
    obj = policy_object(make_policy().spec, without_nulls(sample_status()))
    obj["metadata"]["creationTimestamp"] = "2024-06-10T12:00:00Z"
    [definition] = [entry for entry in VERSION_ENTRY["additionalPrinterColumns"] if entry["name"] == column]
    assert find(obj, definition["jsonPath"]) == [value]
