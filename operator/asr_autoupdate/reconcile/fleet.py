"""A fleet's pass: discover vaults, keep one child policy per vault in its wave, and gate the waves.

Like the policy's reconcile, it is a pure core with the I/O at the edge: Azure is read through `AzurePort`
(the vault lists of the fleet's subscriptions), children are written through `ChildStore` (the handler layer
implements it over the Kubernetes API), and what the children report is handed in as `ChildState`s (kopf's
index of them, so a fleet tick reads no Kubernetes list). Nothing here imports kopf or the Azure SDK.

The gate, in one rule: the first wave is always open; every later wave is open only while the wave before it
is open and *settled* (every vault Ready, no agent behind, no failed last update job, no mapping health
error) and has been settled for the wave's `soakDays` on Azure's clock, or a person released it. When
Microsoft publishes a new agent version the first wave's agents fall behind, so it is no longer settled and
every later wave closes (its children get `updatesPaused: true`); the first wave updates on its schedule,
settles, soaks, and the next wave opens. A failed job or a health error in an open wave *holds* the next
wave: that sticks, with a Warning Event, until the release annotation names the held wave.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from asr_autoupdate.api import GROUP, KIND, VERSION
from asr_autoupdate.api.conditions import ConditionType, Status, condition, timestamp
from asr_autoupdate.api.fleet import FLEET_KIND, FLEET_LABEL, WAVE_LABEL, FleetSpec, Wave, parse_fleet
from asr_autoupdate.api.reasons import Reason, RetryKind, message
from asr_autoupdate.api.spec import InvalidSpec, vault_key
from asr_autoupdate.azure.errors import AzureError
from asr_autoupdate.azure.port import AzurePort, DiscoveredVault
from asr_autoupdate.azure.wire import parse_time
from asr_autoupdate.reconcile.model import Event, Retry
from asr_autoupdate.reconcile.report import summary_statuses

SPEC_HASH_ANNOTATION = f"{GROUP}/fleet-spec-hash"
NAME_LIMIT = 63
SKIPPED_SHOWN = 50  # status lists at most this many skipped vaults (the count is always whole)
FAILED_JOB_STATES = frozenset({"Failed", "Suspended", "Stopped"})


class Phase:
    OPEN = "Open"
    SOAKING = "Soaking"
    HELD = "Held"
    WAITING = "Waiting"


class Skip:
    MANAGED_BY_POLICY = "ManagedByPolicy"
    NO_WAVE = "NoWave"


@dataclasses.dataclass(frozen=True)
class FleetInput:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    release: str | None  # the release annotation's value, if set


@dataclasses.dataclass(frozen=True)
class ChildState:
    """One child policy as the fleet needs to know it: what it asks for and what it reports."""

    name: str
    wave: str
    vault_id: str
    spec: Mapping[str, Any]
    spec_hash: str | None
    generation: int
    observed_generation: int
    ready: bool
    agents_behind: int
    versions: tuple[str, ...]
    last_run_status: str | None
    last_run_start: datetime | None
    health_error: bool  # a mapping health error, or a protected item whose replication health is Critical

    @property
    def failed(self) -> bool:
        return self.last_run_status in FAILED_JOB_STATES or self.health_error

    @property
    def settled(self) -> bool:
        """Current and quiet: what a wave must be, vault by vault, before the next one may open."""
        return (
            self.ready and self.observed_generation >= self.generation and self.agents_behind == 0 and not self.failed
        )


@dataclasses.dataclass(frozen=True)
class Discovery:
    """The vaults the last discovery found, when, and for which generation of the fleet's spec."""

    vaults: tuple[DiscoveredVault, ...]
    time: datetime
    generation: int


class ChildWriteFailed(Exception):
    """The Kubernetes API refused a write of a child policy; the message is one line without the API's body."""


