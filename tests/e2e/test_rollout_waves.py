"""MobilityUpdateFleet end to end: vaults discovered over two subscriptions, one child policy each, and waves
whose gate holds production until the canary has run a new agent version for its soak, on Azure's clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from asr_sandbox.azure.state.default_estate import LATEST, a2a_vault
from tests.e2e.kit import (
    GROUP,
    PLURAL,
    VERSION,
    a2a_mappings,
    condition,
    events_for,
    policy,
    pretty,
    wait_event,
)
from tests.e2e.kit import fleet as fleet_manifest
from tests.support import wait_for

FLEETS = "mobilityupdatefleets"
FLEET_LABEL = f"{GROUP}/fleet"
WAVE_LABEL = f"{GROUP}/wave"
RELEASE = f"{GROUP}/release-wave"
NEXT_AGENT = "9.64.7300.1"
AFTER_THAT = "9.65.7400.1"


def seeded_vault(subscription: str, name: str, *, location: str, source: str, **tags: str) -> dict:
    items = [
        {"friendlyName": f"{name}-vm-{index}", "agentVersion": LATEST, "agentExpiresInDays": 300} for index in (1, 2)
    ]
    return a2a_vault(subscription, "rg-fleet-" + location, name, location, source, items, tags=tags)


def seed(admin, *vaults: dict) -> None:
    admin.post("seed", {"vaults": list(vaults)})


def subscriptions(admin) -> list[str]:
    return [subscription["subscriptionId"] for subscription in admin.state()["subscriptions"]]


def fleet(name: str, namespace: str, subs: list[str], **spec) -> dict:
    template = spec.pop("template", {"updateMode": "Automatic", "schedule": {"time": "04:00", "timeZone": "UTC"}})
    return fleet_manifest(
        name, namespace, subs, spec.pop("vaultSelector", {"resourceGroups": ["rg-fleet-*"]}), template, **spec
    )


WAVES = [
    {"name": "canary", "vaultSelector": {"tags": {"ring": "0"}}, "schedule": {"time": "02:00", "timeZone": "UTC"}},
    {"name": "production", "gate": {"soakDays": 3}},
]


def get_fleet(custom, namespace: str, name: str) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, FLEETS, name)


def children(custom, namespace: str, name: str) -> dict[str, dict]:
    found = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, label_selector=f"{FLEET_LABEL}={name}"
    )["items"]
    return {child["spec"]["vault"]["name"]: child for child in found}


def wave(body: dict, name: str) -> dict:
    return next((row for row in (body.get("status") or {}).get("waves") or [] if row["name"] == name), {})


def wait_fleet(custom, namespace: str, name: str, check, *, timeout: float = 90, what: str = ""):
    last = {}

    def probe():
        nonlocal last
        last = get_fleet(custom, namespace, name)
        return last if check(last) else None

    try:
        return wait_for(probe, timeout=timeout, what=what or f"fleet {name}")
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{pretty(last.get('status'))}") from None


def ready_children(custom, namespace: str, name: str, count: int) -> bool:
    found = children(custom, namespace, name)
    return len(found) == count and all(
        condition(child, "Ready").get("status") == "True"
        and child["status"].get("observedGeneration") == child["metadata"]["generation"]
        for child in found.values()
    )


def move_clock_to_noon(admin, days: int) -> None:
    """Land at 12:00 UTC `days` later: far from every schedule here (02:00 and 04:00 UTC)."""

    now = datetime.fromisoformat(admin.get("clock")["now"].replace("Z", "+00:00"))
    noon = (now + timedelta(days=days)).replace(hour=12, minute=0, second=0, microsecond=0)
    admin.post("clock", {"to": noon.strftime("%Y-%m-%dT%H:%M:%SZ")})


def agents_of(admin, vault_name: str) -> list[str]:
    [vault] = [v for v in admin.state()["vaults"] if v["name"] == vault_name]
    return [item["properties"]["providerSpecificDetails"]["agentVersion"] for item in vault["protectedItems"]]


def update_statuses(arm, vault: dict) -> set[str]:
    return {m.properties.provider_specific_details.agent_auto_update_status for m in a2a_mappings(arm, vault)}


def paused(child: dict) -> bool:
    return child["spec"].get("updatesPaused") is True


def test_a_fleet_discovers_vaults_over_two_subscriptions_and_follows_them(
    namespace, kubectl, custom, core, admin, arm, start_operator
):
    sub_a, sub_b = subscriptions(admin)
    seed(
        admin,
        seeded_vault(sub_a, "rsv-fleet-weu", location="westeurope", source="northeurope", ring="0"),
        seeded_vault(sub_b, "rsv-fleet-sea", location="southeastasia", source="eastasia"),
    )
    # a vault someone already manages by hand stays theirs
    seed(admin, seeded_vault(sub_a, "rsv-fleet-handmade", location="westeurope", source="northeurope"))
    kubectl.apply(
        policy(
            "handmade",
            namespace,
            {"subscriptionId": sub_a, "resourceGroup": "rg-fleet-westeurope", "name": "rsv-fleet-handmade"},
        )
    )
    start_operator("--drift-interval-override", "1", "--fleet-tick", "1", "--discovery-interval-override", "2")
    kubectl.apply(
        fleet("contoso", namespace, [sub_a, sub_b], template={"updateMode": "Automatic", "deletionPolicy": "Disable"})
    )

    body = wait_fleet(
        custom,
        namespace,
        "contoso",
        lambda b: (
            condition(b, "Ready").get("reason") == "Converged" and ready_children(custom, namespace, "contoso", 2)
        ),
        what="the fleet Ready over its two vaults",
    )
    status = body["status"]
    assert status["totals"] == {"vaults": 2, "ready": 2, "agentsBehind": 0}, pretty(status)
    assert status["vaults"]["managed"] == 2 and status["vaults"]["discovered"] >= 6, pretty(status)
    [skipped] = status["vaults"]["skipped"]
    assert skipped["reason"] == "ManagedByPolicy" and skipped["vault"].endswith("/rsv-fleet-handmade"), skipped
    assert f"{namespace}/handmade" in skipped["message"]
    found = children(custom, namespace, "contoso")
    assert set(found) == {"rsv-fleet-weu", "rsv-fleet-sea"}
    child = found["rsv-fleet-sea"]
    assert child["metadata"]["labels"] == {FLEET_LABEL: "contoso", WAVE_LABEL: "all"}
    assert child["metadata"]["ownerReferences"][0]["kind"] == "MobilityUpdateFleet"
    assert child["metadata"]["name"].startswith("contoso-rsv-fleet-sea-")
    assert child["spec"]["deletionPolicy"] == "Disable" and child["spec"]["vault"]["subscriptionId"] == sub_b
    assert not [e for e in events_for(core, namespace, "handmade") if e.reason == "PolicyConflict"]

    # a vault created later joins at the next discovery
    seed(admin, seeded_vault(sub_b, "rsv-fleet-later", location="southeastasia", source="eastasia"))
    wait_fleet(
        custom,
        namespace,
        "contoso",
        lambda b: (b.get("status") or {}).get("totals", {}).get("ready") == 3,
        what="the later vault managed and Ready",
    )
    wait_event(core, namespace, "contoso", "PolicyCreated", message="rsv-fleet-later")

    # a template change flows to every child
    kubectl.apply(
        fleet(
            "contoso",
            namespace,
            [sub_a, sub_b],
            template={"updateMode": "Automatic", "deletionPolicy": "Disable", "driftCheckIntervalSeconds": 600},
        )
    )
    wait_for(
        lambda: all(
            c["spec"].get("driftCheckIntervalSeconds") == 600 for c in children(custom, namespace, "contoso").values()
        ),
        timeout=30,
        what="the template's change in every child",
    )

    # a vault that stops matching loses its child, and the child's deletionPolicy (Disable) applies in Azure
    later = {"subscriptionId": sub_b, "resourceGroup": "rg-fleet-southeastasia", "name": "rsv-fleet-later"}
    narrowed = fleet(
        "contoso",
        namespace,
        [sub_a, sub_b],
        template={"updateMode": "Automatic", "deletionPolicy": "Disable", "driftCheckIntervalSeconds": 600},
    )
    narrowed["spec"]["vaultSelector"]["names"] = ["rsv-fleet-weu", "rsv-fleet-sea", "rsv-fleet-handmade"]
    kubectl.apply(narrowed)
    wait_for(
        lambda: set(children(custom, namespace, "contoso")) == {"rsv-fleet-weu", "rsv-fleet-sea"},
        timeout=60,
        what="the child of the vault that stopped matching gone",
    )
    wait_event(core, namespace, "contoso", "PolicyDeleted", message="rsv-fleet-later")
    wait_for(lambda: update_statuses(arm, later) == {"Disabled"}, timeout=30, what="its mappings set back to Manual")

    # deleting the fleet deletes its children, and their deletionPolicy (Disable) applies in Azure
    weu = {"subscriptionId": sub_a, "resourceGroup": "rg-fleet-westeurope", "name": "rsv-fleet-weu"}
    assert {m.properties.provider_specific_details.agent_auto_update_status for m in a2a_mappings(arm, weu)} == {
        "Enabled"
    }
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, FLEETS, "contoso")
    wait_for(lambda: not children(custom, namespace, "contoso"), timeout=60, what="every child gone")
    wait_for(lambda: update_statuses(arm, weu) == {"Disabled"}, timeout=30, what="the mappings set back to Manual")
    # the hand-written policy was never the fleet's: not labelled, not deleted, its vault still Enabled
    handmade = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "handmade")
    assert FLEET_LABEL not in (handmade["metadata"].get("labels") or {}) and handmade["spec"]["updatesPaused"] is False
    assert update_statuses(arm, {**weu, "name": "rsv-fleet-handmade"}) == {"Enabled"}


def test_production_waits_for_the_canary_to_soak_and_a_failure_holds_it_until_released(
    namespace, kubectl, custom, core, admin, start_operator
):
    sub_a, sub_b = subscriptions(admin)
    seed(
        admin,
        seeded_vault(sub_a, "rsv-canary", location="westeurope", source="northeurope", ring="0"),
        seeded_vault(sub_a, "rsv-prod-weu", location="westeurope", source="northeurope"),
        seeded_vault(sub_b, "rsv-prod-sea", location="southeastasia", source="eastasia"),
    )
    start_operator("--drift-interval-override", "1", "--fleet-tick", "1")
    kubectl.apply(fleet("rings", namespace, [sub_a, sub_b], waves=WAVES))

    def production_is(phase: str):
        def check(body: dict) -> bool:
            row = wave(body, "production")
            kids = children(custom, namespace, "rings")
            want_paused = phase != "Open"
            return (
                row.get("phase") == phase
                and (body.get("status") or {}).get("totals", {}).get("ready") == 3  # the fleet saw them Ready
                and len(kids) == 3
                and all(paused(kids[n]) == want_paused for n in ("rsv-prod-weu", "rsv-prod-sea"))
                and ready_children(custom, namespace, "rings", 3)
            )

        return check

    # every agent is current: the canary soaks, production waits for the soak
    body = wait_fleet(custom, namespace, "rings", production_is("Waiting"), what="production waiting on the soak")
    assert wave(body, "canary")["phase"] == "Soaking", pretty(body["status"])
    assert "soak until" in wave(body, "production")["message"]
    assert not paused(children(custom, namespace, "rings")["rsv-canary"])
    assert "Soaking" in kubectl("get", "mupf", "rings", "-n", namespace).stdout

    move_clock_to_noon(admin, 4)
    wait_fleet(custom, namespace, "rings", production_is("Open"), what="production open after the soak")

    # Microsoft publishes a new agent: the canary falls behind, production closes at once
    admin.post("config", {"latestAgentVersion": NEXT_AGENT})
    wait_fleet(custom, namespace, "rings", production_is("Waiting"), what="production closed by the new version")
    move_clock_to_noon(admin, 1)  # the canary's 02:00 run updates it; production's 04:00 schedules are paused
    body = wait_fleet(
        custom,
        namespace,
        "rings",
        lambda b: wave(b, "canary").get("phase") == "Soaking" and wave(b, "canary").get("agentVersion") == NEXT_AGENT,
        what="the canary updated and soaking",
    )
    assert set(agents_of(admin, "rsv-canary")) == {NEXT_AGENT}
    assert NEXT_AGENT not in agents_of(admin, "rsv-prod-weu") + agents_of(admin, "rsv-prod-sea")
    assert wave(body, "production")["phase"] == "Waiting"

    # after the soak production opens and updates on its own schedule
    move_clock_to_noon(admin, 3)
    wait_fleet(custom, namespace, "rings", production_is("Open"), what="production open after the canary soaked")
    move_clock_to_noon(admin, 1)
    wait_for(
        lambda: set(agents_of(admin, "rsv-prod-weu") + agents_of(admin, "rsv-prod-sea")) == {NEXT_AGENT},
        timeout=30,
        what="production on the new agent",
    )

    # the next version fails on the canary: production is held, a person releases it
    before = {event.metadata.uid for event in events_for(core, namespace, "rings")}
    canary_id = next(v["id"] for v in admin.state()["vaults"] if v["name"] == "rsv-canary")
    admin.fail_update_jobs(canary_id)
    admin.post("config", {"latestAgentVersion": AFTER_THAT})
    wait_fleet(custom, namespace, "rings", production_is("Waiting"), what="production closed by the next version")
    move_clock_to_noon(admin, 1)
    body = wait_fleet(custom, namespace, "rings", production_is("Held"), what="production held by the failure")
    assert (condition(body, "Stalled")["status"], condition(body, "Stalled")["reason"]) == ("True", "WaveHeld")
    assert condition(body, "Ready")["status"] == "False"
    event = wait_event(core, namespace, "rings", "WaveHeld", since=before)
    assert event.type == "Warning" and "rsv-canary" in event.message and RELEASE in event.message

    move_clock_to_noon(admin, 4)  # held is held, however long
    body = wait_fleet(custom, namespace, "rings", production_is("Held"), what="production still held")
    assert AFTER_THAT not in agents_of(admin, "rsv-prod-weu")

    kubectl("annotate", "mupf", "rings", "-n", namespace, f"{RELEASE}=nope", "--overwrite")
    body = wait_fleet(
        custom, namespace, "rings", lambda b: (b["status"].get("lastRelease") or {}).get("wave") == "nope"
    )
    assert body["status"]["lastRelease"]["result"] == "UnknownWave"
    assert wave(body, "production")["phase"] == "Held"
    unknown = wait_event(core, namespace, "rings", "UnknownWave", since=before)
    assert unknown.type == "Warning" and "canary, production" in unknown.message

    kubectl("annotate", "mupf", "rings", "-n", namespace, f"{RELEASE}=production", "--overwrite")
    body = wait_fleet(custom, namespace, "rings", production_is("Open"), what="production open once released")
    assert body["status"]["lastRelease"]["wave"] == "production"
    assert body["status"]["lastRelease"]["result"] == "Released"
    assert RELEASE not in (body["metadata"].get("annotations") or {})
    wait_event(core, namespace, "rings", "WaveReleased", since=before)
    move_clock_to_noon(admin, 1)
    wait_for(
        lambda: set(agents_of(admin, "rsv-prod-weu") + agents_of(admin, "rsv-prod-sea")) == {AFTER_THAT},
        timeout=30,
        what="production on the released version",
    )
