"""OpenAPI v3 documents, generated from the registry: enough for kubectl 1.32 `apply` and `explain`.

kubectl decides whether the server validates fields (`fieldValidation=Strict`) by looking for that query
parameter on the PATCH operation of the object's group/version/kind in `/openapi/v3/<gv>`; every served
resource gets such an operation here. For custom resources the component schema is the CRD's
`openAPIV3Schema` (plus `apiVersion`, `kind` and a `$ref` to ObjectMeta), so `kubectl explain widgets.spec`
prints the CRD's descriptions. Built-in kinds get operations but no schemas (kubectl then falls back to its
compiled-in types for strategic merge patches, and `explain` of a built-in does not work).
"""

from __future__ import annotations

import copy
import hashlib
import json

from .discovery import KUBERNETES_VERSION
from .resources import Registry, ResourceType

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"

_META_SCHEMAS = {
    OBJECT_META: {
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects "
        "users must create.",
        "type": "object",
        "properties": {
            "name": {"description": "Name must be unique within a namespace.", "type": "string"},
            "generateName": {"description": "GenerateName is an optional prefix, used by the server, to generate a "
                             "unique name ONLY IF the Name field has not been provided.", "type": "string"},
            "namespace": {"description": "Namespace defines the space within which each name must be unique.",
                          "type": "string"},
            "uid": {"description": "UID is the unique in time and space value for this object.", "type": "string"},
            "resourceVersion": {"description": "An opaque value that represents the internal version of this "
                                "object.", "type": "string"},
            "generation": {"description": "A sequence number representing a specific generation of the desired "
                           "state.", "type": "integer", "format": "int64"},
            "creationTimestamp": {"description": "CreationTimestamp is a timestamp representing the server time "
                                  "when this object was created.", "type": "string", "format": "date-time"},
            "deletionTimestamp": {"description": "DeletionTimestamp is RFC 3339 date and time at which this "
                                  "resource will be deleted.", "type": "string", "format": "date-time"},
            "labels": {"description": "Map of string keys and values that can be used to organize and categorize "
                       "objects.", "type": "object", "additionalProperties": {"type": "string", "default": ""}},
            "annotations": {"description": "Annotations is an unstructured key value map stored with a resource.",
                            "type": "object", "additionalProperties": {"type": "string", "default": ""}},
            "finalizers": {"description": "Must be empty before the object is deleted from the registry.",
                           "type": "array", "items": {"type": "string", "default": ""},
                           "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
            "ownerReferences": {"description": "List of objects depended by this object.", "type": "array",
                                "items": {"type": "object"}, "x-kubernetes-patch-merge-key": "uid",
                                "x-kubernetes-patch-strategy": "merge"},
        },
    },
    LIST_META: {
        "description": "ListMeta describes metadata that synthetic resources must have.",
        "type": "object",
        "properties": {"resourceVersion": {"type": "string"}, "continue": {"type": "string"}},
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch": {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status": {"description": "Status is a return value for calls that don't "
                                                    "return other objects.", "type": "object"},
}

_QUERY = {
    "dryRun": "When present, indicates that modifications should not be persisted.",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these changes.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
    "force": "Force is going to \"force\" Apply requests.",
    "pretty": "If 'true', then the output is pretty printed.",
}


def schema_name(resource_type: ResourceType, kind: str | None = None) -> str:
    """`dev.example.v1.Widget` for CRDs (reversed group), `io.k8s.api.core.v1.ConfigMap` for built-ins."""
    kind = kind or resource_type.kind
    if resource_type.is_custom:
        reversed_group = ".".join(reversed(resource_type.group.split(".")))
        return f"{reversed_group}.{resource_type.version}.{kind}"
    group = resource_type.group.split(".")[0] if resource_type.group else "core"
    return f"io.k8s.api.{group}.{resource_type.version}.{kind}"


def _parameter(name: str) -> dict:
    return {"name": name, "in": "query", "description": _QUERY[name], "schema": {"type": "string", "uniqueItems": True}}


def _gvk(resource_type: ResourceType) -> dict:
    return {"group": resource_type.group, "version": resource_type.version, "kind": resource_type.kind}


def _paths(resource_type: ResourceType) -> dict:
    prefix = f"/apis/{resource_type.group}/{resource_type.version}" if resource_type.group else "/api/v1"
    collection = f"{prefix}/namespaces/{{namespace}}/{resource_type.plural}" if resource_type.namespaced \
        else f"{prefix}/{resource_type.plural}"
    item = f"{collection}/{{name}}"
    ref = {"$ref": f"#/components/schemas/{schema_name(resource_type)}"}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    body = {"content": {"*/*": {"schema": ref}}}
    # kubectl apply computes a strategic merge patch only when the PATCH operation accepts one: never for CRs.
    patch_types = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]
    if not resource_type.is_custom:
        patch_types.append("application/strategic-merge-patch+json")
    patch_body = {"content": {media: {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
                              for media in patch_types}}
    write_parameters = [_parameter("dryRun"), _parameter("fieldManager"), _parameter("fieldValidation")]

    def operation(action: str, verb: str, parameters: list[dict], request: dict | None = None) -> dict:
        op = {
            "description": f"{verb} {resource_type.kind}",
            "operationId": f"{verb}{resource_type.kind}",
            "parameters": parameters,
            "responses": ok,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": _gvk(resource_type),
        }
        if request:
            op["requestBody"] = request
        return op

    paths = {
        collection: {
            "get": operation("list", "list", []),
            "post": operation("post", "create", write_parameters, body),
        },
        item: {
            "get": operation("get", "read", []),
            "put": operation("put", "replace", write_parameters, body),
            "patch": operation("patch", "patch", write_parameters + [_parameter("force")], patch_body),
            "delete": operation("delete", "delete", [_parameter("dryRun")]),
        },
    }
    for subresource in resource_type.subresources:
        if subresource == "finalize":
            continue
        paths[f"{item}/{subresource}"] = {
            "get": operation("get", f"read{subresource.title()}", []),
            "put": operation("put", f"replace{subresource.title()}", write_parameters, body),
            "patch": operation("patch", f"patch{subresource.title()}", write_parameters + [_parameter("force")], patch_body),
        }
    return paths


def _openapi_schema(node: dict) -> dict:
    """A CRD schema node as published: x-kubernetes-validations stay, as the apiserver publishes them."""
    return copy.deepcopy(node)


def _custom_schema(resource_type: ResourceType) -> dict:
    schema = _openapi_schema(resource_type.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {
        "description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"}
    properties["kind"] = {"description": "Kind is a string value representing the REST resource this object "
                          "represents.", "type": "string"}
    properties["metadata"] = {"description": "Standard object's metadata.",
                              "allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}]}
    schema["x-kubernetes-group-version-kind"] = [_gvk(resource_type)]
    return schema


def _list_schema(resource_type: ResourceType) -> dict:
    return {
        "description": f"{resource_type.kind}List is a list of {resource_type.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema_name(resource_type)}"}},
            "metadata": {"allOf": [{"$ref": f"#/components/schemas/{LIST_META}"}]},
        },
        "x-kubernetes-group-version-kind": [
            {"group": resource_type.group, "version": resource_type.version, "kind": resource_type.list_kind}],
    }


def group_version_document(registry: Registry, group: str, version: str) -> dict | None:
    types = sorted(registry.for_group_version(group, version), key=lambda t: t.plural)
    if not types:
        return None
    paths: dict = {}
    schemas: dict = dict(copy.deepcopy(_META_SCHEMAS))
    for resource_type in types:
        paths.update(_paths(resource_type))
        if resource_type.is_custom:
            schemas[schema_name(resource_type)] = _custom_schema(resource_type)
            schemas[schema_name(resource_type, resource_type.list_kind)] = _list_schema(resource_type)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root_document(registry: Registry) -> dict:
    """The index kubectl reads first; the hash changes whenever a group version's document changes."""
    paths = {}
    seen = sorted({(t.group, t.version) for t in registry.all()})
    for group, version in seen:
        document = group_version_document(registry, group, version)
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32].upper()
        paths[_key(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_key(group, version)}?hash={digest}"}
    return {"paths": paths}





def v2_document() -> bytes:
    """An empty OpenAPI v2 document (gnostic protobuf: swagger, info, no paths or definitions).

    kubectl falls back to v2 when a kind is not in the v3 documents yet, e.g. a custom resource in the same file
    as its CRD. With no v2 models it skips client-side validation for such kinds (then reports "no matches for
    kind" for the CR and creates the CRD), which is what happens against a real apiserver; a 404 instead would
    fail the whole apply at validation.
    """

    def field(number: int, payload: bytes) -> bytes:
        return bytes([(number << 3) | 2, len(payload)]) + payload

    info = field(1, b"Kubernetes") + field(2, KUBERNETES_VERSION["gitVersion"].encode())
    return field(1, b"2.0") + field(2, info) + field(8, b"")
