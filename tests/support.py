"""Small helpers every test layer shares: waiting on a condition with a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    pass


def wait_for(condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Poll `condition` until it returns something truthy; fail with the last value seen at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout}s waiting for {what or condition!r}; last value: {last!r}")
        time.sleep(interval)


async def async_wait_for(
    condition: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> T:
    """The asyncio twin of `wait_for`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout}s waiting for {what or condition!r}; last value: {last!r}")
        await asyncio.sleep(interval)
