"""Turn one pass into status, Events and a retry verdict: pure functions of what was seen and done.

Every condition is written on every pass. Each area condition (account, credentials, mappings, schedule,
agents) is judged from the final observation, the actions that failed and the changes still planned; the
summary conditions Ready, Reconciling and Stalled then share the reason and message of the most pressing
area, with kstatus' meaning: converged is Ready; work under way or a transient Azure error is Reconciling;
something only a person can fix is Stalled. Events are posted for changes made, and for a problem only when
it first appears, so a steady failure does not post an Event on every retry.

Each area has a module of its own (account, credentials, mappings, schedule, agents); findings.py
holds what they share, sections.py the status sections, events.py the Events.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from asr_autoupdate.api.conditions import AREA_TYPES, ConditionType, Status, condition, timestamp
from asr_autoupdate.api.reasons import REASONS, RETRY_OF_KIND, Kind, Reason, RetryKind
from asr_autoupdate.azure.errors import PERSON_DELAY, AzureError, ThrottledError
from asr_autoupdate.reconcile.desired import Assessment
from asr_autoupdate.reconcile.model import (
    CLEANUP_PARTS,
    NOT_WAITING,
    Action,
    ActionResult,
    Observation,
    Outcome,
    PolicyInput,
    Retry,
    Waiting,
)
from asr_autoupdate.reconcile.report.account import account_condition, vault_gate
from asr_autoupdate.reconcile.report.agents import agents_condition
from asr_autoupdate.reconcile.report.credentials import credentials_condition
from asr_autoupdate.reconcile.report.events import change_events, job_events, problem_events
from asr_autoupdate.reconcile.report.findings import (
    PROGRESS_DELAY,
    Finding,
    PassView,
    action_failure,
    finding,
    listing,
    read_failure,
)
from asr_autoupdate.reconcile.report.findings import error_code as error_code
from asr_autoupdate.reconcile.report.mappings import mappings_condition
from asr_autoupdate.reconcile.report.schedule import schedule_condition
from asr_autoupdate.reconcile.report.sections import status_sections

_C = ConditionType


_SUMMARY_STATUS = {  # kind -> (Ready, Reconciling, Stalled)
    Kind.OK: (Status.TRUE, Status.FALSE, Status.FALSE),
    Kind.WAITING: (Status.FALSE, Status.TRUE, Status.FALSE),
    Kind.PROGRESSING: (Status.FALSE, Status.TRUE, Status.FALSE),
    Kind.TRANSIENT: (Status.FALSE, Status.TRUE, Status.FALSE),
    Kind.DRIFT: (Status.FALSE, Status.FALSE, Status.TRUE),
    Kind.PERSON: (Status.FALSE, Status.FALSE, Status.TRUE),
    Kind.INVALID: (Status.FALSE, Status.FALSE, Status.TRUE),
    Kind.BUG: (Status.UNKNOWN, Status.TRUE, Status.FALSE),
}


def summary_statuses(reason: Reason) -> tuple[Status, Status, Status]:
    """Ready, Reconciling and Stalled for a summary `reason`, in kstatus' meaning (a policy's and a fleet's)."""
    return _SUMMARY_STATUS[REASONS[reason].kind]


def report(
    policy: PolicyInput,
    assessment: Assessment,
    remaining: Sequence[Action],
    results: Sequence[ActionResult],
    now: datetime,
    *,
    repaired: bool = False,
    updating: Waiting = NOT_WAITING,
) -> Outcome:
    """Status, Events and retry verdict after a pass: `assessment` is of the final observation, `remaining`
    the plan on it, `updating` what Site Recovery is still doing for it."""
    spec, observation = assessment.spec, assessment.observation
    this_pass = PassView(assessment, remaining, results, now, updating)
    findings = vault_gate(this_pass) or [
        account_condition(this_pass),
        credentials_condition(this_pass),
        mappings_condition(this_pass),
        schedule_condition(this_pass),
        agents_condition(this_pass),
    ]
    summary = _summary(this_pass, findings)
    errors = list(_errors(observation, results))
    retry = _retry(summary, errors, updating.poll_after)
    status = {"observedGeneration": policy.generation, **status_sections(assessment, now)}
    throttled = any(isinstance(error, ThrottledError) for error in errors)
    if repair := _last_repair(policy, summary, retry, now, repaired=repaired, throttled=throttled):
        status["lastRepair"] = repair
    outcome = _outcome(policy, findings, summary, now, status, retry, results, spec.drift_check_interval_seconds)
    news = job_events(policy.status.get("jobs"), status.get("jobs"))
    return dataclasses.replace(outcome, events=outcome.events + news) if news else outcome


