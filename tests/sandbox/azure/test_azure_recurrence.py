"""Schedule arithmetic the emulator's jobs depend on: local wall-clock recurrence across DST, as a table."""

from __future__ import annotations

import datetime
import itertools

import pytest

from asr_sandbox.azure.services.recurrence import Recurrence

UTC = datetime.UTC


def utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


CASES = [
    (
        "daily midnight Amsterdam across the spring change: 23:00Z, then 22:00Z",
        dict(start="2027-03-26T23:00", frequency="Day", interval=1, zone="Europe/Amsterdam"),
        ["2027-03-26T23:00", "2027-03-27T23:00", "2027-03-28T22:00", "2027-03-29T22:00"],
    ),
    (
        "daily midnight New York across the autumn change: 04:00Z, then 05:00Z",
        dict(start="2027-11-06T04:00", frequency="Day", interval=1, zone="America/New_York"),
        ["2027-11-06T04:00", "2027-11-07T04:00", "2027-11-08T05:00"],
    ),
    (
        "every third day, Singapore (no DST)",
        dict(start="2027-01-01T16:00", frequency="Day", interval=3, zone="Asia/Singapore"),
        ["2027-01-01T16:00", "2027-01-04T16:00", "2027-01-07T16:00"],
    ),
    (
        "weekly on Sunday midnight from a Thursday start, Amsterdam in summer (Saturday 22:00Z)",
        dict(
            start="2027-06-02T22:00",
            frequency="Week",
            interval=1,
            zone="Europe/Amsterdam",
            advanced={"weekDays": ["Sunday"]},
        ),
        ["2027-06-05T22:00", "2027-06-12T22:00", "2027-06-19T22:00"],
    ),
    (
        "every other week on Monday and Thursday",
        dict(
            start="2027-01-04T00:00",
            frequency="Week",
            interval=2,
            zone="UTC",
            advanced={"weekDays": ["Thursday", "Monday"]},
        ),
        ["2027-01-04T00:00", "2027-01-07T00:00", "2027-01-18T00:00", "2027-01-21T00:00"],
    ),
    (
        "every six hours",
        dict(start="2027-01-01T01:00", frequency="Hour", interval=6, zone="Europe/Amsterdam"),
        ["2027-01-01T01:00", "2027-01-01T07:00", "2027-01-01T13:00"],
    ),
    (
        "monthly on the last day",
        dict(start="2027-01-31T00:00", frequency="Month", interval=1, zone="UTC", advanced={"monthDays": [-1]}),
        ["2027-01-31T00:00", "2027-02-28T00:00", "2027-03-31T00:00"],
    ),
    (
        "monthly on the 31st skips short months",
        dict(start="2027-01-31T00:00", frequency="Month", interval=1, zone="UTC"),
        ["2027-01-31T00:00", "2027-03-31T00:00", "2027-05-31T00:00"],
    ),
    (
        "expiry ends the series",
        dict(start="2027-01-01T00:00", frequency="Day", interval=1, zone="UTC", expiry="2027-01-02T12:00"),
        ["2027-01-01T00:00", "2027-01-02T00:00"],
    ),
    ("one time", dict(start="2027-01-01T00:00", frequency="OneTime", interval=1, zone="UTC"), ["2027-01-01T00:00"]),
]


def _recurrence(case: dict) -> Recurrence:
    expiry = utc(case["expiry"]) if "expiry" in case else None
    return Recurrence.from_schedule(
        utc(case["start"]), case["frequency"], case["interval"], case["zone"], expiry, case.get("advanced")
    )


@pytest.mark.parametrize(("reason", "case", "expected"), CASES, ids=[case[0] for case in CASES])
def test_occurrences(reason: str, case: dict, expected: list[str]) -> None:
    recurrence = _recurrence(case)
    moment = recurrence.first_at_or_after(utc(case["start"]) - datetime.timedelta(days=40))
    seen = []
    for _ in itertools.repeat(None, len(expected) + 1):
        if moment is None:
            break
        seen.append(moment)
        moment = recurrence.first_after(moment)
    series_ends = case["frequency"] == "OneTime" or "expiry" in case
    assert (seen if series_ends else seen[: len(expected)]) == [utc(text) for text in expected]


def test_jumping_far_ahead_is_arithmetic_not_iteration() -> None:
    recurrence = _recurrence(dict(start="2027-01-01T01:00", frequency="Hour", interval=1, zone="UTC"))
    assert recurrence.first_after(utc("2037-06-01T10:30")) == utc("2037-06-01T11:00")


@pytest.mark.parametrize(
    "bad",
    [
        dict(frequency="Fortnight"),
        dict(zone="Mars/Olympus"),
        dict(interval=0),
        dict(advanced={"weekDays": ["Someday"]}),
    ],
)
def test_invalid_schedules_are_refused(bad: dict) -> None:
    case = dict(start="2027-01-01T00:00", frequency="Day", interval=1, zone="UTC") | bad
    with pytest.raises(ValueError):
        _recurrence(case)
