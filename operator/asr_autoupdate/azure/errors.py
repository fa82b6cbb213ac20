"""Our error classes for Azure failures, and the one place that sorts ARM answers into them.

The reconciler decides what to do from the class alone (retry soon, wait for a person, give up), so the
sorting lives here once instead of as status-code checks scattered through the code. This module sees only
plain values (status, ARM error code, Retry-After): `client.py` pulls them out of SDK exceptions.
"""

from __future__ import annotations


class AzureError(Exception):
    """An Azure call failed; `code` is ARM's error code, `status` the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after


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


_TRANSIENT_CODES = {"PrincipalNotFound", "RetryableErrorDueToAnotherOperation", "AnotherOperationInProgress"}


def classify(status: int, code: str, message: str, retry_after: float | None = None) -> AzureError:
    """Turn an ARM answer into the error class the reconciler acts on."""
    kwargs = {"status": status, "code": code, "retry_after": retry_after}
    if status == 429:
        return ThrottledError(message, **kwargs)
    if status == 0 or status == 408 or status >= 500 or code in _TRANSIENT_CODES:
        return TransientError(message, **kwargs)
    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return PermissionError_(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 409:
        return ConflictError(message, **kwargs)
    if status == 400:
        return InvalidRequestError(message, **kwargs)
    return AzureError(message, **kwargs)
