"""Two or more replicas, one leader: what the operator adds to kopf's peering (docs/install.md#high-availability).

kopf's peering is a keep-alive board, not a lease: every replica writes `{priority, lifetime, lastseen}` under
its own identity into the status of one peering object (a `ClusterKopfPeering` cluster-wide, a `KopfPeering`
in each watched namespace) and reads everybody else's. The replica with the highest priority among the live
records acts; a lower one pauses (it neither lists nor watches policies, so it runs no handler and no timer);
replicas with the SAME priority all pause, with a warning. A record older than its lifetime is dead: a
SIGKILLed leader is replaced at most one lifetime after its last keep-alive, and a leader that stops
gracefully removes its record on the way out, so its successor resumes at once.

So priorities must differ, and the right replica must win. `priority()` makes the OLDEST running replica the
leader: a replica started later (the new pod of a rolling update, a pod rescheduled after a node loss) has a
lower priority and stands by until every older one is gone, instead of taking over from a leader in the middle
of its passes. The priority falls by 1000 for every millisecond of start time, and a random 0..999 below that
separates two replicas started in the same millisecond. The magnitude stays below 2**53 (about 1.8e15 now,
until the year 2255), so every JSON reader of the peering object sees the exact integer. Priorities are
negative, so a developer's `kopf run` (priority 0, or `--dev`'s 666) with the same peering name outranks the
cluster's replicas, as kopf intends.

The replicas' clocks must agree: the start times are compared across nodes, and a record's `lastseen` written
by one node's clock is judged dead or alive by another's. NTP's milliseconds are fine; minutes are not.
"""

from __future__ import annotations

import logging
import random
import re
import time

DEFAULT_LIFETIME = 30  # seconds: kopf's `settings.peering.lifetime` (kopf's own default is 60)
# kopf sends a keep-alive every max(1, lifetime - 5..10 s) seconds (at most every lifetime): from 5 s on, a
# live leader's record always has 4 s or more to spare before it would look dead.
MIN_LIFETIME = 5
TIEBREAK = 1000  # priority steps per millisecond of start time


def priority(started_ms: int | None = None, tiebreak: int | None = None) -> int:
    """The older the process, the higher: -(start time in ms * 1000 + a random 0..999)."""
    started_ms = time.time_ns() // 1_000_000 if started_ms is None else started_ms
    tiebreak = random.randrange(TIEBREAK) if tiebreak is None else tiebreak
    if not 0 <= tiebreak < TIEBREAK:
        raise ValueError(f"tiebreak {tiebreak} is not in 0..{TIEBREAK - 1}")
    return -(started_ms * TIEBREAK + tiebreak)


_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def name(value: str) -> str:
    """`--peering`: the peering object's name, a Kubernetes object name (lower case, at most 253)."""
    if len(value) > 253 or not _OBJECT_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a Kubernetes object name (lower-case letters, digits, '-' and '.')")
    return value


def lifetime(value: str) -> int:
    """`--peering-lifetime`: whole seconds (kopf keeps whole seconds), at least MIN_LIFETIME."""
    try:
        seconds = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number of seconds") from None
    if seconds < MIN_LIFETIME:
        raise ValueError(f"{seconds} s is shorter than {MIN_LIFETIME} s, too short for kopf's keep-alives")
    return seconds


# kopf's own words (kopf/_core/engines/peering.py), logged at INFO when a replica resumes or pauses
RESUMING = "Resuming operations after the pause"
PAUSING = "Pausing operations in favour of "
PEERING_LOGGER = "kopf._core.engines.peering"


class Roles(logging.Filter):
    """kopf says when a replica starts or stops acting, in words about pauses: a replica starts paused and
    resumes when it finds no live peer above it ("Resuming operations after the pause. Conflicting operators
    with the same priority are gone."), and pauses when a higher one appears. Those lines say which role this
    replica now has, with its peering name and priority. (A replica that stands by from the start gets no line
    from kopf: it never resumed. The start line says it waits until it is the highest.)"""

    def __init__(self, name: str, own_priority: int):
        super().__init__()
        self.peering, self.priority = name, own_priority

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text.startswith(RESUMING):
            record.msg = "Leading in peering %r (priority %d): no live replica has a higher priority; acting."
            record.args = (self.peering, self.priority)
        elif text.startswith(PAUSING):
            record.msg = "Standing by in peering %r (priority %d): %s"
            record.args = (self.peering, self.priority, text)
        return True


def start_line(name: str, own_priority: int, seconds: int, scope: str) -> str:
    return (
        f"Peering {name!r} ({scope}), priority {own_priority}, lifetime {seconds} s: this replica acts only "
        "while no live replica has a higher priority (an older one); until then it stands by"
    )
