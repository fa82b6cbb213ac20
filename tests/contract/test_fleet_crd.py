"""The MobilityUpdateFleet CRD against its contract (docs/rollouts.md), as the real kube-apiserver decides it.

The same kit as test_crd.py: `fixtures/fleet/good/` must be accepted and `fixtures/fleet/bad/` refused with
the message on each file's first line (`# expect: ...`, the real server's words as kubectl prints them), asked
with `--dry-run=server` and kubectl's Strict field validation. Offline, the schema meets the policy CRD's static
checks (structural, every node documented, portable CEL), and `spec.template` is the policy's spec without
`vault`, property for property, so the two never drift apart: a change to the policy's spec fails
test_the_template_is_the_policy_spec_without_vault until the same change is copied into the fleet CRD (both
copies: crds/ and the chart's crds/).
"""

from __future__ import annotations

import asyncio
import copy
import json
import pathlib
import re
from datetime import UTC, datetime

import pytest
import yaml

from asr_autoupdate.api import GROUP, VERSION
from asr_autoupdate.api.fleet import FLEET_KIND, FLEET_PLURAL, parse_fleet
from asr_autoupdate.api.spec import parse_spec
from asr_autoupdate.azure.port import DiscoveredVault
from asr_autoupdate.reconcile.fleet import FleetInput, child_name, child_state, reconcile_fleet
from tests.contract.test_crd import (
    CEL_FUNCTIONS,
    NAMESPACE,
    ROOT,
    SCHEMA_KEYWORDS,
    dry_run,
    expectation,
    renamed,
    without_nulls,
)
from tests.contract.test_crd import SCHEMA as POLICY_SCHEMA
from tests.support import wait_for

FLEET_CRD_FILE = ROOT / "crds" / f"{FLEET_PLURAL}.{GROUP}.yaml"
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "fleet"
EXAMPLES = sorted((ROOT / "examples" / "fleet").glob("*.yaml"))
CRD = yaml.safe_load(FLEET_CRD_FILE.read_text())
[VERSION_ENTRY] = CRD["spec"]["versions"]
SCHEMA = VERSION_ENTRY["schema"]["openAPIV3Schema"]
SPEC = SCHEMA["properties"]["spec"]
STATUS = SCHEMA["properties"]["status"]
VAULT = {"subscriptionId": "11111111-2222-3333-4444-555555555555", "resourceGroup": "rg-dr", "name": "vault1"}

# Beyond the policy CRD's keywords: the tag map of a vault selector (a map of strings, at most 20).
FLEET_SCHEMA_KEYWORDS = SCHEMA_KEYWORDS | {"additionalProperties", "maxProperties"}
# What the operator reads and writes (operator/asr_autoupdate/api/fleet.py, docs/rollouts.md).
SPEC_FIELDS = {"subscriptions", "vaultSelector", "template", "waves", "discoveryIntervalSeconds"}
SELECTOR_FIELDS = {"resourceGroups", "names", "tags"}
WAVE_FIELDS = {"name", "vaultSelector", "schedule", "gate"}
STATUS_FIELDS = {
    "observedGeneration": None,
    "conditions": None,
    "vaults": {"discovered", "managed", "skipped"},
    "waves": {
        "name",
        "vaults",
        "ready",
        "agentsBehind",
        "phase",
        "since",
        "agentVersion",
        "message",
        "settledSince",
        "releasedAt",
    },
    "waveSummary": None,
    "totals": {"vaults", "ready", "agentsBehind"},
    "lastDiscovery": {"time", "subscriptions"},
    "lastRelease": {"wave", "time", "result"},
}
PHASES = ["Open", "Soaking", "Held", "Waiting"]


def schema_nodes(node, path="openAPIV3Schema"):
    """Every node, as test_crd.schema_nodes walks them, and the value schema of a map (additionalProperties)."""
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


def without_description(node: dict) -> dict:
    return {key: value for key, value in node.items() if key != "description"}