class ChildStore(Protocol):
    """Writes of child policies (the handler layer's, over the Kubernetes API); each is idempotent."""

    async def create(self, namespace: str, body: Mapping[str, Any]) -> None: ...

    async def replace(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        """Set the child's spec, labels and spec-hash annotation to the body's."""
        ...

    async def delete(self, namespace: str, name: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class FleetOutcome:
    status: dict[str, Any]
    events: tuple[Event, ...] = ()
    discovery: Discovery | None = None
    release_consumed: bool = False
    retry: Retry | None = None


# --- reading children ---------------------------------------------------------------------------------------


def child_state(meta: Mapping[str, Any], spec: Mapping[str, Any], status: Mapping[str, Any]) -> ChildState | None:
    """A child policy's labels, spec and status as a `ChildState`; None for a policy that is no fleet's child."""
    labels = meta.get("labels") or {}
    if FLEET_LABEL not in labels:
        return None
    conditions = {entry.get("type"): entry for entry in status.get("conditions") or [] if isinstance(entry, Mapping)}
    ready = conditions.get(ConditionType.READY) or {}
    mappings = conditions.get(ConditionType.MAPPINGS_CONFIGURED) or {}
    agents = status.get("agents") or {}
    last_run = (status.get("jobs") or {}).get("lastRun") or {}
    return ChildState(
        name=str(meta.get("name") or ""),
        wave=str(labels.get(WAVE_LABEL) or ""),
        vault_id=vault_key(spec) or "",
        spec=spec,
        spec_hash=(meta.get("annotations") or {}).get(SPEC_HASH_ANNOTATION),
        generation=int(meta.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        ready=ready.get("status") == Status.TRUE,
        agents_behind=int(agents.get("updateRequired") or 0) + int(agents.get("upgradeInProgress") or 0),
        versions=tuple(str(entry.get("version")) for entry in agents.get("versions") or [] if entry.get("version")),
        last_run_status=last_run.get("status"),
        last_run_start=parse_time(last_run.get("startTime")),
        health_error=mappings.get("reason") == Reason.MAPPING_HEALTH_ERROR
        or int(agents.get("replicationCritical") or 0) > 0,
    )


# --- discovery and waves ------------------------------------------------------------------------------------


def discovery_due(
    discovery: Discovery | None, fleet: FleetInput, spec: FleetSpec, now: datetime, override: float | None = None
) -> bool:
    """Discover on the first pass, after a spec change, and every discoveryIntervalSeconds (or `override`)."""
    if discovery is None or discovery.generation != fleet.generation:
        return True
    return now - discovery.time >= timedelta(seconds=override or spec.discovery_interval_seconds)


async def discover(azure: AzurePort, spec: FleetSpec, now: datetime, generation: int) -> Discovery:
    """Every vault of the fleet's subscriptions, one list (with its pages) per subscription."""
    found: list[DiscoveredVault] = []
    for subscription in spec.subscriptions:
        found.extend(await azure.list_vaults(subscription))
    return Discovery(tuple(found), now, generation)


@dataclasses.dataclass(frozen=True)
class Member:
    vault: DiscoveredVault
    wave: Wave
    child: str  # the child policy's name


def assign(
    fleet: FleetInput,
    spec: FleetSpec,
    vaults: Sequence[DiscoveredVault],
    owners: Mapping[str, Sequence[tuple[str, str]]],
) -> tuple[list[Member], list[dict[str, str]]]:
    """The vaults the fleet manages, each in the first wave it matches, and the ones it leaves (and why).

    `owners` maps a vault's key to the (creationTimestamp, "<namespace>/<name>") of every policy for it: a
    vault whose oldest policy is not this fleet's child is left to that policy, as a person wrote it.
    """
    members: list[Member] = []
    skipped: list[dict[str, str]] = []
    for vault in sorted(vaults, key=lambda vault: vault.id.lower()):
        if not spec.selector.matches(resource_group=vault.resource_group, name=vault.name, tags=vault.tags):
            continue
        child = child_name(fleet.name, vault)
        others = sorted(owners.get(vault_key({"vault": _spec_vault(vault)}) or "", ()))
        if others and others[0][1] != f"{fleet.namespace}/{child}":
            skipped.append(
                {"vault": vault.id, "reason": Skip.MANAGED_BY_POLICY, "message": f"managed by policy {others[0][1]}"}
            )
            continue
        wave = next(
            (
                w
                for w in spec.waves
                if w.selector.matches(resource_group=vault.resource_group, name=vault.name, tags=vault.tags)
            ),
            None,
        )
        if wave is None:
            skipped.append({"vault": vault.id, "reason": Skip.NO_WAVE, "message": "matches no wave's vaultSelector"})
            continue
        members.append(Member(vault, wave, child))
    return members, skipped


def child_name(fleet: str, vault: DiscoveredVault) -> str:
    """`<fleet>-<vault>-<8 hex of the vault id>`, a DNS label: stable for the vault, unique across groups."""
    digest = hashlib.sha256(vault.id.lower().encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9-]+", "-", f"{fleet}-{vault.name}".lower()).strip("-")
    stem = re.sub(r"-{2,}", "-", stem)[: NAME_LIMIT - len(digest) - 1].rstrip("-")
    return f"{stem}-{digest}"


def child_body(fleet: FleetInput, spec: FleetSpec, member: Member, paused: bool) -> dict[str, Any]:
    """The child policy the fleet wants for one vault: the template, the vault, the wave's schedule, the gate."""
    child_spec: dict[str, Any] = {
        **json.loads(json.dumps(spec.template)),
        "vault": _spec_vault(member.vault),
    }
    if member.wave.schedule is not None:
        child_spec["schedule"] = dict(member.wave.schedule)
    child_spec["updatesPaused"] = paused or spec.paused
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": member.child,
            "namespace": fleet.namespace,
            "labels": {FLEET_LABEL: fleet.name, WAVE_LABEL: member.wave.name},
            "annotations": {SPEC_HASH_ANNOTATION: spec_hash(child_spec)},
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": FLEET_KIND,
                    "name": fleet.name,
                    "uid": fleet.uid,
                    "controller": True,
                }
            ],
        },
        "spec": child_spec,
    }


