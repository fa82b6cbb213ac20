"""Events: a Normal one for every change made in Azure, a Warning when a problem first appears (never
on every retry), and one for each finished update job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asr_autoupdate.api.conditions import ConditionType, find
from asr_autoupdate.api.reasons import Kind, Reason, message
from asr_autoupdate.reconcile.model import (
    ActionResult,
    Event,
)
from asr_autoupdate.reconcile.report.findings import Finding

_C = ConditionType


_WARNING_KINDS = {Kind.DRIFT, Kind.TRANSIENT, Kind.PERSON, Kind.INVALID, Kind.BUG}


def change_events(results: Sequence[ActionResult]) -> tuple[Event, ...]:
    """A Normal Event for every change made in Azure."""
    return tuple(
        Event("Normal", str(result.action.event), message(result.action.event, **result.action.fields))
        for result in results
        if result.changed and not result.failed
    )


def problem_events(
    results: Sequence[ActionResult], summary: Finding, previous: Sequence[Mapping[str, Any]]
) -> tuple[Event, ...]:
    events = list(change_events(results))
    before = find(previous, _C.READY) or {}
    news = (before.get("reason"), before.get("message")) != (summary.reason, summary.message)
    if summary.kind in _WARNING_KINDS and news:
        events.append(Event("Warning", str(summary.reason), summary.message))
    return tuple(events)


def job_events(before: Any, after: Any) -> tuple[Event, ...]:
    """One Warning when a new update job failed, and one when the month's projection first passes the free
    minutes; `before` is the jobs section the last pass wrote, so neither repeats while nothing changes."""
    if not isinstance(after, dict):
        return ()
    before = before if isinstance(before, dict) else {}
    events = []
    last, last_before = after.get("lastRun") or {}, before.get("lastRun") or {}
    if last.get("status") == "Failed" and (last_before.get("startTime"), last_before.get("status")) != (
        last.get("startTime"),
        "Failed",
    ):
        reason = Reason.UPDATE_JOB_FAILED
        events.append(Event("Warning", str(reason), message(reason, start=last.get("startTime"))))

    def over(section: Mapping[str, Any]) -> bool:
        projected, free = section.get("projectedMonthMinutes"), section.get("freeMinutesPerMonth")
        return projected is not None and free is not None and projected > free

    if over(after) and not over(before):
        reason = Reason.JOB_MINUTES_OVER_FREE_TIER
        fields = {
            "projected": after["projectedMonthMinutes"],
            "free": after["freeMinutesPerMonth"],
            "cost": after.get("projectedCost"),
            "currency": after.get("currency"),
        }
        events.append(Event("Warning", str(reason), message(reason, **fields)))
    return tuple(events)


# --- the area conditions -------------------------------------------------------------------------------------
