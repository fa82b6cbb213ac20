"""The HTTPS server: one port for the token authority, Azure Resource Manager and the `/_sandbox` admin API.

Every ARM call goes through the same gate ARM has: request ids, injected faults, ARM's latency, bearer token,
per-subscription throttling, RBAC, then the resource provider's handler. Every answer is dated by the
emulated clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import json
import logging
import pathlib
import re
import uuid
from typing import Any

from aiohttp import web

from ..services.faults import LoggedRequest
from ..services.settings import EmulatorSettings
from ..services.world import World
from ..state.errors import ServiceError
from . import (
    admin,
    authorization,
    automation,
    automation_assets,
    automation_schedules,
    entra,
    recovery_services,
    resources,
    site_recovery,
)
from .arm import ArmCall, ArmError, Router, normalize_path
from .tls import make_server_context

log = logging.getLogger("asr_sandbox.azure")

ADMIN_PREFIX = "/_sandbox"
TICK_SECONDS = 0.5
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)


class AzureEmulator:
    """Azure Resource Manager, Entra ID and Site Recovery's behaviour on a loopback HTTPS port.

    `asr-autoupdate sandbox` runs it beside the real kube-apiserver and etcd; tests run it through
    `python -m asr_sandbox.azure`.
    """

    def __init__(
        self, state_dir: pathlib.Path, *, seed: dict[str, Any] | None = None, settings: EmulatorSettings | None = None
    ):
        self.state_dir = pathlib.Path(state_dir)
        self.world = World(seed, settings or EmulatorSettings())
        self.url = ""
        self.admin_url = ""
        self.ca_path = self.state_dir / "ca.pem"
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Create the CA and server certificate, write `ca.pem`, listen, and start the emulated clock's ticker."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        context, self.ca_path = make_server_context(self.state_dir, host)
        self._runner = web.AppRunner(build_app(self.world), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=context)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"https://{url_host}:{bound_port}"
        self.admin_url = self.url + ADMIN_PREFIX
        self._ticker = asyncio.create_task(self._tick_forever(), name="azure-emulator-clock")
        log.info("Azure emulator listening on %s", self.url)

    async def stop(self) -> None:
        """Stop the ticker first, so no tick runs against a server that is going away."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._runner is not None:
            await self._runner.cleanup()

    def describe(self) -> dict[str, Any]:
        """The Azure half of `sandbox.json`: endpoints, CA, the operator's credentials and the vaults."""
        state = self.world.state
        operator = state.principals[state.operator_object_id.lower()]
        subscriptions = list(state.subscriptions.values())
        return {
            "armEndpoint": self.url,
            "authorityHost": self.url,
            "caBundle": str(self.ca_path),
            "tenantId": state.tenant_id,
            "clientId": operator.client_id,
            "clientSecret": operator.client_secret,
            "subscriptionId": subscriptions[0].subscription_id if subscriptions else None,
            "adminEndpoint": self.admin_url,
            "subscriptions": [
                {"subscriptionId": s.subscription_id, "displayName": s.display_name} for s in subscriptions
            ],
            "vaults": [
                {
                    "subscriptionId": v.subscription_id,
                    "resourceGroup": v.resource_group,
                    "name": v.name,
                    "location": v.location,
                }
                for v in state.vaults.values()
            ],
        }

    async def _tick_forever(self) -> None:
        """Due schedules run even when nobody calls (a demo watching the clock); a bug must not stop the clock."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.world.tick()
            except Exception:
                log.exception("the emulated clock's tick failed")


def build_app(world: World) -> web.Application:
    """One aiohttp app: Entra ID, the admin API, and every ARM path through `_dispatch`'s gate."""
    router = Router()
    resources.register(router)
    automation.register(router, (*automation_assets.KINDS, *automation_schedules.KINDS))
    recovery_services.register(router)
    site_recovery.register(router)
    authorization.register(router)

    app = web.Application(middlewares=[_edge(world)], client_max_size=4 * 1024 * 1024)
    app.on_response_prepare.append(_emulated_date(world))
    entra.register(app, world)
    admin.register(app, world)

    async def arm(request: web.Request) -> web.StreamResponse:
        # ARM's own latency, in real time, for ARM requests only (the token endpoint and the admin API answer
        # at once): a client's timeouts and its pace through a fleet then meet realistic round trips.
        delay = world.latency.next_delay()
        if delay:
            await asyncio.sleep(delay)
        return await _dispatch(world, router, request)

    app.router.add_route("*", "/{tail:.*}", arm)
    return app


