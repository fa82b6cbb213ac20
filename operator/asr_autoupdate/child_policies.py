"""A fleet's writes of its child policies, with the official Kubernetes client (`reconcile.fleet.ChildStore`).

Each write is idempotent, so a pass repeated after a crash does no harm: creating a child that exists already
is not an error, nor is deleting one that is gone. A rewrite is a JSON Patch of the spec, the wave label and
the spec-hash annotation only, so kopf's finalizer and anything else on the child's metadata stay as they are.
A refusal leaves as `ChildWriteFailed` with the API's status and reason, never its body.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

import kubernetes

from asr_autoupdate.api import GROUP, PLURAL, VERSION
from asr_autoupdate.reconcile.fleet import ChildWriteFailed


@functools.cache
def _custom_api() -> kubernetes.client.CustomObjectsApi:
    """In a pod, the service account; elsewhere, the kubeconfig that kopf uses too."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.CustomObjectsApi()


def _escape(key: str) -> str:
    """A label or annotation key as one JSON Pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _failure(verb: str, name: str, error: kubernetes.client.ApiException) -> ChildWriteFailed:
    return ChildWriteFailed(f"{verb} policy {name}: HTTP {error.status} {error.reason or ''}".strip())


class KubernetesChildStore:
    """`ChildStore` over the Kubernetes API; the blocking client runs in a worker thread."""

    async def create(self, namespace: str, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        try:
            await asyncio.to_thread(
                _custom_api().create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, dict(body)
            )
        except kubernetes.client.ApiException as error:
            if error.status != 409:  # already there: the next pass compares and rewrites it if needed
                raise _failure("creating", name, error) from None

    async def replace(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        metadata = body["metadata"]
        operations: list[dict[str, Any]] = [{"op": "replace", "path": "/spec", "value": body["spec"]}]
        for field in ("labels", "annotations"):  # both exist: the fleet created the child with them
            for key, value in metadata.get(field, {}).items():
                operations.append({"op": "add", "path": f"/metadata/{field}/{_escape(key)}", "value": value})
        try:
            await asyncio.to_thread(
                functools.partial(
                    _custom_api().patch_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    name,
                    operations,
                    _content_type="application/json-patch+json",
                )
            )
        except kubernetes.client.ApiException as error:
            raise _failure("rewriting", name, error) from None

    async def delete(self, namespace: str, name: str) -> None:
        try:
            await asyncio.to_thread(
                _custom_api().delete_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
            )
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise _failure("deleting", name, error) from None
