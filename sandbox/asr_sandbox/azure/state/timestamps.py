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
