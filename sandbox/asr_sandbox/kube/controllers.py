"""The cascades a control plane runs after a write: garbage collection, namespace termination, CRD cleanup.

They run soon after the request that triggered them (scheduled on the event loop), not inside it, so a client
sees what it would see on a cluster: the owner's DELETED first, the dependents' deletions shortly after; a
namespace stays Terminating while objects with finalizers are still in it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import TYPE_CHECKING, Callable

from . import crd as crds
from .errors import ApiError

if TYPE_CHECKING:
    from .cluster import Cluster
    from .resources import ResourceType

logger = logging.getLogger(__name__)
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACES = ("", "namespaces")


class Controllers:
    def __init__(self, cluster: Cluster, *, schedule: Callable[[Callable[[], None]], None] | None = None):
        self.cluster = cluster
        self._schedule = schedule or _call_soon
        self._pending: set[tuple[str, str]] = set()

    def _later(self, key: tuple[str, str], action: Callable[[], None]) -> None:
        if key in self._pending:
            return
        self._pending.add(key)

        def run() -> None:
            self._pending.discard(key)
            try:
                action()
            except Exception:  # a cascade must never take the server down; the next trigger retries it
                logger.exception("controller step %s failed", key)

        self._schedule(run)

    # -- hooks called by Cluster ----------------------------------------------------------------------------

    def after_write(self, resource_type: ResourceType, obj: dict, old: dict | None) -> None:
        name = obj["metadata"]["name"]
        if resource_type.group_resource == CRDS:
            self._register(obj)
            if obj["metadata"].get("deletionTimestamp"):
                self._later(("crd", name), lambda: self._clean_up_crd(name))
        elif resource_type.group_resource == NAMESPACES and obj["metadata"].get("deletionTimestamp"):
            self._later(("namespace", name), lambda: self._terminate_namespace(name))

    def after_delete(self, resource_type: ResourceType, obj: dict) -> None:
        uid = obj["metadata"].get("uid")
        if uid:
            self._later(("gc", uid), lambda: self._collect_dependents(uid))
        if resource_type.group_resource == CRDS:
            self.cluster.registry.remove_crd(obj["metadata"]["name"])
        namespace = obj["metadata"].get("namespace")
        if namespace:
            ns = self.cluster.store.get(NAMESPACES, "", namespace)
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self._later(("namespace", namespace), lambda: self._terminate_namespace(namespace))
        if resource_type.crd:
            definition = self.cluster.store.get(CRDS, "", resource_type.crd)
            if definition is not None and definition["metadata"].get("deletionTimestamp"):
                self._later(("crd", resource_type.crd), lambda: self._clean_up_crd(resource_type.crd))

    def before_deletion_mark(self, resource_type: ResourceType, obj: dict) -> None:
        """What changes together with deletionTimestamp: a namespace's phase, a CRD's Terminating condition."""
        if resource_type.group_resource == NAMESPACES:
            obj.setdefault("status", {})["phase"] = "Terminating"
        elif resource_type.group_resource == CRDS:
            obj["status"] = crds.established_status(obj, obj.get("status"))

    def orphan_dependents(self, owner_uid: str | None) -> None:
        """propagationPolicy=Orphan: the dependents lose their reference to the owner and survive it."""
        for resource, obj in list(self.cluster.store.all_objects()):
            references = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in references):
                self._rewrite_owners(resource, obj, [ref for ref in references if ref.get("uid") != owner_uid])

    # -- the cascades ---------------------------------------------------------------------------------------

    def _register(self, definition: dict) -> None:
        registry = self.cluster.registry
        registry.remove_crd(definition["metadata"]["name"])
        for resource_type in crds.resource_types(definition):
            registry.add(resource_type)

    def _collect_dependents(self, owner_uid: str) -> None:
        """Background deletion: dependents with no remaining live owner are deleted; dangling references dropped."""
        store = self.cluster.store
        if store.by_uid(owner_uid) is not None:
            return
        for resource, obj in list(store.all_objects()):
            references = obj["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == owner_uid for ref in references):
                continue
            alive = [ref for ref in references if ref.get("uid") != owner_uid and store.by_uid(ref.get("uid", ""))]
            if alive:
                self._rewrite_owners(resource, obj, alive)
                continue
            resource_type = self.cluster.registry.preferred(*resource)
            if resource_type is None:
                continue
            try:
                self.cluster.delete(resource_type, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                    {"propagationPolicy": "Background"})
            except ApiError:
                pass

    def _rewrite_owners(self, resource, obj: dict, references: list[dict]) -> None:
        resource_type = self.cluster.registry.preferred(*resource)
        if resource_type is None:
            return
        new = copy.deepcopy(obj)
        if references:
            new["metadata"]["ownerReferences"] = references
        else:
            new["metadata"].pop("ownerReferences", None)
        try:
            self.cluster._commit(resource_type, obj, new, subresource=None)
        except ApiError:
            pass

    def _terminate_namespace(self, name: str) -> None:
        """Delete everything in a terminating namespace; remove the namespace once nothing is left."""
        cluster = self.cluster
        namespace = cluster.store.get(NAMESPACES, "", name)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        for resource in cluster.store.resources():
            resource_type = cluster.registry.preferred(*resource)
            objects = cluster.store.list(resource, name)
            if resource == NAMESPACES or not objects:
                continue
            if resource_type is None or not resource_type.namespaced:
                continue
            for obj in objects:
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        cluster.delete(resource_type, name, obj["metadata"]["name"], {"propagationPolicy": "Background"})
                    except ApiError:
                        pass
        if any(cluster.store.list(resource, name) for resource in cluster.store.resources() if resource != NAMESPACES):
            return  # objects with finalizers: after_delete calls back when each one goes
        namespace = cluster.store.get(NAMESPACES, "", name)
        if namespace is None:
            return
        finalized = copy.deepcopy(namespace)
        finalized.setdefault("spec", {})["finalizers"] = []
        namespaces = cluster.registry.get("", "v1", "namespaces")
        cluster._commit(namespaces, namespace, finalized, subresource="finalize")

    def _clean_up_crd(self, name: str) -> None:
        """A deleted CRD first deletes its custom resources, then drops its cleanup finalizer (and goes)."""
        cluster = self.cluster
        definition = cluster.store.get(CRDS, "", name)
        if definition is None or not definition["metadata"].get("deletionTimestamp"):
            return
        resource = (definition["spec"]["group"], definition["spec"]["names"]["plural"])
        resource_type = cluster.registry.preferred(*resource)
        for obj in cluster.store.list(resource):
            if resource_type is not None and not obj["metadata"].get("deletionTimestamp"):
                try:
                    cluster.delete(resource_type, obj["metadata"].get("namespace") or None, obj["metadata"]["name"])
                except ApiError:
                    pass
        if cluster.store.list(resource):
            return
        finalizers = definition["metadata"].get("finalizers") or []
        if crds.CLEANUP_FINALIZER in finalizers:
            new = copy.deepcopy(definition)
            new["metadata"]["finalizers"] = [f for f in finalizers if f != crds.CLEANUP_FINALIZER]
            cluster._commit(cluster.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions"), definition, new,
                            subresource=None)


def _call_soon(action: Callable[[], None]) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        action()  # no loop (offline use of Cluster): cascade right away
    else:
        loop.call_soon(action)
