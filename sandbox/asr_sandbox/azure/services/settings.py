"""Knobs of the Azure emulator that tests and the demo turn at runtime (admin `/_sandbox/config`), and the
paces (profiles) it starts at.

The defaults are Azure's real pace, so a demo or a manual run shows what a user will wait through; tests start
the `fast` profile explicitly, so that a test that needs real pace says so instead of every test paying for it.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Any

SCHEDULE_PUT_BEHAVIOURS = ("overwrite", "conflict409")
# How a Site Recovery mapping operation ends (`operationOutcome`); any other value is answered verbatim.
APPLYING_OUTCOMES = ("Succeeded", "PartiallySucceeded", "CompletedWithInformation")
FAILED_OUTCOME = "Failed"
NEVER_ENDS_OUTCOME = "NeverEnds"


@dataclass
class EmulatorSettings:
    """Timings, limits and service choices that real Azure fixes but a sandbox needs to vary.

    Every field is exposed on the admin API in camelCase (`job_duration_seconds` -> `jobDurationSeconds`).
    The defaults are the `real` profile.
    """

    # How long an Automation job runs, in emulated seconds (the doc says "a few seconds to about a minute").
    job_duration_seconds: float = 40.0
    # How long a new managed identity is unknown to role assignments (directory replication), emulated seconds:
    # an advance of the clock makes it visible, as waiting would.
    principal_propagation_delay_seconds: float = 60.0
    # ARM's published per-subscription token buckets.
    read_bucket_size: int = 250
    read_refill_per_second: float = 25.0
    write_bucket_size: int = 200
    write_refill_per_second: float = 10.0
    delete_bucket_size: int = 200
    delete_refill_per_second: float = 10.0
    # Retry-After sent with long-running operations; the SDK waits this long between polls.
    lro_retry_after_seconds: int = 30
    # How long a Site Recovery mapping operation runs before its change shows, emulated seconds.
    operation_duration_seconds: float = 120.0
    # How the next mapping operations end: see APPLYING_OUTCOMES, FAILED_OUTCOME, NEVER_ENDS_OUTCOME.
    operation_outcome: str = "Succeeded"
    # Real (wall-clock) time every ARM request takes before it is handled: lognormal around the median,
    # capped; drawn from a generator seeded with latency_seed, so two runs see the same sequence.
    arm_latency_median_seconds: float = 0.15
    arm_latency_sigma: float = 0.5
    arm_latency_max_seconds: float = 2.0
    latency_seed: int = 0
    # The Mobility Service version a successful update job installs.
    latest_agent_version: str = "9.63.7187.1"
    # What a PUT of an existing Automation schedule does; the real service's answer is not pinned down.
    schedule_put_on_existing: str = "overwrite"
    # Items per page of every list operation (small values make nextLink paging visible).
    page_size: int = 100
    # Lifetime of issued access tokens, real seconds.
    token_lifetime_seconds: int = 3599

    @classmethod
    def of_pace(cls, pace: str, overrides: dict[str, Any] | None = None) -> EmulatorSettings:
        """A profile's settings with admin-API overrides on top (what `--pace` and `--config` start with)."""
        if pace not in PROFILES:
            raise ValueError(f"unknown pace {pace!r}; known: {sorted(PROFILES)}")
        return cls().updated({**PROFILES[pace], **(overrides or {})})

    def as_api(self) -> dict[str, Any]:
        """The settings as the admin API shows them."""
        return {_camel(field.name): getattr(self, field.name) for field in dataclasses.fields(self)}

    def updated(self, changes: dict[str, Any]) -> EmulatorSettings:
        """A copy with admin-API changes applied; refuses unknown keys and wrong types so typos do not pass silently."""
        by_api_name = {_camel(field.name): field for field in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for api_name, value in changes.items():
            field = by_api_name.get(api_name)
            if field is None:
                raise ValueError(f"unknown setting {api_name!r}; known: {sorted(by_api_name)}")
            values[field.name] = _coerce(api_name, field.type, value)
        candidate = dataclasses.replace(self, **values)
        if candidate.schedule_put_on_existing not in SCHEDULE_PUT_BEHAVIOURS:
            raise ValueError(f"schedulePutOnExisting must be one of {SCHEDULE_PUT_BEHAVIOURS}")
        if candidate.page_size < 1:
            raise ValueError("pageSize must be at least 1")
        if not candidate.operation_outcome.strip():
            raise ValueError("operationOutcome must be a non-empty string")
        return candidate


# Admin-API overrides of the defaults; "real" is the defaults themselves.
PROFILES: dict[str, dict[str, Any]] = {
    "real": {},
    "fast": {
        "lroRetryAfterSeconds": 1,
        "operationDurationSeconds": 1,
        "principalPropagationDelaySeconds": 0,
        "armLatencyMedianSeconds": 0,
    },
}


class ArmLatency:
    """The wall-clock delay of each ARM request: a seeded lognormal draw, so a run's delays can be replayed."""

    def __init__(self, settings: EmulatorSettings):
        self._median = settings.arm_latency_median_seconds
        self._sigma = settings.arm_latency_sigma
        self._cap = settings.arm_latency_max_seconds
        self._random = random.Random(settings.latency_seed)

    def next_delay(self) -> float:
        """Seconds to wait before answering; 0 when the median is 0 (no draw is spent then)."""
        if self._median <= 0:
            return 0.0
        return min(self._cap, self._random.lognormvariate(math.log(self._median), self._sigma))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _coerce(api_name: str, type_name: str, value: Any) -> Any:
    if type_name == "str" and isinstance(value, str):
        return value
    if type_name == "int" and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if type_name == "float" and isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise ValueError(f"{api_name} must be a non-negative {type_name}, got {value!r}")