@pytest.fixture(scope="module")
def server(kubectl, crd):
    """kubectl as the admin, with both CRDs installed (the fleet's as a user installs it) and served, and the
    namespace for the objects these tests store."""
    kubectl("apply", "--server-side", "-f", str(FLEET_CRD_FILE))
    kubectl("wait", "--for=condition=Established", f"crd/{FLEET_PLURAL}.{GROUP}", "--timeout=30s")
    wait_for(
        lambda: FLEET_PLURAL in kubectl("api-resources", f"--api-group={GROUP}", "-o", "name", check=False).stdout,
        timeout=30,
        what="the fleet CRD in discovery",
    )
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return kubectl


def fleet_object(spec, name="fleet"):
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": FLEET_KIND,
        "metadata": {"name": name, "namespace": "dr"},
        "spec": spec,
    }


def child_spec(template: dict, schedule: dict | None = None) -> dict:
    """A child policy's spec as the fleet builds it: the template, the vault, and the wave's schedule."""
    spec = {**copy.deepcopy(template), "vault": VAULT}
    if schedule is not None:
        spec["schedule"] = schedule
    return spec


# -- offline ---------------------------------------------------------------------------------------------------


def test_identity_of_the_api():
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == f"{FLEET_PLURAL}.{GROUP}"
    assert (spec["group"], spec["scope"]) == (GROUP, "Namespaced")
    assert spec["names"] == {
        "kind": FLEET_KIND,
        "listKind": f"{FLEET_KIND}List",
        "plural": FLEET_PLURAL,
        "singular": "mobilityupdatefleet",
        "shortNames": ["mupf"],
        "categories": ["asr"],
    }
    assert (VERSION_ENTRY["name"], VERSION_ENTRY["served"], VERSION_ENTRY["storage"]) == (VERSION, True, True)
    assert VERSION_ENTRY["subresources"] == {"status": {}}


@pytest.mark.parametrize("path, node", list(schema_nodes(SCHEMA)), ids=[path for path, _ in schema_nodes(SCHEMA)])
def test_every_schema_node_is_structural_and_explained(path, node):
    assert node.get("type"), f"{path} has no type"
    assert set(node) <= FLEET_SCHEMA_KEYWORDS, f"{path} uses {set(node) - FLEET_SCHEMA_KEYWORDS}"
    assert node.get("description"), f"{path} needs a description for kubectl explain"
    assert "x-kubernetes-preserve-unknown-fields" not in node
    if node["type"] == "object":
        assert node.get("properties") or isinstance(node.get("additionalProperties"), dict), (
            f"{path}: an object without properties would need preserve-unknown-fields"
        )
        assert not (node.get("properties") and "additionalProperties" in node), f"{path}: not structural"
    for required in node.get("required", []):
        assert required in node["properties"], f"{path} requires an undeclared {required}"


RULES = [rule for _, node in schema_nodes(SCHEMA) for rule in node.get("x-kubernetes-validations", [])]


@pytest.mark.parametrize("rule", RULES, ids=[rule["message"] for rule in RULES])
def test_cel_rules_use_only_portable_functions(rule):
    called = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", rule["rule"]))
    assert called <= CEL_FUNCTIONS, f"{called - CEL_FUNCTIONS} may not exist on every supported cluster"
    assert rule["message"] and "messageExpression" not in rule


def test_spec_and_status_name_what_the_operator_reads_and_writes():
    assert set(SPEC["properties"]) == SPEC_FIELDS
    assert SPEC["required"] == ["subscriptions", "template"]
    assert set(SPEC["properties"]["vaultSelector"]["properties"]) == SELECTOR_FIELDS
    wave = SPEC["properties"]["waves"]["items"]
    assert set(wave["properties"]) == WAVE_FIELDS and wave["required"] == ["name"]
    assert set(STATUS["properties"]) == set(STATUS_FIELDS)
    for field, names in STATUS_FIELDS.items():
        if names is None:
            continue
        node = STATUS["properties"][field]
        node = node.get("items", node)
        assert set(node["properties"]) == names, field
    skipped = STATUS["properties"]["vaults"]["properties"]["skipped"]["items"]
    assert set(skipped["properties"]) == {"vault", "reason", "message"}
    assert STATUS["properties"]["waves"]["items"]["properties"]["phase"]["enum"] == PHASES


