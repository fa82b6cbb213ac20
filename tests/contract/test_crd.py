"""The CRD against the contract: structural, documented, and refusing exactly the bad input api.md names,
as the real kube-apiserver (the sandbox's control plane) decides it.

Fixtures live in `fixtures/`: `good/` must be accepted, `bad/` refused with the message on each file's first
line (`# expect: ...`, the real server's words as kubectl prints them), `updates/` hold an old and a new object
(`# expect: accepted` or a message). Acceptance is asked of the server with `--dry-run=server` (schema, CEL,
defaults, pruning and kubectl's Strict field validation, nothing stored); transition rules need the old object
stored, so updates create it first. Static checks that need no server (every node documented, CEL portable,
the names of api.md) stay offline.
"""

from __future__ import annotations

import json
import pathlib
import re
import uuid

import pytest
import yaml

from asr_autoupdate.api import GROUP, KIND, PLURAL, VERSION
from asr_autoupdate.api.spec import parse_spec
from asr_autoupdate.reconcile.desired import assess
from asr_autoupdate.reconcile.report import report
from tests.unit.policy_builders import NOW, converged, make_policy, make_spec

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / f"{PLURAL}.{GROUP}.yaml"
FIXTURES = pathlib.Path(__file__).parent / "fixtures"
CRD = yaml.safe_load(CRD_FILE.read_text())
[VERSION_ENTRY] = CRD["spec"]["versions"]
SCHEMA = VERSION_ENTRY["schema"]["openAPIV3Schema"]

# What a structural schema node may say (apiextensions v1), and the CEL functions every supported
# Kubernetes version (1.25 and later) has in its CEL environment.
SCHEMA_KEYWORDS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "default",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}
CEL_FUNCTIONS = {"has", "size", "matches", "startsWith", "endsWith", "contains", "all", "exists", "exists_one"}
API_SPEC_FIELDS = {
    "vault",
    "updateMode",
    "automationAccount",
    "authentication",
    "grantVaultAccess",
    "updatesPaused",
    "schedule",
    "credentialsSecretRef",
    "managementPolicy",
    "deletionPolicy",
    "driftCheckIntervalSeconds",
    "costModel",
}
API_STATUS_FIELDS = {
    "observedGeneration",
    "conditions",
    "automationAccount",
    "mappings",
    "schedules",
    "agents",
    "jobs",
    "lastRepair",
}


def schema_nodes(node, path="openAPIV3Schema"):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")


def policy_object(spec, status=None):
    obj = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": "vault1", "namespace": "dr"},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


NAMESPACE = "contract"


@pytest.fixture(scope="module")
def server(kubectl, crd):
    """kubectl as the admin, with the CRD installed and a namespace for the objects these tests store."""
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return kubectl


def dry_run(server, obj, *, verb: str = "create"):
    """Ask the real server to admit `obj` without storing it: (accepted object or None, kubectl's stderr)."""
    args = [verb, "--server-side"] if verb == "apply" else [verb]
    result = server(
        *args,
        "--dry-run=server",
        "--validate=strict",
        "-n",
        NAMESPACE,
        "-o",
        "json",
        "-f",
        "-",
        input=yaml.safe_dump(obj),
        check=False,
    )
    return (json.loads(result.stdout) if result.returncode == 0 else None), result.stderr.strip()


def renamed(obj, prefix):
    obj = json.loads(json.dumps(obj))
    obj.setdefault("metadata", {})["name"] = f"{prefix}-{uuid.uuid4().hex[:6]}"
    obj["metadata"]["namespace"] = NAMESPACE
    return obj


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
    assert spec["names"] == {
        "kind": KIND,
        "listKind": f"{KIND}List",
        "plural": PLURAL,
        "singular": "mobilityupdatepolicy",
        "shortNames": ["mup"],
        "categories": ["asr"],
    }
    assert (VERSION_ENTRY["name"], VERSION_ENTRY["served"], VERSION_ENTRY["storage"]) == (VERSION, True, True)
    assert VERSION_ENTRY["subresources"] == {"status": {}}


