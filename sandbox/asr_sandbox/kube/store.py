"""Objects in memory, one resourceVersion counter for everything, and a bounded event history per resource.

The history is what makes watches resumable: a watch from resourceVersion N replays the recorded events after
N, and a resourceVersion older than the history (after trimming or a forced compaction) is answered with
410 Gone, which is how kopf and client-go learn to relist. Stored objects are never mutated after being written
(every write stores a fresh dict), so the history, open watches and readers can share them safely.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterator

GroupResource = tuple[str, str]
Key = tuple[str, str]  # (namespace or "", name)


@dataclasses.dataclass(frozen=True)
class Event:
    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    object: dict
    old: dict | None  # the previous state, to turn selector transitions into ADDED/DELETED


def key_of(obj: dict) -> Key:
    metadata = obj["metadata"]
    return (metadata.get("namespace") or "", metadata["name"])


class Store:
    def __init__(self, *, history_limit: int = 1000):
        self.history_limit = history_limit
        self.resource_version = 0
        self._objects: dict[GroupResource, dict[Key, dict]] = collections.defaultdict(dict)
        self._uids: dict[str, tuple[GroupResource, Key]] = {}
        self._history: dict[GroupResource, collections.deque[Event]] = collections.defaultdict(collections.deque)
        # Events at or below the floor are forgotten: resuming from an older resourceVersion is 410 Gone.
        self._floors: dict[GroupResource, int] = {}
        self._global_floor = 0
        self._listeners: list = []

    # -- reading --------------------------------------------------------------------------------------------

    def get(self, resource: GroupResource, namespace: str, name: str) -> dict | None:
        return self._objects[resource].get((namespace or "", name))

    def list(self, resource: GroupResource, namespace: str | None = None) -> list[dict]:
        objects = self._objects[resource]
        items = [obj for key, obj in objects.items() if namespace is None or key[0] == namespace]
        return sorted(items, key=lambda o: key_of(o))

    def resources(self) -> list[GroupResource]:
        return [resource for resource, objects in self._objects.items() if objects]

    def by_uid(self, uid: str) -> tuple[GroupResource, dict] | None:
        location = self._uids.get(uid)
        if location is None:
            return None
        resource, key = location
        obj = self._objects[resource].get(key)
        return (resource, obj) if obj is not None else None

    def all_objects(self) -> Iterator[tuple[GroupResource, dict]]:
        for resource, objects in list(self._objects.items()):
            for obj in list(objects.values()):
                yield resource, obj

    # -- writing --------------------------------------------------------------------------------------------

    def next_resource_version(self) -> int:
        self.resource_version += 1
        return self.resource_version

    def put(self, resource: GroupResource, obj: dict, event_type: str, old: dict | None) -> dict:
        """Store a new state (the caller hands over `obj`), stamp a fresh resourceVersion, record and publish."""
        version = self.next_resource_version()
        obj["metadata"]["resourceVersion"] = str(version)
        key = key_of(obj)
        self._objects[resource][key] = obj
        uid = obj["metadata"].get("uid")
        if uid:
            self._uids[uid] = (resource, key)
        self._record(resource, Event(version, event_type, obj, old))
        return obj

    def remove(self, resource: GroupResource, obj: dict) -> dict:
        """Delete an object; the DELETED event carries its last state with a new resourceVersion, as etcd does."""
        key = key_of(obj)
        current = self._objects[resource].pop(key, None)
        if current is None:
            return obj
        version = self.next_resource_version()
        final = dict(current)
        final["metadata"] = dict(current["metadata"], resourceVersion=str(version))
        self._uids.pop(current["metadata"].get("uid", ""), None)
        self._record(resource, Event(version, "DELETED", final, current))
        return final

    def _record(self, resource: GroupResource, event: Event) -> None:
        history = self._history[resource]
        history.append(event)
        while len(history) > self.history_limit:
            dropped = history.popleft()
            self._floors[resource] = dropped.resource_version
        for listener in list(self._listeners):
            listener(resource, event)

    def subscribe(self, listener) -> None:
        self._listeners.append(listener)

    # -- history --------------------------------------------------------------------------------------------

    def floor(self, resource: GroupResource) -> int:
        return max(self._floors.get(resource, 0), self._global_floor)

    def events_since(self, resource: GroupResource, resource_version: int) -> list[Event] | None:
        """Recorded events after `resource_version`, or None when that point was compacted away (410 Gone)."""
        if resource_version < self.floor(resource):
            return None
        return [e for e in self._history[resource] if e.resource_version > resource_version]

    def compact(self) -> int:
        """Forget all history: any resume from an older resourceVersion is now 410 Gone."""
        self._global_floor = self.resource_version
        for history in self._history.values():
            history.clear()
        return self.resource_version
