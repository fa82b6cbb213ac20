"""Two replicas, one leader: two operators in kopf's peering, one acts; SIGKILLed, the other takes over within
the peering's lifetime and finishes the job without doing anything twice.

Both processes run as the chart's ServiceAccount under the chart's RBAC (namespaced mode, with the peering
grants) and with the chart's own arguments (`--peering=<name> --peering-lifetime=5`), against the KopfPeering
the chart creates in the watched namespace. Both call Azure as the same identity, so who acted is read from
the operators' own logs: kopf's handler lines (each test's namespace holds one policy), and the leader's
line saying that it leads. The measured times are printed (`-s`); docs/install.md#high-availability quotes them.
"""

from __future__ import annotations

import time

import pytest

from tests.chart import chart_kit
from tests.e2e.estate_checks import assert_estate
from tests.e2e.kit import get_policy, policy, vault_spec, wait_ready
from tests.kube_kit import install_chart_peering, install_peering_crds
from tests.support import wait_for

LIFETIME = 5  # seconds: the chart's peering.lifetime for this test (the schema's minimum)
MARGIN = 3.0  # seconds past the lifetime for kopf to notice, resume, list the policy and run one pass
LEADING = "Leading in peering"


def handled(log: str) -> list[str]:
    """kopf's lines about a handler (`Handler 'converge' succeeded.` and the like); the namespace holds one
    policy, and the text format leaves the object out."""
    return [line for line in log.splitlines() if "kopf.objects" in line and "Handler '" in line]


@pytest.fixture
def peering_args(namespace, kubectl, custom) -> list[str]:
    """The chart's KopfPeering in the namespace (its CRDs first) and the chart's peering arguments."""
    install_peering_crds(kubectl)
    manifests = chart_kit.render(
        {"watchNamespaces": [namespace], "peering": {"lifetime": LIFETIME}}, namespace=chart_kit.NAMESPACE
    )
    [peering] = install_chart_peering(kubectl, manifests)
    assert peering["kind"] == "KopfPeering" and peering["metadata"]["namespace"] == namespace
    args = [a for a in chart_kit.container(manifests)["args"] if a.startswith("--peering")]
    assert args == [f"--peering={peering['metadata']['name']}", f"--peering-lifetime={LIFETIME}"]
    return [*args, "--metrics-port", "0"]  # two processes on one machine: one metrics port would be refused


def keepalives(custom, namespace: str, name: str) -> dict:
    body = custom.get_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings", name)
    return body.get("status") or {}


def two_replicas(start_operator, custom, namespace: str, peering_args: list[str]):
    """The first replica leads; the second, started later (a lower priority), stands by with its keep-alive
    in the KopfPeering."""
    peering_name = peering_args[0].partition("=")[2]  # --peering=<name>
    first = start_operator(*peering_args)
    wait_for(lambda: LEADING in first.log_text(), timeout=30, what="the first replica to lead")
    second = start_operator(*peering_args)
    records = wait_for(
        lambda: (found := keepalives(custom, namespace, peering_name)) and len(found) == 2 and found,
        timeout=30,
        what="both replicas' keep-alives in the KopfPeering",
    )
    priorities = sorted(record["priority"] for record in records.values())
    assert priorities[0] < priorities[1], records  # different: kopf freezes replicas of the same priority
    assert all(record["lifetime"] == LIFETIME for record in records.values()), records
    return first, second, peering_name


def test_the_oldest_replica_acts_and_a_survivor_takes_over_after_a_sigkill(
    description, namespace, kubectl, custom, arm, start_operator, peering_args
):
    vault = vault_spec(description, 0)
    first, second, peering_name = two_replicas(start_operator, custom, namespace, peering_args)

    kubectl.apply(policy("failover", namespace, vault, schedule={"time": "04:00"}))
    wait_ready(custom, namespace, "failover", timeout=60)
    assert handled(first.log_text()), first.log_tail()
    assert not handled(second.log_text()), second.log_tail()
    assert LEADING not in second.log_text()

    # the leader dies without a goodbye (its keep-alive stays until it expires); the spec changes meanwhile
    killed = time.monotonic()
    first.kill()
    kubectl.apply(policy("failover", namespace, vault, schedule={"time": "05:30"}))
    generation = get_policy(custom, namespace, "failover")["metadata"]["generation"]

    wait_for(lambda: LEADING in second.log_text(), timeout=LIFETIME + 15, interval=0.05, what="the takeover")
    took_over = time.monotonic() - killed

    def converged_again() -> bool:
        body = get_policy(custom, namespace, "failover")
        status = body.get("status") or {}
        return status.get("observedGeneration") == generation and {s["time"] for s in status["schedules"]} == {"05:30"}

    wait_for(converged_again, timeout=LIFETIME + 30, interval=0.05, what="the survivor to act on the new spec")
    acted = time.monotonic() - killed
    print(f"takeover: {took_over:.2f} s to lead, {acted:.2f} s to act on the changed spec (lifetime {LIFETIME} s)")
    assert took_over <= LIFETIME + 1.0, f"the survivor led {took_over:.2f} s after the kill"
    assert acted <= LIFETIME + MARGIN, f"the survivor acted {acted:.2f} s after the kill"
    assert handled(second.log_text()), second.log_tail()
    body = wait_ready(custom, namespace, "failover", timeout=30)
    # the dead leader's record is cleaned up by the survivor
    wait_for(lambda: len(keepalives(custom, namespace, peering_name)) == 1, timeout=10, what="the dead record gone")

    # nothing was done twice: one account, one Contributor assignment, one schedule per mapping
    assert_estate(arm, vault, policy=body, schedule_time="05:30")


def test_a_leader_that_stops_gracefully_hands_over_at_once(
    description, namespace, kubectl, custom, start_operator, peering_args
):
    """SIGTERM (a rolling update, a drain): kopf removes the leader's keep-alive on its way out, so the standby
    does not wait for the lifetime."""
    vault = vault_spec(description, 0)
    first, second, peering_name = two_replicas(start_operator, custom, namespace, peering_args)
    kubectl.apply(policy("handover", namespace, vault))
    wait_ready(custom, namespace, "handover", timeout=60)
    assert handled(first.log_text()) and not handled(second.log_text())

    stopping = time.monotonic()
    first.process.terminate()  # SIGTERM, without waiting for the exit: the handover comes before it
    wait_for(lambda: LEADING in second.log_text(), timeout=LIFETIME + 15, interval=0.05, what="the handover")
    handed_over = time.monotonic() - stopping
    print(f"graceful handover: {handed_over:.2f} s from SIGTERM to the standby leading (lifetime {LIFETIME} s)")
    assert handed_over < LIFETIME - 1, f"the standby led {handed_over:.2f} s after SIGTERM: it waited for the lifetime"
    assert len(keepalives(custom, namespace, peering_name)) == 1
    first.stop()  # reaped (by PID)
    kubectl.apply(policy("handover", namespace, vault, schedule={"time": "03:15"}))
    body = wait_ready(custom, namespace, "handover", timeout=30)
    assert {s["time"] for s in body["status"]["schedules"]} == {"03:15"}
    assert handled(second.log_text()), second.log_tail()
