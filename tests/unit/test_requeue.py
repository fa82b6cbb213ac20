"""When the handler layer comes back: retry delays and the drift timer's next check, as tables."""

from __future__ import annotations

import asyncio
import logging
import math
import random

import kopf
import pytest

from asr_autoupdate.api.reasons import RetryKind
from asr_autoupdate.handlers import QuietTicks, WaitsAreNotFailures, _in_kopf_terms
from asr_autoupdate.reconcile.model import Retry
from asr_autoupdate.reconcile.requeue import (
    began_converging,
    next_drift_check,
    resume_spread,
    retry_delay,
    under_way_after,
)

T, P, INVALID, B = RetryKind.TRANSIENT, RetryKind.PERSON, RetryKind.INVALID, RetryKind.INTERNAL
W = RetryKind.WAIT


@pytest.mark.parametrize(
    "retry, attempt, delay",
    [
        pytest.param(Retry(T, "AzureUnavailable", 7), 0, 7, id="azure-said-when"),
        pytest.param(Retry(T, "AzureUnavailable"), 3, 30.0, id="no-delay-given"),
        pytest.param(Retry(P, "IdentityNotAuthorized", 300), 5, 300, id="person-slow-poll-no-backoff"),
        pytest.param(Retry(B, "InternalError"), 0, 30.0, id="bug-first-retry"),
        pytest.param(Retry(B, "InternalError"), 2, 120.0, id="bug-backs-off"),
        pytest.param(Retry(B, "InternalError"), 9, 600.0, id="bug-backoff-capped"),
        pytest.param(Retry(W, "Progressing", 30), 4, 30, id="operation-polled-at-azures-retry-after"),
        pytest.param(Retry(W, "Progressing", 5, backoff=True), 0, 5, id="new-identity-first-look"),
        pytest.param(Retry(W, "Progressing", 5, backoff=True), 1, 10, id="new-identity-backs-off"),
        pytest.param(Retry(W, "Progressing", 5, backoff=True), 6, 15, id="new-identity-backoff-capped-low"),
        pytest.param(Retry(W, "Progressing", 5, True, not_after=12), 6, 12, id="a-due-poll-comes-first"),
    ],
)
def test_retry_delay(retry, attempt, delay):
    assert retry_delay(retry, attempt) == delay


@pytest.mark.parametrize(
    "retry, recheck_after, from_timer, due",
    [
        pytest.param(None, 3600, False, 3600, id="converged-waits-the-drift-interval"),
        pytest.param(None, None, False, math.inf, id="finalized-never"),
        pytest.param(Retry(P, "IdentityNotAuthorized", 300), 60, True, 60, id="timer-keeps-the-shorter-interval"),
        pytest.param(Retry(T, "AzureUnavailable", 12), 3600, True, 12, id="timer-brings-the-check-forward"),
        pytest.param(Retry(T, "AzureUnavailable", 12), None, True, 12, id="timer-without-interval"),
        pytest.param(Retry(INVALID, "InvalidSpec"), 3600, True, 3600, id="invalid-brings-nothing-forward"),
        pytest.param(Retry(T, "AzureUnavailable", 12), 3600, False, 3600, id="handler-retry-is-kopfs-not-the-timers"),
    ],
)
def test_next_drift_check(retry, recheck_after, from_timer, due):
    assert next_drift_check(retry, recheck_after, from_timer=from_timer) == due


def test_kopf_terms():
    invalid = _in_kopf_terms(Retry(INVALID, "InvalidSpec"), 0)
    assert isinstance(invalid, kopf.PermanentError)
    person = _in_kopf_terms(Retry(P, "IdentityNotAuthorized", 300), 0)
    assert isinstance(person, kopf.TemporaryError) and person.delay == 300
    bug = _in_kopf_terms(Retry(B, "InternalError"), 1)
    assert isinstance(bug, kopf.TemporaryError) and bug.delay == 60.0


def test_a_wait_is_a_temporary_error_that_says_so():
    wait = _in_kopf_terms(Retry(W, "Progressing", 30), 0)
    assert isinstance(wait, kopf.TemporaryError) and wait.delay == 30
    assert str(wait) == "waiting on Azure: Progressing; next look in 30 s"


