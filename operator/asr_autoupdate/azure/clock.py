"""Azure's clock, as ARM states it in the `Date` header of every answer.

Rollout waves soak for days, and a node whose clock drifts would shorten or stretch every soak; Azure's own
clock is the one the update jobs' times are written in. So every answer the SDK clients receive reports its
`Date` here (`pipeline.SubscriptionBudgetPolicy`), and `now()` is the latest `Date` plus the time elapsed
since it arrived (a monotonic clock, so a jump of the node's clock does not move it). Before the first answer
the node's clock stands in.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


class AzureClock:
    """The latest `Date` ARM sent, carried forward on the monotonic clock."""

    def __init__(self) -> None:
        self._date: datetime | None = None
        self._received = 0.0

    def observe(self, date_header: str | None) -> None:
        """Take an answer's `Date`; an absent or unreadable one changes nothing."""
        if not date_header:
            return
        try:
            date = parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        self._date, self._received = date.astimezone(UTC), time.monotonic()

    def now(self) -> datetime:
        """Azure's time now, to the second ARM states it in; the node's clock until ARM has answered once."""
        if self._date is None:
            return datetime.now(UTC)
        return self._date + timedelta(seconds=time.monotonic() - self._received)

    @property
    def heard(self) -> bool:
        """Whether ARM has answered at least once (else `now()` is the node's clock)."""
        return self._date is not None


_CLOCK = AzureClock()


def azure_clock() -> AzureClock:
    """The process's one view of Azure's clock, shared by every client, as the request budgets are."""
    return _CLOCK
