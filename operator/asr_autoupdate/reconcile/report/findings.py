"""What every area's judge works with: a finding (one condition's verdict), the pass it judges
(`PassView`), and how an Azure error becomes a finding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from asr_autoupdate.api.conditions import ConditionType, Status
from asr_autoupdate.api.reasons import REASONS, Kind, Reason, message
from asr_autoupdate.api.spec import PolicySpec
from asr_autoupdate.azure.errors import AzureError
from asr_autoupdate.reconcile.desired import Assessment
from asr_autoupdate.reconcile.model import (
    NOT_WAITING,
    Action,
    ActionResult,
    Observation,
    Part,
    Waiting,
)

_C = ConditionType


PROGRESS_DELAY = 15.0  # work under way with nothing to wait on from Azure: look again soon


LISTED_CHANGES = 5


@dataclasses.dataclass(frozen=True)
class Finding:
    """One condition's verdict before it becomes a metav1.Condition."""

    condition: ConditionType
    status: Status
    reason: Reason
    message: str

    @property
    def kind(self) -> Kind:
        return REASONS[self.reason].kind


def finding(kind: ConditionType, status: Status, reason: Reason, /, **fields: Any) -> Finding:
    return Finding(kind, status, reason, message(reason, **fields))


def error_code(error: AzureError) -> str:
    """ARM's error code, never the raw message: stable between retries and free of anything secret."""
    return error.code or (f"HTTP {error.status}" if error.status else "no answer")


def _error(
    kind: ConditionType, status: Status, error: AzureError, operation: str, refusal: Reason, /, **fields: str
) -> Finding:
    code = error_code(error)
    problem = f"Azure refused to {operation} ({code})"
    state = f"Waiting for Azure to {operation}: {error.rule.why} ({code})"  # for a "not yet" (Progressing)
    reason = error.reason or refusal  # the error table's, or this call's "Azure said no"
    return finding(kind, status, reason, operation=operation, code=code, problem=problem, state=state, **fields)


def action_failure(result: ActionResult) -> Finding:
    action, error = result.action, result.error
    if error is None:
        raise AssertionError(f"{action.todo}: reported as failed without an error")
    return _error(
        action.condition, Status.FALSE, error, action.todo, action.refusal, needs=action.needs, **action.fields
    )


def read_failure(kind: ConditionType, observation: Observation, parts: Iterable[Part]) -> Finding | None:
    part = next((part for part in parts if part in observation.failures), None)
    if part is None:
        return None
    return _error(
        kind, Status.UNKNOWN, observation.failures[part], str(part), Reason.AZURE_REQUEST_FAILED, needs=READ_NEEDS
    )


READ_NEEDS = "Reader on the vault and on the automation account"  # what every read of a pass asks for


@dataclasses.dataclass(frozen=True)
class PassView:
    """One pass as every area's judge sees it: the assessment of the final observation, the changes still
    planned on it, and the results of what was done."""

    assessment: Assessment
    remaining: Sequence[Action]
    results: Sequence[ActionResult]
    now: datetime
    waiting: Waiting = NOT_WAITING

    @property
    def spec(self) -> PolicySpec:
        return self.assessment.spec

    @property
    def observation(self) -> Observation:
        return self.assessment.observation

    def failed(self, kind: ConditionType) -> Finding | None:
        """The first action for this condition that Azure refused."""
        result = next((r for r in self.results if r.failed and r.action.condition is kind), None)
        return action_failure(result) if result else None

    def unread(self, kind: ConditionType, *parts: Part) -> Finding | None:
        """The first of `parts` that could not be read: the condition is then Unknown."""
        return read_failure(kind, self.observation, parts)

    def changing(self, kind: ConditionType) -> Finding | None:
        """Changes still planned for this condition: drift in Observe mode, work under way otherwise."""
        actions = [action for action in self.remaining if action.condition is kind]
        if not actions:
            return None
        if self.spec.observe_only:
            return finding(kind, Status.FALSE, Reason.DRIFT_DETECTED, differences=listing(actions))
        return finding(kind, Status.FALSE, Reason.PROGRESSING, state=f"Still to do: {listing(actions)}")


def listing(actions: Sequence[Action]) -> str:
    listed = "; ".join(action.todo for action in actions[:LISTED_CHANGES])
    hidden = len(actions) - LISTED_CHANGES
    return f"{listed}; and {hidden} more" if hidden > 0 else listed