def _last_repair(
    policy: PolicyInput,
    summary: Finding,
    retry: Retry | None,
    now: datetime,
    *,
    repaired: bool,
    throttled: bool = False,
) -> dict[str, Any] | None:
    """The repair pass answers its token once its changes are sent, so no later pass forces them again (a
    transient error or a throttled call means they were not all sent: the repair is retried whole). While what
    it sent is still running in Azure the result reads Progressing, and later passes write how it ended."""
    if repaired:
        if throttled or (retry is not None and retry.kind is RetryKind.TRANSIENT):
            return None
        return {"token": policy.repair_token, "time": timestamp(now), "result": str(summary.reason)}
    last = policy.status.get("lastRepair") or {}
    waiting = REASONS[Reason(last["result"])].kind if last.get("result") in _REASON_NAMES else None
    following = last.get("token") == policy.repair_token and waiting in (Kind.PROGRESSING, Kind.WAITING)
    if following and str(summary.reason) != last.get("result"):
        return {**last, "time": timestamp(now), "result": str(summary.reason)}
    return None


_REASON_NAMES = frozenset(str(reason) for reason in Reason)


def blocked(
    policy: PolicyInput, now: datetime, reason: Reason, *, recheck_after: float | None = None, **fields: str
) -> Outcome:
    """A pass that cannot look at Azure at all: every condition says why, and the status sections from
    earlier passes stay as they were. Reconcile uses it for InvalidSpec and PolicyConflict; the handler layer
    for CredentialsSecretInvalid (fields `secret` and `problem`, e.g. "lacks the key clientId") and for
    InternalError (no fields; retried with backoff, see handlers.py)."""
    summary = finding(_C.READY, Status.FALSE, reason, **fields)
    return _blocked(policy, now, summary, (), [], recheck_after)


def report_cleanup(
    policy: PolicyInput,
    observation: Observation,
    remaining: Sequence[Action],
    results: Sequence[ActionResult],
    now: datetime,
    *,
    updating: Waiting = NOT_WAITING,
) -> Outcome:
    """After a finalizer pass: no status and no retry when cleanup is done, otherwise the reason it is not."""
    failed = next((result for result in results if result.failed), None)
    problem = (action_failure(failed) if failed else None) or read_failure(_C.READY, observation, CLEANUP_PARTS)
    if problem is None and updating.mappings:
        state = f"Cleaning up: {len(updating.mappings)} mapping(s) updating in Site Recovery"
        problem = finding(_C.READY, Status.FALSE, Reason.PROGRESSING, state=state)
    if problem is None and remaining:
        problem = finding(_C.READY, Status.FALSE, Reason.PROGRESSING, state=f"Cleaning up: {listing(remaining)}")
    if problem is None:
        return Outcome(status={}, events=change_events(results))
    return _blocked(policy, now, problem, results, _errors(observation, results), None, updating.poll_after)


def _errors(observation: Observation, results: Sequence[ActionResult]) -> list[AzureError]:
    return [*observation.failures.values(), *(result.error for result in results if result.error is not None)]


def _blocked(
    policy: PolicyInput,
    now: datetime,
    summary: Finding,
    results: Sequence[ActionResult],
    errors: Sequence[AzureError],
    recheck_after: float | None,
    poll_after: float | None = None,
) -> Outcome:
    findings = [Finding(kind, Status.UNKNOWN, summary.reason, summary.message) for kind in AREA_TYPES]
    status = {"observedGeneration": policy.generation}
    retry = _retry(summary, errors, poll_after)
    return _outcome(policy, findings, summary, now, status, retry, results, recheck_after)


