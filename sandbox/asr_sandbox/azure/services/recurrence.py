"""When an Automation schedule fires: wall-clock recurrence in the schedule's time zone, DST included.

A daily 00:00 Europe/Amsterdam schedule fires at 23:00 UTC in winter and 22:00 UTC in summer; that is what
an operator that reads `nextRun` must see, so day and week arithmetic is done on local dates, not on UTC.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..state.automation import Schedule

UTC = datetime.UTC
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FREQUENCIES = ("OneTime", "Minute", "Hour", "Day", "Week", "Month")
_OCCURRENCES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


def zone(name: str) -> ZoneInfo:
    """The IANA zone for a schedule's `timeZone`; raises ValueError for names zoneinfo does not know."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Invalid time zone '{name}'.") from None


def recurrence_of(schedule: Schedule) -> Recurrence:
    """The recurrence of a stored schedule (validated when it was written)."""
    return Recurrence.from_schedule(
        schedule.start, schedule.frequency, schedule.interval, schedule.time_zone, schedule.expiry, schedule.advanced
    )


@dataclass(frozen=True)
class Recurrence:
    """A schedule's recurrence, validated: the moments it fires, in UTC."""

    start: datetime.datetime
    frequency: str
    interval: int
    time_zone: ZoneInfo
    expiry: datetime.datetime | None = None
    week_days: tuple[int, ...] = ()
    month_days: tuple[int, ...] = ()
    # (occurrence 1..4 or -1 for last, weekday 0..6)
    monthly_occurrences: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_schedule(
        cls,
        start: datetime.datetime,
        frequency: str,
        interval: int,
        time_zone: str,
        expiry: datetime.datetime | None,
        advanced: dict | None,
    ) -> Recurrence:
        """Build from the wire fields; raises ValueError with the message the service would give."""
        canonical = {name.lower(): name for name in FREQUENCIES}.get(str(frequency).lower())
        if canonical is None:
            raise ValueError(f"Invalid frequency '{frequency}'.")
        if interval < 1:
            raise ValueError("The interval must be at least 1.")
        advanced = advanced or {}
        try:
            week_days = tuple(sorted(WEEKDAYS.index(day.lower()) for day in advanced.get("weekDays") or []))
            occurrences = tuple(
                (
                    _OCCURRENCES.get(str(entry.get("occurrence")).lower(), int(entry.get("occurrence", 0))),
                    WEEKDAYS.index(str(entry.get("day")).lower()),
                )
                for entry in advanced.get("monthlyOccurrences") or []
            )
        except (ValueError, AttributeError):
            raise ValueError("Invalid advanced schedule.") from None
        month_days = tuple(int(day) for day in advanced.get("monthDays") or [])
        return cls(start, canonical, interval, zone(time_zone), expiry, week_days, month_days, occurrences)

    def first_at_or_after(self, moment: datetime.datetime) -> datetime.datetime | None:
        """A schedule's next run from a moment (a new schedule's first run is its start)."""
        return next(self._from(moment), None)

    def first_after(self, moment: datetime.datetime) -> datetime.datetime | None:
        """The run after one that just happened."""
        return next(self._from(moment + datetime.timedelta(microseconds=1)), None)

    def _from(self, earliest: datetime.datetime) -> Iterator[datetime.datetime]:
        for moment in self._candidates(max(earliest, self.start)):
            if self.expiry is not None and moment > self.expiry:
                return
            if moment >= earliest and moment >= self.start:
                yield moment

    def _candidates(self, earliest: datetime.datetime) -> Iterator[datetime.datetime]:
        """Occurrences in order, starting at or a little before `earliest` (jumping ahead arithmetically)."""
        if self.frequency == "OneTime":
            yield self.start
            return
        if self.frequency in ("Minute", "Hour"):
            step = (
                datetime.timedelta(minutes=self.interval)
                if self.frequency == "Minute"
                else datetime.timedelta(hours=self.interval)
            )
            index = max(0, int((earliest - self.start) / step) - 1)
            while True:
                yield self.start + index * step
                index += 1
        local_start = self.start.astimezone(self.time_zone)
        wall_time = local_start.time().replace(tzinfo=None)
        first_date = local_start.date()
        earliest_date = earliest.astimezone(self.time_zone).date()
        if self.frequency == "Day":
            index = max(0, (earliest_date - first_date).days // self.interval - 1)
            while True:
                yield self._at(first_date + datetime.timedelta(days=index * self.interval), wall_time)
                index += 1
        if self.frequency == "Week":
            days = self.week_days or (first_date.weekday(),)
            first_monday = first_date - datetime.timedelta(days=first_date.weekday())
            index = max(0, (earliest_date - first_monday).days // (7 * self.interval) - 1)
            while True:
                monday = first_monday + datetime.timedelta(weeks=index * self.interval)
                for day in days:
                    yield self._at(monday + datetime.timedelta(days=day), wall_time)
                index += 1
        # Month
        months_apart = (earliest_date.year - first_date.year) * 12 + earliest_date.month - first_date.month
        index = max(0, months_apart // self.interval - 1)
        while True:
            total = first_date.month - 1 + index * self.interval
            year, month = first_date.year + total // 12, total % 12 + 1
            for day in self._days_of_month(year, month, first_date.day):
                yield self._at(datetime.date(year, month, day), wall_time)
            index += 1

    def _days_of_month(self, year: int, month: int, default_day: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        days: set[int] = set()
        for day in self.month_days or (() if self.monthly_occurrences else (default_day,)):
            resolved = length if day == -1 else day
            if 1 <= resolved <= length:
                days.add(resolved)
        for occurrence, weekday in self.monthly_occurrences:
            matching = [d for d in range(1, length + 1) if datetime.date(year, month, d).weekday() == weekday]
            if occurrence == -1:
                days.add(matching[-1])
            elif 1 <= occurrence <= len(matching):
                days.add(matching[occurrence - 1])
        return sorted(days)

    def _at(self, date: datetime.date, wall_time: datetime.time) -> datetime.datetime:
        return datetime.datetime.combine(date, wall_time, tzinfo=self.time_zone).astimezone(UTC)
