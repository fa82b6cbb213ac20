"""Helpers for end-to-end tests: policy manifests and waiting on status conditions."""

from __future__ import annotations

import json

from tests.support import wait_for

GROUP, VERSION, PLURAL = "asr.autoupdate.dev", "v1alpha1", "mobilityupdatepolicies"


def vault_spec(description: dict, index: int = 0) -> dict:
    vault = description["vaults"][index]
    return {"subscriptionId": vault["subscriptionId"], "resourceGroup": vault["resourceGroup"], "name": vault["name"]}


def policy(name: str, namespace: str, vault: dict, **spec) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MobilityUpdatePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"vault": vault, "updateMode": "Automatic", **spec},
    }


def get_policy(custom, namespace: str, name: str) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def condition(body: dict, kind: str) -> dict:
    return next((c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def wait_condition(custom, namespace: str, name: str, kind: str, status: str = "True", *, reason: str | None = None,
                   timeout: float = 60) -> dict:
    """Wait until the condition has the status (and reason); answer the whole object."""

    def check():
        body = get_policy(custom, namespace, name)
        found = condition(body, kind)
        if found.get("status") == status and (reason is None or found.get("reason") == reason):
            if body["status"].get("observedGeneration") == body["metadata"]["generation"]:
                return body
        return None

    return wait_for(check, timeout=timeout, what=f"{namespace}/{name} {kind}={status} {reason or ''}")


def events_for(core, namespace: str, name: str) -> list:
    return core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items


def pretty(value) -> str:
    return json.dumps(value, indent=2, default=str)