def _outcome(
    policy: PolicyInput,
    findings: Sequence[Finding],
    summary: Finding,
    now: datetime,
    status: dict[str, Any],
    retry: Retry | None,
    results: Sequence[ActionResult],
    recheck_after: float | None,
) -> Outcome:
    ready, reconciling, stalled = _SUMMARY_STATUS[summary.kind]
    summary_findings = [
        Finding(_C.READY, ready, summary.reason, summary.message),
        Finding(_C.RECONCILING, reconciling, summary.reason, summary.message),
        Finding(_C.STALLED, stalled, summary.reason, summary.message),
    ]
    status["conditions"] = [
        condition(
            entry.condition,
            entry.status,
            entry.reason,
            entry.message,
            generation=policy.generation,
            now=now,
            previous=policy.conditions,
        )
        for entry in (*summary_findings, *findings)
    ]
    events = problem_events(results, summary, policy.conditions)
    return Outcome(status=status, events=events, retry=retry, recheck_after=recheck_after)


def _summary(this_pass: PassView, findings: Sequence[Finding]) -> Finding:
    """The most pressing area speaks for Ready (in Observe mode, every difference does); agents are
    informational and never gate it."""
    gating = [entry for entry in findings if entry.condition is not _C.AGENTS_CURRENT]
    worst = max(gating, key=lambda entry: entry.kind)
    if worst.kind <= Kind.INFO:
        state = f"Azure matches the spec for vault {this_pass.spec.vault.name}"
        if this_pass.spec.automatic and this_pass.spec.updates_paused:
            state += ", with updates paused (spec.updatesPaused)"
        if this_pass.spec.automatic and not this_pass.spec.uses_identity:
            state += (
                ", but its Run As account is retired by Azure: plan to migrate to spec.authentication: "
                "SystemAssignedIdentity"
            )
        return finding(_C.READY, Status.TRUE, Reason.CONVERGED, state=state)
    if worst.kind is Kind.DRIFT:
        return finding(_C.READY, Status.FALSE, Reason.DRIFT_DETECTED, differences=listing(this_pass.remaining))
    return worst


def _retry(summary: Finding, errors: Iterable[AzureError], poll_after: float | None = None) -> Retry | None:
    """How soon to come back: an operation in flight at Azure's Retry-After, a "not yet" from Azure at its
    delay (with backoff when Azure named none), a transient error after its delay; a transient read of an
    informational part also asks for an early pass."""
    errors = list(errors)
    transient_delay = max((error.delay for error in errors if error.kind is RetryKind.TRANSIENT), default=None)
    waits = [error for error in errors if error.kind is RetryKind.WAIT]
    reason = str(summary.reason)
    kind = RETRY_OF_KIND.get(summary.kind)
    match kind:
        case RetryKind.PERSON:
            return Retry(kind, reason, PERSON_DELAY)
        case RetryKind.INVALID | RetryKind.INTERNAL:
            return Retry(kind, reason)
        case RetryKind.TRANSIENT:
            return Retry(kind, reason, transient_delay or PROGRESS_DELAY)
        case RetryKind.WAIT:
            if waits:  # Azure's "not yet": its delay, or ours with backoff, but no later than a poll that is due
                guessed = all(error.retry_after is None for error in waits)
                delay = min(error.delay for error in waits)
                return Retry(kind, reason, delay, backoff=guessed, not_after=poll_after)
            return Retry(kind, reason, poll_after if poll_after is not None else PROGRESS_DELAY)
    if poll_after is not None:
        return Retry(RetryKind.WAIT, reason, poll_after)
    if transient_delay:
        return Retry(RetryKind.TRANSIENT, reason, transient_delay)
    if waits:  # an informational read was throttled: come back at Azure's time, not a drift interval later
        return Retry(RetryKind.WAIT, reason, min(error.delay for error in waits))
    return None
