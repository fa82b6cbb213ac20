"""The MobilityUpdateFleet CRD against its contract (docs/rollouts.md), as the real kube-apiserver decides it.

The same kit as test_crd.py (crd_kit.py): `fixtures/fleet/good/` must be accepted, asked with `--dry-run=server`
and kubectl's Strict field validation; the checks both CRDs share (identity, a structural and documented schema,
portable CEL, `fixtures/fleet/bad/` refused with their messages, status, printer columns, `kubectl explain`) are
test_crds.py's. Offline, `spec.template` is the policy's spec without
`vault`, property for property, so the two never drift apart: a change to the policy's spec fails
test_the_template_is_the_policy_spec_without_vault until the same change is copied into the fleet CRD (both
copies: crds/ and the chart's crds/).
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime

import pytest
import yaml

from asr_autoupdate.api.fleet import FLEET_KIND, FLEET_PLURAL, parse_fleet
from asr_autoupdate.api.spec import parse_spec
from asr_autoupdate.azure.port import DiscoveredVault
from asr_autoupdate.reconcile.fleet import FleetInput, child_name, child_state, reconcile_fleet
from tests.contract.crd_kit import (
    FLEET,
    FLEET_EXAMPLES,
    NAMESPACE,
    POLICY,
    ROOT,
    dry_run,
    renamed,
    store_with_status,
    stored,
    without_nulls,
)

FIXTURES = FLEET.fixtures
EXAMPLES = FLEET_EXAMPLES
SCHEMA = FLEET.schema
POLICY_SCHEMA = POLICY.schema
SPEC = SCHEMA["properties"]["spec"]
STATUS = SCHEMA["properties"]["status"]
VAULT = {"subscriptionId": "11111111-2222-3333-4444-555555555555", "resourceGroup": "rg-dr", "name": "vault1"}

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


def without_description(node: dict) -> dict:
    return {key: value for key, value in node.items() if key != "description"}


def child_spec(template: dict, schedule: dict | None = None) -> dict:
    """A child policy's spec as the fleet builds it: the template, the vault, and the wave's schedule."""
    spec = {**copy.deepcopy(template), "vault": VAULT}
    if schedule is not None:
        spec["schedule"] = schedule
    return spec


# -- offline ---------------------------------------------------------------------------------------------------


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
    chart_copy = ROOT / "charts" / "asr-autoupdate-operator" / "crds" / FLEET.file.name
    assert chart_copy.read_bytes() == FLEET.file.read_bytes()


# -- the real server ---------------------------------------------------------------------------------------------


def test_the_asr_category_holds_both_kinds(server):
    listed = server("api-resources", "--categories=asr", "-o", "name").stdout.split()
    assert sorted(listed) == sorted([FLEET.name, POLICY.name])


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


def test_schema_defaults_are_the_operators_defaults(server):
    """What the API server fills in changes no child: a child built from the stored (defaulted) template is the
    same policy as one built from the template as written, and an empty gate soaks as long as no gate."""
    written = {
        "subscriptions": [VAULT["subscriptionId"]],
        "template": {"updateMode": "Automatic"},
        "waves": [{"name": "canary"}, {"name": "production", "gate": {}}],
    }
    stored, refusal = dry_run(server, renamed(FLEET.object(written, "fleet"), "defaults"))
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
        FLEET.object({"subscriptions": [VAULT["subscriptionId"]], "template": {"updateMode": "Manual"}}, "fleet"), "ssa"
    )
    server.apply({**obj, "spec": {**obj["spec"], "waves": [{"name": "canary"}]}}, "--server-side", "--field-manager=a")
    later = {"apiVersion": obj["apiVersion"], "kind": FLEET_KIND, "metadata": obj["metadata"]}
    later["spec"] = {"waves": [{"name": "production", "gate": {"soakDays": 2}}]}
    server.apply(later, "--server-side", "--field-manager=b")
    stored = json.loads(server("get", FLEET_PLURAL, obj["metadata"]["name"], "-n", NAMESPACE, "-o", "json").stdout)
    assert [wave["name"] for wave in stored["spec"]["waves"]] == ["canary", "production"]


def test_a_phase_outside_the_four_is_refused(server, with_status):
    result = server(
        "patch",
        FLEET_PLURAL,
        with_status[FLEET.label],
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
    obj = renamed(FLEET.object(yaml.safe_load(EXAMPLES[0].read_text())["spec"], "fleet"), "operator-status")
    status = operator_status()
    assert {"waves", "waveSummary", "totals", "vaults", "lastDiscovery", "lastRelease"} <= set(status)
    name = store_with_status(server, obj, FLEET_PLURAL, status)
    # nothing pruned, nothing refused
    assert stored(server, FLEET, name)["status"] == without_nulls(json.loads(json.dumps(status)))