def _emulated_date(world: World) -> Any:
    """Every answer of the app (ARM, its errors and faults, the token endpoint, the admin API) is dated by the
    emulated clock, as Azure's answers are dated by Azure's: a client that reads the service's time from `Date`
    (soak times, clock skew) then sees the emulated now. aiohttp only adds its wall-clock `Date` when none is set.
    """

    async def stamp(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Date"] = http_date(world.clock.now())

    return stamp


def http_date(moment: datetime.datetime) -> str:
    """RFC 7231's IMF-fixdate (`Fri, 04 Dec 2026 19:53:06 GMT`), whole seconds, as ARM writes it."""
    return email.utils.format_datetime(moment.astimezone(datetime.UTC).replace(microsecond=0), usegmt=True)


def _edge(world: World) -> Any:
    """Request ids, the request log and injected faults for everything outside the admin API."""

    @web.middleware
    async def edge(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        path = normalize_path(request.path)
        found = _SUBSCRIPTION.match(path)
        request_id = str(uuid.uuid4())
        entry = world.requests.add(
            LoggedRequest(
                time=datetime.datetime.now(datetime.UTC),
                method=request.method,
                path=path,
                api_version=request.query.get("api-version"),
                subscription=found.group(1) if found else None,
                principal=entra.principal_hint(world, request),
                request_id=request_id,
                connection=_peer(request),
            )
        )
        client_id = None
        if world.faults.by_client and request.method == "POST" and path.endswith("/oauth2/v2.0/token"):
            client_id = str((await request.post()).get("client_id") or "")  # aiohttp keeps it for the handler
        fault = world.faults.take(request.method, path, client_id)
        if fault is not None:
            entry.fault = fault.id
            if fault.latency_seconds:
                await asyncio.sleep(fault.latency_seconds)
            if fault.drop:
                # Abort the socket; aiohttp then discards the response it cannot write.
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=499)
        if fault is not None and fault.status is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            response: web.StreamResponse = ArmError(
                fault.status, fault.code or "Error", fault.message or "", headers=headers
            ).response()
        else:
            response = await handler(request)
        entry.status = response.status
        response.headers["x-ms-request-id"] = request_id
        response.headers["x-ms-correlation-request-id"] = request.headers.get("x-ms-correlation-request-id", request_id)
        stamp = world.clock.now().strftime("%Y%m%dT%H%M%SZ")
        response.headers["x-ms-routing-request-id"] = f"WESTEUROPE:{stamp}:{request_id}"
        return response

    return edge


def _peer(request: web.Request) -> str | None:
    """The client's end of the connection a request came on (`ip:port`, `[ip]:port` for IPv6): requests that
    show the same value were sent over one kept-alive connection, so a test can count TLS handshakes."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not isinstance(peer, tuple) or len(peer) < 2:
        return None
    host, port = peer[0], peer[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


async def _dispatch(world: World, router: Router, request: web.Request) -> web.StreamResponse:
    path = normalize_path(request.rel_url.raw_path)
    limits: dict[str, str] = {}
    try:
        principal = entra.authenticate(world, request)
        handler, params = router.match(request.method, path)
        world.tick()
        found = _SUBSCRIPTION.match(path)
        if found:
            limits = world.throttle.admit(request.method, found.group(1), principal.object_id)
            world.state.subscription(found.group(1))
        authorization.authorize(world.state, principal, request.method, path)
        body = await _json_body(request)
        response = handler(
            ArmCall(request=request, world=world, principal=principal, path=path, params=params, body=body)
        )
    except ArmError as error:
        response = error.response()
    except ServiceError as refusal:
        response = ArmError.of(refusal).response()
    except Exception:
        log.exception("unhandled error for %s %s", request.method, path)
        response = ArmError(
            500, "InternalServerError", "The Azure sandbox failed to process the request; see its log."
        ).response()
    response.headers.update(limits)
    return response


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.method not in ("PUT", "PATCH", "POST") or not request.can_read_body:
        return {}
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: '{error.msg}'.",
        ) from None
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body
