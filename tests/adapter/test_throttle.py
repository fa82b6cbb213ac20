"""The per-subscription request budget, as arithmetic over a time passed in (no sleeping, no SDK)."""

from __future__ import annotations

import asyncio
import heapq
import statistics

import pytest

from asr_autoupdate.azure import errors, throttle
from asr_autoupdate.azure.throttle import (
    NEW,
    READ,
    UNDER_WAY,
    WRITE,
    BudgetRegistry,
    BudgetSettings,
    PassQueue,
    TokenBucket,
)

SUB = "00000000-0000-0000-0000-0000000000AA"


class FakeTime:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_registry(fake: FakeTime, *, sleep=None, **settings: float) -> BudgetRegistry:
    return BudgetRegistry(BudgetSettings(**settings), clock=fake.clock, sleep=sleep or fake.sleep)


@pytest.mark.parametrize(
    "reason, elapsed, expected_delay",
    [
        ("full bucket: no wait", 0.0, 0.0),
        ("empty bucket: one token takes 1/rate", 0.0, None),
    ],
)
def test_bucket_first_token(reason: str, elapsed: float, expected_delay: float | None) -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    if expected_delay is None:
        for _ in range(3):
            assert bucket.reserve(0.0) == 0.0
        assert bucket.reserve(0.0) == pytest.approx(0.5), reason
    else:
        assert bucket.reserve(elapsed) == expected_delay, reason


def test_bucket_queues_callers_behind_each_other() -> None:
    bucket = TokenBucket(rate=4.0, burst=1.0, now=0.0)
    waits = [bucket.reserve(0.0) for _ in range(4)]
    assert waits == [0.0, pytest.approx(0.25), pytest.approx(0.5), pytest.approx(0.75)]


def test_bucket_refills_up_to_burst_only() -> None:
    bucket = TokenBucket(rate=10.0, burst=2.0, now=0.0)
    bucket.reserve(0.0)
    bucket.reserve(0.0)
    assert bucket.delay(100.0) == 0.0
    assert bucket.tokens == 2.0


@pytest.mark.parametrize(
    "reason, method, kind",
    [
        ("GET reads", "GET", READ),
        ("HEAD reads", "head", READ),
        ("PUT writes", "PUT", WRITE),
        ("PATCH writes", "PATCH", WRITE),
        ("DELETE counts as a write", "DELETE", WRITE),
        ("POST writes", "POST", WRITE),
    ],
)
def test_request_kind(reason: str, method: str, kind: str) -> None:
    assert throttle.request_kind(method) == kind, reason


@pytest.mark.parametrize(
    "reason, url, subscription",
    [
        ("plain ARM url", f"https://arm/subscriptions/{SUB}/resourceGroups/rg?api-version=1", SUB.lower()),
        ("Site Recovery writes Subscriptions", f"https://arm/Subscriptions/{SUB}/x", SUB.lower()),
        ("subscription-level call", f"https://arm/subscriptions/{SUB}?api-version=1", SUB.lower()),
        ("tenant-level call shares one budget", "https://arm/providers/Microsoft.Authorization/x", ""),
    ],
)
def test_subscription_from_url(reason: str, url: str, subscription: str) -> None:
    assert throttle.subscription_from_url(url) == subscription, reason


@pytest.mark.parametrize(
    "reason, headers, seconds",
    [
        ("delta seconds", {"Retry-After": "7"}, 7.0),
        ("header names are case-insensitive", {"retry-after": "3"}, 3.0),
        ("milliseconds win", {"Retry-After": "7", "retry-after-ms": "1500"}, 1.5),
        ("x-ms milliseconds", {"x-ms-retry-after-ms": "250"}, 0.25),
        ("HTTP date", {"Retry-After": "Thu, 01 Jan 1970 00:00:30 GMT"}, 20.0),
        ("absent", {}, None),
        ("garbage counts as absent", {"Retry-After": "soon"}, None),
        ("negative is clamped", {"Retry-After": "-4"}, 0.0),
    ],
)
def test_parse_retry_after(reason: str, headers: dict[str, str], seconds: float | None) -> None:
    assert throttle.parse_retry_after(headers, now_epoch=10.0) == seconds, reason


