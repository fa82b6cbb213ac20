"""SDK and transport exceptions as the operator's `errors.AzureError` classes, in one line without secrets.

It exists so that `errors.py` can stay free of the SDK: this module pulls the plain values (HTTP status, ARM
error code and message, Retry-After) out of azure-core's exceptions and hands them to `errors.classify`,
which alone decides the class. The one thing decided here is what `classify` cannot see: whether a 401 came
from ARM, or from the authority before ARM was ever called (`TokenRequestFailed`); and whether the authority
refused the credentials (that 401) or throttled (`TokenRequestThrottled`, a 429) or failed or could not be
reached (`AuthorityUnavailable`, a 5xx), which are waited out like ARM's own.

Every message is made by `one_line`: the text ends up in status conditions, Events and logs, where a bearer
token or a client secret echoed back by a service must never appear.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import AzureError as SdkAzureError
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from asr_autoupdate.azure import errors, throttle

_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MESSAGE_LIMIT = 600


def one_line(text: str, secrets: tuple[str, ...] = ()) -> str:
    """A message fit for status and logs: one line, bounded, with tokens and known secrets cut out."""
    text = " ".join((text or "").split())
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _JWT.sub("[redacted]", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return text


def _status_of(exc: HttpResponseError) -> int:
    """The status from the exception, or from its response when the SDK raised it without one."""
    if exc.status_code:
        return int(exc.status_code)
    response = getattr(exc, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def _retry_after_of(exc: SdkAzureError) -> float | None:
    """Azure's Retry-After, so a 429 or 503 requeues when Azure says rather than on our own guess."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    return throttle.parse_retry_after(dict(headers))


def _arm_error(exc: HttpResponseError) -> tuple[str, str]:
    """ARM's error code and message, from the wrapped (`{"error":{...}}`) or flat body.

    azure-core fills `exc.error` only when it could parse the body as ARM's wrapped form; the flat form, or a
    code without a message, is read from the body again so the reconciler still sees ARM's code.
    """
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or ""
    if not code or not message:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:  # noqa: BLE001 - any unreadable body just means no code
            body = None
        if isinstance(body, dict):
            wrapped = body.get("error")
            inner = wrapped if isinstance(wrapped, dict) else body
            code = code or str(inner.get("code") or "")
            message = message or str(inner.get("message") or "")
    if not message:
        message = str(getattr(exc, "reason", "") or "")
    return code, message


def convert_error(exc: BaseException, operation: str, *, secrets: tuple[str, ...] = ()) -> errors.AzureError:
    """Any exception from the SDK or the transport, as the project's error class for it.

    The reconciler acts on our classes alone, so nothing of azure-core's hierarchy leaks past the adapter.
    """
    if isinstance(exc, errors.AzureError):
        return exc
    if isinstance(exc, ClientAuthenticationError) and _from_credential(exc):
        # raised by the credential: ARM never saw us. The authority refused (a person fixes the identity), or it
        # failed or throttled (it is waited out, as ARM's own 5xx and 429 are)
        text = str(getattr(exc, "message", "") or exc)
        trouble = _authority_trouble(exc, text)
        if trouble is not None:
            status, code = trouble
            return errors.classify(
                status,
                code,
                one_line(f"{operation}: the authority could not issue a token for now ({code})", secrets),
                _retry_after_of(exc),
            )
        reason = _token_failure_reason(text)
        return errors.AuthenticationError(
            one_line(f"{operation}: could not get a token from the authority ({reason})", secrets),
            status=401,
            code="TokenRequestFailed",
        )
    if isinstance(exc, HttpResponseError) and getattr(exc, "response", None) is not None:
        status = _status_of(exc)
        code, message = _arm_error(exc)
        if 200 <= status < 300:
            # a long-running operation that ended Failed/Canceled: the poll itself answered 2xx
            text = f"{operation}: the operation failed: {code or 'Failed'}: {message}"
        elif code:
            text = f"{operation}: {status} {code}: {message}"
        else:
            text = f"{operation}: {status}: {message}"
        return errors.classify(status, code, one_line(text, secrets), _retry_after_of(exc))
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, OSError, asyncio.TimeoutError)):
        return errors.classify(0, "ConnectionFailed", one_line(f"{operation}: Azure could not be reached", secrets))
    if isinstance(exc, SdkAzureError):
        return errors.classify(0, type(exc).__name__, one_line(f"{operation}: {exc}", secrets))
    return errors.AzureError(one_line(f"{operation}: {type(exc).__name__}", secrets), code=type(exc).__name__)


