"""The HTTP face of the emulator: URL parsing, content negotiation, Status errors, and `KubeEmulator` itself.

Clients reach it through an ordinary kubeconfig (HTTP, any bearer token), so kopf, the `kubernetes` client and
kubectl behave as they would against a cluster. Each request is recorded (`GET /_kube/requests`) with the verb
and resource an RBAC rule would have to allow, so tests can check that a Role covers what the operator used.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import os
import pathlib
from typing import Any

import yaml
from aiohttp import web
from multidict import CIMultiDict

from . import discovery, openapi, protobuf
from .cluster import Cluster
from .errors import ApiError, bad_request, method_not_allowed, server_error, unsupported_media_type
from .patch import APPLY, check_patch_type
from .resources import ResourceType
from .selectors import compile_filter
from .table import table
from .watch import WatchHub, stream

logger = logging.getLogger(__name__)

_JSON = "application/json"
_BODY_TYPES = ["application/json", "application/yaml"]
_DEFAULT_WATCH_TIMEOUT = 1800.0
LOG_ENTRY = web.RequestKey("log_entry", object)


@dataclasses.dataclass
class Target:
    """A parsed resource URL."""

    group: str
    version: str
    resource_type: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False


def _json_response(body: Any, status: int = 200, headers: CIMultiDict | None = None) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        content_type=_JSON, headers=headers)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


class KubeEmulator:
    """A kube-apiserver stand-in on loopback HTTP; see docs/sandbox-kube.md."""

    def __init__(self, *, history_limit: int = 1000, bookmark_interval: float = 5.0):
        self.bookmark_interval = bookmark_interval
        self.cluster = Cluster(history_limit=history_limit)
        self.hub = WatchHub(self.cluster.store)
        # Bounded, so that a long demo does not grow without limit; tests clear it between phases.
        self.requests: collections.deque[dict] = collections.deque(maxlen=100_000)
        self.url = ""
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=2.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound[1]}"

    async def stop(self) -> None:
        """Ends open watch streams first, so that shutdown never waits for clients to hang up."""
        self.hub.close_all()
        if self._runner is not None:
            await asyncio.sleep(0)
            await self._runner.cleanup()
            self._runner = None

    def write_kubeconfig(self, path: str | os.PathLike, *, namespace: str = "default") -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "asr-sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "asr-sandbox", "user": {"token": "sandbox-token"}}],
            "contexts": [{"name": "asr-sandbox",
                          "context": {"cluster": "asr-sandbox", "user": "asr-sandbox", "namespace": namespace}}],
            "current-context": "asr-sandbox",
            "preferences": {},
        }
        target = pathlib.Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        os.chmod(partial, 0o600)
        partial.replace(target)

    # -- request log and errors -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        entry: dict[str, Any] | None = None
        if not request.path.startswith("/_kube/"):
            entry = {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "contentType": request.headers.get("Content-Type", ""),
                "verb": None,
                "group": None,
                "version": None,
                "resource": None,
                "subresource": None,
                "namespace": None,
                "name": None,
                "status": None,
            }
            self.requests.append(entry)
        request[LOG_ENTRY] = entry
        try:
            response = await handler(request)
        except ApiError as e:
            response = _json_response(e.status(), e.code, CIMultiDict(e.headers))
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug here must look like an apiserver 500, not a dropped connection
            logger.exception("unhandled error for %s %s", request.method, request.path_qs)
            error = server_error(f"emulator error: {e!r}")
            response = _json_response(error.status(), 500)
        if entry is not None and entry["status"] is None:
            entry["status"] = response.status
        return response

    # -- routing --------------------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return _json_response({"paths": ["/api", "/api/v1", "/apis", "/openapi/v2", "/openapi/v3", "/version"]})
        head = parts[0]
        if head == "version" and len(parts) == 1:
            return _json_response(discovery.KUBERNETES_VERSION)
        if head in ("healthz", "livez", "readyz"):
            return web.Response(text="ok", content_type="text/plain")
        if head == "_kube":
            return await self._test_hook(request, parts[1:])
        if head == "openapi":
            return self._openapi(request, parts[1:])
        if head == "api":
            if len(parts) == 1:
                return self._discovery(request, core=True)
            group, version, rest = "", parts[1], parts[2:]
        elif head == "apis":
            if len(parts) == 1:
                return self._discovery(request, core=False)
            if len(parts) == 2:
                document = discovery.api_group(self.cluster.registry, parts[1])
                if document is None:
                    return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
                return _json_response(document)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
        if not rest:
            document = discovery.resource_list(self.cluster.registry, group, version)
            if document is None:
                return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
            return _json_response(document)
        target = self._target(group, version, rest)
        entry = request[LOG_ENTRY]
        if entry is not None:
            entry.update(group=group, version=version, resource=target.resource_type.plural,
                         subresource=target.subresource, namespace=target.namespace, name=target.name)
        return await self._serve(request, target)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        legacy_watch = False
        if rest and rest[0] == "watch":
            legacy_watch, rest = True, rest[1:]
        namespace = None
        is_namespace_subresource = (not group and len(rest) == 3 and rest[0] == "namespaces"
                                    and rest[2] in ("status", "finalize"))
        if len(rest) >= 3 and rest[0] == "namespaces" and not is_namespace_subresource:
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise _not_found_path()
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        resource_type = self.cluster.registry.get(group, version, plural)
        if resource_type is None:
            raise _not_found_path()
        if namespace is not None and not resource_type.namespaced:
            raise _not_found_path()
        if resource_type.namespaced and namespace is None and name is not None:
            raise _not_found_path()
        if subresource is not None and subresource not in resource_type.subresources:
            raise _not_found_path()
        return Target(group, version, resource_type, namespace, name, subresource, legacy_watch)

    async def _serve(self, request: web.Request, target: Target) -> web.StreamResponse:
        method = request.method
        query = request.query
        resource_type = target.resource_type
        cluster = self.cluster
        entry = request[LOG_ENTRY]

        def verb(name: str) -> None:
            if entry is not None:
                entry["verb"] = name

        dry_run = query.get("dryRun") == "All"
        if query.get("dryRun") not in (None, "All"):
            raise bad_request(f"Invalid dryRun value: {query.get('dryRun')!r}; only 'All' is supported")
        field_validation = query.get("fieldValidation")
        if field_validation not in (None, "Strict", "Warn", "Ignore"):
            raise bad_request(f'fieldValidation: Unsupported value: "{field_validation}": supported values: '
                              '"Ignore", "Strict", "Warn"')

        if target.subresource is not None and method not in ("GET", "PUT", "PATCH"):
            raise method_not_allowed("the server does not allow this method on the requested resource")
        if method == "GET":
            if target.legacy_watch or _flag(query.get("watch")):
                verb("watch")
                return await self._watch(request, target)
            if target.name is None:
                verb("list")
                return self._list(request, target)
            verb("get")
            obj = cluster.get(resource_type, target.namespace, target.name)
            if self._wants_table(request) and target.subresource is None:
                return _json_response(table(resource_type, [obj], resource_version=obj["metadata"].get("resourceVersion"),
                                            include_object=query.get("includeObject", "Metadata")))
            return _json_response(obj)
        if method == "POST":
            verb("create")
            if target.name is not None or (resource_type.namespaced and target.namespace is None):
                raise method_not_allowed("the server does not allow this method on the requested resource")
            if resource_type.group_resource == ("authorization.k8s.io", "selfsubjectaccessreviews"):
                is_json = request.headers.get("Content-Type", _JSON).startswith(_JSON)
                return _json_response(_access_review(await self._body(request) if is_json else {}), 201)
            body = await self._body(request)
            obj, warnings = cluster.create(resource_type, target.namespace, body, dry_run=dry_run,
                                           field_validation=field_validation)
            return _json_response(obj, 201, _warning_headers(warnings))
        if method == "PUT":
            verb("update")
            if target.name is None:
                raise method_not_allowed("the server does not allow this method on the requested resource")
            body = await self._body(request)
            obj, warnings = cluster.update(resource_type, target.namespace, target.name, body,
                                           subresource=target.subresource, dry_run=dry_run,
                                           field_validation=field_validation)
            return _json_response(obj, 200, _warning_headers(warnings))
        if method == "PATCH":
            verb("patch")
            if target.name is None:
                raise method_not_allowed("the server does not allow this method on the requested resource")
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            body = await self._patch_body(request, content_type, resource_type)
            obj, warnings, status = cluster.patch(
                resource_type, target.namespace, target.name, content_type, body, subresource=target.subresource,
                dry_run=dry_run, field_validation=field_validation, field_manager=query.get("fieldManager"),
                force=_flag(query.get("force")))
            return _json_response(obj, status, _warning_headers(warnings))
        if method == "DELETE":
            options = await self._delete_options(request)
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            if target.name is None:
                verb("deletecollection")
                return self._delete_collection(request, target, options, dry_run)
            verb("delete")
            obj, gone = cluster.delete(resource_type, target.namespace, target.name, options, dry_run=dry_run)
            if gone and not resource_type.is_custom:
                return _json_response(_success(resource_type, obj))
            return _json_response(obj)
        raise method_not_allowed("the server does not allow this method on the requested resource")

    # -- reading --------------------------------------------------------------------------------------------

    def _predicate(self, request: web.Request, target: Target, extra_field: str | None = None):
        resource_type = target.resource_type
        fields = request.query.get("fieldSelector") or ""
        if extra_field:
            fields = f"{fields},{extra_field}" if fields else extra_field
        return compile_filter(request.query.get("labelSelector"), fields, group=resource_type.group,
                              plural=resource_type.plural, selectable=resource_type.selectable_fields,
                              is_custom=resource_type.is_custom)

    def _list(self, request: web.Request, target: Target) -> web.Response:
        resource_type = target.resource_type
        predicate = self._predicate(request, target)
        items, version = self.cluster.list(resource_type, target.namespace, predicate)
        if self._wants_table(request):
            return _json_response(table(resource_type, items, resource_version=str(version),
                                        include_object=request.query.get("includeObject", "Metadata")))
        return _json_response({
            "kind": resource_type.list_kind,
            "apiVersion": resource_type.api_version,
            "metadata": {"resourceVersion": str(version)},
            "items": items,
        })

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        resource_type = target.resource_type
        query = request.query
        extra = f"metadata.name={target.name}" if target.name else None
        predicate = self._predicate(request, target, extra)
        initial_events = _flag(query.get("sendInitialEvents"))
        if initial_events and not _flag(query.get("allowWatchBookmarks")):
            raise bad_request("sendInitialEvents requires allowWatchBookmarks=true")
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else _DEFAULT_WATCH_TIMEOUT
        except ValueError:
            raise bad_request(f"invalid timeoutSeconds: {query.get('timeoutSeconds')!r}") from None
        watcher = self.hub.open(resource_type.group_resource, target.namespace, predicate,
                                since=query.get("resourceVersion"), initial_events=initial_events)
        as_table = self._wants_table(request)
        include_object = query.get("includeObject", "Metadata")
        cluster = self.cluster

        def present(obj: dict) -> dict:
            shown = cluster.present(resource_type, obj)
            if as_table:
                return table(resource_type, [shown], resource_version=shown["metadata"].get("resourceVersion"),
                             include_object=include_object)
            return shown

        def bookmark() -> dict:
            return {"kind": resource_type.kind, "apiVersion": resource_type.api_version,
                    "metadata": {"resourceVersion": str(cluster.store.resource_version)}}

        entry = request[LOG_ENTRY]

        def prepared(status: int) -> None:
            if entry is not None:
                entry["status"] = status

        return await stream(
            request, self.hub, watcher, present=present,
            bookmark=bookmark if _flag(query.get("allowWatchBookmarks")) else None,
            initial_events_end=initial_events, timeout=timeout, bookmark_interval=self.bookmark_interval,
            on_prepared=prepared)

    @staticmethod
    def _wants_table(request: web.Request) -> bool:
        accept = request.headers.get("Accept", "").replace(" ", "")
        return "as=Table" in accept and "g=meta.k8s.io" in accept

    # -- writing --------------------------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        content_type = request.headers.get("Content-Type", _JSON).split(";")[0].strip().lower() or _JSON
        raw = await request.read()
        if content_type in (_JSON, "*/*"):
            return _parse_json(raw)
        if content_type == protobuf.MEDIA_TYPE:
            return protobuf.decode(raw, _BODY_TYPES)
        if content_type in ("application/yaml", "text/yaml", "application/x-yaml"):
            try:
                return yaml.safe_load(raw.decode() or "null")
            except yaml.YAMLError as e:
                raise bad_request(f"error decoding YAML: {e}") from None
        raise unsupported_media_type(_BODY_TYPES)

    async def _patch_body(self, request: web.Request, content_type: str, resource_type: ResourceType) -> Any:
        """The patch type is the Content-Type; an unknown one is a 415 before the body is even read."""
        check_patch_type(content_type, custom=resource_type.is_custom)
        raw = await request.read()
        if content_type == APPLY:
            try:
                return yaml.safe_load(raw.decode() or "null")
            except yaml.YAMLError as e:
                raise bad_request(f"error decoding YAML: {e}") from None
        return _parse_json(raw)

    async def _delete_options(self, request: web.Request) -> dict:
        raw = await request.read()
        options: dict = {}
        if raw.strip():
            parsed = _parse_json(raw)
            if not isinstance(parsed, dict):
                raise bad_request("DeleteOptions must be an object")
            options = parsed
        query = request.query
        if query.get("propagationPolicy"):
            options["propagationPolicy"] = query["propagationPolicy"]
        if query.get("orphanDependents"):
            options["orphanDependents"] = _flag(query["orphanDependents"])
        return options

    def _delete_collection(self, request: web.Request, target: Target, options: dict, dry_run: bool) -> web.Response:
        resource_type = target.resource_type
        predicate = self._predicate(request, target)
        items, _ = self.cluster.list(resource_type, target.namespace, predicate)
        deleted = []
        for obj in items:
            metadata = obj["metadata"]
            try:
                result, _ = self.cluster.delete(resource_type, metadata.get("namespace"), metadata["name"],
                                                dict(options, preconditions=None), dry_run=dry_run)
                deleted.append(result)
            except ApiError as e:
                if e.code != 404:
                    raise
        return _json_response({"kind": resource_type.list_kind, "apiVersion": resource_type.api_version,
                               "metadata": {"resourceVersion": str(self.cluster.store.resource_version)},
                               "items": deleted})

    # -- discovery and OpenAPI ------------------------------------------------------------------------------

    def _discovery(self, request: web.Request, *, core: bool) -> web.Response:
        media_type = discovery.wants_aggregated(request.headers.get("Accept", ""))
        registry = self.cluster.registry
        if media_type:
            body = discovery.aggregated(registry, core=core, media_type=media_type)
            return web.Response(body=json.dumps(body, separators=(",", ":")).encode(),
                                headers={"Content-Type": media_type, "Vary": "Accept"})
        if core:
            host = request.host or "127.0.0.1"
            return _json_response(discovery.core_versions(host))
        return _json_response(discovery.group_list(registry))

    def _openapi(self, request: web.Request, parts: list[str]) -> web.Response:
        registry = self.cluster.registry
        if parts == ["v2"]:
            return web.Response(body=openapi.v2_document(), headers={"Content-Type": "application/octet-stream"})
        if parts == ["v3"]:
            return _json_response(openapi.root_document(registry))
        if len(parts) >= 3 and parts[0] == "v3":
            if parts[1] == "api" and len(parts) == 3:
                document = openapi.group_version_document(registry, "", parts[2])
            elif parts[1] == "apis" and len(parts) == 4:
                document = openapi.group_version_document(registry, parts[2], parts[3])
            else:
                document = None
            if document is not None:
                return _json_response(document)
        return web.Response(status=404, text="404 page not found\n", content_type="text/plain")

    # -- test hooks -----------------------------------------------------------------------------------------

    async def _test_hook(self, request: web.Request, parts: list[str]) -> web.Response:
        if parts == ["compact"] and request.method == "POST":
            version = self.cluster.store.compact()
            if _flag(request.query.get("expireWatches")):
                self.hub.expire_all()
            return _json_response({"resourceVersion": str(version)})
        if parts == ["requests"] and request.method == "GET":
            return _json_response({"requests": list(self.requests)})
        if parts == ["requests"] and request.method == "DELETE":
            self.requests.clear()
            return _json_response({"requests": []})
        return web.Response(status=404, text="404 page not found\n", content_type="text/plain")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode() or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad_request(f"the request body is not valid JSON: {e}") from None


def _warning_headers(warnings: list[str]) -> CIMultiDict | None:
    if not warnings:
        return None
    headers: CIMultiDict = CIMultiDict()
    for warning in warnings:
        headers.add("Warning", '299 - "' + warning.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return headers


def _access_review(body: Any) -> dict:
    review = dict(body) if isinstance(body, dict) else {}
    review.update(apiVersion="authorization.k8s.io/v1", kind="SelfSubjectAccessReview")
    review.setdefault("metadata", {})
    review["status"] = {"allowed": True, "reason": "the Kubernetes emulator does not enforce RBAC"}
    return review


def _success(resource_type: ResourceType, obj: dict) -> dict:
    details = {"name": obj["metadata"]["name"], "kind": resource_type.plural, "uid": obj["metadata"].get("uid")}
    if resource_type.group:
        details["group"] = resource_type.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    details={"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})