def test_the_template_is_the_policy_spec_without_vault():
    """Every property of the policy's spec but vault, with its schema, defaults and CEL rules unchanged, and the
    spec-level rules that do not name vault; required the same, less vault."""
    policy = POLICY_SCHEMA["properties"]["spec"]
    template = SPEC["properties"]["template"]
    expected = {name: node for name, node in policy["properties"].items() if name != "vault"}
    differing = sorted(
        name
        for name in expected.keys() | template["properties"].keys()
        if expected.get(name) != template["properties"].get(name)
    )
    assert not differing, (
        f"spec.template.{differing} differ from the policy's spec: copy the policy CRD's spec properties (but "
        "vault) into spec.template of crds/mobilityupdatefleets.asr.autoupdate.dev.yaml and the chart's copy"
    )
    assert template["required"] == [name for name in policy["required"] if name != "vault"]
    rules = [rule for rule in policy.get("x-kubernetes-validations", []) if "vault" not in rule["rule"]]
    assert template.get("x-kubernetes-validations", []) == rules
    assert set(template) <= {"type", "description", "required", "properties", "x-kubernetes-validations"}
    assert "updatesPaused" in template["properties"], "template.updatesPaused is the whole fleet's change freeze"


def test_a_waves_schedule_is_the_policys_schedule():
    policy_schedule = POLICY_SCHEMA["properties"]["spec"]["properties"]["schedule"]
    wave_schedule = SPEC["properties"]["waves"]["items"]["properties"]["schedule"]
    assert without_description(wave_schedule) == without_description(policy_schedule)
    assert "replaces spec.template.schedule" in wave_schedule["description"]


def test_a_waves_vault_selector_has_the_fleets_shape():
    fleet_selector = SPEC["properties"]["vaultSelector"]
    wave_selector = SPEC["properties"]["waves"]["items"]["properties"]["vaultSelector"]
    assert without_description(wave_selector) == without_description(fleet_selector)


def test_subscriptions_take_the_policys_subscription_id_pattern():
    policy_pattern = POLICY_SCHEMA["properties"]["spec"]["properties"]["vault"]["properties"]["subscriptionId"]
    assert SPEC["properties"]["subscriptions"]["items"]["pattern"] == policy_pattern["pattern"]


def test_conditions_have_the_policys_schema():
    policy = POLICY_SCHEMA["properties"]["status"]["properties"]["conditions"]
    assert without_description(STATUS["properties"]["conditions"]) == without_description(policy)


def test_the_chart_ships_the_same_crd():
    chart_copy = ROOT / "charts" / "asr-autoupdate-operator" / "crds" / FLEET_CRD_FILE.name
    assert chart_copy.read_bytes() == FLEET_CRD_FILE.read_bytes()


# -- the real server ---------------------------------------------------------------------------------------------