def _from_credential(exc: ClientAuthenticationError) -> bool:
    """True when the token could not be had, as opposed to ARM answering 401 to a token it was given."""
    response = getattr(exc, "response", None)
    if response is None or "get_token" in str(getattr(exc, "message", "") or ""):
        return True
    request = getattr(response, "request", None)
    url = str(getattr(request, "url", "") or "").lower()
    return "/oauth2/" in url or "openid-configuration" in url or "/metadata/identity/" in url


# An OAuth refusal: the authority looked at the credentials and said no (AADSTS codes come with one)
_OAUTH_REFUSAL = re.compile(r"\b(invalid_[a-z_]+|unauthorized_client|access_denied|unsupported_[a-z_]+)\b|AADSTS\d+")
# Signs that the authority did not answer, or answered a server error (the chain of the operator's own identity
# keeps only the text of its sources' errors, not their responses)
_AUTHORITY_DOWN = re.compile(
    r"\b(5\d\d|408)\b|temporarily_unavailable|ServiceUnavailable|InternalServerError|BadGateway|GatewayTimeout"
    r"|ServiceRequestError|ServiceResponseError|timed out|timeout|cannot connect|connection|disconnected"
    r"|no response content",
    re.IGNORECASE,
)
_AUTHORITY_THROTTLED = re.compile(r"\b429\b|throttl|too many requests", re.IGNORECASE)


def _authority_trouble(exc: ClientAuthenticationError, text: str) -> tuple[int, str] | None:
    """(status, code) when the authority throttled (`TokenRequestThrottled`, 429) or failed or could not be
    reached (`AuthorityUnavailable`) rather than refused the credentials; None for a refusal."""
    if _OAUTH_REFUSAL.search(text):
        return None
    response = getattr(exc, "response", None)
    status = int(getattr(response, "status_code", 0) or 0)
    if status == 429 or (not status and _AUTHORITY_THROTTLED.search(text)):
        return 429, "TokenRequestThrottled"
    if status >= 500 or status == 408 or (not status and _AUTHORITY_DOWN.search(text)):
        return status, "AuthorityUnavailable"
    return None


def _token_failure_reason(text: str) -> str:
    """The authority's error codes (e.g. `invalid_client AADSTS7000215`), never the response text."""
    parts = []
    oauth = re.search(r"\b(invalid_[a-z_]+|unauthorized_client|access_denied|unsupported_[a-z_]+)\b", text)
    if oauth:
        parts.append(oauth.group(1))
    aadsts = re.search(r"AADSTS\d+", text)
    if aadsts:
        parts.append(aadsts.group(0))
    if parts:
        return " ".join(parts)
    if "unavailable" in text.lower():
        return "no identity is configured"
    return "refused"


def conflict_in_body(data: Mapping[str, Any], operation: str, secrets: tuple[str, ...] = ()) -> errors.ConflictError:
    """The 409 that the schedule PUT does not raise: the SDK accepts that status and hands back the error
    body as if it were a Schedule, so the body is read for ARM's code here."""
    wrapped = data.get("error")
    error = wrapped if isinstance(wrapped, dict) else data
    code = str(error.get("code") or "Conflict")
    message = str(error.get("message") or "the schedule conflicts with an existing one")
    return errors.ConflictError(one_line(f"{operation}: 409 {code}: {message}", secrets), status=409, code=code)
