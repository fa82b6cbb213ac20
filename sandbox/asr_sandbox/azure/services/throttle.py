"""ARM's per-subscription token buckets, so clients meet 429 + Retry-After the way they would in Azure."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..state.errors import Throttled
from .settings import EmulatorSettings

# ARM's global per-subscription limit is 15 times the per-principal one.
GLOBAL_FACTOR = 15
OPERATION_KINDS = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}


@dataclass
class _Bucket:
    size: float
    refill_per_second: float
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take one token; None on success, else the seconds until one is available."""
        self.tokens = min(self.size, self.tokens + (now - self.updated) * self.refill_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        if self.refill_per_second <= 0:
            return 60.0
        return (1 - self.tokens) / self.refill_per_second


class Throttle:
    """One bucket per subscription and operation kind (reads, writes, deletes), plus the global one."""

    def __init__(self, settings: EmulatorSettings):
        self._settings = settings
        self._buckets: dict[tuple[str, str, bool], _Bucket] = {}

    def configure(self, settings: EmulatorSettings) -> None:
        """New limits start from full buckets, like a fresh throttling window."""
        self._settings = settings
        self._buckets.clear()

    def admit(self, method: str, subscription_id: str, actor: str) -> dict[str, str]:
        """Spend one request; return the x-ms-ratelimit-remaining headers, or refuse as SubscriptionRequestsThrottled."""
        kind = OPERATION_KINDS.get(method, "writes")
        now = time.monotonic()
        local = self._bucket(subscription_id, kind, False, now)
        wait = local.take(now)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            singular = kind[:-1]
            raise Throttled(
                "SubscriptionRequestsThrottled",
                f"Number of '{singular}' requests for subscription '{subscription_id}' actor '{actor}' exceeded. "
                f"Please try again after '{seconds}' seconds.",
                retry_after=seconds,
            )
        shared = self._bucket(subscription_id, kind, True, now)
        shared.take(now)
        return {
            f"x-ms-ratelimit-remaining-subscription-{kind}": str(int(local.tokens)),
            f"x-ms-ratelimit-remaining-subscription-global-{kind}": str(int(shared.tokens)),
        }

    def _bucket(self, subscription_id: str, kind: str, is_global: bool, now: float) -> _Bucket:
        key = (subscription_id.lower(), kind, is_global)
        bucket = self._buckets.get(key)
        if bucket is None:
            size = getattr(self._settings, f"{kind[:-1]}_bucket_size")
            refill = getattr(self._settings, f"{kind[:-1]}_refill_per_second")
            factor = GLOBAL_FACTOR if is_global else 1
            bucket = self._buckets[key] = _Bucket(size * factor, refill * factor, size * factor, now)
        return bucket
