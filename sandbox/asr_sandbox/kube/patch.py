"""The four PATCH flavours, chosen by Content-Type as the apiserver chooses them.

* JSON merge patch (RFC 7386): what kopf and `patch_namespaced_custom_object` send.
* JSON patch (RFC 6902): kopf guards finalizer edits with a `test` of `/metadata/resourceVersion`; a failed test
  must be a 422 so kopf re-reads and retries (a 500 makes it loop on errors).
* Strategic merge patch: refused with 415 for custom resources, as a real apiserver does; for built-ins an
  approximation that merges the well-known keyed lists (containers by name, conditions by type, ...).
* Apply patch (server-side apply): approximated as a merge patch with create-if-missing; no managedFields and
  no ownership conflicts.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from .errors import ApiError, bad_request, unsupported_media_type

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"

CUSTOM_PATCH_TYPES = [JSON_PATCH, MERGE, APPLY]
BUILTIN_PATCH_TYPES = [JSON_PATCH, MERGE, STRATEGIC, APPLY]


def check_patch_type(content_type: str, *, custom: bool) -> None:
    accepted = CUSTOM_PATCH_TYPES if custom else BUILTIN_PATCH_TYPES
    if content_type not in accepted:
        raise unsupported_media_type(accepted)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict, operations: Any) -> dict:
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        return jsonpatch.JsonPatch(operations).apply(copy.deepcopy(target))
    except jsonpatch.JsonPatchTestFailed as e:
        raise _patch_rejected(f"the server rejected our request due to an error in our request: {_test_failure(e)}")
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException, jsonpatch.InvalidJsonPatch) as e:
        raise _patch_rejected(f"the server rejected our request due to an error in our request: {e}")


def _test_failure(error: Exception) -> str:
    return f"testing value failed: {error}"


def _patch_rejected(message: str) -> ApiError:
    return ApiError(422, "Invalid", message, details={"causes": [{"reason": "FieldValueInvalid", "message": message}]})


# Merge keys of the built-in lists most often patched (from the Go types' patchMergeKey tags).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "secrets": "name",
    "subsets": None,
}
# Lists of scalars merged as sets (patchStrategy:"merge" on a []string).
_MERGED_SCALAR_LISTS = {"finalizers"}


def strategic_merge_patch(target: Any, patch: Any, field: str | None = None) -> Any:
    """An approximation of SMP: keyed lists merge by their merge key, `$patch: delete/replace` are honoured."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key == "$retainKeys":
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = [item for item in result[name] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            merged = strategic_merge_patch(result.get(key), value, key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_list(field: str, current: Any, patch: list) -> list:
    if field in _MERGED_SCALAR_LISTS and isinstance(current, list):
        return current + [item for item in patch if item not in current]
    if field in ("ports",):
        key = _ports_key(patch)
    else:
        key = _MERGE_KEYS.get(field)
    if not key or not isinstance(current, list) or not all(isinstance(i, dict) for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "delete")]
    merged = copy.deepcopy(current)
    for item in patch:
        position = next((i for i, existing in enumerate(merged)
                         if isinstance(existing, dict) and existing.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if position is not None:
                merged.pop(position)
        elif position is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[position] = strategic_merge_patch(merged[position], item)
    return merged


def _ports_key(patch: list) -> str:
    """Container ports merge by containerPort, Service ports by port."""
    if any(isinstance(p, dict) and "containerPort" in p for p in patch):
        return "containerPort"
    return "port"
