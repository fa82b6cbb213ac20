"""The fleet's pure core: spec parsing, vault selection, child policies, and the wave gate (table tests on
Azure's time passed in), then a whole pass against the fake Azure and a fake child store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from asr_autoupdate.api.fleet import InvalidSpec, parse_fleet
from asr_autoupdate.api.reasons import Reason
from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import classify
from asr_autoupdate.reconcile.fleet import (
    SPEC_HASH_ANNOTATION,
    ChildState,
    ChildWriteFailed,
    Discovery,
    FleetInput,
    assign,
    child_name,
    child_state,
    fleet_blocked,
    gate,
    reconcile_fleet,
)
from tests.unit.fake_azure import FakeAzure

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SUB_A = "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17"
SUB_B = "a6b2e8d4-1c3f-4e5a-8b7d-9f0e1d2c3b4a"
TEMPLATE = {"updateMode": "Automatic"}
WAVES = [
    {"name": "canary", "vaultSelector": {"tags": {"ring": "0"}}},
    {"name": "production", "gate": {"soakDays": 3}},
]


def spec(**changes):
    return parse_fleet(
        {"subscriptions": [SUB_A], "template": TEMPLATE, "waves": WAVES, **changes}, namespace="ns", name="f"
    )


def child(name: str, wave: str, **fields) -> ChildState:
    values = dict(
        name=name,
        wave=wave,
        vault_id=f"{SUB_A}/rg/{name}",
        spec={},
        spec_hash=None,
        generation=1,
        observed_generation=1,
        ready=True,
        agents_behind=0,
        versions=("9.63.7187.1",),
        last_run_status="Completed",
        last_run_start=NOW - timedelta(days=1),
        health_error=False,
    )
    values.update(fields)
    return ChildState(**values)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


CURRENT = {"canary": [child("c1", "canary")], "production": [child("p1", "production"), child("p2", "production")]}


# --- parsing -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"template": TEMPLATE}, "spec.subscriptions"),
        ({"subscriptions": ["nope"], "template": TEMPLATE}, "not a subscription id"),
        ({"subscriptions": [SUB_A, SUB_A.upper()], "template": TEMPLATE}, "listed twice"),
        ({"subscriptions": [SUB_A]}, "spec.template: required"),
        ({"subscriptions": [SUB_A], "template": {**TEMPLATE, "vault": {}}}, "spec.template.vault"),
        ({"subscriptions": [SUB_A], "template": {"updateMode": "Sometimes"}}, "spec.template.updateMode"),
        ({"subscriptions": [SUB_A], "template": TEMPLATE, "discoveryIntervalSeconds": 299}, "at least 300"),
        ({"subscriptions": [SUB_A], "template": TEMPLATE, "waves": [{"name": "A"}]}, "DNS label"),
        ({"subscriptions": [SUB_A], "template": TEMPLATE, "waves": [{"name": "a"}, {"name": "a"}]}, "two waves"),
        (
            {"subscriptions": [SUB_A], "template": TEMPLATE, "waves": [{"name": "a", "gate": {"soakDays": 1}}]},
            "first wave has no previous wave",
        ),
        (
            {
                "subscriptions": [SUB_A],
                "template": TEMPLATE,
                "waves": [{"name": "a"}, {"name": "b", "gate": {"soakDays": 31}}],
            },
            "between 0 and 30",
        ),
        (
            {
                "subscriptions": [SUB_A],
                "template": TEMPLATE,
                "waves": [{"name": "a", "schedule": {"time": "02:00", "weekDays": ["Monday"]}}],
            },
            "spec.waves[0].schedule.weekDays",
        ),
        ({"subscriptions": [SUB_A], "template": TEMPLATE, "vaultSelector": {"tags": {"ring": 0}}}, "string values"),
    ],
)
def test_bad_fleets_are_refused_naming_the_field(raw, problem):
    with pytest.raises(InvalidSpec) as refused:
        parse_fleet(raw, namespace="ns", name="f")
    assert problem in str(refused.value)


def test_a_fleet_without_waves_has_one_wave_for_every_vault():
    parsed = parse_fleet({"subscriptions": [SUB_A], "template": TEMPLATE}, namespace="ns", name="f")
    assert [wave.name for wave in parsed.waves] == ["all"] and parsed.waves[0].soak_days is None
    assert parsed.discovery_interval_seconds == 3600 and not parsed.paused


# --- selection -----------------------------------------------------------------------------------------------


def vault(name: str, group: str = "rg-asr-weu", subscription: str = SUB_A, **tags: str) -> port.DiscoveredVault:
    return port.DiscoveredVault(
        id=f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.RecoveryServices/vaults/{name}",
        name=name,
        resource_group=group,
        subscription_id=subscription,
        location="westeurope",
        tags=tags,
    )


FLEET = FleetInput(namespace="ns", name="contoso", uid="uid-1", generation=1, spec={}, status={}, release=None)


def test_vaults_are_selected_by_glob_and_tag_and_put_in_the_first_wave_they_match():
    fleet_spec = spec(vaultSelector={"resourceGroups": ["RG-ASR-*"], "names": ["rsv-*"]})
    vaults = [
        vault("rsv-canary", ring="0"),
        vault("RSV-Prod"),
        vault("other-vault"),
        vault("rsv-elsewhere", group="rg-legacy"),
    ]
    members, skipped = assign(FLEET, fleet_spec, vaults, {})
    assert {member.vault.name: member.wave.name for member in members} == {
        "rsv-canary": "canary",
        "RSV-Prod": "production",
    }
    assert skipped == []


def test_a_vault_with_a_hand_written_policy_is_skipped_and_one_matching_no_wave_too():
    fleet_spec = spec(waves=[{"name": "canary", "vaultSelector": {"tags": {"ring": "0"}}}])
    handmade, unwaved = vault("rsv-handmade", ring="0"), vault("rsv-untagged")
    owners = {f"{SUB_A}/rg-asr-weu/rsv-handmade": [("2026-01-01T00:00:00Z", "team/handmade")]}
    members, skipped = assign(FLEET, fleet_spec, [handmade, unwaved], owners)
    assert members == []
    assert [(entry["reason"], entry["message"]) for entry in skipped] == [
        ("ManagedByPolicy", "managed by policy team/handmade"),
        ("NoWave", "matches no wave's vaultSelector"),
    ]


def test_the_fleets_own_child_is_not_a_hand_written_owner():
    target = vault("rsv-canary", ring="0")
    owners = {f"{SUB_A}/rg-asr-weu/rsv-canary": [("2026-01-01T00:00:00Z", f"ns/{child_name('contoso', target)}")]}
    members, skipped = assign(FLEET, spec(), [target], owners)
    assert [member.vault.name for member in members] == ["rsv-canary"] and skipped == []


def test_child_names_are_stable_dns_labels_unique_per_vault():
    long = vault("rsv-" + "x" * 60)
    name = child_name("contoso", long)
    assert len(name) <= 63 and name == child_name("contoso", long) and name.startswith("contoso-rsv-x")
    assert child_name("contoso", vault("rsv-a", group="g1")) != child_name("contoso", vault("rsv-a", group="g2"))
    assert child_name("Fleet", vault("RSV_Under")).startswith("fleet-rsv-under-")


def test_child_state_reads_what_the_policy_reports():
    meta = {
        "name": "contoso-rsv-1",
        "generation": 2,
        "labels": {"asr.autoupdate.dev/fleet": "contoso", "asr.autoupdate.dev/wave": "canary"},
        "annotations": {SPEC_HASH_ANNOTATION: "abc"},
    }
    status = {
        "observedGeneration": 2,
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "MappingsConfigured", "status": "False", "reason": "MappingHealthError"},
        ],
        "agents": {"updateRequired": 2, "upgradeInProgress": 1, "versions": [{"version": "9.1", "count": 3}]},
        "jobs": {"lastRun": {"status": "Failed", "startTime": "2026-12-01T02:00:00Z"}},
    }
    state = child_state(meta, {"vault": {"subscriptionId": SUB_A, "resourceGroup": "RG", "name": "V"}}, status)
    assert state is not None
    assert (state.wave, state.agents_behind, state.versions, state.health_error) == ("canary", 3, ("9.1",), True)
    assert state.failed and not state.settled and state.vault_id == f"{SUB_A}/rg/v"
    assert child_state({"name": "x", "labels": {}}, {}, {}) is None
    critical = child_state(
        meta, {}, {"agents": {"replicationCritical": 1}, "conditions": [{"type": "Ready", "status": "True"}]}
    )
    assert critical is not None and critical.health_error and critical.failed


# --- the gate ------------------------------------------------------------------------------------------------


def rows(decision) -> dict[str, dict]:
    return {row["name"]: row for row in decision.waves}


def test_a_settled_canary_soaks_and_production_waits_for_the_soak():
    decision = gate(spec(), CURRENT, [], NOW, None)
    assert decision.open == {"canary": True, "production": False}
    canary, production = rows(decision)["canary"], rows(decision)["production"]
    assert (canary["phase"], production["phase"]) == ("Soaking", "Waiting")
    assert canary["settledSince"] == stamp(NOW) and canary["agentVersion"] == "9.63.7187.1"
    assert f"soak until {stamp(NOW + timedelta(days=3))}" in production["message"]
    assert decision.events == []


def test_production_opens_once_the_canary_has_been_settled_for_the_soak():
    previous = [{"name": "canary", "phase": "Soaking", "settledSince": stamp(NOW - timedelta(days=3))}]
    decision = gate(spec(), CURRENT, previous, NOW, None)
    assert decision.open == {"canary": True, "production": True}
    assert [row["phase"] for row in decision.waves] == ["Open", "Open"]
    just_short = gate(
        spec(),
        CURRENT,
        [{**previous[0], "settledSince": stamp(NOW - timedelta(days=3) + timedelta(seconds=1))}],
        NOW,
        None,
    )
    assert just_short.open["production"] is False


@pytest.mark.parametrize(
    ("canary", "phase", "message"),
    [
        (child("c1", "canary", agents_behind=2), "Waiting", "to settle (2 agents behind there)"),
        (child("c1", "canary", ready=False), "Waiting", "to settle"),
        (child("c1", "canary", generation=2), "Waiting", "to settle"),
        (child("c1", "canary", last_run_status="Failed"), "Held", "held after a failure in wave canary"),
        (child("c1", "canary", health_error=True), "Held", "held after a failure"),
    ],
)
def test_an_unsettled_canary_closes_production(canary, phase, message):
    previous = [{"name": "canary", "phase": "Open", "settledSince": stamp(NOW - timedelta(days=30))}]
    decision = gate(spec(), {**CURRENT, "canary": [canary]}, previous, NOW, None)
    production = rows(decision)["production"]
    assert decision.open["production"] is False
    assert (production["phase"], message in production["message"]) == (phase, True), production
    assert "settledSince" not in rows(decision)["canary"]
    assert [event.reason for event in decision.events] == (["WaveHeld"] if phase == "Held" else [])


def test_a_hold_sticks_until_released_and_the_release_opens_the_wave():
    held = [
        {"name": "canary", "phase": "Open"},
        {"name": "production", "phase": "Held", "since": stamp(NOW - timedelta(days=1))},
    ]
    recovered = {**CURRENT, "canary": [child("c1", "canary")]}  # the canary is fine again, production still held
    decision = gate(spec(), recovered, held, NOW, None)
    assert rows(decision)["production"]["phase"] == "Held" and decision.events == []
    assert rows(decision)["production"]["since"] == held[1]["since"]

    failing = {
        **CURRENT,
        "canary": [child("c1", "canary", last_run_status="Failed", last_run_start=NOW - timedelta(hours=2))],
    }
    released = gate(spec(), failing, held, NOW, "production")
    assert released.open["production"] is True and rows(released)["production"]["releasedAt"] == stamp(NOW)
    assert released.last_release == {"wave": "production", "time": stamp(NOW), "result": "Released"}
    assert [event.reason for event in released.events] == ["WaveReleased"]
    # the failure the person saw does not hold it again; a later one does
    later = gate(spec(), failing, released.waves, NOW + timedelta(hours=1), None)
    assert later.open["production"] is True and later.events == []
    again = {
        **CURRENT,
        "canary": [child("c1", "canary", last_run_status="Failed", last_run_start=NOW + timedelta(hours=2))],
    }
    held_again = gate(spec(), again, later.waves, NOW + timedelta(hours=3), None)
    assert rows(held_again)["production"]["phase"] == "Held"
    assert [event.reason for event in held_again.events] == ["WaveHeld"]


def test_an_unknown_or_needless_release_is_reported_and_changes_nothing():
    unknown = gate(spec(), CURRENT, [], NOW, "nope")
    assert unknown.last_release == {"wave": "nope", "time": stamp(NOW), "result": "UnknownWave"}
    [event] = unknown.events
    assert (event.type, event.reason) == ("Warning", "UnknownWave") and "canary, production" in event.message
    assert unknown.open["production"] is False
    opened = [
        {"name": "canary", "settledSince": stamp(NOW - timedelta(days=5))},
        {"name": "production", "phase": "Open"},
    ]
    needless = gate(spec(), CURRENT, opened, NOW, "production")
    assert needless.last_release["result"] == "NotHeld" and needless.events == []


def test_a_third_wave_waits_for_the_second_to_open_and_an_empty_wave_passes_through():
    three = spec(waves=[*WAVES, {"name": "last", "gate": {"soakDays": 0}}])
    decision = gate(three, {**CURRENT, "last": [child("l1", "last")]}, [], NOW, None)
    assert decision.open == {"canary": True, "production": False, "last": False}
    assert rows(decision)["last"]["message"] == "waits for wave production to open"
    empty = gate(spec(), {"production": CURRENT["production"]}, [], NOW, None)
    assert rows(empty)["canary"]["vaults"] == 0 and rows(empty)["canary"]["settledSince"] == stamp(NOW)


# --- a whole pass --------------------------------------------------------------------------------------------


class FakeStore:
    def __init__(self, failing: bool = False):
        self.created: list[dict] = []
        self.replaced: list[tuple[str, dict]] = []
        self.deleted: list[str] = []
        self.failing = failing

    async def create(self, namespace, body):
        if self.failing:
            raise ChildWriteFailed("creating policy x: HTTP 403 Forbidden")
        self.created.append(body)

    async def replace(self, namespace, name, body):
        self.replaced.append((name, body))

    async def delete(self, namespace, name):
        self.deleted.append(name)


def azure_with(*vaults: port.DiscoveredVault) -> FakeAzure:
    azure = FakeAzure(NOW)
    for found in vaults:
        ref = port.VaultRef(found.subscription_id, found.resource_group, found.name)
        azure.add_vault(ref, found.location, found.tags)
    return azure


def fleet_input(raw_spec: dict, **fields) -> FleetInput:
    return FleetInput(**{**FLEET.__dict__, "spec": raw_spec, **fields})


RAW = {"subscriptions": [SUB_A, SUB_B], "template": TEMPLATE, "waves": WAVES}


def run(azure, store, fleet, children=(), discovery=None, owners=None):
    return asyncio.run(
        reconcile_fleet(azure, store, fleet, list(children), owners or {}, now=NOW, azure_now=NOW, discovery=discovery)
    )


def as_child(body: dict, **fields) -> ChildState:
    state = child_state(
        body["metadata"], body["spec"], {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}
    )
    assert state is not None
    return ChildState(**{**state.__dict__, "generation": 1, **fields})


def test_a_first_pass_creates_one_child_per_vault_with_the_gate_in_its_spec():
    azure = azure_with(vault("rsv-canary", ring="0"), vault("rsv-prod", subscription=SUB_B))
    store = FakeStore()
    outcome = run(azure, store, fleet_input(RAW))
    assert azure.calls == ["list_vaults", "list_vaults"]
    by_vault = {body["spec"]["vault"]["name"]: body for body in store.created}
    assert by_vault["rsv-canary"]["spec"]["updatesPaused"] is False
    assert by_vault["rsv-prod"]["spec"]["updatesPaused"] is True  # production waits for the canary
    assert by_vault["rsv-prod"]["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert [event.reason for event in outcome.events] == ["PolicyCreated", "PolicyCreated"]
    assert outcome.status["totals"] == {"vaults": 2, "ready": 0, "agentsBehind": 0}
    assert outcome.status["conditions"][0]["reason"] == "Progressing"
    assert outcome.discovery is not None and len(outcome.discovery.vaults) == 2


def test_a_later_pass_rewrites_only_what_changed_and_deletes_what_no_vault_wants():
    canary = vault("rsv-canary", ring="0")
    azure = azure_with(canary)
    store = FakeStore()
    run(azure, store, fleet_input(RAW))
    [body] = store.created
    existing = [as_child(body), child("contoso-gone-12345678", "production")]
    discovery = Discovery((canary,), NOW, generation=1)
    again = FakeStore()
    outcome = run(azure, again, fleet_input(RAW), existing, discovery)
    assert azure.calls == ["list_vaults", "list_vaults"]  # discovery not due: no Azure call
    assert again.created == [] and again.replaced == [] and again.deleted == ["contoso-gone-12345678"]
    assert [event.reason for event in outcome.events] == ["PolicyDeleted"]
    changed = fleet_input({**RAW, "template": {**TEMPLATE, "deletionPolicy": "Delete"}}, generation=2)
    rewrite = FakeStore()
    run(azure, rewrite, changed, existing[:1], discovery)
    assert [name for name, _ in rewrite.replaced] == [body["metadata"]["name"]]
    assert rewrite.replaced[0][1]["spec"]["deletionPolicy"] == "Delete"


def test_discovery_that_fails_keeps_the_vaults_found_before_and_says_why():
    canary = vault("rsv-canary", ring="0")
    azure = azure_with(canary)
    azure.fail("list_vaults", classify(503, "ServiceUnavailable", "try later", retry_after=20))
    stale = Discovery((canary,), NOW - timedelta(hours=2), generation=1)
    outcome = run(azure, FakeStore(), fleet_input(RAW), discovery=stale)
    assert outcome.discovery is stale and outcome.retry is not None and outcome.retry.delay == 20
    ready = outcome.status["conditions"][0]
    assert ready["reason"] == "AzureUnavailable" and "stay managed" in ready["message"]
    first = azure_with(canary)
    first.fail("list_vaults", classify(403, "AuthorizationFailed", "no"))
    blocked = run(first, FakeStore(), fleet_input(RAW))
    assert blocked.status["conditions"][2]["status"] == "True" and "waves" not in blocked.status


def test_an_invalid_fleet_stalls_and_a_refused_write_is_reported():
    outcome = run(azure_with(), FakeStore(), fleet_input({"subscriptions": [SUB_A], "template": {}}))
    assert [c["reason"] for c in outcome.status["conditions"]] == ["InvalidSpec"] * 3
    refused = run(azure_with(vault("rsv-canary", ring="0")), FakeStore(failing=True), fleet_input(RAW))
    assert refused.status["conditions"][0]["reason"] == "PolicyWriteFailed"
    assert "HTTP 403" in refused.status["conditions"][0]["message"]


@pytest.mark.parametrize(
    "reason, statuses",
    [
        (Reason.INTERNAL_ERROR, ("Unknown", "True", "False")),  # docs/reasons.md: Ready=Unknown, as for a policy
        (Reason.CREDENTIALS_SECRET_INVALID, ("False", "False", "True")),
        (Reason.CREDENTIALS_SECRET_UNREADABLE, ("False", "True", "False")),
    ],
)
def test_a_blocked_fleet_reads_as_a_blocked_policy_would(reason, statuses):
    outcome = fleet_blocked(fleet_input(RAW), NOW, reason, "The pass could not start.")
    conditions = outcome.status["conditions"]
    assert [c["type"] for c in conditions] == ["Ready", "Reconciling", "Stalled"]
    assert tuple(c["status"] for c in conditions) == statuses
    assert {c["reason"] for c in conditions} == {str(reason)}