def test_registry_is_keyed_case_insensitively() -> None:
    registry = make_registry(FakeTime())
    assert registry.budget(SUB) is registry.budget(SUB.lower())
    assert registry.budget_for_url(f"https://x/Subscriptions/{SUB}/y") is registry.budget(SUB)
    assert registry.budget(SUB) is not registry.budget("11111111-0000-0000-0000-000000000000")


def test_process_registry_is_shared() -> None:
    assert throttle.registry() is throttle.registry()
    assert set(throttle.stats()) == set(throttle.registry().stats())


@pytest.mark.parametrize(
    "reason, status, retry_after, paused_for, throttled, pauses",
    [
        ("429 with Retry-After pauses that long", 429, 4.0, 4.0, 1, 1),
        ("429 without Retry-After pauses the default", 429, None, 5.0, 1, 1),
        ("503 with Retry-After pauses too", 503, 2.0, 2.0, 0, 1),
        ("202 with Retry-After (an LRO) does not pause", 202, 30.0, 0.0, 0, 0),
        ("500 without Retry-After does not pause", 500, None, 0.0, 0, 0),
        ("200 does not pause", 200, None, 0.0, 0, 0),
    ],
)
def test_record_pauses(
    reason: str, status: int, retry_after: float | None, paused_for: float, throttled: int, pauses: int
) -> None:
    fake = FakeTime()
    budget = make_registry(fake).budget(SUB)
    budget.record(READ, status, retry_after)
    stats = budget.stats()
    assert stats.paused_for == paused_for, reason
    assert (stats.throttled, stats.pauses, stats.requests) == (throttled, pauses, 1), reason


def test_pause_never_shrinks() -> None:
    fake = FakeTime()
    budget = make_registry(fake).budget(SUB)
    budget.record(READ, 429, 10.0)
    budget.record(READ, 429, 1.0)
    assert budget.paused_for(fake.now) == 10.0


def test_record_notes_arm_remaining_counters_and_failures() -> None:
    fake = FakeTime()
    budget = make_registry(fake).budget(SUB)
    budget.record(READ, 200, None, headers={"x-ms-ratelimit-remaining-subscription-reads": "249"})
    budget.record(WRITE, 200, None, headers={"X-MS-RateLimit-Remaining-Subscription-Writes": "199"})
    budget.record(WRITE, 0, None)
    stats = budget.stats()
    assert (stats.remaining_reads, stats.remaining_writes) == (249, 199)
    assert (stats.requests, stats.reads, stats.writes, stats.failures) == (2, 1, 1, 1)


@pytest.mark.parametrize(
    "reason, pause, budget_left, outcome",
    [
        ("pause shorter than the wait allowed: wait it out", 3.0, 10.0, 3.0),
        ("pause longer than allowed: fail at once", 30.0, 10.0, "throttled"),
        ("no pause, tokens left: go", 0.0, 10.0, 0.0),
    ],
)
def test_admit(reason: str, pause: float, budget_left: float, outcome: object) -> None:
    fake = FakeTime()
    budget = make_registry(fake).budget(SUB)
    if pause:
        budget.record(READ, 429, pause)
    if outcome == "throttled":
        with pytest.raises(errors.ThrottledError) as caught:
            budget.admit(READ, fake.now, budget_left=budget_left)
        assert caught.value.retry_after == pause, reason
        assert budget.stats().rejected == 1
    else:
        assert budget.admit(READ, fake.now, budget_left=budget_left) == outcome, reason


def test_admit_refuses_a_bucket_wait_past_the_limit_without_taking_a_token() -> None:
    fake = FakeTime()
    budget = make_registry(fake, write_rate=0.1, write_burst=1.0).budget(SUB)
    assert budget.admit(WRITE, fake.now, budget_left=1.0) == 0.0
    with pytest.raises(errors.ThrottledError) as caught:
        budget.admit(WRITE, fake.now, budget_left=1.0)
    assert caught.value.retry_after == pytest.approx(10.0)
    # nothing was taken: after 10 s the next write goes at once
    assert budget.admit(WRITE, fake.now + 10.0, budget_left=0.0) == 0.0


async def test_acquire_paces_requests_to_the_rate() -> None:
    fake = FakeTime()
    budget = make_registry(fake, read_rate=2.0, read_burst=2.0).budget(SUB)
    for _ in range(5):
        await budget.acquire(READ)
    assert fake.sleeps == [pytest.approx(0.5)] * 3
    stats = budget.stats()
    assert stats.waits == 3 and stats.waited_seconds == pytest.approx(1.5)


