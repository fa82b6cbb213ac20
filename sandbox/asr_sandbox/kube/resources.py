"""What the emulator serves: built-in resource types and the ones CRDs register, looked up by URL or by kind.

Storage is keyed by group and plural (not version), as in a real apiserver: every served version of a CRD reads
and writes the same objects, only `apiVersion` differs on the way out (conversion strategy `None`).
"""

from __future__ import annotations

import dataclasses
import re

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclasses.dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    # Objects carry metadata.generation, bumped on spec changes (CRs, workloads), or not (ConfigMaps).
    has_generation: bool = False
    # The CRD that registered this type (its metadata.name), None for built-ins.
    crd: str | None = None
    # For CRDs: the version's openAPIV3Schema, printer columns, selectable fields; the storage version.
    schema: dict | None = None
    printer_columns: tuple[dict, ...] = ()
    selectable_fields: tuple[str, ...] = ()
    storage_version: str | None = None
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> tuple[str, str]:
        """The storage key: all versions of a resource share their objects."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def is_custom(self) -> bool:
        return self.crd is not None

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _builtin(group, version, plural, kind, namespaced, *, short=(), categories=(), sub=(), generation=False, verbs=ALL_VERBS):
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=tuple(short),
        categories=tuple(categories),
        subresources=tuple(sub),
        has_generation=generation,
        verbs=verbs,
    )


# The kinds kopf, the operator and its Helm chart touch; all stored generically (no controllers behind them).
BUILTINS: tuple[ResourceType, ...] = (
    _builtin("", "v1", "namespaces", "Namespace", False, short=["ns"], sub=["status", "finalize"],
             verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _builtin("", "v1", "configmaps", "ConfigMap", True, short=["cm"]),
    _builtin("", "v1", "secrets", "Secret", True),
    _builtin("", "v1", "events", "Event", True, short=["ev"]),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, short=["sa"]),
    _builtin("", "v1", "services", "Service", True, short=["svc"], categories=["all"], sub=["status"]),
    _builtin("", "v1", "pods", "Pod", True, short=["po"], categories=["all"], sub=["status"]),
    _builtin("apps", "v1", "deployments", "Deployment", True, short=["deploy"], categories=["all"],
             sub=["status"], generation=True),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True),
    _builtin("events.k8s.io", "v1", "events", "Event", True, short=["ev"]),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    # Always "allowed": the emulator enforces no RBAC, but `kubectl auth can-i` should answer, not 404.
    _builtin("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
             verbs=("create",)),
    _builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
             short=["crd", "crds"], categories=["api-extensions"], sub=["status"], generation=True),
)

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple:
    """Kubernetes version priority: GA > beta > alpha, higher numbers first; non-matching names last, by name."""
    match = _VERSION.match(version)
    if not match:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


class Registry:
    """The served resource types, rebuilt for a group whenever a CRD changes."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for resource_type in BUILTINS:
            self.add(resource_type)

    def add(self, resource_type: ResourceType) -> None:
        self._types[(resource_type.group, resource_type.version, resource_type.plural)] = resource_type

    def remove_crd(self, crd_name: str) -> None:
        for key, resource_type in list(self._types.items()):
            if resource_type.crd == crd_name:
                del self._types[key]

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def for_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types.values() if t.group == group and t.version == version]

    def versions_of(self, group: str, plural: str | None = None) -> list[str]:
        """Served versions of a group (or of one resource), preferred first."""
        versions = {t.version for t in self._types.values() if t.group == group and (plural is None or t.plural == plural)}
        return sorted(versions, key=version_priority)

    def groups(self) -> list[str]:
        """Named groups in a stable order: built-ins first as registered, then CRD groups alphabetically."""
        seen: list[str] = []
        for resource_type in BUILTINS:
            if resource_type.group and resource_type.group not in seen:
                seen.append(resource_type.group)
        custom = sorted({t.group for t in self._types.values() if t.group and t.group not in seen})
        return [g for g in seen if any(t.group == g for t in self._types.values())] + custom

    def preferred(self, group: str, plural: str) -> ResourceType | None:
        versions = self.versions_of(group, plural)
        return self.get(group, versions[0], plural) if versions else None
