"""When to come back after a pass: the wait before a retry, and when the drift timer is next due.

Pure arithmetic over a pass's verdict, so that the handler layer only applies it (and tests can table it).
"""

from __future__ import annotations

import math

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
