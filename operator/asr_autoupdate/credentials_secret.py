"""Read a policy's `credentialsSecretRef` from its own namespace with the official Kubernetes client.

The namespace is the tenant boundary: a policy can only name a Secret beside it. The values never leave
`ServicePrincipal` (whose repr hides them), and every failure is a `SecretInvalid` whose message names the
Secret and the key, never a value. A Kubernetes API failure other than "not there" or "not allowed" is
`SecretUnreadable`: the Secret may be fine, so it is retried soon rather than reported as the user's mistake.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools

import kubernetes

from asr_autoupdate.azure.credentials import SecretInvalid, ServicePrincipal


@functools.cache
def _core_api() -> kubernetes.client.CoreV1Api:
    """In a pod, the service account; elsewhere, the kubeconfig that kopf uses too."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.CoreV1Api()


class SecretUnreadable(Exception):
    """The Kubernetes API did not answer the read (5xx, timeout, connection trouble); the message is one word
    or an HTTP status, never the API's body."""


def _read(namespace: str, name: str) -> ServicePrincipal:
    try:
        secret = _core_api().read_namespaced_secret(name, namespace)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            raise SecretInvalid("does not exist in the policy's namespace") from None
        if error.status == 403:
            raise SecretInvalid("cannot be read by the operator (RBAC)") from None
        raise SecretUnreadable(f"HTTP {error.status}" if error.status else "no answer") from None
    except (OSError, kubernetes.client.exceptions.OpenApiException) as error:  # connection trouble, bad answer
        raise SecretUnreadable(type(error).__name__) from None
    decoded: dict[str, bytes] = {}
    for key, value in (secret.data or {}).items():
        try:
            decoded[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SecretInvalid(f"has key {key} that is not base64") from None
    return ServicePrincipal.from_secret_data(decoded)


async def read_service_principal(namespace: str, name: str) -> ServicePrincipal:
    """The identity a policy names; the blocking client call runs in a worker thread."""
    return await asyncio.to_thread(_read, namespace, name)
