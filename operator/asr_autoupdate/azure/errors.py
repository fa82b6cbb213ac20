"""Our error classes for Azure failures, and the one table that sorts ARM answers into them.

In the manner of Azure Service Operator's classifier, one table (`CLASSIFICATION`) says for each ARM answer
(HTTP status and ARM error code) which class it becomes, the reason a condition reports it with, what the
operator does about it (its retry kind), how long to wait when Azure sends no Retry-After, and whether the
rest of a batch of writes is pointless. Nothing else in the operator sorts errors by status code or error
code: the reconciler reads `error.reason`, `error.kind`, `error.delay` and `error.halts_batch`.

This module sees only plain values (status, ARM error code, Retry-After): the SDK adapter pulls them out of
SDK exceptions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from asr_autoupdate.api.reasons import Reason, RetryKind

TRANSIENT_DELAY = 30.0  # Site Recovery's own Retry-After, when Azure sends none
PROPAGATION_DELAY = 5.0  # a new identity reaches the directory within seconds in most regions
PERSON_DELAY = 300.0  # a person fixes it outside the cluster: look again every 5 minutes


class AzureError(Exception):
    """An Azure call failed; `code` is ARM's error code, `status` the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.rule = _rule_for(type(self), status, code)

    @property
    def kind(self) -> RetryKind:
        return self.rule.kind

    @property
    def reason(self) -> Reason | None:
        """The reason to report; None: the failing call's own refusal reason (e.g. MappingUpdateFailed)."""
        return self.rule.reason

    @property
    def delay(self) -> float:
        """Seconds until the next try: Azure's Retry-After when it sent one, the table's otherwise."""
        return self.retry_after or self.rule.delay

    @property
    def halts_batch(self) -> bool:
        """The next write of the same pass would fail the same way, so the pass stops sending them."""
        return self.rule.halts_batch


class TransientError(AzureError):
    """Throttled, 5xx, connection trouble or an operation still running: try again soon."""


class ThrottledError(TransientError):
    """429: the subscription's request budget is spent; `retry_after` says when it refills."""


class AuthenticationError(AzureError):
    """The token could not be obtained or was refused (wrong secret, unknown client, expired token)."""


class PermissionError_(AzureError):
    """403 AuthorizationFailed: the caller's identity lacks a role; a person must grant it."""


class NotFoundError(AzureError):
    """404: the resource (or its resource group) does not exist."""


class ConflictError(AzureError):
    """409: the resource exists, or a pair (job schedule, role assignment) is already linked."""


class InvalidRequestError(AzureError):
    """400: Azure refused the request's content; `code` says why (PrincipalNotFound is transient, see below)."""


class OperationFailedError(AzureError):
    """A long-running operation Azure accepted ended Failed (or Canceled); `code` is the code it ended with."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of the table: the answers it matches, and what they mean."""

    statuses: Collection[int] | None  # None: any status
    code: str | None  # None: any ARM error code
    error: type[AzureError]
    reason: Reason | None  # None: the refusal reason of the call that failed
    kind: RetryKind
    delay: float
    halts_batch: bool = False
    why: str = ""

    def matches(self, status: int, code: str) -> bool:
        return (self.statuses is None or status in self.statuses) and (self.code is None or self.code == code)


_UNAVAILABLE = Reason.AZURE_UNAVAILABLE
_PROGRESSING = Reason.PROGRESSING
_NO_ANSWER_OR_5XX = frozenset({0, 408, *range(500, 600)})

# First match wins: codes before statuses, the catch-all last.
CLASSIFICATION: tuple[Rule, ...] = (
    # Azure is doing what it was asked and says "not yet": waiting, not failing (Progressing, an INFO line)
    Rule(
        None,
        "PrincipalNotFound",
        TransientError,
        _PROGRESSING,
        RetryKind.WAIT,
        PROPAGATION_DELAY,
        why="the account's new identity is not yet in the directory",
    ),
    Rule(
        None,
        "RetryableErrorDueToAnotherOperation",
        TransientError,
        _PROGRESSING,
        RetryKind.WAIT,
        TRANSIENT_DELAY,
        why="Site Recovery is busy with another operation on the same item",
    ),
    Rule(
        None,
        "AnotherOperationInProgress",
        TransientError,
        _PROGRESSING,
        RetryKind.WAIT,
        TRANSIENT_DELAY,
        why="another operation holds the resource",
    ),
    # Throttled: Azure is not failing, it says when to come back; the pass requeues at its Retry-After
    Rule(
        {429},
        None,
        ThrottledError,
        _PROGRESSING,
        RetryKind.WAIT,
        TRANSIENT_DELAY,
        halts_batch=True,
        why="the subscription's request budget is spent; Azure's Retry-After is waited out",
    ),
    Rule(
        _NO_ANSWER_OR_5XX,
        None,
        TransientError,
        _UNAVAILABLE,
        RetryKind.TRANSIENT,
        TRANSIENT_DELAY,
        why="no answer, a timeout or a server error",
    ),
    Rule(
        {401},
        None,
        AuthenticationError,
        Reason.AUTHENTICATION_FAILED,
        RetryKind.PERSON,
        PERSON_DELAY,
        halts_batch=True,
        why="the credentials are refused: every call would be",
    ),
    Rule(
        {403},
        None,
        PermissionError_,
        Reason.INSUFFICIENT_PERMISSIONS,
        RetryKind.PERSON,
        PERSON_DELAY,
        why="a role is missing on this scope (others may be granted)",
    ),
    Rule(
        {404},
        None,
        NotFoundError,
        _UNAVAILABLE,
        RetryKind.TRANSIENT,
        TRANSIENT_DELAY,
        why="gone since it was read: the next pass sees why",
    ),
    Rule({409}, None, ConflictError, None, RetryKind.PERSON, PERSON_DELAY, why="it exists in another shape"),
    # never matched by an answer (no status is in the empty set): the row of a Failed operation's end
    Rule(frozenset(), None, OperationFailedError, None, RetryKind.PERSON, PERSON_DELAY, why="the operation failed"),
    Rule({400}, None, InvalidRequestError, None, RetryKind.PERSON, PERSON_DELAY, why="Azure refused the content"),
    Rule(None, None, AzureError, None, RetryKind.PERSON, PERSON_DELAY, why="anything else Azure says no with"),
)


def classify(status: int, code: str, message: str, retry_after: float | None = None) -> AzureError:
    """Turn an ARM answer into the error class the reconciler acts on."""
    rule = next(rule for rule in CLASSIFICATION if rule.matches(status, code))
    return rule.error(message, status=status, code=code, retry_after=retry_after)


def _rule_for(error: type[AzureError], status: int, code: str) -> Rule:
    """The row for an error: the one its answer matches when that row makes this class (what `classify`
    built), else the first row for its class (an error the adapter raised itself, e.g. a refused token)."""
    matching = next(rule for rule in CLASSIFICATION if rule.matches(status, code))
    if issubclass(error, matching.error) and issubclass(matching.error, error):
        return matching
    return next((rule for rule in CLASSIFICATION if rule.error is error), CLASSIFICATION[-1])
