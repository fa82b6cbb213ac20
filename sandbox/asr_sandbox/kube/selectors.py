"""Label and field selectors, parsed like apimachinery's `labels.Parse` and `fields.ParseSelector`.

Field selectors are restricted to what the real apiserver supports per kind (metadata.name/namespace for
everything, a few fields for Events, Secrets, Namespaces, Pods, and a CRD's `selectableFields`): a selector that
works here must also work on a cluster, so an unsupported one is a 400 here as there.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

from .errors import bad_request

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # =, !=, in, notin, exists, !, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "=":
            return present and value == self.values[0]
        if self.operator == "!=":
            return not present or value != self.values[0]
        if self.operator == "in":
            return present and value in self.values
        if self.operator == "notin":
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("gt", "lt"):
            try:
                number = int(value) if present else None
            except ValueError:
                return False
            if number is None:
                return False
            bound = int(self.values[0])
            return number > bound if self.operator == "gt" else number < bound
        return False


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `in (a,b)` parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


_SET_RE = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)$")
_CMP_RE = re.compile(r"^(?P<key>[^=!<>\s]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>.*)$")


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text:
        return []
    requirements = []
    for part in _split_top_level(text):
        if match := _SET_RE.match(part):
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(_checked_key(match["key"], text), match["op"], values))
        elif match := _CMP_RE.match(part):
            operator = {"==": "=", "=": "=", "!=": "!=", ">": "gt", "<": "lt"}[match["op"]]
            value = match["value"].strip()
            if operator in ("gt", "lt") and not re.fullmatch(r"-?\d+", value):
                raise bad_request(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
            if operator not in ("gt", "lt") and not re.fullmatch(_VALUE, value):
                raise bad_request(f"unable to parse requirement: values[0][{match['key']}]: Invalid value: "
                                  f"\"{value}\": a valid label must be an empty string or consist of alphanumeric "
                                  "characters, '-', '_' or '.', and must start and end with an alphanumeric character")
            requirements.append(Requirement(_checked_key(match["key"], text), operator, (value,)))
        elif part.startswith("!"):
            requirements.append(Requirement(_checked_key(part[1:].strip(), text), "!"))
        else:
            requirements.append(Requirement(_checked_key(part, text), "exists"))
    return requirements


def _checked_key(key: str, whole: str) -> str:
    if not re.fullmatch(_KEY, key) or key.count("/") > 1:
        raise bad_request(f"unable to parse requirement: <nil>: Invalid value: \"{key}\": name part must consist of "
                          "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                          f"character (selector {whole!r})")
    return key


def labels_match(requirements: list[Requirement], obj: dict) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


# ---------------------------------------------------------------------------------------------------------------
# Field selectors

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_BUILTIN_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "events"): (
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
        "reason", "reportingComponent", "source", "type",
    ),
    ("events.k8s.io", "events"): (
        "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "regarding.apiVersion",
        "regarding.resourceVersion", "regarding.fieldPath", "reason", "reportingController", "type",
    ),
    ("", "secrets"): ("type",),
    ("", "namespaces"): ("status.phase",),
    ("", "pods"): ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    ("", "services"): ("spec.clusterIP", "spec.type"),
    ("", "serviceaccounts"): (),
    ("apps", "deployments"): (),
}


@dataclasses.dataclass(frozen=True)
class FieldRequirement:
    path: str
    equal: bool
    value: str

    def matches(self, obj: dict) -> bool:
        actual = field_value(obj, self.path)
        return (actual == self.value) == self.equal


def field_value(obj: dict, path: str) -> str:
    """The value a field selector compares to: strings as they are, booleans lowercase, missing as ""."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def parse_field_selector(text: str | None, group: str, plural: str, selectable: tuple[str, ...] = (),
                         is_custom: bool = False) -> list[FieldRequirement]:
    if not text:
        return []
    allowed = set(_COMMON_FIELDS) | {s.lstrip(".") for s in selectable}
    if not is_custom:
        allowed |= set(_BUILTIN_FIELDS.get((group, plural), ()))
    requirements = []
    for part in _split_top_level(text):
        match = re.fullmatch(r"(?P<path>[^=!]+?)\s*(?P<op>==|=|!=)\s*(?P<value>.*)", part)
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path = match["path"].strip()
        if path not in allowed:
            raise bad_request(f'field label not supported: {path}')
        requirements.append(FieldRequirement(path, match["op"] != "!=", match["value"].strip()))
    return requirements


def fields_match(requirements: list[FieldRequirement], obj: dict) -> bool:
    return all(r.matches(obj) for r in requirements)


def compile_filter(label_selector: str | None, field_selector: str | None, *, group: str, plural: str,
                   selectable: tuple[str, ...] = (), is_custom: bool = False) -> Callable[[dict], bool]:
    """One predicate for lists and watches; raises 400 for a selector the apiserver would refuse."""
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector, group, plural, selectable, is_custom)
    if not labels and not fields:
        return lambda obj: True
    return lambda obj: labels_match(labels, obj) and fields_match(fields, obj)
