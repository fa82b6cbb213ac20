"""The status sections besides conditions: automationAccount, mappings, schedules, agents and jobs
(job minutes this month, the free tier and the projected cost).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from asr_autoupdate.api.conditions import ConditionType, timestamp
from asr_autoupdate.api.spec import PolicySpec
from asr_autoupdate.azure import port
from asr_autoupdate.reconcile import desired
from asr_autoupdate.reconcile.desired import Assessment
from asr_autoupdate.reconcile.model import (
    Part,
)
from asr_autoupdate.reconcile.timing import local_clock, month_end, month_start

_C = ConditionType


AGENT_EXPIRY_WARNING = timedelta(days=30)


def status_sections(assessment: Assessment, now: datetime) -> dict[str, Any]:
    """Status sections: a value when read, None (removes the key) when known absent, left out when unread
    so that the last good value stays."""
    spec, observation = assessment.spec, assessment.observation
    failures = observation.failures
    if Part.VAULT in failures:
        return {}
    vault, account = observation.vault, observation.automation_account
    sections: dict[str, Any] = {}
    if Part.AUTOMATION_ACCOUNT not in failures:
        sections["automationAccount"] = _account_status(spec, account) if account else None
        if account is None:
            sections["jobs"] = None
        elif vault is not None and Part.JOBS not in failures:
            sections["jobs"] = _jobs_status(spec, observation.jobs, now)
    if vault is None:
        sections.update(mappings=None, agents=None, schedules=None, scheduleSummary=None)
        return sections
    if Part.MAPPINGS not in failures:
        sections["mappings"] = _mappings_status(assessment)
    if Part.PROTECTED_ITEMS not in failures:
        sections["agents"] = _agents_status(observation.protected_items, now)
    summary = assessment.schedule_summary if spec.automatic else None
    sections["scheduleSummary"] = f"{summary} (paused)" if summary and spec.updates_paused else summary
    if not {Part.AUTOMATION_ACCOUNT, Part.SCHEDULES, Part.MAPPINGS} & failures.keys():
        sections["schedules"] = _schedules_status(assessment) if spec.automatic and account else None
    return sections


def _account_status(spec: PolicySpec, account: port.AutomationAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "principalId": account.principal_id,
        "createdByPolicy": desired.created_by(spec, account),
    }


def _mappings_status(assessment: Assessment) -> dict[str, int]:
    observation = assessment.observation
    manageable = observation.manageable_mappings
    return {
        "total": len(observation.mappings),
        "configured": len(assessment.configured),
        "skipped": len(observation.mappings) - len(manageable),
    }


def _schedules_status(assessment: Assessment) -> list[dict[str, Any]]:
    observation = assessment.observation
    entries = []
    for mapping in assessment.configured_mappings:
        schedule = observation.schedule(mapping.schedule_name or "")
        if schedule is None:
            continue
        entry = {
            "name": schedule.name,
            "mapping": mapping.name,
            "time": local_clock(schedule),
            "timeZone": schedule.time_zone,
            "frequency": schedule.frequency,
            "interval": schedule.interval,
            "weekDays": list(schedule.week_days) or None,
            "nextRun": timestamp(schedule.next_run) if schedule.next_run else None,
            "enabled": schedule.is_enabled,
        }
        entries.append({key: value for key, value in entry.items() if value is not None})
    return entries


def _agents_status(items: Sequence[port.ProtectedItem], now: datetime) -> dict[str, Any]:
    horizon = now + AGENT_EXPIRY_WARNING
    versions = Counter(item.agent_version or "unknown" for item in items)
    return {
        "total": len(items),
        "current": sum(not item.update_required for item in items),
        "updateRequired": sum(item.update_required for item in items),
        "upgradeInProgress": sum(item.upgrade_in_progress for item in items),
        "expiringSoon": sum(_expires_before(item, horizon) for item in items),
        "replicationCritical": sum(item.replication_health == "Critical" for item in items),
        "versions": [
            {"version": version, "count": count} for version, count in sorted(versions.items(), key=_newest_first)
        ],
    }


def _expires_before(item: port.ProtectedItem, horizon: datetime) -> bool:
    return any(moment is not None and moment <= horizon for moment in (item.agent_expiry, item.certificate_expiry))


def _newest_first(entry: tuple[str, int]) -> tuple[bool, tuple[int, ...]]:
    version = entry[0]
    return version == "unknown", tuple(-int(part) if part.isdigit() else 0 for part in version.split("."))


def _jobs_status(spec: PolicySpec, jobs: Sequence[port.Job], now: datetime) -> dict[str, Any]:
    """Job minutes of the Site Recovery runbook this month, projected to the month's end and priced."""
    start, end = month_start(now), month_end(now)
    seconds = sum(
        max(0.0, ((job.end_time or now) - max(job.start_time, start)).total_seconds())
        for job in jobs
        if job.start_time is not None
    )
    elapsed = (now - start) / (end - start)
    projected_minutes = math.ceil(seconds / 60 / elapsed) if elapsed > 0 else math.ceil(seconds / 60)
    cost = spec.cost_model
    billable = max(0, projected_minutes - cost.free_minutes_per_month)
    started = [(job.start_time, job) for job in jobs if job.start_time is not None]
    last = max(started, key=lambda pair: pair[0], default=(None, None))[1]
    return {
        "monthToDateMinutes": math.ceil(seconds / 60),
        "projectedMonthMinutes": projected_minutes,
        "freeMinutesPerMonth": cost.free_minutes_per_month,
        "projectedCost": str((billable * cost.price_per_minute).quantize(Decimal("0.01"), ROUND_HALF_UP)),
        "currency": cost.currency,
        "lastRun": _last_run(last) if last else None,
    }


def _last_run(job: port.Job) -> dict[str, str | None]:
    run = {
        "status": job.status,
        "startTime": timestamp(job.start_time) if job.start_time else None,
        "endTime": timestamp(job.end_time) if job.end_time else None,
    }
    return {key: value for key, value in run.items() if value is not None}
