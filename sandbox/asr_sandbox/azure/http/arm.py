"""Azure Resource Manager conventions shared by every resource provider the emulator speaks.

Error bodies, id-style paths, case-insensitive routing, paging with absolute nextLinks: the SDK relies on each
of these, so they live in one place rather than being reinvented per provider. This is also where a refusal of
the estate or a service (`state.errors`) gets its HTTP status.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from ..services.world import World
from ..state.errors import Conflict, InvalidInput, NotFound, ServiceError, Throttled
from ..state.tenant import Principal

_STATUS_OF_REFUSAL: tuple[tuple[type[ServiceError], int], ...] = (
    (NotFound, 404),
    (InvalidInput, 400),
    (Conflict, 409),
    (Throttled, 429),
)


class ArmError(Exception):
    """An ARM error answer: `{"error": {"code", "message"}}` with a status (and sometimes headers)."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    @classmethod
    def of(cls, refusal: ServiceError) -> ArmError:
        """The answer ARM gives for a refusal; a throttled caller is told when to come back."""
        status = next((status for kind, status in _STATUS_OF_REFUSAL if isinstance(refusal, kind)), 400)
        headers = {"Retry-After": str(refusal.retry_after)} if isinstance(refusal, Throttled) else None
        return cls(status, refusal.code, refusal.message, headers=headers)

    def response(self) -> web.Response:
        """The body every Azure SDK error parser understands."""
        return web.json_response(
            {"error": {"code": self.code, "message": self.message}}, status=self.status, headers=self.headers
        )


def bad_request(message: str, code: str = "BadRequest") -> ArmError:
    """ARM's 400; most providers say BadRequest, some name the problem in the code."""
    return ArmError(400, code, message)


def normalize_path(path: str) -> str:
    """Collapse `//` (scopes are inserted unescaped by the SDK, so a leading `/` doubles) and drop a trailing `/`."""
    collapsed = re.sub(r"/{2,}", "/", path)
    return collapsed[:-1] if len(collapsed) > 1 and collapsed.endswith("/") else collapsed


@dataclasses.dataclass
class ArmCall:
    """One authenticated ARM request, as a handler sees it."""

    request: web.Request
    world: World
    principal: Principal
    path: str
    params: dict[str, str]
    body: dict[str, Any]

    @property
    def query(self) -> CIMultiDict[str]:
        """Query names are case-insensitive in ARM (`$skipToken`, `$skiptoken`)."""
        return CIMultiDict(self.request.query)

    @property
    def api_version(self) -> str:
        """Echoed into nextLinks and LRO URLs, so follow-up calls use the caller's version."""
        return self.query.get("api-version", "")

    @property
    def base_url(self) -> str:
        """The host the caller used, so links work whichever loopback name it chose."""
        return f"https://{self.request.host}"

    @property
    def now(self) -> datetime.datetime:
        """The emulated clock's now, never the wall clock."""
        return self.world.clock.now()

    @property
    def properties(self) -> dict[str, Any]:
        """The body's `properties`, empty when the caller sent none."""
        return self.body.get("properties") or {}

    def url(self, path: str, **query: str) -> str:
        """An absolute URL back to the emulator (nextLinks and LRO headers must not point at real Azure)."""
        query = {"api-version": self.api_version, **query}
        return f"{self.base_url}{path}?{urllib.parse.urlencode(query)}"

    def page(self, items: Iterable[dict[str, Any]]) -> web.Response:
        """A `value` + absolute `nextLink` page, cut by the configured page size, continued by `$skiptoken`."""
        everything = list(items)
        query = self.query
        skip_text = query.get("$skiptoken") or query.get("skipToken") or "0"
        skip = int(skip_text) if skip_text.isdigit() else 0
        size = self.world.settings.page_size
        body: dict[str, Any] = {"value": everything[skip : skip + size]}
        if skip + size < len(everything):
            carried = {k: v for k, v in query.items() if k.lower() not in ("$skiptoken", "skiptoken", "api-version")}
            body["nextLink"] = self.url(self.path, **carried, **{"$skiptoken": str(skip + size)})
        return web.json_response(body)

    def page_by_skip(self, items: Iterable[dict[str, Any]]) -> web.Response:
        """Automation's paging: the nextLink is the list URL itself plus `$skip=<items so far>`.

        As the service writes it (`…/schedules?api-version=2020-01-13-preview&$skip=100`): api-version first,
        the caller's other query (`$filter`) kept, `$` left unescaped.
        """
        everything = list(items)
        query = self.query
        skip_text = query.get("$skip") or "0"
        skip = int(skip_text) if skip_text.isdigit() else 0
        size = self.world.settings.page_size
        body: dict[str, Any] = {"value": everything[skip : skip + size]}
        if skip + size < len(everything):
            carried = [(k, v) for k, v in query.items() if k.lower() not in ("$skip", "api-version")]
            pairs = [("api-version", self.api_version), *carried, ("$skip", str(skip + size))]
            body["nextLink"] = f"{self.base_url}{self.path}?{urllib.parse.urlencode(pairs, safe='$')}"
        return web.json_response(body)

    def required(self, mapping: dict[str, Any], name: str, where: str = "properties") -> Any:
        """A mandatory body field, or ARM's 400 InvalidRequestContent naming it."""
        value = mapping.get(name)
        if value in (None, ""):
            raise bad_request(f"The '{where}.{name}' property is required.", "InvalidRequestContent")
        return value


Handler = Callable[[ArmCall], web.Response]


@dataclasses.dataclass(frozen=True)
class Route:
    """One registered template, compiled once."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """Matches ARM paths case-insensitively, as ARM does (`/Subscriptions/` and `/subscriptions/` are one path).

    Templates use `{name}` for one segment and `{scope*}` for a resource scope of any depth.
    """

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """Register `handler` for `method` on `template`."""
        regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>(?:/[^/]+)*)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append(Route(method.upper(), re.compile(f"^{regex}$", re.IGNORECASE), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and path parameters; 405 when only other methods match, 404 when nothing does."""
        allowed = False
        for route in self._routes:
            found = route.pattern.match(path)
            if not found:
                continue
            if route.method == method:
                return route.handler, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
            allowed = True
        if allowed:
            raise ArmError(405, "HttpMethodNotAllowed", f"The HTTP method '{method}' is not supported for '{path}'.")
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type for '{path}' could not be found (the Azure sandbox does not emulate it).",
        )
