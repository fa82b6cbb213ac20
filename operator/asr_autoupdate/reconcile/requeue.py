"""When to come back after a pass: the wait before a retry, and when the drift timer is next due.

Pure arithmetic over a pass's verdict, so that the handler layer only applies it (and tests can table it).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from asr_autoupdate.api.reasons import RetryKind
from asr_autoupdate.reconcile.model import Retry

DEFAULT_DELAY = 30.0  # a verdict without a delay of its own (Azure sent no Retry-After)
BACKOFF_BASE = 30.0  # InternalError: 30 s, then doubled for each failure in a row...
BACKOFF_CAP = 600.0  # ...up to 10 minutes
WAIT_BACKOFF_CAP = 15.0  # a "not yet" without a Retry-After (a new identity): 5 s, 10 s, then every 15 s


def retry_delay(retry: Retry, attempt: int = 0) -> float:
    """Seconds before the retry. A bug (`internal`) backs off: `attempt` is how many retries of the same
    handler came before (kopf's `retry`), so a pass that keeps failing the same way does not hammer Azure."""
    if retry.kind is RetryKind.INTERNAL:
        return min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** max(0, attempt))
    if retry.kind is RetryKind.WAIT and retry.backoff and retry.delay:
        delay = min(max(retry.delay, WAIT_BACKOFF_CAP), retry.delay * 2.0 ** max(0, attempt))
        return delay if retry.not_after is None else min(delay, retry.not_after)
    return retry.delay or DEFAULT_DELAY


def next_drift_check(retry: Retry | None, recheck_after: float | None, *, from_timer: bool, attempt: int = 0) -> float:
    """Seconds until the drift timer should run the next pass (inf: never, e.g. after a finalizer finished).

    A pass run by the drift timer never raises (kopf would hold the timer itself for the whole retry delay,
    so no drift check would come meanwhile): its retry delay only brings the next check forward. An invalid
    spec is not retried until the spec changes, so it brings nothing forward.
    """
    due = recheck_after
    if from_timer and retry is not None and retry.kind is not RetryKind.INVALID:
        delay = retry_delay(retry, attempt)
        due = delay if due is None else min(due, delay)
    return math.inf if due is None else due


def began_converging(status: Mapping[str, Any], generation: int) -> bool:
    """Whether the stored status shows a policy under way (for its first pass in this process): a Site Recovery
    operation not yet finished, or `Reconciling=True` for its generation (it requeued mid-convergence)."""
    if any(not operation.get("finished") for operation in status.get("operations") or []):
        return True
    conditions = status.get("conditions") or []
    reconciling: Mapping[str, Any] = next((entry for entry in conditions if entry.get("type") == "Reconciling"), {})
    return reconciling.get("status") == "True" and status.get("observedGeneration") == generation


def under_way_after(retry: Retry | None) -> bool:
    """Whether a policy is under way after a pass: it requeued to finish what it started (an operation, a new
    identity, Azure busy for a moment). Done, waiting on a person, invalid or a bug is not under way: those
    passes queue like first ones, so a policy failing again and again does not jump the queue for good."""
    return retry is not None and retry.kind in (RetryKind.WAIT, RetryKind.TRANSIENT)


def resume_spread(
    status: Mapping[str, Any],
    generation: int,
    repair_token: str | None,
    drift_interval: float,
    draw: random.Random | None = None,
) -> float | None:
    """When the operator (re)starts: None when the policy needs a pass now, else the seconds until its first
    drift check, drawn evenly over its drift interval.

    A restart finds every policy at once. One that was Ready for its generation, with no Site Recovery
    operation to follow and no repair asked for, has nothing to do that cannot wait for its next drift check;
    spreading those checks over the interval keeps a thousand resumed policies from becoming one herd that
    spends the subscription's budget in the first minute (and shows every vault as degraded meanwhile).
    """
    conditions = status.get("conditions") or []
    ready: Mapping[str, Any] = next((entry for entry in conditions if entry.get("type") == "Ready"), {})
    settled = (
        ready.get("status") == "True"
        and status.get("observedGeneration") == generation
        and not any(not operation.get("finished") for operation in status.get("operations") or [])
        and (repair_token is None or (status.get("lastRepair") or {}).get("token") == repair_token)
    )
    if not settled or drift_interval <= 0:
        return None
    return (draw or random).uniform(0.0, drift_interval)