def spec_hash(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def needs_rewrite(child: ChildState, body: Mapping[str, Any]) -> bool:
    """The fleet's own change (the hash) or a hand edit of a field the fleet sets, or a wave move."""
    wanted = body["spec"]
    if child.spec_hash != body["metadata"]["annotations"][SPEC_HASH_ANNOTATION]:
        return True
    if child.wave != body["metadata"]["labels"][WAVE_LABEL]:
        return True
    return any(child.spec.get(key) != value for key, value in wanted.items())


# --- the gate -----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Gate:
    waves: list[dict[str, Any]]
    open: dict[str, bool]
    events: list[Event]
    last_release: dict[str, Any] | None


def gate(
    spec: FleetSpec,
    children: Mapping[str, Sequence[ChildState]],
    previous: Sequence[Mapping[str, Any]],
    now: datetime,
    release: str | None,
) -> Gate:
    """Each wave's phase, whether its children may update, and the Events of the changes (see the module).

    `previous` is the fleet's `status.waves` (what was held, released, settled since when), `now` Azure's
    clock, `release` the release annotation's value.
    """
    before = {entry.get("name"): entry for entry in previous if isinstance(entry, Mapping)}
    events: list[Event] = []
    last_release: dict[str, Any] | None = None
    if release is not None and spec.wave(release) is None:
        last_release = {"wave": release, "time": timestamp(now), "result": "UnknownWave"}
        waves = ", ".join(wave.name for wave in spec.waves)
        events.append(Event("Warning", Reason.UNKNOWN_WAVE, message(Reason.UNKNOWN_WAVE, wave=release, waves=waves)))
    rows: list[dict[str, Any]] = []
    opened: dict[str, bool] = {}
    prior: _Prior | None = None
    for wave in spec.waves:
        members = children.get(wave.name, ())
        old = before.get(wave.name) or {}
        settled = all(member.settled for member in members)
        since = (parse_time(old.get("settledSince")) or now) if settled else None
        held, released_at, waiting_on = False, None, ""
        if prior is None:
            is_open = True
        else:
            held = old.get("phase") == Phase.HELD
            released_at = parse_time(old.get("releasedAt"))
            if release == wave.name:
                if held or old.get("phase") == Phase.WAITING:
                    released_at, held = now, False
                    events.append(Event("Normal", Reason.WAVE_RELEASED, message(Reason.WAVE_RELEASED, wave=wave.name)))
                    last_release = {"wave": wave.name, "time": timestamp(now), "result": "Released"}
                else:
                    last_release = {"wave": wave.name, "time": timestamp(now), "result": "NotHeld"}
            failing = [m.name for m in prior.members if prior.open and m.failed and _after(m, released_at)]
            if failing and not held:
                held = True
                text = message(Reason.WAVE_HELD, wave=wave.name, vaults=_names(failing), previous=prior.wave.name)
                events.append(Event("Warning", Reason.WAVE_HELD, text))
            if released_at is not None and prior.since is not None and prior.since > released_at:
                released_at = None  # the wave before recovered after the release: the normal gate again
            soak_until = prior.since + timedelta(days=wave.soak_days or 0) if prior.since is not None else None
            soaked = soak_until is not None and now >= soak_until
            is_open = prior.open and not held and (soaked or released_at is not None)
            if held:
                waiting_on = f"held after a failure in wave {prior.wave.name}; release it with the annotation"
            elif is_open and released_at is not None:
                waiting_on = f"open: released by a person at {timestamp(released_at)}"
            elif not is_open and not prior.open:
                waiting_on = f"waits for wave {prior.wave.name} to open"
            elif not is_open and soak_until is None:
                behind = sum(member.agents_behind for member in prior.members)
                waiting_on = f"waits for wave {prior.wave.name} to settle ({behind} agents behind there)"
            elif not is_open and soak_until is not None:
                waiting_on = f"waits for wave {prior.wave.name} to soak until {timestamp(soak_until)}"
                rows[-1]["phase"] = Phase.SOAKING  # the wave before is open, settled, and soaking
                rows[-1]["message"] = f"soaking until {timestamp(soak_until)}, then wave {wave.name} opens"
        opened[wave.name] = is_open
        rows.append(
            {
                "name": wave.name,
                "vaults": len(members),
                "ready": sum(1 for member in members if member.ready),
                "agentsBehind": sum(member.agents_behind for member in members),
                "phase": Phase.OPEN if is_open else (Phase.HELD if held else Phase.WAITING),
                "agentVersion": _latest(members),
                "message": waiting_on,
                **({"settledSince": timestamp(since)} if since else {}),
                **({"releasedAt": timestamp(released_at)} if released_at else {}),
            }
        )
        prior = _Prior(wave, members, is_open, since)
    for row in rows:
        old = before.get(row["name"]) or {}
        row["since"] = old["since"] if old.get("phase") == row["phase"] and old.get("since") else timestamp(now)
        if not row["message"]:
            row["message"] = f"{row['ready']} of {row['vaults']} vaults Ready"
    return Gate(rows, opened, events, last_release)


@dataclasses.dataclass(frozen=True)
class _Prior:
    """The wave before the one being gated: its members, whether it is open, since when it is settled."""

    wave: Wave
    members: Sequence[ChildState]
    open: bool
    since: datetime | None


# --- the pass -----------------------------------------------------------------------------------------------


async def reconcile_fleet(
    azure: AzurePort,
    store: ChildStore,
    fleet: FleetInput,
    children: Sequence[ChildState],
    owners: Mapping[str, Sequence[tuple[str, str]]],
    *,
    now: datetime,
    azure_now: datetime,
    discovery: Discovery | None,
    discovery_interval_override: float | None = None,
) -> FleetOutcome:
    """One fleet pass: discover when due, gate the waves, create, rewrite and delete children, report.

    `now` is the node's clock (discovery's interval), `azure_now` Azure's (the soaks);
    `discovery_interval_override` is the operator's `--discovery-interval-override` (tests, demo)."""
    try:
        spec = parse_fleet(fleet.spec, namespace=fleet.namespace, name=fleet.name)
    except InvalidSpec as problem:
        return FleetOutcome(
            _status(fleet, now, Reason.INVALID_SPEC, f"The fleet's spec is invalid: {problem}. Fix the spec."),
            retry=Retry(RetryKind.INVALID, Reason.INVALID_SPEC),
            release_consumed=fleet.release is not None,
        )
    error: AzureError | None = None
    if discovery_due(discovery, fleet, spec, now, discovery_interval_override):
        try:
            discovery = await discover(azure, spec, now, fleet.generation)
        except AzureError as failure:
            error = failure
    if discovery is None:
        reason = (error.reason if error else None) or Reason.AZURE_UNAVAILABLE
        text = f"Listing the vaults of the fleet's subscriptions failed: {error.message if error else 'no answer'}."
        kind = error.kind if error else RetryKind.TRANSIENT
        return FleetOutcome(
            _status(fleet, now, reason, text), retry=Retry(kind, reason, delay=error.delay if error else 30.0)
        )
    members, skipped = assign(fleet, spec, discovery.vaults, owners)
    by_wave: dict[str, list[ChildState]] = {}
    existing = {child.name: child for child in children}
    wanted = {member.child for member in members}
    for member in members:
        child = existing.get(member.child)
        if child is not None:
            by_wave.setdefault(member.wave.name, []).append(child)
    decision = gate(spec, by_wave, fleet.status.get("waves") or [], azure_now, fleet.release)
    events = list(decision.events)
    try:
        await _write_children(store, fleet, spec, members, existing, decision, events)
    except ChildWriteFailed as problem:
        text = message(Reason.POLICY_WRITE_FAILED, problem=str(problem))
        return FleetOutcome(
            _status(fleet, now, Reason.POLICY_WRITE_FAILED, text),
            tuple(events),
            discovery,
            retry=Retry(RetryKind.TRANSIENT, Reason.POLICY_WRITE_FAILED, delay=30.0),
        )
    managed = [existing[name] for name in wanted if name in existing]
    ready = sum(1 for child in managed if child.ready)
    held = [row["name"] for row in decision.waves if row["phase"] == Phase.HELD]
    if error is not None:
        reason, text = (
            error.reason or Reason.AZURE_UNAVAILABLE,
            (f"Discovery failed; the vaults found at {timestamp(discovery.time)} stay managed: {error.message}."),
        )
    elif held:
        reason = Reason.WAVE_HELD
        index = [row["name"] for row in decision.waves].index(held[0])
        failing = [child.name for child in by_wave.get(spec.waves[index - 1].name, ()) if child.failed]
        text = message(
            Reason.WAVE_HELD, wave=held[0], vaults=_names(failing) or "a vault", previous=spec.waves[index - 1].name
        )
    elif ready < len(members):
        reason, text = Reason.PROGRESSING, f"{ready} of {len(members)} vaults Ready."
    else:
        reason, text = Reason.CONVERGED, _summary(decision.waves, len(members))
    status = _status(fleet, now, reason, text, rollout=_rollout(decision.waves))
    status.update(
        vaults={"discovered": len(discovery.vaults), "managed": len(members), "skipped": skipped[:SKIPPED_SHOWN]},
        waves=decision.waves,
        waveSummary=", ".join(f"{row['name']} {row['phase']}" for row in decision.waves),
        totals={
            "vaults": len(members),
            "ready": ready,
            "agentsBehind": sum(child.agents_behind for child in managed),
        },
        lastDiscovery={"time": timestamp(discovery.time), "subscriptions": len(spec.subscriptions)},
    )
    if decision.last_release is not None:
        status["lastRelease"] = decision.last_release
    retry = None
    if error is not None:
        retry = Retry(error.kind, error.reason or Reason.AZURE_UNAVAILABLE, delay=error.delay)
    return FleetOutcome(status, tuple(events), discovery, release_consumed=fleet.release is not None, retry=retry)


async def _write_children(
    store: ChildStore,
    fleet: FleetInput,
    spec: FleetSpec,
    members: Sequence[Member],
    existing: Mapping[str, ChildState],
    decision: Gate,
    events: list[Event],
) -> None:
    """Create the missing children, rewrite the changed ones, delete the ones no vault wants any more."""
    wanted = {member.child for member in members}
    for member in members:
        body = child_body(fleet, spec, member, paused=not decision.open[member.wave.name])
        child = existing.get(member.child)
        if child is None:
            await store.create(fleet.namespace, body)
            text = message(Reason.POLICY_CREATED, policy=member.child, vault=member.vault.name, wave=member.wave.name)
            events.append(Event("Normal", Reason.POLICY_CREATED, text))
        elif needs_rewrite(child, body):
            await store.replace(fleet.namespace, member.child, body)
    for name, child in existing.items():
        if name not in wanted:
            await store.delete(fleet.namespace, name)
            vault = str(child.spec.get("vault", {}).get("name") or child.vault_id)
            events.append(
                Event("Normal", Reason.POLICY_DELETED, message(Reason.POLICY_DELETED, policy=name, vault=vault))
            )


def fleet_blocked(fleet: FleetInput, now: datetime, reason: Reason, text: str) -> FleetOutcome:
    """A pass that could not start (the template's Secret, a bug): the conditions say why, kopf retries."""
    kind = RetryKind.INTERNAL if reason is Reason.INTERNAL_ERROR else RetryKind.PERSON
    return FleetOutcome(_status(fleet, now, reason, text), retry=Retry(kind, reason, delay=300.0))


def _status(
    fleet: FleetInput, now: datetime, reason: Reason, text: str, *, rollout: str | None = None
) -> dict[str, Any]:
    """Ready, Reconciling and Stalled as for a policy (report.summary_statuses): one reason and message,
    kstatus' meaning; a converged fleet whose `rollout` is under way is also Reconciling, for that."""
    previous = fleet.status.get("conditions") or []
    ready, reconciling, stalled = summary_statuses(reason)
    rolling = reason is Reason.CONVERGED and rollout is not None

    def make(kind: ConditionType, status: Status, why: str, words: str) -> dict[str, Any]:
        return condition(kind, status, why, words, generation=fleet.generation, now=now, previous=previous)

    return {
        "observedGeneration": fleet.generation,
        "conditions": [
            make(ConditionType.READY, ready, reason, text),
            make(
                ConditionType.RECONCILING,
                Status.TRUE if rolling else reconciling,
                Reason.PROGRESSING if rolling else reason,
                rollout if rollout is not None and rolling else text,
            ),
            make(ConditionType.STALLED, stalled, reason, text),
        ],
    }


def _rollout(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The one line that says a rollout is under way (a wave waits or soaks), or None."""
    waiting = [row for row in rows if row["phase"] in (Phase.WAITING, Phase.SOAKING)]
    if not waiting:
        return None
    first = waiting[0]
    return f"Wave {first['name']} {first['phase'].lower()}: {first['message']}."


def _summary(rows: Sequence[Mapping[str, Any]], vaults: int) -> str:
    return f"{vaults} vaults Ready in {len(rows)} wave{'s' if len(rows) != 1 else ''}."


def _after(member: ChildState, released_at: datetime | None) -> bool:
    """A failure counts against the gate unless a person released the wave after it happened."""
    if released_at is None:
        return True
    if member.last_run_status in FAILED_JOB_STATES:
        return member.last_run_start is not None and member.last_run_start > released_at
    return False


def _latest(members: Sequence[ChildState]) -> str:
    versions = {version for member in members for version in member.versions}
    return max(versions, key=_version_key) if versions else ""


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _spec_vault(vault: DiscoveredVault) -> dict[str, str]:
    """A discovered vault as a policy's spec.vault names it."""
    return {"subscriptionId": vault.subscription_id, "resourceGroup": vault.resource_group, "name": vault.name}
