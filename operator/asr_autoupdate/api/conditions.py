"""The policy's condition types and the metav1.Condition dicts written to status.

Conditions follow Kubernetes' API conventions so kstatus, Flux, Argo CD and `kubectl wait` read them without
help: every type is set on every pass (even as Unknown), each carries the generation it describes, and
`lastTransitionTime` moves only when the status flips, so a steady object's status does not churn.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any


class ConditionType(enum.StrEnum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    AUTOMATION_ACCOUNT_READY = "AutomationAccountReady"
    CREDENTIALS_HEALTHY = "CredentialsHealthy"
    MAPPINGS_CONFIGURED = "MappingsConfigured"
    SCHEDULE_CONFIGURED = "ScheduleConfigured"
    AGENTS_CURRENT = "AgentsCurrent"


SUMMARY_TYPES = (ConditionType.READY, ConditionType.RECONCILING, ConditionType.STALLED)
AREA_TYPES = (
    ConditionType.AUTOMATION_ACCOUNT_READY,
    ConditionType.CREDENTIALS_HEALTHY,
    ConditionType.MAPPINGS_CONFIGURED,
    ConditionType.SCHEDULE_CONFIGURED,
    ConditionType.AGENTS_CURRENT,
)


class Status(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, the form metav1.Time serialises to."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    kind: ConditionType,
    status: Status,
    reason: str,
    message: str,
    *,
    generation: int,
    now: datetime,
    previous: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A metav1.Condition; keeps the earlier `lastTransitionTime` when the status did not change."""
    before = find(previous, kind)
    kept = before.get("lastTransitionTime") if before is not None and before.get("status") == status else None
    return {
        "type": str(kind),
        "status": str(status),
        "reason": str(reason),
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": kept or timestamp(now),
    }


def find(conditions: Iterable[Mapping[str, Any]], kind: ConditionType) -> Mapping[str, Any] | None:
    """The condition of one type in a status' list, or None."""
    return next((entry for entry in conditions if entry.get("type") == kind), None)
