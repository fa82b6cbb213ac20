"""The MobilityUpdateFleet API: its names and its spec, every default applied and every value checked.

A fleet is one resource for many vaults: it discovers Recovery Services vaults in its subscriptions and keeps
one child MobilityUpdatePolicy per matching vault, in ordered waves whose updates open one after the other.
As for a policy, the API server refuses most bad input through the CRD; what reaches the operator anyway
raises `InvalidSpec` with a one-line reason naming the field. The template is checked the way a child's spec
will be (`parse_spec` with a stand-in vault), so a bad template stalls the fleet instead of every child.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

from asr_autoupdate.api import GROUP
from asr_autoupdate.api.spec import InvalidSpec, parse_spec

FLEET_KIND = "MobilityUpdateFleet"
FLEET_PLURAL = "mobilityupdatefleets"
FLEET_FINALIZER = f"{GROUP}/fleet-cleanup"
FLEET_LABEL = f"{GROUP}/fleet"  # on every child: the fleet's name
WAVE_LABEL = f"{GROUP}/wave"  # on every child: its wave's name
RELEASE_ANNOTATION = f"{GROUP}/release-wave"  # on the fleet: a person releases a held wave by its name
DEFAULT_WAVE = "all"  # the one wave of a fleet that lists none
MIN_DISCOVERY_SECONDS = 300
MAX_SOAK_DAYS = 30

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_WAVE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
# A stand-in vault: the template is a policy spec without one, checked as the children will be.
_PROBE_VAULT = {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "rg", "name": "vault"}


@dataclasses.dataclass(frozen=True)
class VaultSelector:
    """All filters must match; an empty filter matches every vault. Globs compare case-insensitively, as
    Azure compares names; tags must be present with exactly the value given."""

    resource_groups: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def matches(self, *, resource_group: str, name: str, tags: Mapping[str, str]) -> bool:
        return (
            _any_glob(self.resource_groups, resource_group)
            and _any_glob(self.names, name)
            and all(tags.get(key) == value for key, value in self.tags.items())
        )


@dataclasses.dataclass(frozen=True)
class Wave:
    name: str
    selector: VaultSelector
    schedule: Mapping[str, Any] | None  # the policy `schedule` this wave's children get instead of the template's
    soak_days: int | None  # None: no gate (the first wave)


@dataclasses.dataclass(frozen=True)
class FleetSpec:
    subscriptions: tuple[str, ...]
    selector: VaultSelector
    template: Mapping[str, Any]  # a policy spec without `vault`, as the user wrote it (the API server's defaults)
    waves: tuple[Wave, ...]
    discovery_interval_seconds: int

    @property
    def paused(self) -> bool:
        """`template.updatesPaused`: a change freeze for the whole fleet."""
        return self.template.get("updatesPaused") is True

    def wave(self, name: str) -> Wave | None:
        return next((wave for wave in self.waves if wave.name == name), None)


def parse_fleet(raw: Mapping[str, Any], *, namespace: str, name: str) -> FleetSpec:
    """Read a MobilityUpdateFleet's spec; raises InvalidSpec naming the field."""
    subscriptions = raw.get("subscriptions")
    if not isinstance(subscriptions, list) or not subscriptions:
        raise InvalidSpec("spec.subscriptions: at least one subscription id is required")
    for subscription in subscriptions:
        if not isinstance(subscription, str) or not _UUID.match(subscription):
            raise InvalidSpec(f"spec.subscriptions: {subscription!r} is not a subscription id (a UUID)")
    if len({subscription.lower() for subscription in subscriptions}) != len(subscriptions):
        raise InvalidSpec("spec.subscriptions: a subscription is listed twice")
    template = raw.get("template")
    if not isinstance(template, Mapping):
        raise InvalidSpec("spec.template: required (a MobilityUpdatePolicy spec without vault)")
    if "vault" in template:
        raise InvalidSpec("spec.template.vault: not allowed; the fleet names each child's vault")
    try:
        parse_spec({**template, "vault": _PROBE_VAULT}, namespace=namespace, name=name)
    except InvalidSpec as problem:
        raise InvalidSpec(str(problem).replace("spec.", "spec.template.", 1)) from None
    interval = raw.get("discoveryIntervalSeconds", 3600)
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < MIN_DISCOVERY_SECONDS:
        raise InvalidSpec(f"spec.discoveryIntervalSeconds: {interval!r} is not an integer of at least 300")
    return FleetSpec(
        subscriptions=tuple(subscriptions),
        selector=_selector(raw.get("vaultSelector"), "spec.vaultSelector"),
        template=dict(template),
        waves=_waves(raw.get("waves"), namespace=namespace, name=name),
        discovery_interval_seconds=interval,
    )


