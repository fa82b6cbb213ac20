"""Timestamps as Azure writes and reads them: the estate stores wire-form times in resource details too."""

from __future__ import annotations

import datetime
import re
from typing import Any

from .errors import InvalidInput

UTC = datetime.UTC


def iso(moment: datetime.datetime | None) -> str | None:
    """ARM's timestamp form; offsets other than UTC are kept (Automation reports schedule times in their zone)."""
    if moment is None:
        return None
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") and moment.utcoffset() == datetime.timedelta(0) else text


def to_the_minute(moment: datetime.datetime) -> datetime.datetime:
    """Seconds and fractions dropped: Automation keeps schedule times in whole minutes."""
    return moment.replace(second=0, microsecond=0)


def in_zone_to_the_minute(moment: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    """A schedule time as Automation answers it: in the schedule's zone (its offset always written, `+00:00`
    for UTC rather than `Z`, when formatted with `isoformat`), to the minute."""
    return to_the_minute(moment.astimezone(zone))


def parse_time(value: Any, field: str) -> datetime.datetime:
    """An RFC 3339 timestamp from a request or a seed; naive values are UTC, as the service reads them."""
    if not isinstance(value, str):
        raise InvalidInput("InvalidRequestContent", f"The '{field}' property is required and must be a date-time.")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Azure writes seven fractional digits; Python reads at most six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "InvalidRequestContent", f"The '{field}' value '{value}' is not a valid date-time."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
