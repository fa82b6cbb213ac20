"""Azure at its real pace, in real seconds: Site Recovery answers `Retry-After: 30` and runs a mapping update for
two minutes, every ARM call takes ~150 ms, and a new identity stays invisible to role assignments for a minute.

One test, about three minutes long (the only e2e test that waits on real durations): a vault converges with
one PATCH per mapping and no error condition, Warning Event or ERROR log line on the way, although the
operator is SIGKILLed while Site Recovery is still running its updates. The successor finds them in
`status.operations` and polls them; it sends nothing again.
"""

from __future__ import annotations

import threading
import time
import urllib.parse

import pytest

from tests.e2e.kit import (
    CONTRIBUTOR,
    a2a_mappings,
    arm_requests,
    assert_kstatus,
    automation_accounts,
    condition,
    events_for,
    get_policy,
    operator_object_id,
    policy,
    role_assignments_on_vault,
    role_guid,
    vault_spec,
    wait_ready,
)
from tests.support import wait_for

REAL_PACE = {
    "lroRetryAfterSeconds": 30,
    "operationDurationSeconds": 120,
    "armLatencyMedianSeconds": 0.15,
    "armLatencySigma": 0.5,
    "principalPropagationDelaySeconds": 60,
}
# What a policy may say on its way to Ready at Azure's pace: work under way, never a problem.
ON_THE_WAY = {"Progressing", "Waiting", "Converged"}


class ConditionLog:
    """Every (Ready, Reconciling, Stalled) reading of one policy, sampled in a thread until stopped."""

    def __init__(self, custom, namespace: str, name: str):
        self.readings: set[tuple[str, str | None, str | None, str | None]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(custom, namespace, name), daemon=True)

    def __enter__(self) -> ConditionLog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _sample(self, custom, namespace: str, name: str) -> None:
        while not self._stop.wait(0.25):
            try:
                body = get_policy(custom, namespace, name)
            except Exception:  # noqa: BLE001 - not created yet, or the API server busy: next sample
                continue
            ready = condition(body, "Ready")
            if ready:
                self.readings.add(
                    (
                        ready.get("reason"),
                        ready.get("status"),
                        condition(body, "Reconciling").get("status"),
                        condition(body, "Stalled").get("status"),
                    )
                )


@pytest.mark.azure_config(**REAL_PACE)
def test_a_vault_converges_at_azures_pace_through_a_crash_with_one_patch_per_mapping(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    first = start_operator()
    started = time.monotonic()
    with ConditionLog(custom, namespace, "paced") as readings:
        kubectl.apply(policy("paced", namespace, vault, schedule={"time": "04:00"}))

        def updates_in_flight():
            records = (get_policy(custom, namespace, "paced").get("status") or {}).get("operations") or []
            in_flight = [record for record in records if "finished" not in record]
            return in_flight if len(in_flight) == len(a2a_mappings(arm, vault)) else None

        in_flight = wait_for(updates_in_flight, timeout=150, what="the mapping updates to be remembered in status")
        first.kill()  # Site Recovery is still running them: they last two minutes
        assert all(
            mapping.properties.provider_specific_details.agent_auto_update_status != "Enabled"
            for mapping in a2a_mappings(arm, vault)
        )

        successor = start_operator()
        body = wait_ready(custom, namespace, "paced", timeout=300)
    elapsed = time.monotonic() - started

    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    assert {reason for reason, *_ in readings.readings} <= ON_THE_WAY, readings.readings
    assert all(stalled != "True" for *_, stalled in readings.readings), readings.readings
    assert ("Progressing", "False", "True", "False") in readings.readings, "Reconciling=True while waiting"

    principal = operator_object_id(admin)
    requests = arm_requests(admin, principal)
    patches = [
        r for r in requests if r["method"] == "PATCH" and "/replicationProtectionContainerMappings/" in r["path"]
    ]
    mappings = a2a_mappings(arm, vault)
    assert sorted(r["path"].lower() for r in patches) == sorted(m.id.lower() for m in mappings), "one PATCH each"
    polled = {r["path"].lower() for r in requests if "/replicationoperationstatus/" in r["path"].lower()}
    remembered = {urllib.parse.urlsplit(record["statusUrl"]).path.lower() for record in in_flight}
    assert polled == remembered, "the successor polled exactly the operations it found in status"

    [account] = automation_accounts(arm, vault["subscriptionId"])
    assert [role_guid(a) for a in role_assignments_on_vault(arm, vault, account.identity.principal_id)] == [CONTRIBUTOR]
    schedules = list(
        arm.automation(vault["subscriptionId"]).schedule.list_by_automation_account(
            vault["resourceGroup"], account.name
        )
    )
    assert len(schedules) == len(mappings)
    assert {s["time"] for s in body["status"]["schedules"]} == {"04:00"}
    assert all(record.get("result") == "Succeeded" for record in body["status"]["operations"])

    events = events_for(core, namespace, "paced")
    warnings = [e for e in events if e.type != "Normal"]
    assert not warnings, [(e.reason, e.message) for e in warnings]
    assert not [e for e in events if "waiting on Azure" in (e.message or "")], "a wait is a log line, not an Event"
    logs = first.log_text() + successor.log_text()
    assert "failed temporarily" not in logs, "waiting on Azure is not a failure"
    assert "is waiting on Azure" in logs
    print(f"apply -> Ready at Azure's pace, through a SIGKILL: {elapsed:.0f} s")
