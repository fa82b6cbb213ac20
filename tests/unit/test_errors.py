"""The one table that sorts ARM answers: class, reason, retry kind, delay and whether a batch stops."""

from __future__ import annotations

import pytest

from asr_autoupdate.api.reasons import REASONS, RETRY_OF_KIND, Reason, RetryKind
from asr_autoupdate.azure import errors

U, G = Reason.AZURE_UNAVAILABLE, Reason.PROGRESSING
T, P, W = RetryKind.TRANSIENT, RetryKind.PERSON, RetryKind.WAIT


@pytest.mark.parametrize(
    "status, code, retry_after, error, reason, kind, delay, halts",
    [
        pytest.param(
            400, "PrincipalNotFound", None, errors.TransientError, G, W, 5.0, False, id="identity-propagating"
        ),
        pytest.param(409, "AnotherOperationInProgress", None, errors.TransientError, G, W, 30.0, False, id="busy"),
        pytest.param(
            400,
            "RetryableErrorDueToAnotherOperation",
            12,
            errors.TransientError,
            G,
            W,
            12,
            False,
            id="busy-with-retry-after",
        ),
        pytest.param(429, "", 7, errors.ThrottledError, G, W, 7, True, id="throttled"),
        pytest.param(429, "", None, errors.ThrottledError, G, W, 30.0, True, id="throttled-without-retry-after"),
        pytest.param(0, "", None, errors.TransientError, U, T, 30.0, False, id="no-answer"),
        pytest.param(408, "", None, errors.TransientError, U, T, 30.0, False, id="timeout"),
        pytest.param(503, "ServiceUnavailable", None, errors.TransientError, U, T, 30.0, False, id="5xx"),
        pytest.param(
            401,
            "InvalidAuthenticationToken",
            None,
            errors.AuthenticationError,
            Reason.AUTHENTICATION_FAILED,
            P,
            300.0,
            True,
            id="token-refused",
        ),
        pytest.param(
            403,
            "AuthorizationFailed",
            None,
            errors.PermissionError_,
            Reason.INSUFFICIENT_PERMISSIONS,
            P,
            300.0,
            False,
            id="role-missing",
        ),
        pytest.param(404, "ResourceNotFound", None, errors.NotFoundError, U, T, 30.0, False, id="gone"),
        pytest.param(409, "Conflict", None, errors.ConflictError, None, P, 300.0, False, id="conflict"),
        pytest.param(400, "BadRequest", None, errors.InvalidRequestError, None, P, 300.0, False, id="refused"),
        pytest.param(402, "", None, errors.AzureError, None, P, 300.0, False, id="anything-else"),
    ],
)
def test_classification(status, code, retry_after, error, reason, kind, delay, halts):
    found = errors.classify(status, code, "message", retry_after)
    assert type(found) is error
    assert (found.reason, found.kind, found.delay, found.halts_batch) == (reason, kind, delay, halts)


def test_errors_the_adapter_raises_itself_take_their_class_row():
    token = errors.AuthenticationError("token refused", code="TokenRequestFailed")
    assert (token.reason, token.kind, token.halts_batch) == (Reason.AUTHENTICATION_FAILED, RetryKind.PERSON, True)
    scope = errors.InvalidRequestError("bad scope", code="InvalidScope")
    assert (scope.reason, scope.kind) == (None, RetryKind.PERSON)
    throttled = errors.ThrottledError("budget", status=429, retry_after=3)
    assert (throttled.kind, throttled.delay, throttled.halts_batch) == (RetryKind.WAIT, 3, True)


@pytest.mark.parametrize("rule", errors.CLASSIFICATION, ids=lambda rule: rule.error.__name__ + ":" + (rule.code or ""))
def test_each_rows_kind_is_its_reasons_kind(rule):
    """The error table and the reasons table never disagree about what a reason means."""
    if rule.reason is not None:
        assert RETRY_OF_KIND[REASONS[rule.reason].kind] is rule.kind
    assert rule.why


def test_the_catch_all_is_last_and_every_class_has_a_row():
    assert errors.CLASSIFICATION[-1].statuses is None and errors.CLASSIFICATION[-1].code is None
    classes = {rule.error for rule in errors.CLASSIFICATION}
    assert {
        cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.AzureError)
    } <= classes
