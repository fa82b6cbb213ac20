"""A storm of 429s: the operator honours Retry-After, and converges once the storm passes, without crashing;
and being throttled is waiting, not failing: no Warning Event, no "failed temporarily" at ERROR, no
AzureUnavailable."""

from __future__ import annotations

from datetime import datetime

from tests.e2e.kit import (
    TRACEBACK,
    a2a_mappings,
    arm_requests,
    assert_kstatus,
    events_for,
    operator_object_id,
    policy,
    vault_spec,
    wait_ready,
)

STORM = 10


def _at(request: dict) -> datetime:
    return datetime.fromisoformat(request["time"])


def test_a_429_storm_ends_ready_without_a_crash(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    operator = operator_object_id(admin)
    fault = admin.post(
        "faults",
        {
            "pathPattern": r"/providers/Microsoft\.(Automation|RecoveryServices|Authorization)/",
            "status": 429,
            "retryAfter": 1,
            "count": STORM,
        },
    )
    process = start_operator()
    kubectl.apply(policy("stormy", namespace, vault))
    body = wait_ready(custom, namespace, "stormy", timeout=90)

    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    assert {m.properties.provider_specific_details.agent_auto_update_status for m in a2a_mappings(arm, vault)} == {
        "Enabled"
    }
    throttled = [r for r in arm_requests(admin, operator) if r["fault"] == fault["id"]]
    assert len(throttled) == STORM and {r["status"] for r in throttled} == {429}
    assert admin.get("faults")["faults"] == [], "the storm must be spent"
    # every throttled call was asked again, not before its Retry-After had passed, and then answered
    answered = [r for r in arm_requests(admin, operator) if r["fault"] is None]
    for request in throttled:
        again = [
            r
            for r in answered
            if (r["method"], r["path"]) == (request["method"], request["path"]) and _at(r) > _at(request)
        ]
        assert again and again[0]["status"] not in (429, None), request
        assert (_at(again[0]) - _at(request)).total_seconds() >= 0.9, (request, again[0])
    log = process.log_text()
    assert not TRACEBACK.search(log), log
    assert "failed unexpectedly" not in log and "InternalError" not in log
    assert "Handler 'converge' failed permanently" not in log
    # throttled is waiting: kopf's retries are INFO lines that say so, and nothing was posted as a failure
    assert "failed temporarily" not in log and "AzureUnavailable" not in log, log
    warnings = [e for e in events_for(core, namespace, "stormy") if e.type != "Normal"]
    assert not warnings, [(e.reason, e.message) for e in warnings]
