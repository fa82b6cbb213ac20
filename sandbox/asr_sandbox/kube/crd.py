"""CustomResourceDefinitions: from a stored CRD object to served resource types, and the CRD's own status.

Registration follows the CRD object (create, update, delete), so discovery, CRUD, watches, OpenAPI and tables
for a custom resource appear when the CRD is created and disappear when it is gone. A CRD carries the
`customresourcecleanup.apiextensions.k8s.io` finalizer, as on a real cluster: deleting it first deletes its
custom resources (waiting for *their* finalizers), then the CRD itself.
"""

from __future__ import annotations

import datetime

from .resources import ResourceType

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fill_defaults(crd: dict) -> None:
    """The CRD defaults the apiserver applies: singular, listKind, conversion strategy."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})


def resource_types(crd: dict) -> list[ResourceType]:
    spec = crd["spec"]
    names = spec["names"]
    storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")), None)
    types = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys()))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        types.append(ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(),
            kind=names["kind"],
            namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=subresources,
            has_generation=True,
            crd=crd["metadata"]["name"],
            schema=schema,
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            selectable_fields=tuple(f.get("jsonPath", "") for f in version.get("selectableFields") or ()),
            storage_version=storage,
        ))
    return types


def _condition(kind: str, status: str, reason: str, message: str, previous: list[dict]) -> dict:
    old = next((c for c in previous if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status and old.get("lastTransitionTime") else now()
    return {"type": kind, "status": status, "lastTransitionTime": since, "reason": reason, "message": message}


def established_status(crd: dict, previous: dict | None) -> dict:
    """Names accepted and established at once: there is no name-conflict controller to wait for."""
    conditions = list((previous or {}).get("conditions") or [])
    spec = crd["spec"]
    stored = list((previous or {}).get("storedVersions") or [])
    storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")), None)
    if storage and storage not in stored:
        stored.append(storage)
    result = [
        _condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", conditions),
        _condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted", conditions),
    ]
    if crd["metadata"].get("deletionTimestamp"):
        result.append(_condition("Terminating", "True", "InstanceDeletionInProgress",
                                 "CustomResource deletion is in progress", conditions))
    names = dict(spec["names"])
    return {"conditions": result, "acceptedNames": names, "storedVersions": stored}