def test_kopfs_failed_temporarily_line_for_a_wait_becomes_info_and_says_waiting():
    waits = WaitsAreNotFailures()
    record = _record(
        logging.ERROR, "Handler 'converge' failed temporarily: waiting on Azure: Progressing; next look in 30 s"
    )
    assert waits.filter(record)
    assert (record.levelno, record.levelname) == (logging.INFO, "INFO")
    assert record.getMessage() == "Handler 'converge' is waiting on Azure: Progressing; next look in 30 s"
    assert record.k8s_skip, "kopf posts no Event for it"
    failure = _record(logging.ERROR, "Handler 'converge' failed temporarily: AzureUnavailable")
    assert waits.filter(failure) and failure.levelno == logging.ERROR, "a real failure stays an error"


def _record(level: int, text: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, text, None, None)


def test_timer_ticks_are_not_logged_but_everything_else_is():
    quiet = QuietTicks()
    assert not quiet.filter(_record(logging.INFO, "Timer 'drift_check' succeeded."))
    assert not quiet.filter(_record(logging.INFO, "Timer 'fleet_tick' succeeded."))
    assert quiet.filter(_record(logging.INFO, "Handler 'converge' succeeded."))
    assert quiet.filter(_record(logging.ERROR, "Timer 'drift_check' succeeded."))


async def test_an_unexpected_failure_is_logged_with_its_traceback_and_reported_as_internal_error(caplog):
    from types import SimpleNamespace

    from asr_autoupdate import handlers
    from asr_autoupdate.reconcile.model import PolicyInput

    async def broken(azure, policy, now, **_):
        raise ZeroDivisionError("a bug")

    policy = PolicyInput(namespace="dr", name="weu", generation=1, spec={}, status={})

    async def no_client(identity, *, user):
        return None

    memo = SimpleNamespace(azure=SimpleNamespace(get=no_client))
    with caplog.at_level(logging.ERROR, logger="asr_autoupdate"):
        outcome = await handlers.attempt(broken, policy, memo, None)
    [record] = [r for r in caplog.records if r.getMessage() == "reconcile of dr/weu failed unexpectedly"]
    assert record.exc_info and record.exc_info[0] is ZeroDivisionError
    assert outcome.retry.kind is RetryKind.INTERNAL and outcome.retry.reason == "InternalError"
    ready = next(c for c in outcome.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "InternalError")


READY = {"type": "Ready", "status": "True"}


@pytest.mark.parametrize(
    "status, generation, token, spread",
    [
        pytest.param({"observedGeneration": 2, "conditions": [READY]}, 2, None, True, id="ready-and-current"),
        pytest.param({"observedGeneration": 1, "conditions": [READY]}, 2, None, False, id="spec-changed-meanwhile"),
        pytest.param(
            {"observedGeneration": 2, "conditions": [{**READY, "status": "False"}]}, 2, None, False, id="not-ready"
        ),
        pytest.param(
            {"observedGeneration": 2, "conditions": [READY], "operations": [{"mapping": "m"}]},
            2,
            None,
            False,
            id="an-operation-to-follow",
        ),
        pytest.param(
            {"observedGeneration": 2, "conditions": [READY], "operations": [{"mapping": "m", "finished": "t"}]},
            2,
            None,
            True,
            id="operations-all-finished",
        ),
        pytest.param({"observedGeneration": 2, "conditions": [READY]}, 2, "r2", False, id="a-repair-asked-for"),
        pytest.param(
            {"observedGeneration": 2, "conditions": [READY], "lastRepair": {"token": "r2"}},
            2,
            "r2",
            True,
            id="the-repair-answered",
        ),
        pytest.param({}, 1, None, False, id="never-reconciled"),
    ],
)
def test_a_restart_spreads_only_policies_with_nothing_to_do(status, generation, token, spread):
    due = resume_spread(status, generation, token, 600.0, random.Random(7))
    assert (due is not None) is spread
    if spread:
        assert 0.0 <= due <= 600.0


def test_resumed_checks_are_spread_evenly_over_the_interval():
    draw = random.Random(1)
    status = {"observedGeneration": 1, "conditions": [READY]}
    dues = sorted(resume_spread(status, 1, None, 3600.0, draw) for _ in range(1000))
    # no herd: every tenth of the interval gets about a tenth of the first checks
    for decile in range(10):
        share = sum(1 for due in dues if decile * 360 <= due < (decile + 1) * 360)
        assert 60 <= share <= 140, (decile, share)