async def test_reads_and_writes_have_separate_buckets() -> None:
    fake = FakeTime()
    budget = make_registry(fake, read_rate=1.0, read_burst=1.0, write_rate=1.0, write_burst=1.0).budget(SUB)
    await budget.acquire(READ)
    await budget.acquire(WRITE)
    assert fake.sleeps == []


async def test_acquire_waits_out_a_pause_set_by_another_caller() -> None:
    fake = FakeTime()
    registry = make_registry(fake)
    registry.budget(SUB).record(READ, 429, 4.0)  # what one policy's call saw
    await registry.budget(SUB.lower()).acquire(WRITE)  # another policy's call, same subscription
    assert fake.sleeps == [4.0]
    assert registry.stats()[SUB.lower()].waits == 1


async def test_acquire_fails_fast_when_the_pause_is_longer_than_max_wait() -> None:
    fake = FakeTime()
    budget = make_registry(fake, max_wait=10.0).budget(SUB)
    budget.record(READ, 429, 60.0)
    with pytest.raises(errors.ThrottledError) as caught:
        await budget.acquire(READ)
    assert caught.value.retry_after == 60.0
    assert fake.sleeps == []
    assert budget.stats().rejected == 1


async def test_a_pause_that_arrives_while_waiting_for_a_token_holds_the_request() -> None:
    fake = FakeTime()

    async def sleep_then_get_throttled(seconds: float) -> None:
        await fake.sleep(seconds)
        if len(fake.sleeps) == 1:
            budget.record(READ, 429, 3.0)  # another client got a 429 meanwhile

    budget = make_registry(fake, sleep=sleep_then_get_throttled, read_rate=1.0, read_burst=1.0).budget(SUB)
    await budget.acquire(READ)  # takes the only token
    await budget.acquire(READ)
    assert fake.sleeps == [pytest.approx(1.0), pytest.approx(3.0)]


async def test_concurrent_callers_share_the_bucket_in_order() -> None:
    fake = FakeTime()

    async def frozen_sleep(seconds: float) -> None:  # every caller is queued before time moves
        fake.sleeps.append(seconds)
        await asyncio.sleep(0)

    budget = make_registry(fake, sleep=frozen_sleep, write_rate=10.0, write_burst=1.0).budget(SUB)
    await asyncio.gather(*(budget.acquire(WRITE) for _ in range(3)))
    assert sorted(fake.sleeps) == [pytest.approx(0.1), pytest.approx(0.2)]


def test_configure_replaces_the_budgets() -> None:
    fake = FakeTime()
    registry = make_registry(fake)
    registry.budget(SUB).record(READ, 429, 5.0)
    registry.configure(BudgetSettings(read_rate=1.0))
    assert registry.stats() == {}
    assert registry.budget(SUB).settings.read_rate == 1.0


