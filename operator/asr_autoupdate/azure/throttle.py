"""One request budget per Azure subscription, shared by every policy the operator reconciles.

Azure Resource Manager throttles per subscription (a token bucket of 250 reads refilled at 25/s and 200
writes refilled at 10/s, per principal and region). Many `MobilityUpdatePolicy` objects can point at the same
subscription, so each policy pacing itself is not enough: the budget has to be one object per subscription
that every SDK client of the process draws from. That object lives here, in a process-wide registry keyed by
subscription id (case-insensitive, as ARM compares them).

A budget does two things before a request is sent:

* it paces: reads and writes each draw from a token bucket with a rate and a burst well under ARM's;
* it obeys the service: after a 429 (or any error response that carries `Retry-After`), the whole
  subscription pauses until the time the service named, whichever client or policy got the answer.

Requests wait their turn: the buckets hand out reservations in arrival order, so a pass that has started gets
its requests one after the other however many passes compete, and nothing is refused for being slow (a
`BudgetSettings.max_wait` can bound the wait, for tests; past it a request fails with `ThrottledError`). A
pause Azure asked for is different: one longer than `max_pause_wait` fails the request at once, so the pass
requeues at Azure's time instead of sitting out minutes of Retry-After.
Because waiting passes would otherwise all hold reservations at once, `pass_slot` lets only
`passes_per_subscription` passes into a subscription at a time, and each subscription has its own slots, so one
busy subscription does not hold up another. Who gets a free slot is `PassQueue`'s rule: a pass of a policy that
is already under way (it started converging and came back, e.g. after a Site Recovery operation) goes before
first passes and drift checks; within each class, first come first served. So policies under way finish before
new ones start, instead of every second pass queuing behind a thousand first ones.

This module is SDK-free on purpose: the buckets are plain arithmetic over a time passed in, so they are tested
without sleeping. The azure-core pipeline policy that calls `SubscriptionBudget.acquire` and
`SubscriptionBudget.record` lives in `pipeline.py`, one of the Azure adapter's SDK modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import heapq
import itertools
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Generic, TypeVar

from asr_autoupdate.azure.errors import ThrottledError

READ = "read"
WRITE = "write"

# The classes of passes waiting for a slot, lowest first (`PassQueue`).
UNDER_WAY = 0  # a pass of a policy that has begun converging: it finishes what it started
NEW = 1  # a first pass, or a drift check of a settled policy

_W = TypeVar("_W")

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SUBSCRIPTION_IN_URL = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class BudgetSettings:
    """How fast one subscription may be called; defaults stay well under ARM's 25 reads/s and 10 writes/s."""

    read_rate: float = 8.0  # tokens per second
    read_burst: float = 40.0
    write_rate: float = 3.0
    write_burst: float = 15.0
    max_wait: float = math.inf  # the longest a request waits for the budget before failing with ThrottledError
    default_pause: float = 5.0  # a 429 that names no Retry-After pauses the subscription this long
    # A pause Azure asked for that is longer than this fails the request at once (ThrottledError: the pass
    # requeues at the pause's end, as for the caller that got the 429) instead of holding the pass meanwhile.
    max_pause_wait: float = 10.0
    passes_per_subscription: int = 4  # passes admitted into one subscription at a time (see `pass_slot`)

    def __post_init__(self) -> None:
        for field in ("read_rate", "read_burst", "write_rate", "write_burst"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be positive")
        if self.max_wait < 0 or self.default_pause < 0 or self.max_pause_wait < 0:
            raise ValueError("max_wait, default_pause and max_pause_wait must not be negative")
        if self.passes_per_subscription < 1:
            raise ValueError("passes_per_subscription must be at least 1")


# The budget's settings as the environment gives them (the chart's `requestBudget` values set these).
BUDGET_ENVIRONMENT = {
    "read_rate": "ASR_AUTOUPDATE_READS_PER_SECOND",
    "read_burst": "ASR_AUTOUPDATE_READ_BURST",
    "write_rate": "ASR_AUTOUPDATE_WRITES_PER_SECOND",
    "write_burst": "ASR_AUTOUPDATE_WRITE_BURST",
    "passes_per_subscription": "ASR_AUTOUPDATE_PASSES_PER_SUBSCRIPTION",
}


def budget_from_env(env: Mapping[str, str], **overrides: float | None) -> BudgetSettings:
    """The defaults, then the environment, then `overrides` (the command line; None: not given); a value
    that is not a positive number raises ValueError naming the variable."""
    values: dict[str, float | int] = {}
    for field, variable in BUDGET_ENVIRONMENT.items():
        raw = env.get(variable)
        if raw:
            try:
                values[field] = int(raw) if field == "passes_per_subscription" else float(raw)
            except ValueError:
                raise ValueError(f"{variable}={raw!r} is not a number") from None
    values.update({field: value for field, value in overrides.items() if value is not None})
    return BudgetSettings(**values)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class BudgetStats:
    """Counters for one subscription since the process started (what the metrics module exports)."""

    subscription_id: str
    requests: int = 0  # answers received from Azure (every retry counts)
    failures: int = 0  # attempts that got no answer (connection or token failures)
    reads: int = 0
    writes: int = 0
    throttled: int = 0  # 429 answers
    pauses: int = 0  # answers (429 or other errors) whose Retry-After paused the subscription
    waits: int = 0  # requests that had to wait for the budget before being sent
    waited_seconds: float = 0.0
    rejected: int = 0  # requests failed with ThrottledError without being sent (wait would exceed max_wait)
    passes_running: int = 0  # passes inside the subscription now (at most passes_per_subscription)
    passes_queued: int = 0  # passes waiting for a slot
    passes_queued_under_way: int = 0  # of those, passes of policies under way (they go first)
    paused_for: float = 0.0  # seconds of pause still ahead at the time of the snapshot
    remaining_reads: int | None = None  # ARM's x-ms-ratelimit-remaining-subscription-reads, last seen
    remaining_writes: int | None = None


def request_kind(method: str) -> str:
    """Reads and writes have separate ARM budgets (DELETE counts against the write bucket here)."""
    return READ if method.upper() in _READ_METHODS else WRITE


def subscription_from_url(url: str) -> str:
    """The subscription a request is charged to; '' for tenant-level calls (they share one budget)."""
    match = _SUBSCRIPTION_IN_URL.search(url)
    return match.group(1).lower() if match else ""


def parse_retry_after(headers: Mapping[str, str], *, now_epoch: float | None = None) -> float | None:
    """Seconds the service asked us to wait, from `retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After`.

    `Retry-After` may be delta-seconds or an HTTP date; anything unreadable counts as absent.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = lowered.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = time.time() if now_epoch is None else now_epoch
    return max(0.0, when.timestamp() - reference)


class TokenBucket:
    """A token bucket with reservations: `reserve` takes a token now and says how long to wait for it.

    The token count may go negative; that is the queue of callers already promised a slot, so callers
    that arrive later wait behind them without any lock (the event loop runs one `reserve` at a time).
    """

    def __init__(self, rate: float, burst: float, now: float):
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def delay(self, now: float) -> float:
        """How long a request arriving at `now` would wait, without taking a token."""
        self._refill(now)
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def reserve(self, now: float) -> float:
        """Take a token; return the seconds until it is valid (0 when one was available)."""
        wait = self.delay(now)
        self._tokens -= 1
        return wait

    @property
    def tokens(self) -> float:
        return self._tokens


class PassQueue(Generic[_W]):
    """Who gets one subscription's pass slots: pure bookkeeping, no event loop (the waiters are opaque).

    `arrive` lets a pass in at once while a slot is free and nobody waits, else queues it; `leave` frees its
    slot and names the waiter admitted into it; `withdraw` takes out a waiter that gave up. The queue is
    ordered by class (`UNDER_WAY` before `NEW`), then by arrival. Nothing starves for good: passes under way
    are only those of policies admitted before, each of which converges in a few passes.
    """

    def __init__(self, slots: int):
        self.slots = slots
        self.running = 0
        self._waiting: list[tuple[int, int, _W]] = []
        self._arrivals = itertools.count()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def queued_of(self, priority: int) -> int:
        return sum(1 for entry in self._waiting if entry[0] == priority)

    def arrive(self, waiter: _W, priority: int = NEW) -> bool:
        """True: the pass holds a slot now; False: it waits until `leave` names it."""
        if self.running < self.slots and not self._waiting:
            self.running += 1
            return True
        heapq.heappush(self._waiting, (priority, next(self._arrivals), waiter))
        return False

    def leave(self) -> _W | None:
        """A pass is done: its slot goes to the first waiter in order (returned; None when nobody waits)."""
        if self._waiting:
            return heapq.heappop(self._waiting)[2]  # the slot changes hands: `running` stays
        self.running -= 1
        return None

    def withdraw(self, waiter: _W) -> bool:
        """Take out a waiter that gave up before it was admitted; False when it was not waiting."""
        for index, entry in enumerate(self._waiting):
            if entry[2] is waiter:
                self._waiting.pop(index)
                heapq.heapify(self._waiting)
                return True
        return False


class SubscriptionBudget:
    """The budget of one subscription: two buckets, a pause, and counters.

    `acquire` is what the pipeline policy awaits before sending; `record` is what it calls with the answer.
    `admit` is the pure core of `acquire` (time in, decision out), used directly by the tests.
    """

    def __init__(
        self,
        subscription_id: str,
        settings: BudgetSettings,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ):
        self.subscription_id = subscription_id
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._buckets = {
            READ: TokenBucket(settings.read_rate, settings.read_burst, now),
            WRITE: TokenBucket(settings.write_rate, settings.write_burst, now),
        }
        self._paused_until = float("-inf")
        self._counts = dict.fromkeys(
            ("requests", "failures", "reads", "writes", "throttled", "pauses", "waits", "rejected"), 0
        )
        self._waited = 0.0
        self._remaining: dict[str, int | None] = {READ: None, WRITE: None}
        self._slots: PassQueue[asyncio.Future[None]] = PassQueue(settings.passes_per_subscription)

    # --- the pure part -------------------------------------------------------------------------------

    def paused_for(self, now: float) -> float:
        """Seconds left of the pause the service asked for (0 when not paused)."""
        return max(0.0, self._paused_until - now)

    def admit(self, kind: str, now: float, *, budget_left: float, reserved: bool = False) -> float:
        """Decide about one request at `now`: return how long it must still wait (0: send it), or raise.

        A pause the service asked for comes first; then the request takes a token from its bucket, unless
        it holds one already (`reserved`). A wait longer than `budget_left` (what is left of this request's
        `max_wait`) raises ThrottledError at once, so the caller requeues instead of blocking.
        """
        pause = self.paused_for(now)
        if pause > 0:
            if pause > min(budget_left, self.settings.max_pause_wait):
                raise self._reject(pause)
            return pause
        if reserved:
            return 0.0
        bucket = self._buckets[kind]
        wait = bucket.delay(now)
        if wait > budget_left:
            raise self._reject(wait)
        return bucket.reserve(now)

    def _reject(self, wait: float) -> ThrottledError:
        self._counts["rejected"] += 1
        subscription = self.subscription_id or "the tenant"
        return ThrottledError(
            f"request budget for subscription {subscription} is spent; retry later",
            status=429,
            code="ClientSideThrottled",
            retry_after=round(wait, 3),
        )

    def record(
        self,
        kind: str,
        status: int,
        retry_after: float | None,
        *,
        now: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Account for one answer (status 0: none came); a 429, or any error answer with Retry-After, pauses.

        The pause covers the whole subscription: every client and policy waits it out, not only the caller
        that was told.
        """
        now = self._clock() if now is None else now
        if status == 0:
            self._counts["failures"] += 1
            return
        self._counts["requests"] += 1
        self._counts["reads" if kind == READ else "writes"] += 1
        if status == 429:
            self._counts["throttled"] += 1
            if retry_after is None:
                retry_after = self.settings.default_pause
        if status >= 400 and retry_after is not None and retry_after > 0:
            self._counts["pauses"] += 1
            self._paused_until = max(self._paused_until, now + retry_after)
        if headers:
            self._note_remaining(headers)

    def _note_remaining(self, headers: Mapping[str, str]) -> None:
        lowered = {key.lower(): value for key, value in headers.items()}
        for kind, name in (
            (READ, "x-ms-ratelimit-remaining-subscription-reads"),
            (WRITE, "x-ms-ratelimit-remaining-subscription-writes"),
        ):
            value = lowered.get(name)
            if value is not None:
                with contextlib.suppress(ValueError):
                    self._remaining[kind] = int(value)

    def note_wait(self, seconds: float) -> None:
        self._counts["waits"] += 1
        self._waited += seconds

    def stats(self, now: float | None = None) -> BudgetStats:
        now = self._clock() if now is None else now
        return BudgetStats(
            subscription_id=self.subscription_id,
            waited_seconds=round(self._waited, 6),
            paused_for=round(self.paused_for(now), 6),
            remaining_reads=self._remaining[READ],
            remaining_writes=self._remaining[WRITE],
            passes_running=self._slots.running,
            passes_queued=self._slots.queued,
            passes_queued_under_way=self._slots.queued_of(UNDER_WAY),
            **self._counts,
        )

    # --- the waiting part ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def pass_slot(self, priority: int = NEW) -> AsyncIterator[None]:
        """Hold one of the subscription's pass slots for a whole pass; waiters are admitted in `PassQueue`'s
        order (passes of policies under way first, then by arrival)."""
        slots = self._slots
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not slots.arrive(waiter, priority):
            try:
                await waiter
            except BaseException:
                if not slots.withdraw(waiter):  # admitted just as it was cancelled: pass the slot on
                    self._hand_on(slots.leave())
                raise
        try:
            yield
        finally:
            self._hand_on(slots.leave())

    @staticmethod
    def _hand_on(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():  # a cancelled waiter passes the slot on itself
            waiter.set_result(None)

    async def acquire(self, kind: str) -> None:
        """Wait until a request of `kind` may be sent; raise ThrottledError if that takes over max_wait.

        After every wait the decision is taken again: a 429 that another client saw while this request
        slept must hold this request too.
        """
        deadline = self._clock() + self.settings.max_wait
        waited = 0.0
        reserved = False
        while True:
            now = self._clock()
            pausing = self.paused_for(now) > 0
            wait = self.admit(kind, now, budget_left=max(0.0, deadline - now), reserved=reserved)
            reserved = reserved or not pausing
            if wait <= 0:
                break
            waited += wait
            await self._sleep(wait)
        if waited > 0:
            self.note_wait(waited)


class BudgetRegistry:
    """All subscription budgets of the process; `budget()` makes one on first use."""

    def __init__(
        self,
        settings: BudgetSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self._settings = settings or BudgetSettings()
        self._clock = clock
        self._sleep = sleep
        self._budgets: dict[str, SubscriptionBudget] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> BudgetSettings:
        return self._settings

    def configure(self, settings: BudgetSettings) -> None:
        """Change the rates for budgets made from now on and drop the existing ones (startup and tests)."""
        with self._lock:
            self._settings = settings
            self._budgets.clear()

    def budget(self, subscription_id: str) -> SubscriptionBudget:
        key = (subscription_id or "").lower()
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                budget = SubscriptionBudget(key, self._settings, clock=self._clock, sleep=self._sleep)
                self._budgets[key] = budget
            return budget

    def budget_for_url(self, url: str) -> SubscriptionBudget:
        return self.budget(subscription_from_url(url))

    def stats(self) -> dict[str, BudgetStats]:
        """A snapshot of every subscription's counters, keyed by lower-case subscription id."""
        with self._lock:
            budgets = list(self._budgets.values())
        now = self._clock()
        return {budget.subscription_id: budget.stats(now) for budget in budgets}

    def reset(self) -> None:
        """Forget every budget and counter (tests)."""
        with self._lock:
            self._budgets.clear()


_REGISTRY = BudgetRegistry()


def registry() -> BudgetRegistry:
    """The process-wide registry that every `AzureClient` uses unless it is given another."""
    return _REGISTRY


def stats() -> dict[str, BudgetStats]:
    """Counters of every subscription the process has called (for the metrics module)."""
    return _REGISTRY.stats()