def test_the_real_server_accepts_the_crd_as_structural(server):
    stored = json.loads(server("get", "crd", f"{PLURAL}.{GROUP}", "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert conditions.get("NamesAccepted") == "True"
    assert "NonStructuralSchema" not in conditions
    assert stored["status"]["acceptedNames"]["shortNames"] == ["mup"]


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
    # beyond api.md: the Schedule column's text, and the updates followed across passes (status.operations)
    assert API_STATUS_FIELDS | {"scheduleSummary", "operations"} == set(properties["status"]["properties"])


def test_schema_defaults_are_the_operators_defaults(server):
    """The API server's defaults and parse_spec's must agree, or the stored object would lie."""
    minimal = policy_object(
        {
            "vault": {
                "subscriptionId": "11111111-2222-3333-4444-555555555555",
                "resourceGroup": "rg-dr",
                "name": "vault1",
            },
            "updateMode": "Automatic",
        }
    )
    stored, refusal = dry_run(server, renamed(minimal, "defaults"))
    assert stored is not None, refusal
    assert stored["spec"] != minimal["spec"], "the server applied no default"
    assert parse_spec(stored["spec"], namespace="dr", name="vault1") == parse_spec(
        minimal["spec"], namespace="dr", name="vault1"
    )


@pytest.mark.parametrize("path", sorted((FIXTURES / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_good_fixtures_are_accepted(server, path):
    obj = yaml.safe_load(path.read_text())
    stored, refusal = dry_run(server, renamed(obj, "good"))
    assert stored is not None, refusal
    parse_spec(stored["spec"], namespace="dr", name=obj["metadata"]["name"])


@pytest.mark.parametrize("path", sorted((FIXTURES / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_fixtures_are_refused_with_a_clear_message(server, path):
    stored, refusal = dry_run(server, renamed(yaml.safe_load(path.read_text()), "bad"))
    assert stored is None, f"{path.name} was accepted"
    assert expectation(path) in refusal


@pytest.mark.parametrize("path", sorted((FIXTURES / "updates").glob("*.yaml")), ids=lambda p: p.stem)
def test_updates(server, path):
    old, new = yaml.safe_load_all(path.read_text())
    old = renamed(old, "update")
    new = {**new, "metadata": {**new["metadata"], "name": old["metadata"]["name"], "namespace": NAMESPACE}}
    server.apply(old, "--server-side")
    stored, refusal = dry_run(server, new, verb="apply")
    if expectation(path) == "accepted":
        assert stored is not None, refusal
    else:
        assert stored is None, f"{path.name}: the update was accepted"
        assert expectation(path) in refusal


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_examples_are_accepted(server, path):
    server("apply", "--server-side", "-f", str(ROOT / "examples" / "00-namespace.yaml"))  # for real: policies need it
    result = server("apply", "--server-side", "--dry-run=server", "-o", "json", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    for obj in yaml.safe_load_all(path.read_text()):
        if obj and obj.get("kind") == KIND:
            parse_spec(obj["spec"], namespace="default", name=obj["metadata"]["name"])


def sample_status():
    return report(make_policy(), assess(make_spec(), converged()), [], [], NOW).status


@pytest.fixture(scope="module")
def converged_policy(server):
    """A policy stored for real with the status the operator writes for a converged vault, written as the
    operator writes it (a merge patch of the status subresource)."""
    obj = renamed(policy_object(make_policy().spec), "columns")
    server.apply(obj, "--server-side")
    server(
        "patch",
        PLURAL,
        obj["metadata"]["name"],
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": sample_status()}),
    )
    return obj["metadata"]["name"]


def test_the_status_the_operator_writes_fits_the_schema(server, converged_policy):
    stored = json.loads(server("get", PLURAL, converged_policy, "-n", NAMESPACE, "-o", "json").stdout)
    # nothing pruned: every key the operator wrote is stored (a None asks a merge patch to remove a key)
    assert stored["status"] == without_nulls(sample_status())


def printed_row(server, name):
    header, row = server("get", "mup", name, "-n", NAMESPACE).stdout.splitlines()
    starts = [match.start() for match in re.finditer(r"(?<=\s{2})\S|^\S", header)]
    cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=False)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=False)]
    return dict(zip(names, cells, strict=False))


@pytest.mark.parametrize(
    "column, value",
    [
        ("NAME", None),
        ("VAULT", "vault1"),
        ("MODE", "Automatic"),
        ("SCHEDULE", "00:00 Europe/Amsterdam"),
        ("READY", "True"),
        ("REASON", "Converged"),
        ("AGENTS BEHIND", "0"),
        ("AGE", re.compile(r"^\d+[smhd]")),
    ],
)
def test_printer_columns_through_kubectl_get(server, converged_policy, column, value):
    row = printed_row(server, converged_policy)
    assert column in row, f"kubectl get shows {list(row)}"
    if value is None:
        assert row[column] == converged_policy
    elif isinstance(value, re.Pattern):
        assert value.match(row[column]), row[column]
    else:
        assert row[column] == value


def test_printer_columns_are_all_shown(server, converged_policy):
    row = printed_row(server, converged_policy)
    declared = [
        entry["name"].upper() for entry in VERSION_ENTRY["additionalPrinterColumns"] if entry.get("priority", 0) == 0
    ]
    assert list(row) == ["NAME", *declared]


@pytest.mark.parametrize("field", ["spec", "spec.vault", "spec.schedule.timeZone", "status.conditions"])
def test_kubectl_explain_shows_the_schema_descriptions(server, field):
    explained = server("explain", f"{PLURAL}.{field}").stdout
    node = SCHEMA
    for part in field.split("."):
        node = node["properties"][part]
    first_words = " ".join(node["description"].split()[:4])
    assert first_words in " ".join(explained.split()), explained


def test_kubectl_wait_for_ready(server, converged_policy):
    result = server("wait", "--for=condition=Ready", f"mup/{converged_policy}", "-n", NAMESPACE, "--timeout=10s")
    assert "condition met" in result.stdout