@pytest.mark.parametrize(
    "reason, settings",
    [
        ("zero rate", {"read_rate": 0.0}),
        ("negative burst", {"write_burst": -1.0}),
        ("negative max wait", {"max_wait": -1.0}),
    ],
)
def test_settings_are_validated(reason: str, settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BudgetSettings(**settings)


async def test_a_request_waits_its_turn_however_long_instead_of_being_refused() -> None:
    fake = FakeTime()
    budget = make_registry(fake, read_rate=1.0, read_burst=1.0).budget(SUB)
    for _ in range(30):  # 30 s of budget at once: with the default max_wait nothing is refused
        await budget.acquire(READ)
    assert fake.now - 1000.0 == pytest.approx(29.0) and budget.stats().rejected == 0


async def test_pass_slots_let_in_so_many_passes_and_queue_the_rest_in_arrival_order() -> None:
    budget = BudgetRegistry(BudgetSettings(passes_per_subscription=2)).budget(SUB)
    entered: list[int] = []
    release = asyncio.Event()

    async def one_pass(number: int) -> None:
        async with budget.pass_slot():
            entered.append(number)
            await release.wait()

    tasks = [asyncio.create_task(one_pass(number)) for number in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert entered == [0, 1]
    stats = budget.stats()
    assert (stats.passes_running, stats.passes_queued) == (2, 3)
    release.set()
    await asyncio.gather(*tasks)
    assert entered == [0, 1, 2, 3, 4]
    assert (budget.stats().passes_running, budget.stats().passes_queued) == (0, 0)


def test_a_free_slot_goes_to_a_policy_under_way_before_first_passes_then_by_arrival() -> None:
    queue: PassQueue[str] = PassQueue(2)
    assert queue.arrive("first-a") and queue.arrive("first-b")  # two free slots
    for name in ("first-c", "first-d"):
        assert not queue.arrive(name, NEW)
    for name in ("again-x", "again-y"):
        assert not queue.arrive(name, UNDER_WAY)
    assert (queue.running, queue.queued, queue.queued_of(UNDER_WAY)) == (2, 4, 2)
    assert [queue.leave() for _ in range(4)] == ["again-x", "again-y", "first-c", "first-d"]
    assert (queue.leave(), queue.leave(), queue.running) == (None, None, 0)
    assert queue.arrive("late", NEW)  # nobody waits and a slot is free: in at once, whatever the class


def test_a_waiter_that_gives_up_is_taken_out_and_the_order_holds() -> None:
    queue: PassQueue[str] = PassQueue(1)
    queue.arrive("running")
    for name, priority in (("a", NEW), ("b", UNDER_WAY), ("c", NEW), ("d", UNDER_WAY)):
        queue.arrive(name, priority)
    assert queue.withdraw("b") and not queue.withdraw("b")
    assert [queue.leave() for _ in range(3)] == ["d", "a", "c"]


def _simulate(policies: int, slots: int, *, prioritise: bool) -> list[float]:
    """Event-driven, on a made-up clock: each policy needs a 1 s first pass, then Site Recovery works 3 s, then
    a 1 s second pass makes it Ready. Returns the Ready times."""
    queue: PassQueue[tuple[int, int]] = PassQueue(slots)
    events: list[tuple[float, int, str, tuple[int, int]]] = []  # (time, order, what, (policy, pass))
    order = iter(range(10**6))
    ready: list[float] = []

    def start(now: float, job: tuple[int, int]) -> None:
        heapq.heappush(events, (now + 1.0, next(order), "end", job))

    def arrive(now: float, job: tuple[int, int]) -> None:
        if queue.arrive(job, UNDER_WAY if prioritise and job[1] == 2 else NEW):
            start(now, job)

    for policy in range(policies):
        arrive(0.0, (policy, 1))
    while events:
        now, _, what, job = heapq.heappop(events)
        if what == "requeue":
            arrive(now, job)
            continue
        admitted = queue.leave()
        if admitted is not None:
            start(now, admitted)
        if job[1] == 1:
            heapq.heappush(events, (now + 3.0, next(order), "requeue", (job[0], 2)))
        else:
            ready.append(now)
    return ready


def test_policies_under_way_are_ready_long_before_the_last_first_pass_instead_of_after_it() -> None:
    fifo = _simulate(200, 4, prioritise=False)
    under_way_first = _simulate(200, 4, prioritise=True)
    assert len(fifo) == len(under_way_first) == 200
    assert min(under_way_first) == 5.0  # first pass, 3 s of Site Recovery, second pass: nothing queued ahead
    assert min(fifo) > 50.0  # behind all 200 first passes (4 slots, 1 s each)
    assert statistics.median(under_way_first) < 0.75 * statistics.median(fifo)  # 53.5 s against 75.5 s
    # the slots are as busy as before; the last policies' Site Recovery wait is no longer hidden behind others
    assert max(under_way_first) <= max(fifo) + 3.0


async def test_a_pass_under_way_takes_the_next_slot_ahead_of_first_passes_queued_before_it() -> None:
    budget = BudgetRegistry(BudgetSettings(passes_per_subscription=1)).budget(SUB)
    entered: list[str] = []
    gates = {name: asyncio.Event() for name in ("holder", "first-1", "first-2", "again")}

    async def one_pass(name: str, priority: int) -> None:
        async with budget.pass_slot(priority):
            entered.append(name)
            await gates[name].wait()

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(one_pass("holder", NEW))]
    await settle()
    tasks += [asyncio.create_task(one_pass(name, NEW)) for name in ("first-1", "first-2")]
    await settle()
    tasks.append(asyncio.create_task(one_pass("again", UNDER_WAY)))
    await settle()
    assert (budget.stats().passes_queued, budget.stats().passes_queued_under_way) == (3, 1)
    for gate in gates.values():
        gate.set()
    await asyncio.gather(*tasks)
    assert entered == ["holder", "again", "first-1", "first-2"]


async def test_a_cancelled_waiter_neither_keeps_nor_loses_a_slot() -> None:
    budget = BudgetRegistry(BudgetSettings(passes_per_subscription=1)).budget(SUB)
    release = asyncio.Event()
    entered: list[str] = []

    async def one_pass(name: str) -> None:
        async with budget.pass_slot():
            entered.append(name)
            await release.wait()

    holder = asyncio.create_task(one_pass("holder"))
    await asyncio.sleep(0)
    given_up, last = asyncio.create_task(one_pass("given-up")), asyncio.create_task(one_pass("last"))
    await asyncio.sleep(0)
    given_up.cancel()  # cancelled while waiting
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, last), timeout=10)  # a lost slot would hold "last" for good
    with pytest.raises(asyncio.CancelledError):
        await given_up
    assert entered == ["holder", "last"]
    assert (budget.stats().passes_running, budget.stats().passes_queued) == (0, 0)


