"""The apiserver's REST semantics over the store: what create, update, patch and delete do to an object.

This is where the behaviour kopf and kubectl depend on lives: server-managed metadata, 201/409/404/422,
resourceVersion preconditions, the status subresource split, generation bumps on spec changes only, no-op writes
that change nothing, finalizers and deletionTimestamp, and CRD schemas. The cascading parts (garbage collection,
namespace termination, CRD cleanup) are in `controllers.py`. All methods are synchronous: a request's
read-modify-write never interleaves with another's.
"""

from __future__ import annotations

import copy
import datetime
import random
import uuid
from typing import Any, Callable

from . import kinds
from .controllers import Controllers
from .errors import (
    STALE_OBJECT,
    ApiError,
    FieldError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    method_not_allowed,
    not_found,
)
from .patch import APPLY, JSON_PATCH, MERGE, STRATEGIC, check_patch_type, json_patch, merge_patch, strategic_merge_patch
from .resources import Registry, ResourceType
from .store import Store
from .validation import OBJECT_META_FIELDS, default_and_prune, name_errors, validate_object

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "generation", "selfLink")
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Cluster:
    def __init__(self, *, history_limit: int = 1000, schedule: Callable[[Callable[[], None]], None] | None = None):
        self.registry = Registry()
        self.store = Store(history_limit=history_limit)
        self.controllers = Controllers(self, schedule=schedule)
        for name in SYSTEM_NAMESPACES:
            self.create(self.registry.get("", "v1", "namespaces"), None, {"metadata": {"name": name}})

    # -- reading --------------------------------------------------------------------------------------------

    def present(self, resource_type: ResourceType, obj: dict) -> dict:
        """The stored object as seen through one served version (only apiVersion differs between versions)."""
        if obj.get("apiVersion") == resource_type.api_version:
            return obj
        return dict(obj, apiVersion=resource_type.api_version)

    def stored(self, resource_type: ResourceType, namespace: str | None, name: str) -> dict:
        obj = self.store.get(resource_type.group_resource, namespace or "", name)
        if obj is None:
            raise not_found(resource_type.plural, resource_type.group, name)
        return obj

    def get(self, resource_type: ResourceType, namespace: str | None, name: str) -> dict:
        return self.present(resource_type, self.stored(resource_type, namespace, name))

    def list(self, resource_type: ResourceType, namespace: str | None, predicate: Callable[[dict], bool]) -> tuple[list[dict], int]:
        items = [self.present(resource_type, obj)
                 for obj in self.store.list(resource_type.group_resource, namespace) if predicate(obj)]
        return items, self.store.resource_version

    # -- creating -------------------------------------------------------------------------------------------

    def create(self, resource_type: ResourceType, namespace: str | None, body: Any, *, dry_run: bool = False,
               field_validation: str | None = None) -> tuple[dict, list[str]]:
        obj = self._decode(resource_type, body)
        metadata = obj["metadata"]
        if resource_type.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        self._check_crd_serving(resource_type, "create")
        for field in _SERVER_FIELDS:
            metadata.pop(field, None)
        if not metadata.get("name"):
            if not metadata.get("generateName"):
                raise invalid(resource_type.kind, resource_type.group, "",
                              [FieldError("FieldValueRequired", "metadata.name", detail="name or generateName is required")])
            metadata["name"] = self._generate_name(resource_type, namespace, metadata["generateName"])
        if resource_type.namespaced:
            self._check_namespace_writable(resource_type, namespace, metadata["name"])
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now()
        if resource_type.has_generation:
            metadata["generation"] = 1
        if resource_type.has_status:
            obj.pop("status", None)
        kinds.prepare_create(resource_type, obj)
        obj, warnings = self._admit(resource_type, obj, None, field_validation)
        if self.store.get(resource_type.group_resource, namespace or "", metadata["name"]) is not None:
            raise already_exists(resource_type.plural, resource_type.group, metadata["name"])
        if dry_run:
            return self.present(resource_type, obj), warnings
        stored = self.store.put(resource_type.group_resource, obj, "ADDED", None)
        self.controllers.after_write(resource_type, stored, None)
        return self.present(resource_type, stored), warnings

    def _generate_name(self, resource_type: ResourceType, namespace: str | None, prefix: str) -> str:
        for _ in range(20):
            name = prefix + "".join(random.choice(_NAME_ALPHABET) for _ in range(5))
            if self.store.get(resource_type.group_resource, namespace or "", name) is None:
                return name
        raise ApiError(500, "ServerTimeout", "could not generate a unique name; please retry")

    # -- updating -------------------------------------------------------------------------------------------

    def update(self, resource_type: ResourceType, namespace: str | None, name: str, body: Any, *,
               subresource: str | None = None, dry_run: bool = False,
               field_validation: str | None = None) -> tuple[dict, list[str]]:
        old = self.stored(resource_type, namespace, name)
        new = self._decode(resource_type, body)
        if new["metadata"].get("name") not in (None, name):
            raise bad_request(f"the name of the object ({new['metadata']['name']}) does not match the name on the URL ({name})")
        version = new["metadata"].get("resourceVersion")
        if not version and resource_type.is_custom:
            raise invalid(resource_type.kind, resource_type.group, name, [FieldError(
                "FieldValueInvalid", "metadata.resourceVersion", "0x0", "must be specified for an update")])
        if version and version != old["metadata"]["resourceVersion"]:
            raise conflict(resource_type.plural, resource_type.group, name, STALE_OBJECT)
        return self._commit(resource_type, old, new, subresource=subresource, dry_run=dry_run,
                            field_validation=field_validation)

    def patch(self, resource_type: ResourceType, namespace: str | None, name: str, patch_type: str, body: Any, *,
              subresource: str | None = None, dry_run: bool = False, field_validation: str | None = None,
              field_manager: str | None = None, force: bool = False) -> tuple[dict, list[str], int]:
        check_patch_type(patch_type, custom=resource_type.is_custom)
        if patch_type == APPLY and not field_manager:
            raise invalid("PatchOptions", "meta.k8s.io", "",
                          [FieldError("FieldValueRequired", "fieldManager", detail="is required for apply patch")])
        old = self.store.get(resource_type.group_resource, namespace or "", name)
        if old is None:
            if patch_type == APPLY and subresource is None:
                if not isinstance(body, dict):
                    raise bad_request("error decoding YAML: the apply patch must be an object")
                body = copy.deepcopy(body)
                body.setdefault("metadata", {})["name"] = name
                created, warnings = self.create(resource_type, namespace, body, dry_run=dry_run,
                                                field_validation=field_validation)
                return created, warnings, 201
            raise not_found(resource_type.plural, resource_type.group, name)
        current = copy.deepcopy(self.present(resource_type, old))
        if patch_type == MERGE:
            if not isinstance(body, dict):
                raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
            patched = merge_patch(current, body)
        elif patch_type == JSON_PATCH:
            patched = json_patch(current, body)
        elif patch_type == STRATEGIC:
            if not isinstance(body, dict):
                raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
            patched = strategic_merge_patch(current, body)
        else:  # apply: a merge approximation of server-side apply
            if not isinstance(body, dict):
                raise bad_request("error decoding YAML: the apply patch must be an object")
            if body.get("metadata", {}).get("name") not in (None, name):
                raise bad_request(f"the name of the object ({body['metadata']['name']}) does not match the name on the URL ({name})")
            patched = merge_patch(current, body)
        if not isinstance(patched, dict):
            raise bad_request("the patch did not produce an object")
        patched.setdefault("metadata", {})
        version = patched["metadata"].get("resourceVersion")
        if version and version != old["metadata"]["resourceVersion"]:
            raise conflict(resource_type.plural, resource_type.group, name, STALE_OBJECT)
        obj, warnings = self._commit(resource_type, old, patched, subresource=subresource, dry_run=dry_run,
                                     field_validation=field_validation)
        return obj, warnings, 200

    def _commit(self, resource_type: ResourceType, old: dict, new: dict, *, subresource: str | None,
                dry_run: bool = False, field_validation: str | None = None) -> tuple[dict, list[str]]:
        """The common tail of PUT and PATCH: merge with what the client may not change, admit, store."""
        new = copy.deepcopy(new)
        new["apiVersion"] = old["apiVersion"]
        new["kind"] = old["kind"]
        metadata = new.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise bad_request("metadata must be an object")
        for field in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "generateName", "resourceVersion", "selfLink"):
            if field in old["metadata"]:
                metadata[field] = old["metadata"][field]
            else:
                metadata.pop(field, None)
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif subresource == "finalize" and resource_type.plural == "namespaces" and not resource_type.group:
            finalizers = (new.get("spec") or {}).get("finalizers") or []
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["finalizers"] = list(finalizers)
        elif subresource is not None:
            raise not_found(f"{resource_type.plural}/{subresource}", resource_type.group, old["metadata"]["name"])
        elif resource_type.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        kinds.prepare_update(resource_type, new, old, subresource)
        new, warnings = self._admit(resource_type, new, old, field_validation)
        metadata = new["metadata"]  # admission returns a new (defaulted, pruned) object
        if old["metadata"].get("deletionTimestamp"):
            added = [f for f in new["metadata"].get("finalizers") or [] if f not in (old["metadata"].get("finalizers") or [])]
            if added:
                found = ", ".join(f'"{f}"' for f in added)
                raise invalid(resource_type.kind, resource_type.group, old["metadata"]["name"], [FieldError(
                    "FieldValueForbidden", "metadata.finalizers",
                    detail=f"no new finalizers can be added if the object is being deleted, found new finalizers []string{{{found}}}")])
        if resource_type.has_generation and _spec_changed(resource_type, old, new):
            metadata["generation"] = old["metadata"].get("generation", 0) + 1
        if new == old:
            return self.present(resource_type, old), warnings
        if dry_run:
            return self.present(resource_type, new), warnings
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers") and not _namespace_pending(resource_type, new):
            removed = self.store.remove(resource_type.group_resource, new)
            self.controllers.after_delete(resource_type, removed)
            return self.present(resource_type, removed), warnings
        stored = self.store.put(resource_type.group_resource, new, "MODIFIED", old)
        self.controllers.after_write(resource_type, stored, old)
        return self.present(resource_type, stored), warnings

    # -- deleting -------------------------------------------------------------------------------------------

    def delete(self, resource_type: ResourceType, namespace: str | None, name: str, options: dict | None = None, *,
               dry_run: bool = False) -> tuple[dict, bool]:
        """Returns the object (with deletionTimestamp if finalizers hold it) and whether it is gone already."""
        options = options or {}
        old = self.stored(resource_type, namespace, name)
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != old["metadata"].get("uid"):
            raise conflict(resource_type.plural, resource_type.group, name,
                           f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                           f"UID in object meta: {old['metadata'].get('uid')}")
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise conflict(resource_type.plural, resource_type.group, name,
                           f"Precondition failed: ResourceVersion in precondition: {preconditions['resourceVersion']}, "
                           f"ResourceVersion in object meta: {old['metadata']['resourceVersion']}")
        policy = options.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise invalid("DeleteOptions", "meta.k8s.io", "", [FieldError(
                "FieldValueNotSupported", "propagationPolicy", policy,
                'supported values: "Foreground", "Background", "Orphan", "nil"')])
        orphan = policy == "Orphan" or (policy is None and options.get("orphanDependents") is True)
        holds = bool(old["metadata"].get("finalizers")) or _namespace_pending(resource_type, old)
        if dry_run:
            if holds and not old["metadata"].get("deletionTimestamp"):
                preview = copy.deepcopy(old)
                preview["metadata"]["deletionTimestamp"] = now()
                return self.present(resource_type, preview), False
            return self.present(resource_type, old), not holds
        if orphan:
            self.controllers.orphan_dependents(old["metadata"].get("uid"))
        if holds:
            if old["metadata"].get("deletionTimestamp"):
                return self.present(resource_type, old), False
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if resource_type.has_generation and "generation" in new["metadata"]:
                new["metadata"]["generation"] += 1
            self.controllers.before_deletion_mark(resource_type, new)
            stored = self.store.put(resource_type.group_resource, new, "MODIFIED", old)
            self.controllers.after_write(resource_type, stored, old)
            return self.present(resource_type, stored), False
        removed = self.store.remove(resource_type.group_resource, old)
        self.controllers.after_delete(resource_type, removed)
        return self.present(resource_type, removed), True

    # -- admission helpers ----------------------------------------------------------------------------------

    def _decode(self, resource_type: ResourceType, body: Any) -> dict:
        if not isinstance(body, dict):
            raise bad_request(f"Object '{resource_type.kind}' is missing in body: the request body must be a JSON object")
        obj = copy.deepcopy(body)
        api_version = obj.get("apiVersion")
        group = api_version.rpartition("/")[0] if isinstance(api_version, str) else None
        if api_version and (group != resource_type.group or api_version.rpartition("/")[2] not in
                            self.registry.versions_of(resource_type.group, resource_type.plural)):
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                              f"({resource_type.api_version})")
        if obj.get("kind") and obj["kind"] != resource_type.kind:
            raise bad_request(f"{obj['kind']} in version \"{resource_type.version}\" cannot be handled as a "
                              f"{resource_type.kind}: the kind in the data does not match the URL")
        storage = resource_type.storage_version or resource_type.version
        obj["apiVersion"] = f"{resource_type.group}/{storage}" if resource_type.group else storage
        obj["kind"] = resource_type.kind
        metadata = obj.get("metadata")
        if metadata is None:
            metadata = obj["metadata"] = {}
        if not isinstance(metadata, dict):
            raise bad_request("json: cannot unmarshal metadata into Go struct field of type v1.ObjectMeta")
        for field in ("labels", "annotations"):
            value = metadata.get(field)
            if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
                raise bad_request(f"{resource_type.kind} in version \"{resource_type.version}\" cannot be handled as a "
                                  f"{resource_type.kind}: json: cannot unmarshal into Go struct field "
                                  f"ObjectMeta.metadata.{field} of type map[string]string")
        return obj

    def _admit(self, resource_type: ResourceType, obj: dict, old: dict | None,
               field_validation: str | None) -> tuple[dict, list[str]]:
        """Names, then the CRD schema for custom resources: default, prune (strict: reject), validate, CEL."""
        name = obj["metadata"]["name"]
        if resource_type.is_custom:
            schema = resource_type.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            obj, unknown = default_and_prune(schema, obj)
        else:
            schema = None
            unknown = [f"metadata.{key}" for key in obj["metadata"] if key not in OBJECT_META_FIELDS]
            for key in unknown:
                obj["metadata"].pop(key.split(".", 1)[1], None)
        warnings: list[str] = []
        if unknown:
            if field_validation == "Strict":
                fields = ", ".join(f'unknown field "{u}"' for u in unknown)
                raise bad_request(f'{resource_type.kind} in version "{resource_type.version}" cannot be handled as a '
                                  f"{resource_type.kind}: strict decoding error: {fields}")
            if field_validation != "Ignore":
                warnings = [f'unknown field "{u}"' for u in unknown]
        errors: list[FieldError] = []
        if old is None:
            errors.extend(name_errors(name, label=resource_type.plural == "namespaces" and not resource_type.group))
        if schema is not None:
            errors.extend(validate_object(schema, obj, old))
        if errors:
            raise invalid(resource_type.kind, resource_type.group, name, errors)
        return obj, warnings

    def _check_namespace_writable(self, resource_type: ResourceType, namespace: str, name: str) -> None:
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise forbidden(resource_type.plural, resource_type.group, name,
                            f"unable to create new content in namespace {namespace} because it is being terminated",
                            {"reason": "NamespaceTerminating",
                             "message": f'namespace {namespace} is being terminated', "field": "metadata.namespace"})

    def _check_crd_serving(self, resource_type: ResourceType, verb: str) -> None:
        if resource_type.crd:
            crd = self.store.get(("apiextensions.k8s.io", "customresourcedefinitions"), "", resource_type.crd)
            if crd is not None and crd["metadata"].get("deletionTimestamp"):
                raise method_not_allowed(f"{verb} not allowed while custom resource definition is terminating")


def _spec_changed(resource_type: ResourceType, old: dict, new: dict) -> bool:
    """Generation follows everything but metadata (and status, when status is a subresource)."""
    ignored = {"metadata", "status"} if resource_type.has_status else {"metadata"}
    keys = (set(old) | set(new)) - ignored
    return any(old.get(k) != new.get(k) for k in keys)


def _namespace_pending(resource_type: ResourceType, obj: dict) -> bool:
    """A namespace is held by its `spec.finalizers` (the namespace controller's), not only metadata.finalizers."""
    return resource_type.plural == "namespaces" and not resource_type.group and bool((obj.get("spec") or {}).get("finalizers"))
