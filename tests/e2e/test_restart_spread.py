"""A restart is not a herd: policies that were Ready wait for their first drift check at a random point of
their interval (and stay Ready meanwhile), while one whose spec changed while the operator was down is
reconciled at once."""

from __future__ import annotations

from datetime import datetime

from asr_sandbox.azure.state.default_estate import LATEST, a2a_vault
from tests.e2e.kit import arm_requests, condition, get_policy, operator_object_id, policy, wait_ready
from tests.support import wait_for

VAULTS = 6
INTERVAL = 30


def seeded(admin) -> list[dict]:
    subscription = admin.state()["subscriptions"][0]["subscriptionId"]
    vaults = []
    for index in range(VAULTS):
        items = [{"friendlyName": f"vm-{index}", "agentVersion": LATEST, "agentExpiresInDays": 300}]
        vaults.append(a2a_vault(subscription, "rg-spread", f"rsv-spread-{index}", "westeurope", "northeurope", items))
    admin.post("seed", {"vaults": vaults})
    return [{"subscriptionId": subscription, "resourceGroup": "rg-spread", "name": v["name"]} for v in vaults]


def first_read_after(requests: list[dict], vault: dict, since: datetime) -> datetime | None:
    times = [
        datetime.fromisoformat(r["time"])
        for r in requests
        if r["method"] == "GET"
        and r["path"].split("?")[0].lower().endswith(f"/vaults/{vault['name']}".lower())
        and datetime.fromisoformat(r["time"]) >= since
    ]
    return min(times) if times else None


def test_a_restart_spreads_the_ready_policies_and_reconciles_a_changed_one_at_once(
    namespace, kubectl, custom, admin, start_operator
):
    vaults = seeded(admin)
    first = start_operator("--drift-interval-override", str(INTERVAL))
    for index, vault in enumerate(vaults):
        kubectl.apply(policy(f"p{index}", namespace, vault, schedule={"time": "03:00"}))
    ready_since = {
        f"p{i}": condition(wait_ready(custom, namespace, f"p{i}"), "Ready")["lastTransitionTime"] for i in range(VAULTS)
    }
    first.kill()

    # while it is down, one spec changes: that policy must not wait for a drift check
    kubectl.apply(policy("p0", namespace, vaults[0], schedule={"time": "05:00"}))
    admin.delete("requests")
    restarted = datetime.now().astimezone()
    start_operator("--drift-interval-override", str(INTERVAL))
    changed = wait_ready(custom, namespace, "p0", timeout=20)
    assert {s["time"] for s in changed["status"]["schedules"]} == {"05:00"}

    operator = operator_object_id(admin)

    def every_vault_checked():
        requests = arm_requests(admin, operator)
        firsts = [first_read_after(requests, vault, restarted) for vault in vaults[1:]]
        return firsts if all(firsts) else None

    firsts = wait_for(every_vault_checked, timeout=INTERVAL + 30, what="a drift check of every resumed policy")
    offsets = sorted((moment - restarted).total_seconds() for moment in firsts)
    # spread over the interval, not one burst at start (five uniform draws over 30 s all within 5 s: ~0.1 %)
    assert offsets[-1] - offsets[0] >= 5, offsets
    # and nothing flapped: the resumed policies stayed Ready, from the same transition, the whole time
    for index in range(1, VAULTS):
        body = get_policy(custom, namespace, f"p{index}")
        ready = condition(body, "Ready")
        assert (ready["status"], ready["lastTransitionTime"]) == ("True", ready_since[f"p{index}"]), body["status"]
