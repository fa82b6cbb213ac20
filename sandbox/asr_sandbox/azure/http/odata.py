"""The small slice of OData `$filter` that ARM list calls use: comparisons and calls joined by `and`.

Examples: `properties/runbook/name eq 'X' and properties/startTime ge 2024-01-01T00:00:00Z`,
`assignedTo('<oid>')`, `atScope()`, `roleName eq 'Contributor'`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..state.timestamps import parse_time
from .arm import bad_request

OPERATORS = ("eq", "ne", "ge", "gt", "le", "lt")
_CLAUSE = re.compile(
    r"""^\s*(?:
        (?P<function>\w+)\(\s*(?:'(?P<argument>(?:[^']|'')*)')?\s*\)
      | (?P<path>[\w/]+)\s+(?P<operator>\w+)\s+(?P<value>.+?)
    )\s*$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Clause:
    """One comparison (`path operator value`) or function call (`atScope()`)."""

    function: str | None = None
    path: str | None = None
    operator: str | None = None
    value: Any = None

    def holds(self, actual: Any) -> bool:
        """Compare a resource's value; a missing value (a job's endTime while running) never matches."""
        if actual is None:
            return False
        expected = self.value
        if isinstance(actual, str) and isinstance(expected, str):
            actual, expected = actual.lower(), expected.lower()
        try:
            return {
                "eq": actual == expected,
                "ne": actual != expected,
                "ge": actual >= expected,
                "gt": actual > expected,
                "le": actual <= expected,
                "lt": actual < expected,
            }[self.operator or "eq"]
        except TypeError:
            return False


def parse_filter(text: str) -> list[Clause]:
    """Split on ` and ` outside quotes and parse each clause; 400 InvalidFilter for anything else."""
    if not text.strip():
        return []
    clauses = []
    for part in re.split(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", text.strip(), flags=re.IGNORECASE):
        found = _CLAUSE.match(part)
        if found is None or (found["operator"] and found["operator"].lower() not in OPERATORS):
            raise bad_request(f"Invalid $filter clause '{part}'.", "InvalidFilter")
        if found["function"]:
            argument = found["argument"]
            clauses.append(
                Clause(
                    function=found["function"].lower(),
                    value=argument.replace("''", "'") if argument is not None else None,
                )
            )
        else:
            clauses.append(
                Clause(path=found["path"].lower(), operator=found["operator"].lower(), value=_literal(found["value"]))
            )
    return clauses


def _literal(text: str) -> Any:
    text = text.strip()
    quoted = re.fullmatch(r"(?:datetime(?:offset)?)?'((?:[^']|'')*)'", text, re.IGNORECASE)
    if quoted:
        inner = quoted.group(1).replace("''", "'")
        return _maybe_time(inner) if text[0] != "'" or re.match(r"^\d{4}-\d\d-\d\dT", inner) else inner
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return _maybe_time(text)


def _maybe_time(text: str) -> Any:
    if re.match(r"^\d{4}-\d\d-\d\d", text):
        return parse_time(text, "$filter")
    try:
        return float(text)
    except ValueError:
        return text