def test_the_real_server_accepts_the_crd_as_structural(server):
    stored = json.loads(server("get", "crd", f"{FLEET_PLURAL}.{GROUP}", "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert conditions.get("NamesAccepted") == "True"
    assert "NonStructuralSchema" not in conditions
    assert stored["status"]["acceptedNames"]["shortNames"] == ["mupf"]


def test_the_asr_category_holds_both_kinds(server):
    listed = server("api-resources", "--categories=asr", "-o", "name").stdout.split()
    assert sorted(listed) == sorted([f"{FLEET_PLURAL}.{GROUP}", f"mobilityupdatepolicies.{GROUP}"])


GOOD = sorted((FIXTURES / "good").glob("*.yaml"))


@pytest.mark.parametrize("path", GOOD + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_good_fixtures_and_examples_are_accepted(server, path):
    obj = yaml.safe_load(path.read_text())
    stored, refusal = dry_run(server, renamed(obj, "good"))
    assert stored is not None, refusal
    fleet = parse_fleet(stored["spec"], namespace="dr", name=obj["metadata"]["name"])
    # every child policy the fleet would make of it is a valid policy spec
    for wave in fleet.waves:
        parse_spec(child_spec(stored["spec"]["template"], wave.schedule), namespace="dr", name="child")


@pytest.mark.parametrize("path", sorted((FIXTURES / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_fixtures_are_refused_with_a_clear_message(server, path):
    obj = yaml.safe_load(path.read_text())
    if len(obj["metadata"]["name"]) > 60:
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": NAMESPACE}}  # renamed() would shorten it
    else:
        obj = renamed(obj, "bad")
    stored, refusal = dry_run(server, obj)
    assert stored is None, f"{path.name} was accepted"
    assert expectation(path) in refusal


def test_schema_defaults_are_the_operators_defaults(server):
    """What the API server fills in changes no child: a child built from the stored (defaulted) template is the
    same policy as one built from the template as written, and an empty gate soaks as long as no gate."""
    written = {
        "subscriptions": [VAULT["subscriptionId"]],
        "template": {"updateMode": "Automatic"},
        "waves": [{"name": "canary"}, {"name": "production", "gate": {}}],
    }
    stored, refusal = dry_run(server, renamed(fleet_object(written), "defaults"))
    assert stored is not None, refusal
    spec = stored["spec"]
    assert spec["discoveryIntervalSeconds"] == 3600
    assert spec["template"] != written["template"], "the server applied no default to the template"
    assert spec["waves"][1]["gate"] == {"soakDays": 1}
    assert "gate" not in spec["waves"][0]
    assert parse_spec(child_spec(spec["template"]), namespace="dr", name="child") == parse_spec(
        child_spec(written["template"]), namespace="dr", name="child"
    )
    gateless = {**written, "waves": [{"name": "canary"}, {"name": "production"}]}
    assert parse_fleet(gateless, namespace="dr", name="fleet").waves[1].soak_days == 1
    assert parse_fleet(spec, namespace="dr", name="fleet").discovery_interval_seconds == 3600


def test_wave_names_are_a_map_key_for_server_side_apply(server):
    """Two appliers can own different waves: the list merges by name instead of being replaced."""
    obj = renamed(
        fleet_object({"subscriptions": [VAULT["subscriptionId"]], "template": {"updateMode": "Manual"}}), "ssa"
    )
    server.apply({**obj, "spec": {**obj["spec"], "waves": [{"name": "canary"}]}}, "--server-side", "--field-manager=a")
    later = {"apiVersion": obj["apiVersion"], "kind": FLEET_KIND, "metadata": obj["metadata"]}
    later["spec"] = {"waves": [{"name": "production", "gate": {"soakDays": 2}}]}
    server.apply(later, "--server-side", "--field-manager=b")
    stored = json.loads(server("get", FLEET_PLURAL, obj["metadata"]["name"], "-n", NAMESPACE, "-o", "json").stdout)
    assert [wave["name"] for wave in stored["spec"]["waves"]] == ["canary", "production"]


def sample_status() -> dict:
    """A fleet's status with every field the schema declares, as the operator writes it."""
    vault = "/subscriptions/3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17/resourceGroups/rg-asr-weu"
    return {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "WaveHeld",
                "message": "Wave production is held: an update job failed in wave canary",
                "observedGeneration": 1,
                "lastTransitionTime": "2026-11-25T22:00:00Z",
            }
        ],
        "vaults": {
            "discovered": 4,
            "managed": 3,
            "skipped": [
                {
                    "vault": f"{vault}/providers/Microsoft.RecoveryServices/vaults/rsv-weu-prod",
                    "reason": "ManagedByPolicy",
                    "message": "Managed by MobilityUpdatePolicy asr-fleet/rsv-weu-prod",
                }
            ],
        },
        "waves": [
            {
                "name": "canary",
                "vaults": 1,
                "ready": 1,
                "agentsBehind": 0,
                "phase": "Open",
                "since": "2026-11-24T02:00:00Z",
                "settledSince": "2026-11-24T03:10:00Z",
                "agentVersion": "9.63.7187.1",
                "message": "Updates run on the wave's schedule",
            },
            {
                "name": "production",
                "vaults": 2,
                "ready": 1,
                "agentsBehind": 3,
                "phase": "Held",
                "since": "2026-11-25T02:40:00Z",
                "releasedAt": "2026-11-20T09:00:00Z",
                "message": "An update job failed in wave canary; release with asr.autoupdate.dev/release-wave",
            },
        ],
        "waveSummary": "canary Open, production Held",
        "totals": {"vaults": 3, "ready": 2, "agentsBehind": 3},
        "lastDiscovery": {"time": "2026-11-25T21:00:00Z", "subscriptions": 2},
        "lastRelease": {"wave": "staging", "time": "2026-11-20T09:00:00Z", "result": "UnknownWave"},
    }


@pytest.fixture(scope="module")
def fleet_with_status(server):
    """A fleet stored for real, its status written as the operator writes it (a merge patch of /status)."""
    obj = renamed(fleet_object(yaml.safe_load(EXAMPLES[0].read_text())["spec"]), "columns")
    server.apply(obj, "--server-side")
    server(
        "patch",
        FLEET_PLURAL,
        obj["metadata"]["name"],
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": sample_status()}),
    )
    return obj["metadata"]["name"]


def test_the_status_the_operator_writes_fits_the_schema(server, fleet_with_status):
    stored = json.loads(server("get", FLEET_PLURAL, fleet_with_status, "-n", NAMESPACE, "-o", "json").stdout)
    assert stored["status"] == without_nulls(sample_status())  # nothing pruned, nothing refused


def test_a_phase_outside_the_four_is_refused(server, fleet_with_status):
    result = server(
        "patch",
        FLEET_PLURAL,
        fleet_with_status,
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "--dry-run=server",
        "-p",
        json.dumps({"status": {"waves": [{"name": "canary", "phase": "Paused"}]}}),
        check=False,
    )
    assert result.returncode != 0 and 'Unsupported value: "Paused"' in result.stderr


class _Vaults:
    """The Azure port as a fleet pass uses it: one subscription's vault list, and Azure's clock."""

    def __init__(self, vaults):
        self.vaults = vaults

    async def list_vaults(self, subscription_id):
        return [vault for vault in self.vaults if vault.subscription_id == subscription_id]

    def azure_now(self):
        return NOW


class _Store:
    """Child writes that go nowhere: the pass's status is what this test is after."""

    async def create(self, namespace, body):
        pass

    async def replace(self, namespace, name, body):
        pass

    async def delete(self, namespace, name):
        pass


NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
SUBSCRIPTION = "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17"


def discovered(resource_group, name, **tags):
    vault_id = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{resource_group}/providers/Microsoft.RecoveryServices/vaults/"
        f"{name}"
    )
    return DiscoveredVault(vault_id, name, resource_group, SUBSCRIPTION, "westeurope", dict(tags))


def operator_status() -> dict:
    """The status the operator's own fleet pass writes for the example: the canary behind on its agents, so
    production waits; one vault skipped for a hand-written policy."""
    example = yaml.safe_load(EXAMPLES[0].read_text())
    fleet = FleetInput("asr-fleet", "contoso", "uid-1", 1, example["spec"], {}, release="staging")
    canary, production = discovered("rg-asr-weu", "rsv-canary", ring="0"), discovered("rg-asr-eus", "rsv-eus-prod")
    taken = discovered("rg-asr-sea", "rsv-sea-dr")

    def child(vault, wave, **status):
        meta = {
            "name": child_name("contoso", vault),
            "generation": 1,
            "labels": {"asr.autoupdate.dev/fleet": "contoso", "asr.autoupdate.dev/wave": wave},
        }
        spec = {"vault": {"subscriptionId": SUBSCRIPTION, "resourceGroup": vault.resource_group, "name": vault.name}}
        ready = {"type": "Ready", "status": "True", "reason": "Converged", "message": "", "lastTransitionTime": ""}
        return child_state(meta, spec, {"observedGeneration": 1, "conditions": [ready], **status})

    children = [
        child(canary, "canary", agents={"updateRequired": 2, "versions": [{"version": "9.62.7172.1", "count": 2}]}),
        child(production, "production", agents={"versions": [{"version": "9.62.7172.1", "count": 3}]}),
    ]
    owners = {f"{SUBSCRIPTION}/rg-asr-sea/rsv-sea-dr": [("2026-01-01T00:00:00Z", "asr-fleet/rsv-sea-dr")]}
    outcome = asyncio.run(
        reconcile_fleet(
            _Vaults([canary, production, taken]),
            _Store(),
            fleet,
            children,
            owners,
            now=NOW,
            azure_now=NOW,
            discovery=None,
        )
    )
    return outcome.status


def test_the_status_the_operators_fleet_pass_writes_fits_the_schema(server):
    obj = renamed(fleet_object(yaml.safe_load(EXAMPLES[0].read_text())["spec"]), "operator-status")
    server.apply(obj, "--server-side")
    status = operator_status()
    assert {"waves", "waveSummary", "totals", "vaults", "lastDiscovery", "lastRelease"} <= set(status)
    server(
        "patch",
        FLEET_PLURAL,
        obj["metadata"]["name"],
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    stored = json.loads(server("get", FLEET_PLURAL, obj["metadata"]["name"], "-n", NAMESPACE, "-o", "json").stdout)
    assert stored["status"] == without_nulls(json.loads(json.dumps(status)))  # nothing pruned, nothing refused


def printed_row(server, name):
    header, row = server("get", "mupf", name, "-n", NAMESPACE).stdout.splitlines()
    starts = [match.start() for match in re.finditer(r"(?<=\s{2})\S|^\S", header)]
    cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=False)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=False)]
    return dict(zip(names, cells, strict=False))


@pytest.mark.parametrize(
    "column, value",
    [
        ("NAME", None),
        ("VAULTS", "3"),
        ("READY VAULTS", "2"),
        ("AGENTS BEHIND", "3"),
        ("WAVES", "canary Open, production Held"),
        ("READY", "False"),
        ("REASON", "WaveHeld"),
        ("AGE", re.compile(r"^\d+[smhd]")),
    ],
)
def test_printer_columns_through_kubectl_get(server, fleet_with_status, column, value):
    row = printed_row(server, fleet_with_status)
    assert column in row, f"kubectl get shows {list(row)}"
    if value is None:
        assert row[column] == fleet_with_status
    elif isinstance(value, re.Pattern):
        assert value.match(row[column]), row[column]
    else:
        assert row[column] == value


def test_printer_columns_are_all_shown(server, fleet_with_status):
    row = printed_row(server, fleet_with_status)
    declared = [
        entry["name"].upper() for entry in VERSION_ENTRY["additionalPrinterColumns"] if entry.get("priority", 0) == 0
    ]
    assert list(row) == ["NAME", *declared]


@pytest.mark.parametrize(
    "field", ["spec", "spec.template", "spec.waves", "spec.waves.gate.soakDays", "status.waves.phase", "status.vaults"]
)
def test_kubectl_explain_shows_the_schema_descriptions(server, field):
    explained = server("explain", f"{FLEET_PLURAL}.{field}").stdout
    node = SCHEMA
    for part in field.split("."):
        node = node.get("items", node)["properties"][part]
    first_words = " ".join(node["description"].split()[:4])
    assert first_words in " ".join(explained.split()), explained
