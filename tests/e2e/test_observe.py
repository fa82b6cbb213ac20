"""managementPolicy Observe: read and report what differs (DriftDetected), never write to Azure."""

from __future__ import annotations

from tests.e2e.kit import (
    a2a_mappings,
    arm_requests,
    assert_kstatus,
    automation_accounts,
    condition,
    describe_requests,
    event_uids,
    events_for,
    get_policy,
    operator_object_id,
    policy,
    set_mapping,
    vault_spec,
    wait_condition,
    wait_event,
    wait_ready,
    writes,
)
from tests.support import wait_for

DRIFT = ("--drift-interval-override", "2")


def _passes(admin, operator: str, vault: dict) -> int:
    """How many passes the operator has made: each one reads the vault first."""
    return sum(
        1
        for r in arm_requests(admin, operator)
        if r["method"] == "GET" and r["path"].lower().endswith(f"/vaults/{vault['name']}".lower())
    )


def test_observe_reports_what_differs_and_never_writes(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    operator = operator_object_id(admin)
    start_operator(*DRIFT)
    kubectl.apply(policy("watch", namespace, vault, managementPolicy="Observe", schedule={"time": "03:00"}))

    body = wait_condition(custom, namespace, "watch", "Stalled", "True", reason="DriftDetected")
    assert_kstatus(body, ready="False", reconciling="False", stalled="True", reason="DriftDetected")
    message = condition(body, "Ready")["message"]
    assert message.startswith(
        "Observe mode, Azure differs from the spec: create automation account "
        "rsv-weu-prod-asr-automationaccount in westeurope"
    ), message
    assert "spec.managementPolicy: Manage" in message
    assert condition(body, "AutomationAccountReady")["reason"] == "DriftDetected"

    # a few more passes (the drift timer fires every 2 s), still without a single write, and one Event only
    passes = _passes(admin, operator, vault)
    wait_for(lambda: _passes(admin, operator, vault) >= passes + 2, timeout=20, what="two more drift checks")
    assert writes(arm_requests(admin, operator)) == [], describe_requests(writes(arm_requests(admin, operator)))
    assert automation_accounts(arm, vault["subscriptionId"]) == []
    assert {m.properties.provider_specific_details.agent_auto_update_status for m in a2a_mappings(arm, vault)} == {
        "Disabled"
    }
    drift_events = [e for e in events_for(core, namespace, "watch") if e.reason == "DriftDetected"]
    assert len(drift_events) == 1 and drift_events[0].type == "Warning"
    assert get_policy(custom, namespace, "watch")["status"]["conditions"] == body["status"]["conditions"], (
        "an unchanged finding must not churn the conditions"
    )


def test_observe_of_a_matching_vault_is_ready_until_someone_changes_it(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    operator = operator_object_id(admin)
    start_operator(*DRIFT)
    kubectl.apply(policy("watch", namespace, vault, schedule={"time": "03:00"}))
    wait_ready(custom, namespace, "watch")
    kubectl.apply(policy("watch", namespace, vault, schedule={"time": "03:00"}, managementPolicy="Observe"))
    body = wait_ready(custom, namespace, "watch")
    assert body["metadata"]["generation"] == 2
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    writes_before = len(writes(arm_requests(admin, operator)))
    events_before = event_uids(core, namespace, "watch")

    flipped = a2a_mappings(arm, vault)[0]
    set_mapping(arm, vault, flipped, enabled=False)
    body = wait_condition(custom, namespace, "watch", "Stalled", "True", reason="DriftDetected")
    message = condition(body, "Ready")["message"]
    assert f"set auto-update Enabled on mapping {flipped.name}" in message, message
    assert condition(body, "MappingsConfigured")["reason"] == "DriftDetected"
    wait_event(core, namespace, "watch", "DriftDetected", since=events_before)
    assert len(writes(arm_requests(admin, operator))) == writes_before, "Observe must never write"
    still = next(m for m in a2a_mappings(arm, vault) if m.name == flipped.name)
    assert still.properties.provider_specific_details.agent_auto_update_status == "Disabled"
