"""Schedule arithmetic: the next start at least 5 minutes ahead, in local time, across DST, on listed days."""

from datetime import UTC, datetime

import pytest

from asr_autoupdate.api.spec import Frequency, ScheduleSettings
from asr_autoupdate.azure.port import Schedule
from asr_autoupdate.reconcile.timing import local_clock, month_end, month_start, next_start, summarize


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


def daily(clock):
    return ScheduleSettings(time=clock, time_zone=None, frequency=Frequency.DAY, interval=1, week_days=())


def weekly(clock, *days):
    return ScheduleSettings(time=clock, time_zone=None, frequency=Frequency.WEEK, interval=1, week_days=days)


@pytest.mark.parametrize(
    "settings, zone, now, expected",
    [
        pytest.param(
            daily("00:00"),
            "Europe/Amsterdam",
            utc(2024, 6, 10, 12, 0),
            utc(2024, 6, 10, 22, 0),
            id="tonight-summer-time",
        ),
        pytest.param(
            daily("18:00"), "Europe/Amsterdam", utc(2024, 1, 10, 12, 0), utc(2024, 1, 10, 17, 0), id="today-winter-time"
        ),
        pytest.param(
            daily("14:05"),
            "Europe/Amsterdam",
            utc(2024, 6, 10, 12, 0),
            utc(2024, 6, 10, 12, 5),
            id="exactly-five-minutes-ahead-is-allowed",
        ),
        pytest.param(
            daily("14:04"),
            "Europe/Amsterdam",
            utc(2024, 6, 10, 12, 0),
            utc(2024, 6, 11, 12, 4),
            id="four-minutes-ahead-moves-to-tomorrow",
        ),
        pytest.param(
            daily("00:00"),
            "Europe/Amsterdam",
            utc(2024, 3, 31, 12, 0),
            utc(2024, 3, 31, 22, 0),
            id="midnight-after-spring-forward",
        ),
        pytest.param(
            daily("00:00"),
            "Europe/Amsterdam",
            utc(2024, 3, 30, 12, 0),
            utc(2024, 3, 30, 23, 0),
            id="midnight-before-spring-forward",
        ),
        pytest.param(
            daily("02:30"),
            "Europe/Amsterdam",
            utc(2024, 3, 30, 12, 0),
            utc(2024, 3, 31, 1, 30),
            id="nonexistent-local-time-still-lands",
        ),
        pytest.param(
            daily("01:30"),
            "America/New_York",
            utc(2024, 11, 3, 4, 0),
            utc(2024, 11, 3, 5, 30),
            id="ambiguous-local-time-takes-the-first",
        ),
        pytest.param(
            daily("00:00"), "Asia/Kolkata", utc(2024, 6, 10, 12, 0), utc(2024, 6, 10, 18, 30), id="half-hour-offset"
        ),
        pytest.param(
            daily("00:00"), "UTC", utc(2024, 12, 31, 23, 58), utc(2025, 1, 2, 0, 0), id="year-end-inside-lead-time"
        ),
        pytest.param(
            weekly("00:00", "Sunday"),
            "Europe/Amsterdam",
            utc(2024, 6, 10, 12, 0),
            utc(2024, 6, 15, 22, 0),
            id="week-next-sunday",
        ),
        pytest.param(
            weekly("15:00", "Monday"),
            "Europe/Amsterdam",
            utc(2024, 6, 10, 12, 0),
            utc(2024, 6, 10, 13, 0),
            id="week-today-still-ahead",
        ),
        pytest.param(
            weekly("13:00", "Monday"),
            "Europe/Amsterdam",
            utc(2024, 6, 10, 12, 0),
            utc(2024, 6, 17, 11, 0),
            id="week-today-passed-next-week",
        ),
        pytest.param(
            weekly("09:00", "Wednesday", "Friday"),
            "Asia/Tokyo",
            utc(2024, 6, 11, 23, 0),
            utc(2024, 6, 12, 0, 0),
            id="week-first-of-several-days",
        ),
        pytest.param(
            weekly("09:00", "Wednesday", "Friday"),
            "Asia/Tokyo",
            utc(2024, 6, 12, 0, 0),
            utc(2024, 6, 14, 0, 0),
            id="week-next-of-several-days",
        ),
    ],
)
def test_next_start(settings, zone, now, expected):
    start = next_start(settings, zone, now)
    assert start == expected
    assert start.tzinfo is UTC


@pytest.mark.parametrize(
    "start, zone, clock",
    [
        pytest.param(utc(2024, 6, 9, 22, 0), "Europe/Amsterdam", "00:00", id="summer"),
        pytest.param(utc(2024, 1, 9, 23, 0), "Europe/Amsterdam", "00:00", id="winter"),
        pytest.param(utc(2024, 1, 9, 23, 0), "UTC", "23:00", id="utc"),
        pytest.param(utc(2024, 1, 9, 23, 0), "W. Europe Standard Time", None, id="windows-zone-unknown"),
        pytest.param(None, "UTC", None, id="no-start"),
    ],
)
def test_local_clock(start, zone, clock):
    schedule = Schedule(name="s", start_time=start, frequency="Day", interval=1, time_zone=zone)
    assert local_clock(schedule) == clock


@pytest.mark.parametrize(
    "args, text",
    [
        pytest.param(("00:00", "Europe/Amsterdam", "Day", 1, ()), "00:00 Europe/Amsterdam", id="daily"),
        pytest.param(("06:30", "UTC", "Day", 3, ()), "06:30 UTC every 3 days", id="every-3-days"),
        pytest.param(("06:30", "UTC", "Week", 1, ("Sunday",)), "06:30 UTC on Sunday", id="weekly"),
        pytest.param(
            ("06:30", "UTC", "Week", 2, ("Monday", "Friday")),
            "06:30 UTC every 2 weeks on Monday, Friday",
            id="fortnightly",
        ),
    ],
)
def test_summarize(args, text):
    assert summarize(*args) == text


def test_month_bounds():
    assert month_start(utc(2024, 2, 15, 9, 30)) == utc(2024, 2, 1)
    assert month_end(utc(2024, 2, 15, 9, 30)) == utc(2024, 3, 1)
    assert month_end(utc(2024, 12, 31, 23, 59)) == utc(2025, 1, 1)