def _waves(raw: object, *, namespace: str, name: str) -> tuple[Wave, ...]:
    if raw is None or raw == []:
        return (Wave(DEFAULT_WAVE, VaultSelector(), None, None),)
    if not isinstance(raw, list):
        raise InvalidSpec("spec.waves: must be a list")
    waves: list[Wave] = []
    for index, entry in enumerate(raw):
        path = f"spec.waves[{index}]"
        if not isinstance(entry, Mapping):
            raise InvalidSpec(f"{path}: must be an object")
        wave_name = entry.get("name")
        if not isinstance(wave_name, str) or not _WAVE_NAME.match(wave_name):
            raise InvalidSpec(f"{path}.name: {wave_name!r} is not a lower-case DNS label of at most 40 characters")
        if any(wave.name == wave_name for wave in waves):
            raise InvalidSpec(f"{path}.name: {wave_name!r} names two waves")
        schedule = entry.get("schedule")
        if schedule is not None:
            try:
                parse_spec(
                    {"vault": _PROBE_VAULT, "updateMode": "Automatic", "schedule": schedule},
                    namespace=namespace,
                    name=name,
                )
            except InvalidSpec as problem:
                raise InvalidSpec(str(problem).replace("spec.", f"{path}.", 1)) from None
        waves.append(
            Wave(
                wave_name,
                _selector(entry.get("vaultSelector"), f"{path}.vaultSelector"),
                dict(schedule) if isinstance(schedule, Mapping) else None,
                _soak_days(entry.get("gate"), path, first=not waves),
            )
        )
    return tuple(waves)


def _soak_days(gate: object, path: str, *, first: bool) -> int | None:
    if first:
        if gate is not None:
            raise InvalidSpec(f"{path}.gate: the first wave has no previous wave to soak; remove its gate")
        return None
    if gate is None:
        return 1  # the CRD's default, for a gate left out entirely
    if not isinstance(gate, Mapping):
        raise InvalidSpec(f"{path}.gate: must be an object")
    days = gate.get("soakDays", 1)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_SOAK_DAYS:
        raise InvalidSpec(f"{path}.gate.soakDays: {days!r} is not an integer between 0 and {MAX_SOAK_DAYS}")
    return days


def _selector(raw: object, path: str) -> VaultSelector:
    if raw is None:
        return VaultSelector()
    if not isinstance(raw, Mapping):
        raise InvalidSpec(f"{path}: must be an object")
    tags = raw.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(isinstance(value, str) for value in tags.values()):
        raise InvalidSpec(f"{path}.tags: must map tag names to string values")
    return VaultSelector(
        resource_groups=_globs(raw.get("resourceGroups"), f"{path}.resourceGroups"),
        names=_globs(raw.get("names"), f"{path}.names"),
        tags={str(key): value for key, value in tags.items()},
    )


def _globs(raw: object, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(glob, str) and glob for glob in raw):
        raise InvalidSpec(f"{path}: must be a list of non-empty glob patterns")
    return tuple(raw)


def _any_glob(globs: Sequence[str], value: str) -> bool:
    return not globs or any(fnmatch.fnmatchcase(value.lower(), glob.lower()) for glob in globs)
