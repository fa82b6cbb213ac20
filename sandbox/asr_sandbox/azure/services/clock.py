"""Emulated time: real UTC plus an offset, so tests can jump to tomorrow's 00:00 run in a millisecond."""

from __future__ import annotations

import datetime
import time

UTC = datetime.UTC


class EmulatedClock:
    """The only source of "now" for the Azure estate (schedules, jobs, certificate expiry, timestamps).

    It only moves forward: schedules that already fired are never re-run.
    """

    def __init__(self) -> None:
        self._offset = datetime.timedelta(0)

    def now(self) -> datetime.datetime:
        """Real UTC plus the offset, so time still passes between two calls."""
        return datetime.datetime.now(UTC) + self._offset

    def elapsed(self) -> float:
        """time.monotonic() plus the offset: for delays an advance must shorten but a wall-clock step must not."""
        return time.monotonic() + self.offset_seconds

    @property
    def offset_seconds(self) -> float:
        """How far ahead of real time the estate is (shown by the admin API)."""
        return self._offset.total_seconds()

    def advance(self, seconds: float) -> None:
        """Move ahead; ValueError for a step back."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += datetime.timedelta(seconds=seconds)

    def move_to(self, moment: datetime.datetime) -> None:
        """Move ahead to a moment; ValueError if it is in the past."""
        self.advance((moment - self.now()).total_seconds())

    def reset(self) -> None:
        """Back to real time (only a reset may go back)."""
        self._offset = datetime.timedelta(0)