RECONCILING = {"type": "Reconciling", "status": "True"}


@pytest.mark.parametrize(
    "status, generation, under_way",
    [
        pytest.param({}, 1, False, id="never-reconciled"),
        pytest.param({"observedGeneration": 1, "conditions": [READY]}, 1, False, id="ready"),
        pytest.param({"observedGeneration": 1, "conditions": [RECONCILING]}, 1, True, id="requeued-mid-way"),
        pytest.param({"observedGeneration": 1, "conditions": [RECONCILING]}, 2, False, id="that-was-the-old-spec"),
        pytest.param(
            {"observedGeneration": 1, "conditions": [{**RECONCILING, "status": "False"}]}, 1, False, id="stalled"
        ),
        pytest.param({"operations": [{"mapping": "m"}]}, 2, True, id="an-operation-in-flight"),
        pytest.param({"operations": [{"mapping": "m", "finished": "t"}]}, 2, False, id="operations-finished"),
    ],
)
def test_a_policy_is_under_way_when_its_status_shows_a_convergence_begun(status, generation, under_way):
    assert began_converging(status, generation) is under_way


@pytest.mark.parametrize(
    "retry, under_way",
    [
        pytest.param(None, False, id="done"),
        pytest.param(Retry(W, "Progressing", 30), True, id="an-operation-to-follow"),
        pytest.param(Retry(T, "AzureUnavailable", 7), True, id="azure-busy-briefly"),
        pytest.param(Retry(P, "IdentityNotAuthorized", 300), False, id="a-person-must-act"),
        pytest.param(Retry(INVALID, "InvalidSpec"), False, id="invalid"),
        pytest.param(Retry(B, "InternalError"), False, id="a-bug-does-not-jump-the-queue"),
    ],
)
def test_after_a_pass_only_a_requeue_to_finish_counts_as_under_way(retry, under_way):
    assert under_way_after(retry) is under_way


async def test_the_handler_lets_policies_under_way_into_their_subscription_before_first_passes():
    from types import SimpleNamespace

    from asr_autoupdate import handlers
    from asr_autoupdate.azure import throttle
    from asr_autoupdate.reconcile.model import Outcome, PolicyInput

    subscription = "00000000-0000-0000-0000-00000000beef"
    entered: list[str] = []
    gate = asyncio.Event()

    async def step(azure, policy, now, **_):
        entered.append(policy.name)
        if policy.name == "holder":
            await gate.wait()
        return Outcome(status={}, retry=Retry(W, "Progressing", 30) if policy.name == "resumed-a" else None)

    async def no_client(identity, *, user):
        return None

    def policy(name: str, status: dict | None = None) -> PolicyInput:
        spec = {"vault": {"subscriptionId": subscription}}
        return PolicyInput(namespace="dr", name=name, generation=3, spec=spec, status=status or {})

    def memo() -> SimpleNamespace:
        return SimpleNamespace(azure=SimpleNamespace(get=no_client))

    async def settle() -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    throttle.registry().configure(throttle.BudgetSettings(passes_per_subscription=1))
    try:
        began = memo()
        await handlers._pass(step, policy("resumed-a"), began, None)  # it requeued to follow an operation
        assert began.under_way is True
        holder = asyncio.create_task(handlers._pass(step, policy("holder"), memo(), None))
        await settle()
        passes = [asyncio.create_task(handlers._pass(step, policy("first-1"), memo(), None))]
        await settle()
        passes.append(asyncio.create_task(handlers._pass(step, policy("resumed-a"), began, None)))
        restarted = policy("resumed-b", {"observedGeneration": 3, "conditions": [RECONCILING]})
        passes.append(asyncio.create_task(handlers._pass(step, restarted, memo(), None)))
        passes.append(asyncio.create_task(handlers._pass(step, policy("first-2"), memo(), None)))
        await settle()
        gate.set()
        await asyncio.wait_for(asyncio.gather(holder, *passes), timeout=10)
    finally:
        throttle.registry().configure(throttle.BudgetSettings())
    assert entered == ["resumed-a", "holder", "resumed-a", "resumed-b", "first-1", "first-2"]
    assert began.under_way is True  # its second pass asked to come back again
