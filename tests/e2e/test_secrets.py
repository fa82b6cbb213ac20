"""No secret ever appears in the operator's log, in Events or in status: neither the operator's own client
secret (from its environment) nor a policy's Secret, whether it works or is refused."""

from __future__ import annotations

import base64
import json

from tests.e2e.kit import policy, secret_manifest, vault_spec, wait_condition, wait_ready

TENANT_SECRET = "tenant-sp-secret-0f9e8d7c6b5a"
WRONG_SECRET = "wrong-secret-1a2b3c4d5e6f"


def test_secrets_never_reach_logs_events_or_status(
    description, namespace, kubectl, custom, core, admin, start_operator
):
    tenant = admin.post("principals", {"displayName": "tenant-sp", "clientSecret": TENANT_SECRET})
    admin.post(
        "role-assignments",
        {
            "principalId": tenant["objectId"],
            "role": "Owner",
            "scope": f"/subscriptions/{description['subscriptionId']}",
        },
    )
    kubectl.apply(
        secret_manifest(
            namespace,
            "tenant-sp",
            tenantId=description["tenantId"],
            clientId=tenant["clientId"],
            clientSecret=TENANT_SECRET,
        )
    )
    kubectl.apply(
        secret_manifest(
            namespace,
            "wrong-sp",
            tenantId=description["tenantId"],
            clientId=description["clientId"],
            clientSecret=WRONG_SECRET,
        )
    )
    process = start_operator("--verbose")
    kubectl.apply(policy("own", namespace, vault_spec(description, 0)))
    kubectl.apply(policy("tenant", namespace, vault_spec(description, 1), credentialsSecretRef={"name": "tenant-sp"}))
    kubectl.apply(policy("wrong", namespace, vault_spec(description, 2), credentialsSecretRef={"name": "wrong-sp"}))
    wait_ready(custom, namespace, "own")
    tenant_body = wait_ready(custom, namespace, "tenant")
    wait_condition(custom, namespace, "wrong", "Stalled", "True", reason="AuthenticationFailed")
    tenant_calls = [r for r in admin.requests() if (r.get("principal") or "").lower() == tenant["objectId"].lower()]
    assert tenant_calls, "the tenant policy must have acted as the Secret's principal"
    assert tenant_body["status"]["automationAccount"]["createdByPolicy"] is True

    secrets = {
        "the sandbox's clientSecret": description["clientSecret"],
        "a working Secret's clientSecret": TENANT_SECRET,
        "a refused Secret's clientSecret": WRONG_SECRET,
    }
    places = {
        "operator log": process.log_text(),
        "Events": json.dumps([e.to_dict() for e in core.list_namespaced_event(namespace).items], default=str),
        "policies": kubectl("get", "mup", "-n", namespace, "-o", "json").stdout,
        "kubectl describe": kubectl("describe", "mup", "-n", namespace).stdout,
    }
    assert "Handler 'converge' succeeded" in places["operator log"], "the log must be the real one"
    for what, secret in secrets.items():
        encoded = base64.b64encode(secret.encode()).decode()
        for where, text in places.items():
            assert secret not in text and encoded not in text, f"{what} leaked into the {where}"
