"""API errors rendered as the apiserver renders them: a `Status` body whose reason, code and message clients parse.

kopf branches on the HTTP code (422 after a failed JSON-patch `test` means "re-read and retry"), the `kubernetes`
client raises `ApiException` with the body, and kubectl prints `details.causes`. So the exact shape matters more
than the wording, but the wording follows the apiserver too, because tests and humans grep for it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

# The sentinel for "no value to show" (Required, Forbidden, Too long render without a value).
OMIT = object()


@dataclasses.dataclass
class FieldError:
    """One `field.Error` of apimachinery: `<field>: <Type>: <value>: <detail>`."""

    type: str  # FieldValueInvalid, FieldValueRequired, ...
    field: str  # "spec.size", "metadata.name", "<nil>" for the root
    value: Any = OMIT
    detail: str = ""

    _TITLES = {
        "FieldValueNotFound": "Not found",
        "FieldValueRequired": "Required value",
        "FieldValueDuplicate": "Duplicate value",
        "FieldValueInvalid": "Invalid value",
        "FieldValueNotSupported": "Unsupported value",
        "FieldValueForbidden": "Forbidden",
        "FieldValueTooLong": "Too long",
        "FieldValueTooMany": "Too many",
        "FieldValueTypeInvalid": "Invalid value",
        "InternalError": "Internal error",
    }
    _WITHOUT_VALUE = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"}

    def body(self) -> str:
        """The message without the field, as `details.causes[].message` carries it."""
        title = self._TITLES.get(self.type, self.type)
        if self.type in self._WITHOUT_VALUE or self.value is OMIT:
            text = title
        else:
            text = f"{title}: {render_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def render_value(value: Any) -> str:
    """Go's rendering in field errors: %q for strings, %v for scalars, JSON for anything else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return render_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def render_number(value: int | float) -> str:
    """Go prints float64(10) as 10, which is how schema bounds appear in messages."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ApiError(Exception):
    """An error response: raised anywhere below the HTTP layer, turned into a Status by the server."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def qualified(resource: str, group: str) -> str:
    """`widgets.example.dev`, or just `configmaps` for the core group, as apiserver messages name resources."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(resource, group)} "{name}" not found',
        details={"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource},
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(resource, group)} "{name}" already exists',
        details={"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource},
    )


def conflict(resource: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        details={"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource},
    )


STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """422 Invalid: `Widget.example.dev "w1" is invalid: spec.size: ...`, or `[e1, e2]` for several."""
    qualified_kind = f"{kind}.{group}" if group else kind
    if len(errors) == 1:
        summary = str(errors[0])
    else:
        summary = "[" + ", ".join(str(e) for e in errors) + "]"
    causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": causes}
    if group:
        details = {"name": name, "group": group, "kind": kind, "causes": causes}
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: " + ", ".join(accepted),
    )


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def forbidden(resource: str, group: str, name: str, why: str, cause: dict | None = None) -> ApiError:
    details: dict[str, Any] = {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource}
    if cause:
        details["causes"] = [cause]
    return ApiError(403, "Forbidden", f'{qualified(resource, group)} "{name}" is forbidden: {why}', details=details)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def server_error(message: str) -> ApiError:
    return ApiError(500, "InternalError", message)
