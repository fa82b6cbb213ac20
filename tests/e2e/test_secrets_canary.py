"""A canary secret: a client secret placed both in a policy's Secret and on the sandbox's service principal
must never surface in the operator's log (at debug level), in Events, in status or in the metrics.

The canary is used for real (the policy converges with it), a second canary is a wrong secret (the authority
refuses it), and a third Secret lacks a key: the success, the sign-in failure and the bad Secret all leave
their traces, and none of those traces may carry a secret, in clear or base64-encoded.
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid

from asr_sandbox.children import free_port
from tests.e2e.kit import arm_requests, condition, policy, vault_spec, wait_condition, wait_ready
from tests.support import wait_for


def secret_manifest(name: str, namespace: str, data: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": data,
    }


def test_secret_values_never_leak(description, namespace, kubectl, custom, admin, start_operator):
    canary = f"canary-{uuid.uuid4().hex}"
    wrong = f"canary-wrong-{uuid.uuid4().hex}"
    principal = admin.post(
        "principals", {"kind": "ServicePrincipal", "displayName": "dr-team-deployer", "clientSecret": canary}
    )
    subscription = description["vaults"][0]["subscriptionId"]
    admin.post(
        "role-assignments",
        {"principalId": principal["objectId"], "role": "Owner", "scope": f"/subscriptions/{subscription}"},
    )
    tenant = description["tenantId"]
    kubectl.apply(
        secret_manifest(
            "azure-sp", namespace, {"tenantId": tenant, "clientId": principal["clientId"], "clientSecret": canary}
        )
    )
    kubectl.apply(
        secret_manifest(
            "wrong-sp", namespace, {"tenantId": tenant, "clientId": principal["clientId"], "clientSecret": wrong}
        )
    )
    kubectl.apply(secret_manifest("half-sp", namespace, {"tenantId": tenant, "clientSecret": canary}))

    metrics_port = free_port()
    process = start_operator("-v", "--metrics-port", str(metrics_port), "--drift-interval-override", "1")
    weu, eus, sea = (vault_spec(description, index) for index in range(3))
    kubectl.apply(policy("with-secret", namespace, weu, credentialsSecretRef={"name": "azure-sp"}))
    kubectl.apply(policy("wrong-secret", namespace, eus, credentialsSecretRef={"name": "wrong-sp"}))
    kubectl.apply(policy("half-secret", namespace, sea, credentialsSecretRef={"name": "half-sp"}))

    wait_ready(custom, namespace, "with-secret")
    assert {r["principal"] for r in arm_requests(admin) if weu["name"] in r["path"]} == {principal["objectId"]}, (
        "the policy's own identity did the work"
    )
    body = wait_condition(custom, namespace, "wrong-secret", "Stalled", "True", reason="AuthenticationFailed")
    assert "TokenRequestFailed" in condition(body, "Ready")["message"]
    body = wait_condition(custom, namespace, "half-secret", "Stalled", "True", reason="CredentialsSecretInvalid")
    assert "clientId" in condition(body, "Ready")["message"]

    def scraped() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    metrics = wait_for(lambda: (lambda text: "asr_autoupdate_policies{" in text and text)(scraped()), timeout=15)
    policies = kubectl("get", "mup", "-n", namespace, "-o", "json").stdout
    events = kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    described = kubectl("describe", "mup", "-n", namespace).stdout
    log = process.log_text()
    assert "Patching" in log or "patch" in log.lower(), "the log is at debug level: the worst case"

    secrets = {
        "canary": canary,
        "wrong canary": wrong,
        "the operator's own secret": description["clientSecret"],
    }
    for label, value in list(secrets.items()):
        secrets[f"{label} (base64)"] = base64.b64encode(value.encode()).decode()
    places = {"log": log, "Events": events, "status": policies, "kubectl describe": described, "metrics": metrics}
    leaks = [
        f"{label} in {place}" for label, value in secrets.items() for place, text in places.items() if value in text
    ]
    assert not leaks, leaks
    assert "Bearer ey" not in log and '"access_token"' not in log, "no token in the log"
    for item in json.loads(events)["items"]:
        assert "Traceback" not in item.get("message", "")
