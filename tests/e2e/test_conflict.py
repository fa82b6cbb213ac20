"""One vault, one policy: a second policy for the same vault (ids compare case-insensitively) waits its turn."""

from __future__ import annotations

from tests.e2e.kit import (
    a2a_mappings,
    assert_kstatus,
    condition,
    event_uids,
    get_policy,
    policy,
    set_mapping,
    vault_spec,
    wait_condition,
    wait_event,
    wait_ready,
)
from tests.support import wait_for


def test_a_second_policy_for_the_same_vault_waits_until_the_first_is_gone(
    description, namespace, kubectl, custom, core, arm, start_operator
):
    vault = vault_spec(description, 0)
    shouted = {
        "subscriptionId": vault["subscriptionId"].upper(),
        "resourceGroup": vault["resourceGroup"].upper(),
        "name": vault["name"].upper(),
    }
    start_operator("--drift-interval-override", "2")
    kubectl.apply(policy("alpha", namespace, vault, schedule={"time": "01:00"}))
    wait_ready(custom, namespace, "alpha")
    kubectl.apply(policy("beta", namespace, shouted, schedule={"time": "05:00"}))

    beta = wait_condition(custom, namespace, "beta", "Stalled", "True", reason="PolicyConflict")
    assert_kstatus(beta, ready="False", reconciling="False", stalled="True", reason="PolicyConflict")
    assert f"already managed by MobilityUpdatePolicy {namespace}/alpha" in condition(beta, "Ready")["message"]
    assert "automationAccount" not in beta["status"]
    wait_event(core, namespace, "beta", "PolicyConflict")

    # alpha keeps working: a hand-made change is put back, at alpha's time, not beta's
    alpha_events = event_uids(core, namespace, "alpha")
    set_mapping(arm, vault, a2a_mappings(arm, vault)[0], enabled=False)
    wait_event(core, namespace, "alpha", "MappingUpdated", since=alpha_events)
    alpha = wait_ready(custom, namespace, "alpha")
    assert {s["time"] for s in alpha["status"]["schedules"]} == {"01:00"}
    assert condition(get_policy(custom, namespace, "beta"), "Stalled")["reason"] == "PolicyConflict"

    kubectl("delete", "mup", "alpha", "-n", namespace, "--timeout=30s")
    beta = wait_ready(custom, namespace, "beta", timeout=30)
    assert_kstatus(beta, ready="True", reconciling="False", stalled="False", reason="Converged")

    def at_betas_time():
        body = get_policy(custom, namespace, "beta")
        return {s["time"] for s in body["status"].get("schedules") or []} == {"05:00"} and body

    wait_for(at_betas_time, timeout=20, what="beta's schedule time in its status")
