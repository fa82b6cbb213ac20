"""Injected failures and the request log: how tests make Azure misbehave and then check what the client did."""

from __future__ import annotations

import collections
import datetime
import re
import uuid
from dataclasses import dataclass
from typing import Any

DEFAULT_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    409: "Conflict",
    429: "SubscriptionRequestsThrottled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class Fault:
    """One rule: requests matching method and path pattern get latency, a dropped connection or an error."""

    id: str
    path_pattern: re.Pattern[str]
    method: str | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: int | None = None
    latency_seconds: float = 0.0
    drop: bool = False
    # Only token requests (the authority's token endpoint) of this application (the form's client_id).
    client_id: str | None = None
    # How many more requests it applies to; None until deleted.
    remaining: int | None = None
    hits: int = 0

    @classmethod
    def from_api(cls, spec: dict[str, Any]) -> Fault:
        """Validate an admin-API fault; raises ValueError with what is wrong."""
        unknown = set(spec) - {
            "method",
            "pathPattern",
            "status",
            "code",
            "message",
            "retryAfter",
            "latencySeconds",
            "drop",
            "count",
            "clientId",
        }
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        try:
            pattern = re.compile(str(spec.get("pathPattern") or ".*"), re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"pathPattern is not a valid regular expression: {error}") from None
        status = spec.get("status")
        if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status (400-599)")
        count = spec.get("count")
        if count is not None and not (isinstance(count, int) and count >= 1):
            raise ValueError("count must be a positive integer (omit it for a fault that stays until deleted)")
        if status is None and not spec.get("drop") and not spec.get("latencySeconds"):
            raise ValueError("a fault needs a status, drop=true or latencySeconds")
        method = spec.get("method")
        return cls(
            id=str(uuid.uuid4()),
            path_pattern=pattern,
            method=str(method).upper() if method and method != "*" else None,
            status=status,
            code=spec.get("code") or (DEFAULT_CODES.get(status, "Error") if status else None),
            message=spec.get("message") or (f"Injected fault: HTTP {status}." if status else None),
            retry_after=spec.get("retryAfter"),
            latency_seconds=float(spec.get("latencySeconds") or 0),
            drop=bool(spec.get("drop")),
            client_id=str(spec["clientId"]).lower() if spec.get("clientId") else None,
            remaining=count,
        )

    def public(self) -> dict[str, Any]:
        """What the admin API shows, in the names a fault was posted with (`count` is what is left)."""
        return {
            "id": self.id,
            "method": self.method or "*",
            "pathPattern": self.path_pattern.pattern,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "retryAfter": self.retry_after,
            "latencySeconds": self.latency_seconds,
            "drop": self.drop,
            "clientId": self.client_id,
            "count": self.remaining,
            "hits": self.hits,
        }


class FaultBook:
    """The injected faults, in the order they were added: the first match wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Add a fault after the existing ones."""
        self._faults.append(fault)
        return fault

    @property
    def by_client(self) -> bool:
        """Whether a fault picks token requests by their client id (the request's form must be read)."""
        return any(fault.client_id for fault in self._faults)

    def take(self, method: str, path: str, client_id: str | None = None) -> Fault | None:
        """The first matching fault, counted as used (and forgotten once its count is spent); a fault with a
        `client_id` matches only requests of that client."""
        for fault in self._faults:
            if fault.client_id and fault.client_id != (client_id or "").lower():
                continue
            if (fault.method is None or fault.method == method) and fault.path_pattern.search(path):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def remove(self, fault_id: str) -> bool:
        """Delete one fault; False when there is none with that id."""
        before = len(self._faults)
        self._faults = [fault for fault in self._faults if fault.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        """Forget every fault."""
        self._faults.clear()

    def public(self) -> list[dict[str, Any]]:
        """The faults still in force."""
        return [fault.public() for fault in self._faults]


@dataclass
class LoggedRequest:
    """One request as the admin API's log shows it (never its token or body)."""

    time: datetime.datetime
    method: str
    path: str
    api_version: str | None
    subscription: str | None
    principal: str | None
    request_id: str
    status: int | None = None
    fault: str | None = None
    connection: str | None = None  # the client's end of the TCP connection, "ip:port": which requests shared one

    def public(self) -> dict[str, Any]:
        """What the admin API's request log shows."""
        return {
            "time": self.time.isoformat(),
            "method": self.method,
            "path": self.path,
            "apiVersion": self.api_version,
            "status": self.status,
            "subscription": self.subscription,
            "principal": self.principal,
            "requestId": self.request_id,
            "fault": self.fault,
            "connection": self.connection,
        }


class RequestLog:
    """The most recent requests (bounded, so a long demo does not grow without limit)."""

    def __init__(self, limit: int = 20000) -> None:
        self._entries: collections.deque[LoggedRequest] = collections.deque(maxlen=limit)

    def add(self, entry: LoggedRequest) -> LoggedRequest:
        """Log a request (its status is filled in once answered)."""
        self._entries.append(entry)
        return entry

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def public(self) -> list[dict[str, Any]]:
        """Oldest first."""
        return [entry.public() for entry in self._entries]
