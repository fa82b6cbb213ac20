"""Knobs of the Azure emulator that tests and the demo turn at runtime (admin `/_sandbox/config`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

SCHEDULE_PUT_BEHAVIOURS = ("overwrite", "conflict409")


@dataclass
class EmulatorSettings:
    """Timings, limits and service choices that real Azure fixes but a sandbox needs to vary.

    Every field is exposed on the admin API in camelCase (`job_duration_seconds` -> `jobDurationSeconds`).
    """

    # How long an Automation job runs, in emulated seconds (the doc says "a few seconds to about a minute").
    job_duration_seconds: float = 40.0
    # How long a new managed identity is unknown to role assignments (directory replication), real seconds.
    principal_propagation_delay_seconds: float = 2.0
    # ARM's published per-subscription token buckets.
    read_bucket_size: int = 250
    read_refill_per_second: float = 25.0
    write_bucket_size: int = 200
    write_refill_per_second: float = 10.0
    delete_bucket_size: int = 200
    delete_refill_per_second: float = 10.0
    # Retry-After sent with long-running operations; the SDK waits this long between polls.
    lro_retry_after_seconds: int = 1
    # The Mobility Service version a successful update job installs.
    latest_agent_version: str = "9.63.7187.1"
    # What a PUT of an existing Automation schedule does; the real service's answer is not pinned down.
    schedule_put_on_existing: str = "overwrite"
    # Items per page of every list operation (small values make nextLink paging visible).
    page_size: int = 100
    # Lifetime of issued access tokens, real seconds.
    token_lifetime_seconds: int = 3599

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
        return candidate


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
