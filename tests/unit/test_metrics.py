"""metrics.Metrics on a registry of its own: controller-runtime's names, the policy gauges, the Azure budget."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from asr_autoupdate.azure.throttle import BudgetStats
from asr_autoupdate.metrics import CONTROLLER, Metrics, reconcile_result

SUBSCRIPTION = "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17"


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def stats() -> dict[str, BudgetStats]:
    return {}


@pytest.fixture
def metrics(stats) -> Metrics:
    return Metrics(budget_stats=lambda: stats, process_metrics=False)


@pytest.mark.parametrize(
    "retry_kind, reason, expected",
    [
        pytest.param(None, None, ("success", False, False, False), id="converged"),
        pytest.param("transient", "Progressing", ("requeue_after", False, False, False), id="work-under-way"),
        pytest.param("transient", "Waiting", ("requeue_after", False, False, False), id="waiting"),
        pytest.param("transient", "AzureUnavailable", ("error", True, False, False), id="azure-unavailable"),
        pytest.param("person", "IdentityNotAuthorized", ("error", True, False, False), id="needs-a-person"),
        pytest.param("invalid", "InvalidSpec", ("error", True, True, False), id="invalid-spec-is-terminal"),
        pytest.param("internal", "InternalError", ("error", True, False, True), id="bug-is-a-panic"),
    ],
)
def test_reconcile_result(retry_kind, reason, expected):
    assert reconcile_result(retry_kind, reason) == expected


def test_controller_runtime_names_exist_from_the_start(metrics):
    found = samples(metrics)
    for result in ("success", "error", "requeue", "requeue_after"):
        assert value(found, "controller_runtime_reconcile_total", controller=CONTROLLER, result=result) == 0
    for name in (
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_terminal_reconcile_errors_total",
        "controller_runtime_reconcile_panics_total",
        "controller_runtime_reconcile_time_seconds_count",
        "controller_runtime_active_workers",
    ):
        assert value(found, name, controller=CONTROLLER) == 0, name
    assert not [name for name, _ in found if name.endswith("_created")]


def test_passes_are_counted_and_timed(metrics):
    metrics.record_pass(0.2, None, None)
    metrics.record_pass(1.7, "transient", "Progressing")
    metrics.record_pass(0.01, "invalid", "InvalidSpec")
    metrics.record_pass(0.03, "internal", "InternalError")
    with metrics.working():
        assert value(samples(metrics), "controller_runtime_active_workers", controller=CONTROLLER) == 1
    found = samples(metrics)
    assert value(found, "controller_runtime_active_workers", controller=CONTROLLER) == 0
    totals = {
        result: value(found, "controller_runtime_reconcile_total", controller=CONTROLLER, result=result)
        for result in ("success", "error", "requeue", "requeue_after")
    }
    assert totals == {"success": 1, "error": 2, "requeue": 0, "requeue_after": 1}
    assert value(found, "controller_runtime_reconcile_errors_total", controller=CONTROLLER) == 2
    assert value(found, "controller_runtime_terminal_reconcile_errors_total", controller=CONTROLLER) == 1
    assert value(found, "controller_runtime_reconcile_panics_total", controller=CONTROLLER) == 1
    assert value(found, "controller_runtime_reconcile_time_seconds_count", controller=CONTROLLER) == 4
    assert value(found, "controller_runtime_reconcile_time_seconds_bucket", controller=CONTROLLER, le="0.25") == 3
    assert value(found, "controller_runtime_reconcile_time_seconds_bucket", controller=CONTROLLER, le="60.0") == 4


def ready(status: str) -> dict:
    return {"conditions": [{"type": "Ready", "status": status, "reason": "X", "message": "x."}]}


SPEC = {"vault": {"name": "rsv-weu-prod"}, "updateMode": "Automatic"}
AGENTS = {
    "total": 4,
    "current": 2,
    "updateRequired": 2,
    "upgradeInProgress": 0,
    "expiringSoon": 1,
    "replicationCritical": 0,
    "versions": [],
}
JOBS = {
    "monthToDateMinutes": 12,
    "projectedMonthMinutes": 40,
    "freeMinutesPerMonth": 30,
    "projectedCost": "1.40",
    "currency": "EUR",
}


def test_policy_gauges_follow_what_passes_wrote(metrics):
    metrics.update_policy("dr", "weu", SPEC, {**ready("True"), "agents": AGENTS, "jobs": JOBS})
    metrics.update_policy("dr", "eus", {**SPEC, "updateMode": "Manual"}, ready("False"))
    metrics.update_policy("dr", "sea", {**SPEC, "managementPolicy": "Observe"}, ready("Unknown"))
    found = samples(metrics)
    policies = {labels: count for (name, labels), count in found.items() if name == "asr_autoupdate_policies"}
    assert len(policies) == 12 and sum(policies.values()) == 3, "every mode and readiness, zeros included"
    assert (
        value(found, "asr_autoupdate_policies", update_mode="Automatic", management_policy="Manage", ready="True") == 1
    )
    assert value(found, "asr_autoupdate_policies", update_mode="Manual", management_policy="Manage", ready="False") == 1
    assert (
        value(found, "asr_autoupdate_policies", update_mode="Automatic", management_policy="Observe", ready="Unknown")
        == 1
    )
    labels = {"namespace": "dr", "policy": "weu", "vault": "rsv-weu-prod"}
    assert value(found, "asr_autoupdate_agents_behind", **labels) == 2
    assert value(found, "asr_autoupdate_protected_items", **labels) == 4
    assert value(found, "asr_autoupdate_job_minutes_month_to_date", **labels) == 12
    assert value(found, "asr_autoupdate_job_minutes_projected", **labels) == 40
    assert value(found, "asr_autoupdate_job_free_minutes", **labels) == 30
    assert value(found, "asr_autoupdate_job_projected_cost", currency="EUR", **labels) == pytest.approx(1.4)
    assert value(found, "asr_autoupdate_agents_behind", namespace="dr", policy="eus", vault="rsv-weu-prod") is None

    # a pass that could not read the agents keeps the last value; None (known absent) removes it
    metrics.update_policy("dr", "weu", SPEC, ready("False"))
    assert value(samples(metrics), "asr_autoupdate_agents_behind", **labels) == 2
    metrics.update_policy("dr", "weu", SPEC, {**ready("False"), "agents": None, "jobs": None})
    found = samples(metrics)
    assert value(found, "asr_autoupdate_agents_behind", **labels) is None
    assert (
        value(found, "asr_autoupdate_policies", update_mode="Automatic", management_policy="Manage", ready="False") == 1
    )

    metrics.forget_policy("dr", "weu")
    metrics.forget_policy("dr", "never-seen")
    policies = {
        labels: count for (name, labels), count in samples(metrics).items() if name == "asr_autoupdate_policies"
    }
    assert sum(policies.values()) == 2


def test_azure_requests_and_throttling_by_subscription(metrics, stats):
    stats[SUBSCRIPTION] = BudgetStats(
        SUBSCRIPTION,
        requests=12,
        failures=1,
        reads=10,
        writes=2,
        throttled=3,
        waits=4,
        rejected=1,
        remaining_reads=240,
        remaining_writes=None,
        passes_running=4,
        passes_queued=17,
    )
    found = samples(metrics)
    assert value(found, "asr_autoupdate_azure_requests_total", subscription=SUBSCRIPTION, kind="read") == 10
    assert value(found, "asr_autoupdate_azure_requests_total", subscription=SUBSCRIPTION, kind="write") == 2
    assert value(found, "asr_autoupdate_azure_throttled_total", subscription=SUBSCRIPTION) == 3
    assert value(found, "asr_autoupdate_azure_request_failures_total", subscription=SUBSCRIPTION) == 1
    assert value(found, "asr_autoupdate_azure_budget_waits_total", subscription=SUBSCRIPTION) == 4
    assert value(found, "asr_autoupdate_azure_budget_rejected_total", subscription=SUBSCRIPTION) == 1
    assert value(found, "asr_autoupdate_azure_remaining_requests", subscription=SUBSCRIPTION, kind="read") == 240
    assert value(found, "asr_autoupdate_azure_remaining_requests", subscription=SUBSCRIPTION, kind="write") is None
    assert value(found, "asr_autoupdate_passes", subscription=SUBSCRIPTION, state="running") == 4
    assert value(found, "asr_autoupdate_passes", subscription=SUBSCRIPTION, state="queued") == 17


def test_serve_answers_scrapes_and_stops(metrics):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = metrics.serve(port, "127.0.0.1")
    assert stop is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"controller_runtime_reconcile_total" in response.read()
    finally:
        stop()


def test_serve_zero_and_a_busy_port_serve_nothing_and_raise_nothing(metrics, caplog):
    assert metrics.serve(0) is None
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert metrics.serve(port, "127.0.0.1") is None
    assert "going on without metrics" in caplog.text
