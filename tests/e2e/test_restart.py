"""The operator dies (SIGKILL) in the middle of a pass; its successor finishes without doubling anything."""

from __future__ import annotations

import pytest

from tests.e2e.estate_checks import assert_estate
from tests.e2e.kit import assert_kstatus, policy, vault_spec, wait_ready
from tests.support import wait_for


@pytest.mark.parametrize(
    "slow_call",
    [
        pytest.param({"method": "PUT", "pathPattern": r"/automationAccounts/[^/]+$"}, id="during-account-create"),
        pytest.param(
            {"method": "PATCH", "pathPattern": r"/replicationProtectionContainerMappings/"}, id="during-mapping-update"
        ),
    ],
)
def test_a_restart_mid_pass_converges_without_duplicates(
    slow_call, description, namespace, kubectl, custom, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    admin.post("faults", {**slow_call, "latencySeconds": 3, "count": 1})
    first = start_operator()
    kubectl.apply(policy("crashy", namespace, vault, schedule={"time": "04:00"}))
    # the fault is spent when its request arrives: the operator is now waiting on that slow call
    wait_for(lambda: admin.get("faults")["faults"] == [], timeout=30, what="the slow call to start")
    first.kill()

    start_operator()
    body = wait_ready(custom, namespace, "crashy", timeout=60)
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")

    # one account, one Contributor assignment, one schedule and job schedule per mapping, the new time in status
    assert_estate(arm, vault, policy=body, schedule_time="04:00")
