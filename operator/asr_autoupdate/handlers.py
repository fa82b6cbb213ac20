"""The kopf layer: thin handlers that turn Kubernetes events into calls of `reconcile`/`finalize`.

The only module that imports kopf. Create, update, resume, the repair annotation and the drift timer all end
in the same `_converge`; the finalizer ends in `finalize`. A handler builds a `PolicyInput`, picks the Azure
identity (the policy's Secret, or the operator's own), runs one pass under the object's lock, writes
`Outcome.status` through `patch.status`, posts `Outcome.events`, and turns `Outcome.retry` into kopf's retry
vocabulary. Handlers return None, so kopf stores nothing of its own under `status`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf

from asr_autoupdate import metrics, peering
from asr_autoupdate.api import FINALIZER, GROUP, PLURAL, REPAIR_ANNOTATION, VERSION
from asr_autoupdate.api.fleet import FLEET_LABEL, FLEET_PLURAL, RELEASE_ANNOTATION
from asr_autoupdate.api.reasons import Reason, RetryKind
from asr_autoupdate.api.spec import vault_key
from asr_autoupdate.azure import throttle
from asr_autoupdate.azure.client import AzureClientPool
from asr_autoupdate.azure.credentials import AzureSettings, SecretInvalid
from asr_autoupdate.child_policies import KubernetesChildStore
from asr_autoupdate.credentials_secret import SecretUnreadable, read_service_principal
from asr_autoupdate.reconcile import Outcome, PolicyInput, blocked, finalize, reconcile, requeue
from asr_autoupdate.reconcile.fleet import (
    ChildState,
    FleetInput,
    FleetOutcome,
    child_state,
    fleet_blocked,
    reconcile_fleet,
)
from asr_autoupdate.reconcile.model import Retry

log = logging.getLogger("asr_autoupdate")

# Handler ids: kopf names its progress annotations and log lines after them (docs/troubleshooting.md)
CONVERGE, DRIFT_CHECK, CLEANUP = "converge", "drift_check", "cleanup"
FLEET_CONVERGE, FLEET_TICK, FLEET_CLEANUP = "fleet_converge", "fleet_tick", "fleet_cleanup"
UNEXPECTED = "reconcile of %s/%s failed unexpectedly"  # logged with the traceback; the condition says InternalError
WAITING = "waiting on Azure: "  # how a wait's TemporaryError starts, so `WaitsAreNotFailures` knows it


@dataclasses.dataclass(frozen=True)
class OperatorOptions:
    """How `asr-autoupdate run` was asked to behave."""

    namespaces: tuple[str, ...] = ()
    clusterwide: bool = False
    liveness_endpoint: str | None = None
    log_json: bool = False
    verbose: bool = False
    drift_tick_seconds: float = 15.0  # how often the timer asks "is a drift check due?"
    drift_interval_override: float | None = None  # replaces every policy's driftCheckIntervalSeconds (tests, demo)
    fleet_tick_seconds: float = 30.0  # how often a fleet's waves are gated again from its children's status
    discovery_interval_override: float | None = None  # replaces every fleet's discoveryIntervalSeconds (tests)
    metrics_port: int = 8000  # Prometheus /metrics; 0: none
    peering_name: str | None = None  # the kopf peering object's name; None: standalone (one replica, no peering)
    peering_lifetime: int = peering.DEFAULT_LIFETIME  # seconds a replica's keep-alive counts (kopf's lifetime)
    azure: AzureSettings = dataclasses.field(default_factory=AzureSettings)
    budget: throttle.BudgetSettings = dataclasses.field(default_factory=throttle.BudgetSettings)


# kopf's index of policies by vault: key -> (creationTimestamp, uid, "<namespace>/<name>") of each policy
VaultOwner = tuple[str, str, str]
Owners = kopf.Index[str, VaultOwner]


def earlier_owner(owners: Owners, key: str | None, uid: str) -> str | None:
    """The `<namespace>/<name>` of the oldest other policy for the same vault, if this one is not the oldest."""
    if key is None or key not in owners:
        return None
    first = min(owners[key])  # (creationTimestamp, uid, "<namespace>/<name>")
    return None if first[1] == uid else first[2]


def policy_input(body: kopf.Body) -> PolicyInput:
    meta = body["metadata"]
    return PolicyInput(
        namespace=meta["namespace"],
        name=meta["name"],
        generation=int(meta.get("generation") or 0),
        spec=dict(body.get("spec") or {}),
        status=dict(body.get("status") or {}),
        repair_token=(meta.get("annotations") or {}).get(REPAIR_ANNOTATION),
    )


def register(options: OperatorOptions) -> kopf.OperatorRegistry:
    """Every handler on a registry of its own, so options (the timer's tick) are plain arguments."""
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.peering.lifetime = options.peering_lifetime
        throttle.registry().configure(options.budget)
        memo.azure = AzureClientPool(options.azure)
        memo.options = options
        memo.metrics = metrics.default()
        memo.stop_metrics = memo.metrics.serve(options.metrics_port)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """In a pod, the service account; elsewhere, the kubeconfig (both through the official client)."""
        return kopf.login_via_client(**kwargs)

    @kopf.on.cleanup(registry=registry)
    async def close(memo: kopf.Memo, **_: Any) -> None:
        await memo.azure.close()
        if getattr(memo, "stop_metrics", None):
            memo.stop_metrics()

    @kopf.index(*resource, id="vault_owners", registry=registry)
    def vault_owners(
        spec: kopf.Spec, meta: kopf.Meta, namespace: str | None, name: str, **_: Any
    ) -> dict[str, VaultOwner] | None:
        key = vault_key(spec)
        return (
            {key: (meta.get("creationTimestamp") or "", meta.get("uid") or "", f"{namespace}/{name}")} if key else None
        )

    @kopf.on.resume(*resource, id=CONVERGE, registry=registry)
    @kopf.on.create(*resource, id=CONVERGE, registry=registry)
    @kopf.on.update(*resource, id=CONVERGE, field="spec", registry=registry)
    @kopf.on.field(*resource, id="repair", field=("metadata", "annotations", REPAIR_ANNOTATION), registry=registry)
    async def converge(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **kwargs: Any) -> None:
        if kwargs.get("reason") == kopf.Reason.RESUME and retry == 0 and _spread_resume(body, memo):
            return
        await _converge(body, patch, memo, kwargs["vault_owners"], attempt=retry)

    @kopf.timer(
        *resource,
        id=DRIFT_CHECK,
        interval=options.drift_tick_seconds,
        initial_delay=options.drift_tick_seconds,
        registry=registry,
    )
    async def drift_check(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
        await _converge(body, patch, memo, kwargs["vault_owners"], only_if_due=True)

    @kopf.on.delete(*resource, id=CLEANUP, registry=registry)
    async def cleanup(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **kwargs: Any) -> None:
        policy = policy_input(body)
        conflict = earlier_owner(kwargs["vault_owners"], vault_key(policy.spec), body["metadata"].get("uid") or "")
        async with _lock(memo):
            outcome = await _pass(finalize, policy, memo, conflict)
        if outcome.retry is None:
            _metrics(memo).forget_policy(policy.namespace, policy.name)
            await memo.azure.release(f"{policy.namespace}/{policy.name}")
        _obey(outcome, body, patch, memo, attempt=retry)

    _register_fleets(registry, options)
    return registry


# kopf's index of fleet children: (namespace, fleet name) -> the ChildState of each child
Children = kopf.Index[tuple[str, str], ChildState]


def fleet_input(body: kopf.Body) -> FleetInput:
    meta = body["metadata"]
    return FleetInput(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta.get("uid") or "",
        generation=int(meta.get("generation") or 0),
        spec=dict(body.get("spec") or {}),
        status=dict(body.get("status") or {}),
        release=(meta.get("annotations") or {}).get(RELEASE_ANNOTATION),
    )


def _register_fleets(registry: kopf.OperatorRegistry, options: OperatorOptions) -> None:
    """A fleet's handlers: every cause ends in `_converge_fleet`; deleting a fleet deletes its children."""
    fleets = (GROUP, VERSION, FLEET_PLURAL)

    @kopf.index(GROUP, VERSION, PLURAL, id="fleet_children", registry=registry)
    def fleet_children(
        meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, namespace: str | None, **_: Any
    ) -> dict[tuple[str, str], ChildState] | None:
        child = child_state(meta, spec, status)
        return {(namespace or "", meta["labels"][FLEET_LABEL]): child} if child is not None else None

    @kopf.on.resume(*fleets, id=FLEET_CONVERGE, registry=registry)
    @kopf.on.create(*fleets, id=FLEET_CONVERGE, registry=registry)
    @kopf.on.update(*fleets, id=FLEET_CONVERGE, field="spec", registry=registry)
    @kopf.on.field(*fleets, id="release", field=("metadata", "annotations", RELEASE_ANNOTATION), registry=registry)
    async def fleet_converge(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **kwargs: Any) -> None:
        await _converge_fleet(body, patch, memo, kwargs["fleet_children"], kwargs["vault_owners"], attempt=retry)

    @kopf.timer(
        *fleets,
        id=FLEET_TICK,
        interval=options.fleet_tick_seconds,
        initial_delay=options.fleet_tick_seconds,
        registry=registry,
    )
    async def fleet_tick(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
        await _converge_fleet(body, patch, memo, kwargs["fleet_children"], kwargs["vault_owners"], from_timer=True)

    @kopf.on.delete(*fleets, id=FLEET_CLEANUP, registry=registry)
    async def fleet_cleanup(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        """Children go with their fleet, each through its own finalizer (its deletionPolicy), also where no
        garbage collector follows owner references."""
        fleet = fleet_input(body)
        store = KubernetesChildStore()
        for child in kwargs["fleet_children"].get((fleet.namespace, fleet.name), ()):
            await store.delete(fleet.namespace, child.name)
        await memo.azure.release(f"fleet:{fleet.namespace}/{fleet.name}")


async def _converge_fleet(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    children: Children,
    owners: Owners,
    *,
    from_timer: bool = False,
    attempt: int = 0,
) -> None:
    fleet = fleet_input(body)
    mine = list(children.get((fleet.namespace, fleet.name), ()))
    vaults = {key: [(owner[0], owner[2]) for owner in owners[key]] for key in owners}
    async with _lock(memo):
        outcome = await _fleet_pass(fleet, memo, mine, vaults)
        memo.discovery = outcome.discovery
    for key, value in outcome.status.items():
        patch.status[key] = value
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    if outcome.release_consumed:
        patch.metadata.annotations[RELEASE_ANNOTATION] = None  # answered: status.lastRelease says how
    if outcome.retry is not None and not from_timer:
        raise _in_kopf_terms(outcome.retry, attempt)


async def _fleet_pass(
    fleet: FleetInput, memo: kopf.Memo, children: list[ChildState], owners: dict[str, list[tuple[str, str]]]
) -> FleetOutcome:
    """One fleet pass as the template's identity (its Secret, or the operator's own); never raises."""
    now = datetime.now(UTC)
    secret_ref = str(((fleet.spec.get("template") or {}).get("credentialsSecretRef") or {}).get("name") or "")
    try:
        identity = await read_service_principal(fleet.namespace, secret_ref) if secret_ref else None
        azure = await memo.azure.get(identity, user=f"fleet:{fleet.namespace}/{fleet.name}")
        return await reconcile_fleet(
            azure,
            KubernetesChildStore(),
            fleet,
            children,
            owners,
            now=now,
            azure_now=azure.azure_now(),
            discovery=getattr(memo, "discovery", None),
            discovery_interval_override=memo.options.discovery_interval_override,
        )
    except (SecretInvalid, SecretUnreadable) as problem:
        reason = (
            Reason.CREDENTIALS_SECRET_INVALID
            if isinstance(problem, SecretInvalid)
            else Reason.CREDENTIALS_SECRET_UNREADABLE
        )
        return fleet_blocked(fleet, now, reason, f"The template's Secret {secret_ref}: {problem}.")
    except Exception:
        log.exception("fleet pass of %s/%s failed unexpectedly", fleet.namespace, fleet.name)
        return fleet_blocked(
            fleet, now, Reason.INTERNAL_ERROR, "The fleet pass failed unexpectedly; see the operator's log."
        )


async def _converge(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    owners: Owners,
    *,
    only_if_due: bool = False,
    attempt: int = 0,
) -> None:
    policy = policy_input(body)
    conflict = earlier_owner(owners, vault_key(policy.spec), body["metadata"].get("uid") or "")
    async with _lock(memo):
        if only_if_due and time.monotonic() < getattr(memo, "next_check", 0.0):
            return  # decided under the lock: a pass that just finished has moved the next check
        # the last pass's observation: its protected items and jobs serve until a drift interval old
        earlier = getattr(memo, "observation", None)
        interval = memo.options.drift_interval_override
        outcome = await _pass(reconcile, policy, memo, conflict, earlier=earlier, drift_interval_override=interval)
        if outcome.observation is not None:
            memo.observation = outcome.observation
    _metrics(memo).update_policy(policy.namespace, policy.name, policy.spec, outcome.status)
    _obey(outcome, body, patch, memo, from_timer=only_if_due, attempt=attempt)


def _spread_resume(body: kopf.Body, memo: kopf.Memo) -> bool:
    """On a restart, a policy that was Ready waits for its first drift check at a random point of its interval
    instead of a pass now (`requeue.resume_spread`); True when it does."""
    policy = policy_input(body)
    interval = memo.options.drift_interval_override or float(policy.spec.get("driftCheckIntervalSeconds") or 3600)
    due_in = requeue.resume_spread(policy.status, policy.generation, policy.repair_token, interval)
    if due_in is None:
        return False
    memo.next_check = time.monotonic() + due_in
    _metrics(memo).update_policy(policy.namespace, policy.name, policy.spec, policy.status)
    return True


def _lock(memo: kopf.Memo) -> asyncio.Lock:
    """One pass at a time per policy: the timer and a spec change must not act on Azure side by side."""
    lock = getattr(memo, "lock", None)
    if not isinstance(lock, asyncio.Lock):
        lock = memo.lock = asyncio.Lock()
    return lock


def _metrics(memo: kopf.Memo) -> metrics.Metrics:
    return getattr(memo, "metrics", None) or metrics.default()


async def _pass(step: Any, policy: PolicyInput, memo: kopf.Memo, conflict: str | None, **extra: Any) -> Outcome:
    """One pass, timed and counted in controller-runtime's reconcile metrics, inside one of its
    subscription's pass slots (`throttle.SubscriptionBudget.pass_slot`): passes of policies under way go
    first (`requeue.under_way_after` after a pass of this process, `requeue.began_converging` before one)."""
    subscription = str((policy.spec.get("vault") or {}).get("subscriptionId") or "")
    under_way = getattr(memo, "under_way", None)
    if not isinstance(under_way, bool):
        under_way = requeue.began_converging(policy.status, policy.generation)
    priority = throttle.UNDER_WAY if under_way else throttle.NEW
    async with throttle.registry().budget(subscription).pass_slot(priority):
        started = time.monotonic()
        with _metrics(memo).working():
            outcome = await attempt(step, policy, memo, conflict, **extra)
    memo.under_way = requeue.under_way_after(outcome.retry)
    retry = outcome.retry
    kind, reason = (retry.kind, retry.reason) if retry else (None, None)
    _metrics(memo).record_pass(time.monotonic() - started, kind, reason)
    return outcome


async def attempt(step: Any, policy: PolicyInput, memo: kopf.Memo, conflict: str | None, **extra: Any) -> Outcome:
    """One pass of `step` (reconcile or finalize) as the policy's identity; whatever goes wrong ends in an
    Outcome with a reason (the Secret's problems, or InternalError with the traceback in the log), never in an
    exception kopf would have to report."""
    now = datetime.now(UTC)
    secret_ref = str((policy.spec.get("credentialsSecretRef") or {}).get("name") or "")
    try:
        identity = await read_service_principal(policy.namespace, secret_ref) if secret_ref else None
    except SecretInvalid as problem:
        return blocked(policy, now, Reason.CREDENTIALS_SECRET_INVALID, secret=secret_ref, problem=str(problem))
    except SecretUnreadable as problem:
        return blocked(policy, now, Reason.CREDENTIALS_SECRET_UNREADABLE, secret=secret_ref, problem=str(problem))
    try:
        azure = await memo.azure.get(identity, user=f"{policy.namespace}/{policy.name}")
        outcome: Outcome = await step(azure, policy, now, conflict=conflict, **extra)
        return outcome
    except Exception:
        log.exception(UNEXPECTED, policy.namespace, policy.name)
        return blocked(policy, now, Reason.INTERNAL_ERROR)


def _obey(
    outcome: Outcome, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, *, from_timer: bool = False, attempt: int = 0
) -> None:
    """Write status and Events, set the next drift check (`requeue.next_drift_check`), then follow `retry`
    (a timer pass never raises: see there)."""
    for key, value in outcome.status.items():
        patch.status[key] = value
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    retry = outcome.retry
    due_in = requeue.next_drift_check(retry, outcome.recheck_after, from_timer=from_timer, attempt=attempt)
    memo.next_check = time.monotonic() + due_in
    if retry is not None and not from_timer:
        raise _in_kopf_terms(retry, attempt)


def _in_kopf_terms(retry: Retry, attempt: int) -> Exception:
    """The one translation of the operator's retry verdict into kopf's vocabulary."""
    if retry.kind is RetryKind.INVALID:
        return kopf.PermanentError(retry.reason)
    delay = requeue.retry_delay(retry, attempt)
    if retry.kind is RetryKind.WAIT:
        return kopf.TemporaryError(f"{WAITING}{retry.reason}; next look in {delay:.0f} s", delay=delay)
    return kopf.TemporaryError(retry.reason, delay=delay)


class QuietTicks(logging.Filter):
    """kopf logs "Timer 'drift_check' succeeded." (and the same of the fleet's tick) at INFO after every tick, and
    would post it as an Event at the posting level, although most ticks find nothing due. Not news."""

    TICKS = frozenset(f"Timer {timer!r} succeeded." for timer in (DRIFT_CHECK, FLEET_TICK))

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and record.getMessage() in self.TICKS)


class WaitsAreNotFailures(logging.Filter):
    """kopf's only way to come back after a delay is a TemporaryError, which it logs at ERROR as "failed
    temporarily" (and posts as an Error Event). Waiting on Azure (an operation Site Recovery is running, a new
    identity on its way through the directory) is not a failure: those lines become INFO, say "is waiting", and
    are not posted as Events (the conditions say it once; a poll every 30 s would post one each time)."""

    FAILED = f" failed temporarily: {WAITING}"

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.FAILED in text:
            record.msg, record.args = text.replace(self.FAILED, f" is {WAITING}", 1), None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.k8s_skip = True  # kopf's own flag: a line for the log, not an Event every 30 s
        return True


def quiet_loggers() -> None:
    """Keep secrets and noise out of the log: azure-identity echoes the authority's error text, msal and the
    Kubernetes client log token responses and API bodies (a Secret's data) even at -v, and timer ticks."""
    logging.getLogger("azure").setLevel(logging.ERROR)
    for chatty in ("msal", "kubernetes"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    objects = logging.getLogger("kopf.objects")
    for kind in (WaitsAreNotFailures, QuietTicks):  # a wait's line is rewritten before anything reads it
        if not any(isinstance(existing, kind) for existing in objects.filters):
            objects.addFilter(kind())


def run(options: OperatorOptions) -> int:
    """Run the operator until SIGTERM: standalone without a peering name; with one, as one replica of several
    in kopf's peering, acting only while no live replica is older (`peering.priority`)."""
    kopf.configure(verbose=options.verbose, log_format=kopf.LogFormat.JSON if options.log_json else kopf.LogFormat.FULL)
    quiet_loggers()
    priority = None
    if options.peering_name is not None:
        priority = peering.priority()
        roles = logging.getLogger(peering.PEERING_LOGGER)
        for stale in [f for f in roles.filters if isinstance(f, peering.Roles)]:
            roles.removeFilter(stale)
        roles.addFilter(peering.Roles(options.peering_name, priority))
        scope = "cluster-wide" if options.clusterwide else "in " + ", ".join(options.namespaces)
        log.info(peering.start_line(options.peering_name, priority, options.peering_lifetime, scope))
    kopf.run(
        registry=register(options),
        standalone=options.peering_name is None,
        peering_name=options.peering_name,
        priority=priority,
        clusterwide=options.clusterwide,
        namespaces=options.namespaces,
        liveness_endpoint=options.liveness_endpoint,
        memo=kopf.Memo(),
    )
    return 0
