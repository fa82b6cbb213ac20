"""API discovery: `/version`, `/api`, `/apis`, `/apis/<group>[/<version>]`, legacy and aggregated (v2).

kubectl 1.32 asks for aggregated discovery (`as=APIGroupDiscoveryList`) and falls back to the legacy documents
when the response is plain JSON; both are served. kopf reads the legacy documents of every group and version,
so each group version listed must answer. Subresource entries (`widgets/status`) carry no shortNames, or kubectl
warns about duplicates.
"""

from __future__ import annotations

import base64
import hashlib

from .resources import SUBRESOURCE_VERBS, Registry, ResourceType

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:02:27Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> str | None:
    """The aggregated media type the client prefers, if it asked for one (its first acceptable choice)."""
    for choice in (part.strip().replace(" ", "") for part in accept.split(",")):
        if "as=APIGroupDiscoveryList" in choice and "g=apidiscovery.k8s.io" in choice:
            return AGGREGATED_V2 if "v=v2;" in choice + ";" or choice.endswith("v=v2") else AGGREGATED_V2BETA1
        if choice.startswith("application/json") and "as=" not in choice:
            return None
    return None


def _storage_version_hash(resource_type: ResourceType) -> str:
    digest = hashlib.sha256(f"{resource_type.group}/{resource_type.storage_version or resource_type.version}/"
                            f"{resource_type.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def api_resource(resource_type: ResourceType) -> dict:
    entry = {
        "name": resource_type.plural,
        "singularName": resource_type.singular,
        "namespaced": resource_type.namespaced,
        "kind": resource_type.kind,
        "verbs": list(resource_type.verbs),
    }
    if resource_type.short_names:
        entry["shortNames"] = list(resource_type.short_names)
    if resource_type.categories:
        entry["categories"] = list(resource_type.categories)
    entry["storageVersionHash"] = _storage_version_hash(resource_type)
    return entry


def _subresource_verbs(resource_type: ResourceType, subresource: str) -> list[str]:
    return ["update"] if subresource == "finalize" else list(SUBRESOURCE_VERBS)


def resource_list(registry: Registry, group: str, version: str) -> dict | None:
    types = sorted(registry.for_group_version(group, version), key=lambda t: t.plural)
    if not types:
        return None
    resources = []
    for resource_type in types:
        resources.append(api_resource(resource_type))
        for subresource in resource_type.subresources:
            resources.append({
                "name": f"{resource_type.plural}/{subresource}",
                "singularName": "",
                "namespaced": resource_type.namespaced,
                "kind": resource_type.kind,
                "verbs": _subresource_verbs(resource_type, subresource),
            })
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def core_versions(server_address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(registry: Registry, group: str) -> dict | None:
    versions = registry.versions_of(group)
    if not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def group_list(registry: Registry) -> dict:
    groups = []
    for group in registry.groups():
        document = api_group(registry, group)
        if document:
            groups.append({k: v for k, v in document.items() if k not in ("kind", "apiVersion")})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _aggregated_resource(resource_type: ResourceType) -> dict:
    kind = {"group": resource_type.group, "version": resource_type.version, "kind": resource_type.kind}
    entry = {
        "resource": resource_type.plural,
        "responseKind": kind,
        "scope": "Namespaced" if resource_type.namespaced else "Cluster",
        "singularResource": resource_type.singular,
        "verbs": list(resource_type.verbs),
    }
    if resource_type.short_names:
        entry["shortNames"] = list(resource_type.short_names)
    if resource_type.categories:
        entry["categories"] = list(resource_type.categories)
    if resource_type.subresources:
        entry["subresources"] = [
            {"subresource": sub, "responseKind": kind, "verbs": _subresource_verbs(resource_type, sub)}
            for sub in resource_type.subresources
        ]
    return entry


def _aggregated_group(registry: Registry, group: str) -> dict:
    versions = []
    for version in registry.versions_of(group):
        types = sorted(registry.for_group_version(group, version), key=lambda t: t.plural)
        versions.append({"version": version, "resources": [_aggregated_resource(t) for t in types],
                         "freshness": "Current"})
    metadata: dict = {"creationTimestamp": None}
    if group:
        metadata["name"] = group
    return {"metadata": metadata, "versions": versions}


def aggregated(registry: Registry, *, core: bool, media_type: str) -> dict:
    groups = [""] if core else registry.groups()
    version = "v2" if media_type == AGGREGATED_V2 else "v2beta1"
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": [_aggregated_group(registry, group) for group in groups],
    }
