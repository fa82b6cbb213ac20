"""Prometheus metrics on `--metrics-port`: controller-runtime's reconcile metrics and the operator's own gauges.

kopf has no metrics of its own, and the dashboards and alerts operator users already have are written for
controller-runtime's names, so the reconcile metrics use exactly those (one `controller` label value,
`mobilityupdatepolicy`):

    controller_runtime_reconcile_total{controller,result}   result: success | error | requeue | requeue_after
    controller_runtime_reconcile_errors_total{controller}
    controller_runtime_terminal_reconcile_errors_total{controller}
    controller_runtime_reconcile_panics_total{controller}
    controller_runtime_reconcile_time_seconds{controller}   (histogram, controller-runtime's buckets)
    controller_runtime_active_workers{controller}

A pass that ends converged is `success`; one that waits for work under way in Azure is `requeue_after`; one
that meets an Azure error or needs a person is `error` (an invalid spec is also a terminal error; an
unexpected exception also a panic). The operator's own gauges, computed when scraped:

    asr_autoupdate_policies{update_mode,management_policy,ready}        policies by mode and readiness
    asr_autoupdate_agents_behind{namespace,policy,vault}                status.agents.updateRequired
    asr_autoupdate_protected_items{namespace,policy,vault}              status.agents.total
    asr_autoupdate_job_minutes_month_to_date{namespace,policy,vault}    status.jobs.monthToDateMinutes
    asr_autoupdate_job_minutes_projected{namespace,policy,vault}        status.jobs.projectedMonthMinutes
    asr_autoupdate_job_free_minutes{namespace,policy,vault}             status.jobs.freeMinutesPerMonth
    asr_autoupdate_job_projected_cost{namespace,policy,vault,currency}  status.jobs.projectedCost
    asr_autoupdate_azure_requests_total{subscription,kind}              answers from ARM (kind: read | write)
    asr_autoupdate_azure_throttled_total{subscription}                  429 answers
    asr_autoupdate_azure_request_failures_total{subscription}           attempts that got no answer
    asr_autoupdate_azure_budget_waits_total{subscription}               requests held by the request budget
    asr_autoupdate_azure_budget_rejected_total{subscription}            requests refused by it (requeued)
    asr_autoupdate_azure_remaining_requests{subscription,kind}          ARM's x-ms-ratelimit-remaining-*
    asr_autoupdate_passes{subscription,state}                           passes running | queued for a slot

Labels carry names and ids only (namespace, policy, vault, subscription id), never a secret or a token.
One module on purpose (a little over 400 lines): the families above, the scrape-time collector and the
per-policy facts it reads belong together.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asr_autoupdate.api.reasons import REASONS, Kind, Reason, RetryKind
from asr_autoupdate.azure import throttle

log = logging.getLogger(__name__)

CONTROLLER = "mobilityupdatepolicy"
RESULTS = ("success", "error", "requeue", "requeue_after")
# controller-runtime's reconcile_time_seconds buckets (pkg/internal/controller/metrics)
RECONCILE_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.35,
    0.4,
    0.45,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    1.0,
    1.25,
    1.5,
    1.75,
    2.0,
    2.5,
    3.0,
    3.5,
    4.0,
    4.5,
    5,
    6,
    7,
    8,
    9,
    10,
    15,
    20,
    25,
    30,
    40,
    50,
    60,
)
UPDATE_MODES = ("Automatic", "Manual")
MANAGEMENT_POLICIES = ("Manage", "Observe")
READINESS = ("True", "False", "Unknown")


@dataclasses.dataclass
class PolicyFacts:
    """What the gauges say about one policy: the last value each status section had."""

    vault: str = ""
    update_mode: str = "Automatic"
    management_policy: str = "Manage"
    ready: str = "Unknown"
    agents: Mapping[str, Any] | None = None
    jobs: Mapping[str, Any] | None = None


def reconcile_result(retry_kind: str | None, reason: str | None) -> tuple[str, bool, bool, bool]:
    """(result, error, terminal, panic) of a pass in controller-runtime's terms, from its retry verdict: a
    transient retry is an error only when its reason is one (the reasons table says), not when work is under
    way or something is awaited."""
    match retry_kind:
        case None:
            return "success", False, False, False
        case RetryKind.WAIT:
            return "requeue_after", False, False, False
        case RetryKind.TRANSIENT if _kind_of(reason) < Kind.TRANSIENT:
            return "requeue_after", False, False, False
        case RetryKind.INVALID:
            return "error", True, True, False
        case RetryKind.INTERNAL:
            return "error", True, False, True
    return "error", True, False, False


def _kind_of(reason: str | None) -> Kind:
    return REASONS[Reason(reason)].kind if reason in _REASON_VALUES else Kind.BUG


_REASON_VALUES = frozenset(str(member) for member in Reason)


class Metrics:
    """The operator's metrics on a registry of their own (so tests can make a fresh one)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        budget_stats: Callable[[], Mapping[str, throttle.BudgetStats]] = throttle.stats,
        process_metrics: bool = True,
    ):
        # controller-runtime exposes no *_created series (prometheus_client leaves this one unannotated)
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        if process_metrics:
            prometheus_client.ProcessCollector(registry=self.registry)
            prometheus_client.PlatformCollector(registry=self.registry)
            prometheus_client.GCCollector(registry=self.registry)
        labels = ["controller"]
        self.reconcile_total = Counter(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            labels,
            registry=self.registry,
        )
        self.terminal_errors = Counter(
            "controller_runtime_terminal_reconcile_errors",
            "Total number of terminal reconciliation errors per controller",
            labels,
            registry=self.registry,
        )
        self.panics = Counter(
            "controller_runtime_reconcile_panics",
            "Total number of reconciliation panics per controller",
            labels,
            registry=self.registry,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            labels,
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            labels,
            registry=self.registry,
        )
        for result in RESULTS:
            self.reconcile_total.labels(CONTROLLER, result)
        for family in (
            self.reconcile_errors,
            self.terminal_errors,
            self.panics,
            self.reconcile_time,
            self.active_workers,
        ):
            family.labels(CONTROLLER)
        self._policies: dict[tuple[str, str], PolicyFacts] = {}
        self._lock = threading.Lock()  # the scrape runs in the HTTP server's thread
        self.registry.register(_PolicyCollector(self))
        self.registry.register(_AzureCollector(budget_stats))

    # --- what the handler layer reports ------------------------------------------------------------------

    def record_pass(self, seconds: float, retry_kind: str | None, reason: str | None) -> None:
        """One reconcile (or cleanup) pass ended with this retry verdict after `seconds`."""
        result, error, terminal, panic = reconcile_result(retry_kind, reason)
        self.reconcile_total.labels(CONTROLLER, result).inc()
        self.reconcile_time.labels(CONTROLLER).observe(max(0.0, seconds))
        if error:
            self.reconcile_errors.labels(CONTROLLER).inc()
        if terminal:
            self.terminal_errors.labels(CONTROLLER).inc()
        if panic:
            self.panics.labels(CONTROLLER).inc()

    def working(self) -> _Working:
        """A context manager around a pass: counts it in controller_runtime_active_workers."""
        return _Working(self.active_workers.labels(CONTROLLER))

    def update_policy(self, namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Take what a pass wrote: `status` is the patch (a section left out keeps its last value, None
        removes it)."""
        with self._lock:
            facts = self._policies.setdefault((namespace, name), PolicyFacts())
            facts.vault = str((spec.get("vault") or {}).get("name") or "")
            facts.update_mode = str(spec.get("updateMode") or "Automatic")
            facts.management_policy = str(spec.get("managementPolicy") or "Manage")
            for condition in status.get("conditions") or ():
                if condition.get("type") == "Ready":
                    facts.ready = str(condition.get("status") or "Unknown")
            if "agents" in status:
                facts.agents = status["agents"]
            if "jobs" in status:
                facts.jobs = status["jobs"]

    def forget_policy(self, namespace: str, name: str) -> None:
        with self._lock:
            self._policies.pop((namespace, name), None)

    def policies(self) -> list[tuple[tuple[str, str], PolicyFacts]]:
        with self._lock:
            return [(key, dataclasses.replace(facts)) for key, facts in sorted(self._policies.items())]

    # --- serving -----------------------------------------------------------------------------------------

    def serve(self, port: int, address: str = "0.0.0.0") -> Callable[[], None] | None:
        """Serve /metrics on `port` (0: not at all); answer a function that stops it.

        A port that cannot be bound is logged and the operator goes on without metrics: reconciling
        matters more than being watched.
        """
        if not port:
            return None
        try:
            server, thread = prometheus_client.start_http_server(port, addr=address, registry=self.registry)
        except OSError as problem:
            log.error(
                "metrics endpoint could not listen on %s:%d (%s); going on without metrics",
                address,
                port,
                problem.strerror or problem,
            )
            return None
        log.info("serving Prometheus metrics on %s:%d/metrics", address, port)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        return stop


class _Working:
    def __init__(self, gauge: Gauge):
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc()

    def __exit__(self, *exc_info: object) -> None:
        self._gauge.dec()


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


class _PolicyCollector(Collector):
    def __init__(self, metrics: Metrics):
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        policies = self._metrics.policies()
        counts = GaugeMetricFamily(
            "asr_autoupdate_policies",
            "MobilityUpdatePolicy objects by update mode, management policy and Ready",
            labels=["update_mode", "management_policy", "ready"],
        )
        tally: dict[tuple[str, str, str], int] = dict.fromkeys(
            itertools.product(UPDATE_MODES, MANAGEMENT_POLICIES, READINESS), 0
        )
        for _key, facts in policies:
            key = (facts.update_mode, facts.management_policy, facts.ready)
            tally[key] = tally.get(key, 0) + 1
        for key, count in tally.items():
            counts.add_metric(list(key), count)
        yield counts

        per_policy = ["namespace", "policy", "vault"]
        families = {
            ("agents", "updateRequired"): GaugeMetricFamily(
                "asr_autoupdate_agents_behind",
                "Protected items whose Mobility Service agent needs an update",
                labels=per_policy,
            ),
            ("agents", "total"): GaugeMetricFamily(
                "asr_autoupdate_protected_items", "Protected items of the policy's vault", labels=per_policy
            ),
            ("jobs", "monthToDateMinutes"): GaugeMetricFamily(
                "asr_autoupdate_job_minutes_month_to_date",
                "Job minutes of Site Recovery's update runbook so far this month (UTC)",
                labels=per_policy,
            ),
            ("jobs", "projectedMonthMinutes"): GaugeMetricFamily(
                "asr_autoupdate_job_minutes_projected",
                "Job minutes of Site Recovery's update runbook projected to the month's end",
                labels=per_policy,
            ),
            ("jobs", "freeMinutesPerMonth"): GaugeMetricFamily(
                "asr_autoupdate_job_free_minutes", "Free job minutes per month, from spec.costModel", labels=per_policy
            ),
        }
        cost = GaugeMetricFamily(
            "asr_autoupdate_job_projected_cost",
            "Projected price of this month's job minutes beyond the free ones",
            labels=[*per_policy, "currency"],
        )
        for (namespace, name), facts in policies:
            labels = [namespace, name, facts.vault]
            sections = {"agents": facts.agents or {}, "jobs": facts.jobs or {}}
            for (section, field), family in families.items():
                value = _number(sections[section].get(field))
                if value is not None:
                    family.add_metric(labels, value)
            price = _number(sections["jobs"].get("projectedCost"))
            if price is not None:
                cost.add_metric([*labels, str(sections["jobs"].get("currency") or "")], price)
        yield from families.values()
        yield cost


class _AzureCollector(Collector):
    """Per-subscription request counters of the shared request budget (`throttle`), read at scrape time."""

    def __init__(self, budget_stats: Callable[[], Mapping[str, throttle.BudgetStats]]):
        self._budget_stats = budget_stats

    def collect(self) -> Iterable[Metric]:
        subscription = ["subscription"]
        requests = CounterMetricFamily(
            "asr_autoupdate_azure_requests",
            "Answers from Azure Resource Manager, by subscription and kind",
            labels=["subscription", "kind"],
        )
        throttled = CounterMetricFamily(
            "asr_autoupdate_azure_throttled", "429 answers from Azure Resource Manager", labels=subscription
        )
        failures = CounterMetricFamily(
            "asr_autoupdate_azure_request_failures", "Requests to Azure that got no answer", labels=subscription
        )
        waits = CounterMetricFamily(
            "asr_autoupdate_azure_budget_waits",
            "Requests held back by the subscription's request budget",
            labels=subscription,
        )
        rejected = CounterMetricFamily(
            "asr_autoupdate_azure_budget_rejected",
            "Requests not sent because the subscription's request budget was spent (the pass is requeued)",
            labels=subscription,
        )
        remaining = GaugeMetricFamily(
            "asr_autoupdate_azure_remaining_requests",
            "Requests left in ARM's bucket for the subscription, as its last answer said",
            labels=["subscription", "kind"],
        )
        passes = GaugeMetricFamily(
            "asr_autoupdate_passes",
            "Policy passes inside the subscription (running) and waiting for one of its pass slots (queued)",
            labels=["subscription", "state"],
        )
        for key, stats in sorted(self._budget_stats().items()):
            name = stats.subscription_id or key or "tenant"
            requests.add_metric([name, "read"], stats.reads)
            requests.add_metric([name, "write"], stats.writes)
            throttled.add_metric([name], stats.throttled)
            failures.add_metric([name], stats.failures)
            waits.add_metric([name], stats.waits)
            rejected.add_metric([name], stats.rejected)
            for kind, value in (("read", stats.remaining_reads), ("write", stats.remaining_writes)):
                if value is not None:
                    remaining.add_metric([name, kind], value)
            passes.add_metric([name, "running"], stats.passes_running)
            passes.add_metric([name, "queued"], stats.passes_queued)
        yield from (requests, throttled, failures, waits, rejected, remaining, passes)


_DEFAULT: Metrics | None = None


def default() -> Metrics:
    """The process's metrics (made on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Metrics()
    return _DEFAULT
