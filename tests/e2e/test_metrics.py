"""The Prometheus endpoint (`--metrics-port`) of a running operator, scraped as Prometheus would.

controller-runtime's reconcile metrics under their usual names, and the operator's own gauges: policies by
mode and readiness, agents behind, job minutes, and Azure requests and throttling by subscription.
"""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from asr_sandbox.children import free_port
from tests.e2e.kit import move_clock_past_first_runs, policy, vault_spec, wait_condition, wait_ready
from tests.support import Timeout, wait_for

CONTROLLER = {"controller": "mobilityupdatepolicy"}


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def metrics_port() -> int:
    return free_port()


def test_metrics_endpoint_speaks_controller_runtime_and_our_gauges(
    description, namespace, kubectl, custom, admin, start_operator, metrics_port
):
    weu, eus, sea = (vault_spec(description, index) for index in range(3))
    process = start_operator("--metrics-port", str(metrics_port), "--drift-interval-override", "1")
    assert f"serving Prometheus metrics on 0.0.0.0:{metrics_port}/metrics" in process.log_text()
    kubectl.apply(policy("weu", namespace, weu))
    kubectl.apply(policy("eus", namespace, eus, updateMode="Manual"))
    kubectl.apply(policy("sea", namespace, sea, managementPolicy="Observe"))
    missing = {**weu, "name": "rsv-does-not-exist"}
    kubectl.apply(policy("gone", namespace, missing))
    converged = wait_ready(custom, namespace, "weu")
    wait_ready(custom, namespace, "eus")
    wait_condition(custom, namespace, "sea", "Stalled", "True", reason="DriftDetected")
    wait_condition(custom, namespace, "gone", "Stalled", "True", reason="VaultNotFound")

    # the nightly run of weu takes ten minutes of job time; then a throttled answer from subscription A
    admin.post("config", {"jobDurationSeconds": 600})
    move_clock_past_first_runs(admin, converged, 1200)
    wait_condition(custom, namespace, "weu", "AgentsCurrent", "True")
    admin.post(
        "faults",
        # weu's own items: a pattern any vault matches was sometimes spent by sea's check, in another subscription
        {
            "method": "GET",
            "pathPattern": f"/vaults/{weu['name']}/replicationProtectedItems$",
            "status": 429,
            "retryAfter": 1,
            "count": 1,
        },
    )

    def settled():
        samples = scrape(metrics_port)
        ready = value(
            samples, "asr_autoupdate_policies", update_mode="Automatic", management_policy="Manage", ready="True"
        )
        minutes = value(
            samples, "asr_autoupdate_job_minutes_month_to_date", namespace=namespace, policy="weu", vault=weu["name"]
        )
        throttled = value(samples, "asr_autoupdate_azure_throttled_total", subscription=weu["subscriptionId"])
        seen.update(ready=ready, minutes=minutes, throttled=throttled)
        return samples if ready == 1 and minutes and throttled else None

    seen: dict = {}
    try:
        samples = wait_for(settled, timeout=90, what="the gauges to follow the policies")
    except Timeout as late:
        raise AssertionError(f"{late}; last seen: {seen}") from None

    # controller-runtime's names and labels
    assert value(samples, "controller_runtime_reconcile_total", result="success", **CONTROLLER) > 0
    assert value(samples, "controller_runtime_reconcile_total", result="error", **CONTROLLER) > 0, "VaultNotFound"
    for result in ("requeue", "requeue_after"):
        assert value(samples, "controller_runtime_reconcile_total", result=result, **CONTROLLER) is not None
    assert value(samples, "controller_runtime_reconcile_errors_total", **CONTROLLER) > 0
    assert value(samples, "controller_runtime_terminal_reconcile_errors_total", **CONTROLLER) == 0
    assert value(samples, "controller_runtime_reconcile_panics_total", **CONTROLLER) == 0
    count = value(samples, "controller_runtime_reconcile_time_seconds_count", **CONTROLLER)
    assert count and count == value(
        samples, "controller_runtime_reconcile_time_seconds_bucket", le="+Inf", **CONTROLLER
    )
    assert value(samples, "controller_runtime_reconcile_time_seconds_bucket", le="60.0", **CONTROLLER) is not None
    assert value(samples, "controller_runtime_active_workers", **CONTROLLER) is not None
    assert not [name for name, _ in samples if name.endswith("_created")]

    # policies by mode and readiness
    policies = {labels: count for (name, labels), count in samples.items() if name == "asr_autoupdate_policies"}
    assert sum(policies.values()) == 4
    assert (
        value(samples, "asr_autoupdate_policies", update_mode="Manual", management_policy="Manage", ready="True") == 1
    )
    assert (
        value(samples, "asr_autoupdate_policies", update_mode="Automatic", management_policy="Observe", ready="False")
        == 1
    )
    assert (
        value(samples, "asr_autoupdate_policies", update_mode="Automatic", management_policy="Manage", ready="False")
        == 1
    )

    # agents behind, per policy; weu's were upgraded by the run, eus (Manual) still has two behind
    assert value(samples, "asr_autoupdate_agents_behind", namespace=namespace, policy="weu", vault=weu["name"]) == 0
    assert value(samples, "asr_autoupdate_agents_behind", namespace=namespace, policy="eus", vault=eus["name"]) == 2
    assert value(samples, "asr_autoupdate_protected_items", namespace=namespace, policy="weu", vault=weu["name"]) == 4

    # job minutes: two runs of ten minutes
    labels = {"namespace": namespace, "policy": "weu", "vault": weu["name"]}
    assert value(samples, "asr_autoupdate_job_minutes_month_to_date", **labels) == 20
    assert value(samples, "asr_autoupdate_job_minutes_projected", **labels) >= 20
    assert value(samples, "asr_autoupdate_job_free_minutes", **labels) == 500
    assert value(samples, "asr_autoupdate_job_projected_cost", currency="INR", **labels) == 0

    # Azure requests and throttling by subscription
    for vault in (weu, sea):
        reads = value(samples, "asr_autoupdate_azure_requests_total", subscription=vault["subscriptionId"], kind="read")
        assert reads and reads > 0, vault
    assert value(samples, "asr_autoupdate_azure_requests_total", subscription=weu["subscriptionId"], kind="write") > 0
    assert (
        value(samples, "asr_autoupdate_azure_requests_total", subscription=sea["subscriptionId"], kind="write") == 0
    ), "Observe mode never writes"
    assert value(samples, "asr_autoupdate_azure_throttled_total", subscription=weu["subscriptionId"]) >= 1
    assert value(samples, "asr_autoupdate_azure_throttled_total", subscription=sea["subscriptionId"]) == 0
    assert (
        value(samples, "asr_autoupdate_azure_remaining_requests", subscription=weu["subscriptionId"], kind="read")
        is not None
    )

    # a deleted policy leaves the gauges
    kubectl("delete", "mup", "gone", "-n", namespace, "--wait=true", "--timeout=30s")
    wait_for(
        lambda: (
            sum(count for (name, _), count in scrape(metrics_port).items() if name == "asr_autoupdate_policies") == 3
        ),
        timeout=15,
        what="3 policies counted",
    )


def test_metrics_port_zero_serves_nothing(namespace, kubectl, custom, description, start_operator, metrics_port):
    process = start_operator("--metrics-port", "0")
    kubectl.apply(policy("weu", namespace, vault_spec(description, 0)))
    wait_ready(custom, namespace, "weu")
    assert "serving Prometheus metrics" not in process.log_text()
    with pytest.raises(OSError):
        scrape(metrics_port)
