"""Server-side printing: `meta.k8s.io/v1` Tables, which is what `kubectl get` asks for and prints.

For custom resources the columns are Name plus the CRD's `additionalPrinterColumns` (Name plus Age when the CRD
declares none), evaluated with the JSONPath subset CRDs use in practice: dotted fields, indexes, `[*]` and
`[?(@.type=="Ready")]` filters. Dates are rendered as ages the way the apiserver renders them ("5m2s", "3d").
Built-ins get the handful of columns kubectl users expect for them.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, Callable

from .resources import ResourceType

NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "priority": 0,
}
AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
       "description": "CreationTimestamp is a timestamp representing the server time when this object was created."}


# ---------------------------------------------------------------------------------------------------------------
# JSONPath subset

_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+)
      | \[\s*'(?P<quoted>[^']*)'\s*\]
      | \[\s*"(?P<dquoted>[^"]*)"\s*\]
      | \[(?P<index>-?\d+)\]
      | \[\*\]|\.\*
      | \[\?\(\s*@\.(?P<filter_path>[A-Za-z0-9_.\-]+)\s*(?P<op>==|!=)\s*(?P<literal>"[^"]*"|'[^']*'|-?\d+(?:\.\d+)?|true|false)\s*\)\]
    """,
    re.VERBOSE,
)


def compile_path(expression: str) -> list[tuple]:
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[tuple] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"unsupported JSONPath {expression!r} at {text[position:]!r}")
        if match["field"] is not None:
            steps.append(("field", match["field"]))
        elif match["quoted"] is not None or match["dquoted"] is not None:
            steps.append(("field", match["quoted"] if match["quoted"] is not None else match["dquoted"]))
        elif match["index"] is not None:
            steps.append(("index", int(match["index"])))
        elif match["filter_path"] is not None:
            literal = match["literal"]
            value: Any = literal[1:-1] if literal[0] in "\"'" else json.loads(literal)
            steps.append(("filter", match["filter_path"].split("."), match["op"], value))
        else:
            steps.append(("all",))
        position = match.end()
    return steps


def find(obj: Any, expression: str) -> list[Any]:
    """All values the expression selects (empty when nothing matches)."""
    current = [obj]
    for step in compile_path(expression):
        following: list[Any] = []
        for value in current:
            if step[0] == "field":
                if isinstance(value, dict) and step[1] in value:
                    following.append(value[step[1]])
            elif step[0] == "index":
                if isinstance(value, list) and -len(value) <= step[1] < len(value):
                    following.append(value[step[1]])
            elif step[0] == "all":
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, dict):
                    following.extend(value.values())
            else:
                _, path, op, literal = step
                items = value if isinstance(value, list) else [value]
                for item in items:
                    actual: Any = item
                    for part in path:
                        actual = actual.get(part) if isinstance(actual, dict) else None
                    if (actual == literal) == (op == "=="):
                        following.append(item)
        current = following
    return current


# ---------------------------------------------------------------------------------------------------------------
# Cells


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    if int(seconds) < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any) -> str | None:
    if not isinstance(timestamp, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return human_duration((datetime.datetime.now(datetime.UTC) - moment).total_seconds())


def cell(column_type: str, value: Any) -> Any:
    if value is None:
        return None
    if column_type == "date":
        return age(value)
    if column_type == "integer":
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if column_type == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# Columns per type

Column = tuple[dict, Callable[[dict], Any]]


def _path_column(definition: dict) -> Column:
    column_type = definition.get("type", "string")
    header = {
        "name": definition["name"],
        "type": column_type,
        "format": definition.get("format", ""),
        "description": definition.get("description", ""),
        "priority": definition.get("priority", 0),
    }
    expression = definition.get("jsonPath", "")

    def value(obj: dict) -> Any:
        try:
            found = find(obj, expression)
        except ValueError:
            return None
        return cell(column_type, found[0]) if found else None

    return header, value


def _column(name: str, column_type: str, getter: Callable[[dict], Any], priority: int = 0) -> Column:
    return ({"name": name, "type": column_type, "format": "", "description": "", "priority": priority}, getter)


def _age(obj: dict) -> Any:
    return age(obj.get("metadata", {}).get("creationTimestamp"))


def _event_object(obj: dict) -> str:
    ref = obj.get("involvedObject") or obj.get("regarding") or {}
    return f"{(ref.get('kind') or '').lower()}/{ref.get('name', '')}"


_BUILTIN_COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "namespaces"): [_column("Status", "string", lambda o: (o.get("status") or {}).get("phase")),
                         _column("Age", "string", _age)],
    ("", "secrets"): [_column("Type", "string", lambda o: o.get("type")),
                      _column("Data", "string", lambda o: len(o.get("data") or {})), _column("Age", "string", _age)],
    ("", "configmaps"): [_column("Data", "string", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
                         _column("Age", "string", _age)],
    ("", "events"): [_column("Last Seen", "string", lambda o: age(o.get("lastTimestamp") or o.get("eventTime")
                                                                  or o["metadata"].get("creationTimestamp"))),
                     _column("Type", "string", lambda o: o.get("type")),
                     _column("Reason", "string", lambda o: o.get("reason")),
                     _column("Object", "string", _event_object),
                     _column("Message", "string", lambda o: o.get("message") or o.get("note"))],
    ("apps", "deployments"): [
        _column("Ready", "string", lambda o: f"{(o.get('status') or {}).get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 1)}"),
        _column("Up-to-date", "integer", lambda o: (o.get("status") or {}).get("updatedReplicas", 0)),
        _column("Available", "integer", lambda o: (o.get("status") or {}).get("availableReplicas", 0)),
        _column("Age", "string", _age)],
    ("apiextensions.k8s.io", "customresourcedefinitions"): [
        _column("Created At", "date", lambda o: o["metadata"].get("creationTimestamp"))],
}


def columns_for(resource_type: ResourceType) -> list[Column]:
    if resource_type.is_custom:
        definitions = list(resource_type.printer_columns) or [AGE]
        return [_path_column(d) for d in definitions]
    return _BUILTIN_COLUMNS.get(resource_type.group_resource, [_column("Age", "string", _age)])


def table(resource_type: ResourceType, objects: list[dict], *, resource_version: str | None = None,
          include_object: str = "Metadata", headers: bool = True) -> dict:
    columns = columns_for(resource_type)
    rows = []
    for obj in objects:
        cells = [obj.get("metadata", {}).get("name")] + [getter(obj) for _, getter in columns]
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata", {})}
        rows.append(row)
    result: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}}
    if resource_version is not None:
        result["metadata"]["resourceVersion"] = resource_version
    result["columnDefinitions"] = [NAME_COLUMN] + [header for header, _ in columns] if headers else []
    result["rows"] = rows
    return result