async def test_a_waiter_cancelled_just_as_it_was_admitted_passes_the_slot_on() -> None:
    budget = BudgetRegistry(BudgetSettings(passes_per_subscription=1)).budget(SUB)
    entered: list[str] = []
    release = asyncio.Event()

    async def one_pass(name: str) -> None:
        async with budget.pass_slot():
            entered.append(name)
            await release.wait()

    holder = asyncio.create_task(one_pass("holder"))
    await asyncio.sleep(0)
    unlucky, last = asyncio.create_task(one_pass("unlucky")), asyncio.create_task(one_pass("last"))
    await asyncio.sleep(0)
    release.set()
    await asyncio.sleep(0)  # the holder leaves: "unlucky" is admitted but has not run yet...
    unlucky.cancel()  # ...and is cancelled before it does
    await asyncio.wait_for(asyncio.gather(holder, last, return_exceptions=True), timeout=10)
    assert entered == ["holder", "last"]
    assert (budget.stats().passes_running, budget.stats().passes_queued) == (0, 0)


async def test_each_subscription_has_its_own_slots() -> None:
    registry = BudgetRegistry(BudgetSettings(passes_per_subscription=1))

    async def inner(subscription: str) -> None:
        async with registry.budget(subscription).pass_slot():
            pass

    async with registry.budget(SUB).pass_slot():
        await asyncio.wait_for(inner("other"), timeout=1)  # another subscription is not held up
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(inner(SUB), timeout=0.05)  # the same one is: its one slot is taken


@pytest.mark.parametrize(
    "env, overrides, expected",
    [
        pytest.param({}, {}, BudgetSettings(), id="defaults"),
        pytest.param(
            {"ASR_AUTOUPDATE_READS_PER_SECOND": "20", "ASR_AUTOUPDATE_PASSES_PER_SUBSCRIPTION": "8"},
            {},
            BudgetSettings(read_rate=20.0, passes_per_subscription=8),
            id="environment",
        ),
        pytest.param(
            {"ASR_AUTOUPDATE_WRITES_PER_SECOND": "1"},
            {"write_rate": 5.0, "read_burst": None},
            BudgetSettings(write_rate=5.0),
            id="a-flag-wins-over-the-environment",
        ),
    ],
)
def test_budget_from_env(env: dict[str, str], overrides: dict, expected: BudgetSettings) -> None:
    assert throttle.budget_from_env(env, **overrides) == expected


@pytest.mark.parametrize(
    "env, problem",
    [
        ({"ASR_AUTOUPDATE_READ_BURST": "lots"}, "ASR_AUTOUPDATE_READ_BURST='lots' is not a number"),
        ({"ASR_AUTOUPDATE_READS_PER_SECOND": "-1"}, "read_rate must be positive"),
        ({"ASR_AUTOUPDATE_PASSES_PER_SUBSCRIPTION": "0"}, "passes_per_subscription must be at least 1"),
    ],
)
def test_a_bad_budget_setting_is_refused_naming_it(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")):
        throttle.budget_from_env(env)
