"""Bad input: what the API server refuses with its message, and what only the operator can judge (Stalled with
a reason and a one-line message, never a crash loop or a traceback in an Event)."""

from __future__ import annotations

import pytest

from tests.e2e.kit import (
    TRACEBACK,
    arm_requests,
    assert_kstatus,
    condition,
    events_for,
    get_policy,
    policy,
    secret_manifest,
    vault_spec,
    wait_condition,
    writes,
)


def _assert_stalled_cleanly(core, process, namespace: str, name: str, body: dict, reason: str) -> str:
    """Stalled with `reason` on every condition, one Warning Event, and no traceback anywhere; the message."""
    assert_kstatus(body, ready="False", reconciling="False", stalled="True", reason=reason)
    message = condition(body, "Ready")["message"]
    assert "\n" not in message and not TRACEBACK.search(message)
    events = [e for e in events_for(core, namespace, name) if e.reason == reason]
    assert len(events) == 1 and events[0].type == "Warning" and events[0].message == message
    for event in events_for(core, namespace, name):
        assert not TRACEBACK.search(event.message or ""), event.message
    assert not TRACEBACK.search(process.log_text())
    return message


def test_the_api_server_refuses_invalid_policies_with_its_message(description, namespace, kubectl, custom):
    vault = vault_spec(description, 0)
    refused = {
        "bad-uuid": (
            policy("bad-uuid", namespace, {**vault, "subscriptionId": "not-a-uuid"}),
            "spec.vault.subscriptionId in body should match",
        ),
        "days-on-day": (
            policy("days-on-day", namespace, vault, schedule={"frequency": "Day", "weekDays": ["Sunday"]}),
            "weekDays is only allowed when frequency is Week",
        ),
        "week-no-days": (
            policy("week-no-days", namespace, vault, schedule={"frequency": "Week"}),
            "weekDays is required when frequency is Week",
        ),
        "bad-time": (policy("bad-time", namespace, vault, schedule={"time": "24:00"}), "spec.schedule.time"),
        "unknown-field": (policy("unknown-field", namespace, vault, surprise=True), 'unknown field "spec.surprise"'),
    }
    for name, (manifest, expected) in refused.items():
        result = kubectl.apply(manifest, check=False)
        assert result.returncode != 0 and expected in result.stderr, (name, result.stderr)
        assert kubectl("get", "mup", name, "-n", namespace, check=False).returncode != 0

    kubectl.apply(policy("moving", namespace, vault))
    moved = kubectl.apply(policy("moving", namespace, vault_spec(description, 1)), check=False)
    assert moved.returncode != 0
    assert "spec.vault is immutable; create a new policy for another vault" in moved.stderr, moved.stderr
    assert get_policy(custom, namespace, "moving")["spec"]["vault"] == vault


def test_a_vault_that_does_not_exist_stalls_with_vault_not_found(
    description, namespace, kubectl, custom, core, admin, start_operator
):
    vault = {**vault_spec(description, 0), "name": "rsv-nowhere"}
    process = start_operator()
    kubectl.apply(policy("lost", namespace, vault))
    body = wait_condition(custom, namespace, "lost", "Stalled", "True", reason="VaultNotFound")
    message = _assert_stalled_cleanly(core, process, namespace, "lost", body, "VaultNotFound")
    assert "rsv-nowhere was not found" in message and "Check spec.vault" in message
    assert writes(arm_requests(admin)) == []


@pytest.mark.parametrize(
    "secret, problem",
    [
        pytest.param(None, "does not exist in the policy's namespace", id="missing-secret"),
        pytest.param(
            {"tenantId": "t", "clientSecret": "s3cr3t-without-client"},
            "missing key clientId",
            id="secret-lacks-clientId",
        ),
    ],
)
def test_an_unusable_credentials_secret_stalls_with_credentials_secret_invalid(
    secret, problem, description, namespace, kubectl, custom, core, admin, start_operator
):
    if secret is not None:
        kubectl.apply(secret_manifest(namespace, "azure-sp", **secret))
    process = start_operator()
    kubectl.apply(policy("tenant", namespace, vault_spec(description, 0), credentialsSecretRef={"name": "azure-sp"}))
    body = wait_condition(custom, namespace, "tenant", "Stalled", "True", reason="CredentialsSecretInvalid")
    message = _assert_stalled_cleanly(core, process, namespace, "tenant", body, "CredentialsSecretInvalid")
    assert message.startswith(f"Secret azure-sp {problem}."), message
    assert "tenantId, clientId and clientSecret or clientCertificate" in message
    assert writes(arm_requests(admin)) == []


def test_a_wrong_client_secret_stalls_with_authentication_failed(
    description, namespace, kubectl, custom, core, admin, start_operator
):
    kubectl.apply(
        secret_manifest(
            namespace,
            "azure-sp",
            tenantId=description["tenantId"],
            clientId=description["clientId"],
            clientSecret="definitely-not-the-secret",
        )
    )
    process = start_operator()
    kubectl.apply(policy("tenant", namespace, vault_spec(description, 0), credentialsSecretRef={"name": "azure-sp"}))
    body = wait_condition(custom, namespace, "tenant", "Stalled", "True", reason="AuthenticationFailed")
    message = _assert_stalled_cleanly(core, process, namespace, "tenant", body, "AuthenticationFailed")
    assert "could not sign in to Azure" in message and "clientSecret" in message, message
    refused = [r for r in admin.requests() if "/oauth2/" in r["path"]]
    assert refused and {r["status"] for r in refused} == {401}
    assert writes(arm_requests(admin)) == []
