"""Azure Resource Manager conventions shared by every resource provider the emulator speaks.

Error bodies, id-style paths, case-insensitive routing, paging with absolute nextLinks and timestamps:
the SDK relies on each of these, so they live in one place rather than being reinvented per provider.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import CIMultiDict

if TYPE_CHECKING:
    from .store import Principal
    from .world import World

UTC = datetime.UTC


class ArmError(Exception):
    """An ARM error answer: `{"error": {"code", "message"}}` with a status (and sometimes headers)."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        return web.json_response(
            {"error": {"code": self.code, "message": self.message}}, status=self.status, headers=self.headers
        )


def bad_request(message: str, code: str = "BadRequest") -> ArmError:
    return ArmError(400, code, message)


def resource_not_found(resource_type_and_name: str, resource_group: str) -> ArmError:
    """ARM's own 404 for a resource under an existing resource group, message as the service words it."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type_and_name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def iso(moment: datetime.datetime | None) -> str | None:
    """ARM's timestamp form; offsets other than UTC are kept (Automation reports schedule times in their zone)."""
    if moment is None:
        return None
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") and moment.utcoffset() == datetime.timedelta(0) else text


def parse_time(value: Any, field: str) -> datetime.datetime:
    """An RFC 3339 timestamp from a request body; naive values are UTC, as the service reads them."""
    if not isinstance(value, str):
        raise bad_request(f"The '{field}' property is required and must be a date-time.", "InvalidRequestContent")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Azure writes seven fractional digits; Python reads at most six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"The '{field}' value '{value}' is not a valid date-time.", "InvalidRequestContent") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        return CIMultiDict(self.request.query)

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    @property
    def base_url(self) -> str:
        return f"https://{self.request.host}"

    @property
    def now(self) -> datetime.datetime:
        return self.world.clock.now()

    def url(self, path: str, **query: str) -> str:
        """An absolute URL back to the emulator (nextLinks and LRO headers must not point at real Azure)."""
        query = {"api-version": self.api_version, **query}
        return f"{self.base_url}{path}?{urllib.parse.urlencode(query)}"

    def page(self, items: Iterable[dict[str, Any]]) -> web.Response:
        """A `value` + absolute `nextLink` page, cut by the configured page size."""
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

    def required(self, mapping: dict[str, Any], name: str, where: str = "properties") -> Any:
        """A mandatory body field, or ARM's 400 InvalidRequestContent naming it."""
        value = mapping.get(name)
        if value in (None, ""):
            raise bad_request(f"The '{where}.{name}' property is required.", "InvalidRequestContent")
        return value


Handler = Callable[[ArmCall], web.Response]


@dataclasses.dataclass(frozen=True)
class Route:
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
        regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>(?:/[^/]+)*)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append(Route(method.upper(), re.compile(f"^{regex}$", re.IGNORECASE), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
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
