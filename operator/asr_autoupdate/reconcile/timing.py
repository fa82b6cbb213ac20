"""Schedule arithmetic in the schedule's own time zone.

Azure Automation takes an absolute start time plus a time zone, refuses a start less than five minutes ahead,
and keeps the wall-clock time across daylight saving changes. So the desired start is computed as a local
time in the zone and only then turned into UTC, and an existing schedule is judged by its local clock time.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

from asr_autoupdate.api.spec import WEEK_DAYS, Frequency, ScheduleSettings
from asr_autoupdate.azure.port import Schedule

LEAD_TIME = timedelta(minutes=5)


def next_start(settings: ScheduleSettings, time_zone: str, now: datetime) -> datetime:
    """The first run at the spec's local time (on a listed week day for Week) at least 5 minutes after `now`."""
    zone = zoneinfo.ZoneInfo(time_zone)
    earliest = (now + LEAD_TIME).astimezone(UTC)
    first_day = earliest.astimezone(zone).date()
    for offset in range(8):
        day = first_day + timedelta(days=offset)
        if settings.frequency is Frequency.WEEK and WEEK_DAYS[day.weekday()] not in settings.week_days:
            continue
        start = datetime.combine(day, time(settings.hour, settings.minute), tzinfo=zone).astimezone(UTC)
        if start >= earliest:
            return start
    raise AssertionError("eight consecutive days always contain a listed week day")


def month_start(now: datetime) -> datetime:
    """Automation bills job minutes per calendar month; months are counted in UTC."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_end(now: datetime) -> datetime:
    return (month_start(now) + timedelta(days=32)).replace(day=1)


def local_clock(schedule: Schedule) -> str | None:
    """The schedule's start as HH:MM in its own zone; None when Azure's answer does not say."""
    if schedule.start_time is None or not schedule.time_zone:
        return None
    try:
        zone = zoneinfo.ZoneInfo(schedule.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return schedule.start_time.astimezone(zone).strftime("%H:%M")


def summarize(clock: str, time_zone: str, frequency: str, interval: int, week_days: Sequence[str]) -> str:
    """A schedule as people read it, e.g. `00:00 Europe/Amsterdam` or `06:30 UTC every 2 weeks on Sunday`."""
    unit = "week" if frequency == Frequency.WEEK else "day"
    text = f"{clock} {time_zone}"
    if interval != 1:
        text += f" every {interval} {unit}s"
    if week_days:
        text += " on " + ", ".join(week_days)
    return text
