"""Watch streams: newline-delimited JSON events over a chunked `application/json` response.

A watch is registered with the store's listener *in the same synchronous step* that takes its snapshot or
replays history, so no write can fall between "what the client already has" and "what it will be sent".
Selector transitions are reported the way the apiserver's watch cache reports them: an object that starts
matching arrives as ADDED, one that stops matching as DELETED.
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable

from aiohttp import web

from .errors import expired
from .store import Event, GroupResource, Store

_CLOSE = object()


class Watcher:
    def __init__(self, resource: GroupResource, namespace: str | None, predicate: Callable[[dict], bool]):
        self.resource = resource
        self.namespace = namespace
        self.predicate = predicate
        self.queue: asyncio.Queue = asyncio.Queue()

    def visible(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and (obj["metadata"].get("namespace") or "") != self.namespace:
            return False
        return self.predicate(obj)

    def offer(self, event: Event) -> None:
        now, before = self.visible(event.object), self.visible(event.old)
        if event.type == "ADDED":
            if now:
                self.queue.put_nowait(("ADDED", event.object))
        elif event.type == "DELETED":
            if before or now:
                self.queue.put_nowait(("DELETED", event.object))
        elif now and before:
            self.queue.put_nowait(("MODIFIED", event.object))
        elif now:
            self.queue.put_nowait(("ADDED", event.object))
        elif before:
            self.queue.put_nowait(("DELETED", event.object))

    def send_error(self, status: dict) -> None:
        self.queue.put_nowait(("ERROR", status))

    def close(self) -> None:
        self.queue.put_nowait(_CLOSE)


class WatchHub:
    """All open watches, fed by the store's listener."""

    def __init__(self, store: Store):
        self.store = store
        self.watchers: set[Watcher] = set()
        store.subscribe(self._publish)

    def _publish(self, resource: GroupResource, event: Event) -> None:
        for watcher in list(self.watchers):
            if watcher.resource == resource:
                watcher.offer(event)

    def open(self, resource: GroupResource, namespace: str | None, predicate: Callable[[dict], bool], *,
             since: str | None, initial_events: bool) -> Watcher:
        """Register a watcher and queue what it must see first: a snapshot, a replay, or a 410 error event."""
        watcher = Watcher(resource, namespace, predicate)
        if since in (None, "", "0") or initial_events:
            for obj in self.store.list(resource, namespace):
                if watcher.visible(obj):
                    watcher.queue.put_nowait(("ADDED", obj))
        else:
            try:
                start = int(since)
            except ValueError:
                start = -1
            replay = self.store.events_since(resource, start) if start >= 0 else None
            if replay is None:
                floor = self.store.floor(resource)
                watcher.send_error(expired(f"too old resource version: {since} ({floor})").status())
                watcher.close()
                return watcher
            for event in replay:
                watcher.offer(event)
        self.watchers.add(watcher)
        return watcher

    def expire_all(self) -> None:
        """Used after a forced compaction: every open stream gets a 410 ERROR event and ends."""
        for watcher in list(self.watchers):
            watcher.send_error(expired("The resourceVersion for the provided watch is too old.").status())
            watcher.close()
            self.watchers.discard(watcher)

    def close_all(self) -> None:
        for watcher in list(self.watchers):
            watcher.close()
        self.watchers.clear()


async def stream(
    request: web.Request,
    hub: WatchHub,
    watcher: Watcher,
    *,
    present: Callable[[dict], dict],
    bookmark: Callable[[], dict] | None,
    initial_events_end: bool,
    timeout: float,
    bookmark_interval: float,
    on_prepared: Callable[[int], None] = lambda status: None,
) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    on_prepared(200)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_bookmark = loop.time() + bookmark_interval

    async def send(event_type: str, obj: dict) -> None:
        await response.write(json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n")

    try:
        if initial_events_end:
            # sendInitialEvents: the snapshot is already queued; a bookmark annotated as its end follows it.
            while not watcher.queue.empty():
                item = watcher.queue.get_nowait()
                if item is _CLOSE:
                    return response
                await send(item[0], present(item[1]) if item[0] != "ERROR" else item[1])
            if bookmark is not None:
                mark = bookmark()
                mark["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
                await send("BOOKMARK", mark)
        while True:
            now = loop.time()
            if now >= deadline:
                if bookmark is not None:
                    await send("BOOKMARK", bookmark())
                break
            wait = deadline - now
            if bookmark is not None:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                item = await asyncio.wait_for(watcher.queue.get(), timeout=wait)
            except TimeoutError:
                if bookmark is not None and loop.time() >= next_bookmark:
                    await send("BOOKMARK", bookmark())
                    next_bookmark = loop.time() + bookmark_interval
                continue
            if item is _CLOSE:
                break
            event_type, obj = item
            await send(event_type, obj if event_type == "ERROR" else present(obj))
    except ConnectionResetError:
        pass
    finally:
        hub.watchers.discard(watcher)
    try:
        await response.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass
    return response
