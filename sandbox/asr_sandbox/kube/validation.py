"""What a CRD's schema does to a custom resource, usable without a server (contract tests) and by the emulator.

The apiserver's order is kept: default, prune unknown fields (an error with `fieldValidation=Strict`), validate
the structural OpenAPI v3 schema, then run the CEL `x-kubernetes-validations` (transition rules with `oldSelf`
only on updates, and only where the old value exists). CEL is skipped when the schema already found a type,
required, enum, maxLength or maxItems error, like the apiserver does. Messages are rendered as the apiserver
renders them, e.g. `spec.vault: Invalid value: "object": vault is immutable`.

Public entry points:

* `validate(crd, obj, old=None)` -> list of error strings (empty when valid);
* `apply_defaults_and_prune(crd, obj)` -> the object as it would be stored;
* `unknown_fields(crd, obj)` -> the paths a strict decoder would reject;
* `check_crd(crd)` -> errors in the CRD itself (non-structural schema, rules that do not compile, bad defaults).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterable

import jsonschema

from . import cel
from .errors import OMIT, FieldError, render_number

OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields",
})
_BLOCKING_FOR_CEL = {"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
                     "FieldValueTypeInvalid"}


# ---------------------------------------------------------------------------------------------------------------
# Public API


def schema_of(crd: dict, version: str | None = None) -> dict:
    """The openAPIV3Schema of a version (the storage version if none is given)."""
    versions = (crd.get("spec") or {}).get("versions") or []
    chosen = None
    for entry in versions:
        if (version is None and entry.get("storage")) or entry.get("name") == version:
            chosen = entry
            break
    if chosen is None:
        raise KeyError(f"version {version!r} not in CRD {crd.get('metadata', {}).get('name')!r}")
    return ((chosen.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def apply_defaults_and_prune(crd: dict, obj: dict, *, version: str | None = None) -> dict:
    """A copy of `obj` with schema defaults filled in and unknown fields dropped, as the apiserver stores it."""
    result, _ = default_and_prune(schema_of(crd, version), obj)
    return result


def unknown_fields(crd: dict, obj: dict, *, version: str | None = None) -> list[str]:
    _, unknown = default_and_prune(schema_of(crd, version), obj)
    return unknown


def validate(crd: dict, obj: dict, old: dict | None = None, *, version: str | None = None) -> list[str]:
    """Errors the apiserver would report for creating `obj` (or updating `old` to `obj`), as strings."""
    schema = schema_of(crd, version)
    obj, _ = default_and_prune(schema, obj)
    if old is not None:
        old, _ = default_and_prune(schema, old)
    return [str(e) for e in validate_object(schema, obj, old)]


# ---------------------------------------------------------------------------------------------------------------
# Defaulting and pruning


def default_and_prune(schema: dict, obj: dict) -> tuple[dict, list[str]]:
    """Returns the defaulted, pruned copy and the paths of the unknown fields that were pruned."""
    result = copy.deepcopy(obj)
    _default(schema, result)
    unknown: list[str] = []
    _prune(schema, result, "", unknown, root=True)
    return result, unknown


def _default(schema: dict, value: Any) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name, sub in properties.items():
            if "default" in sub and (name not in value or (value[name] is None and not sub.get("nullable"))):
                value[name] = copy.deepcopy(sub["default"])
        for name, item in value.items():
            if name in properties:
                _default(properties[name], item)
            elif isinstance(schema.get("additionalProperties"), dict):
                _default(schema["additionalProperties"], item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(schema["items"], item)


def _prune(schema: dict, value: Any, path: str, unknown: list[str], *, root: bool = False) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = root or schema.get("x-kubernetes-embedded-resource") is True
        for name in list(value):
            child = f"{path}.{name}" if path else name
            if embedded and name in ("apiVersion", "kind"):
                continue
            if embedded and name == "metadata" and "metadata" not in properties:
                if isinstance(value[name], dict):
                    for key in list(value[name]):
                        if key not in OBJECT_META_FIELDS:
                            del value[name][key]
                            unknown.append(f"{child}.{key}")
                continue
            if name in properties:
                _prune(properties[name], value[name], child, unknown)
            elif isinstance(additional, dict):
                _prune(additional, value[name], child, unknown)
            elif additional is True or preserve:
                continue
            else:
                del value[name]
                unknown.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _prune(schema["items"], item, f"{path}[{index}]", unknown)


# ---------------------------------------------------------------------------------------------------------------
# Structural validation through jsonschema (Draft 4 is OpenAPI 3.0's dialect)


def to_json_schema(schema: dict) -> dict:
    """The OpenAPI v3 structural schema as Draft 4: nullable, int-or-string; x-kubernetes-* extensions dropped."""
    out: dict[str, Any] = {}
    types: list[str] = []
    if schema.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    elif schema.get("type"):
        types = [schema["type"]]
    if types and schema.get("nullable"):
        types.append("null")
    if types:
        out["type"] = types[0] if len(types) == 1 else types
    for keyword in ("required", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                    "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "multipleOf",
                    "minProperties", "maxProperties"):
        if keyword in schema:
            out[keyword] = schema[keyword]
    if "enum" in schema:
        out["enum"] = list(schema["enum"]) + ([None] if schema.get("nullable") and None not in schema["enum"] else [])
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: to_json_schema(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        out["items"] = to_json_schema(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(schema["additionalProperties"])
    for keyword in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(keyword), list):
            out[keyword] = [to_json_schema(s) for s in schema[keyword]]
    if isinstance(schema.get("not"), dict):
        out["not"] = to_json_schema(schema["not"])
    return out


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def render_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_VALIDATORS: dict[int, tuple[dict, Any]] = {}


def _validator(schema: dict):
    """Draft 4 validators are cached per schema object (a CRD version's schema lives as long as its registration)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        if len(_VALIDATORS) > 256:
            _VALIDATORS.clear()
        cached = (schema, jsonschema.Draft4Validator(to_json_schema(schema)))
        _VALIDATORS[id(schema)] = cached
    return cached[1]


def schema_errors(schema: dict, obj: Any, base: tuple = ()) -> list[FieldError]:
    errors: list[FieldError] = []
    for error in sorted(_validator(schema).iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
        errors.extend(_field_errors(error, base))
    return errors


def _field_errors(error: jsonschema.ValidationError, base: tuple) -> list[FieldError]:
    parts = base + tuple(error.absolute_path)
    path = render_path(parts) or "<nil>"
    value = error.instance
    keyword = error.validator
    bound = error.validator_value
    if keyword == "required":
        missing = [name for name in bound if isinstance(value, dict) and name not in value]
        return [FieldError("FieldValueRequired", render_path(parts + (name,)), detail="") for name in missing]
    if keyword == "type":
        expected = ",".join(bound) if isinstance(bound, list) else bound
        expected = expected.replace(",null", "")
        actual = json_type(value)
        return [FieldError("FieldValueTypeInvalid", path, actual,
                           f'{path} in body must be of type {expected}: "{actual}"')]
    if keyword == "enum":
        allowed = ", ".join(f'"{v}"' if isinstance(v, str) else _json(v) for v in bound if v is not None)
        return [FieldError("FieldValueNotSupported", path, value, f"supported values: {allowed}")]
    if keyword == "maximum":
        exclusive = (error.schema or {}).get("exclusiveMaximum") is True
        relation = "less than" if exclusive else "less than or equal to"
        return [FieldError("FieldValueInvalid", path, value, f"{path} in body should be {relation} {render_number(bound)}")]
    if keyword == "minimum":
        exclusive = (error.schema or {}).get("exclusiveMinimum") is True
        relation = "greater than" if exclusive else "greater than or equal to"
        return [FieldError("FieldValueInvalid", path, value, f"{path} in body should be {relation} {render_number(bound)}")]
    if keyword == "pattern":
        return [FieldError("FieldValueInvalid", path, value, f"{path} in body should match '{bound}'")]
    if keyword == "minLength":
        return [FieldError("FieldValueInvalid", path, value, f"{path} in body should be at least {bound} chars long")]
    if keyword == "maxLength":
        unit = "byte" if bound == 1 else "bytes"
        return [FieldError("FieldValueTooLong", path, OMIT, f"may not be more than {bound} {unit}")]
    if keyword == "maxItems":
        unit = "item" if bound == 1 else "items"
        return [FieldError("FieldValueTooMany", path, len(value), f"must have at most {bound} {unit}")]
    if keyword == "minItems":
        return [FieldError("FieldValueInvalid", path, len(value), f"{path} in body should have at least {bound} items")]
    if keyword == "maxProperties":
        unit = "item" if bound == 1 else "items"
        return [FieldError("FieldValueTooMany", path, len(value), f"must have at most {bound} {unit}")]
    if keyword == "minProperties":
        return [FieldError("FieldValueInvalid", path, len(value), f"{path} in body should have at least {bound} properties")]
    if keyword == "uniqueItems":
        return [FieldError("FieldValueDuplicate", path, value)]
    if keyword == "multipleOf":
        return [FieldError("FieldValueInvalid", path, value, f"{path} in body should be a multiple of {render_number(bound)}")]
    if keyword in ("anyOf", "oneOf"):
        return [FieldError("FieldValueInvalid", path, value, f'"{path}" must validate {"at least" if keyword == "anyOf" else "one and only"} one schema ({keyword})')]
    if keyword == "not":
        return [FieldError("FieldValueInvalid", path, value, f"{path} in body should not match the schema in 'not'")]
    return [FieldError("FieldValueInvalid", path, value, error.message)]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------------
# CEL x-kubernetes-validations


def cel_errors(schema: dict, value: Any, old: Any, has_old: bool, path: tuple = ()) -> list[FieldError]:
    errors: list[FieldError] = []
    if value is None:
        return errors
    for rule in schema.get("x-kubernetes-validations") or []:
        error = _check_rule(rule, schema, value, old, has_old, path)
        if error is not None:
            errors.append(error)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        for name, item in value.items():
            sub = properties.get(name, additional if name not in properties else None)
            if sub is None:
                continue
            old_here = has_old and isinstance(old, dict) and name in old
            errors.extend(cel_errors(sub, item, old.get(name) if old_here else None, old_here, path + (name,)))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        keys = schema.get("x-kubernetes-list-map-keys") if schema.get("x-kubernetes-list-type") == "map" else None
        for index, item in enumerate(value):
            old_item, old_here = _correlate(item, old if has_old else None, keys, schema.get("x-kubernetes-list-type"))
            errors.extend(cel_errors(schema["items"], item, old_item, old_here, path + (index,)))
    return errors


def _correlate(item: Any, old_list: Any, keys: list[str] | None, list_type: str | None) -> tuple[Any, bool]:
    """oldSelf for a list item exists only in map lists (same keys) and sets (same value), as in Kubernetes."""
    if not isinstance(old_list, list):
        return None, False
    if keys and isinstance(item, dict):
        for old_item in old_list:
            if isinstance(old_item, dict) and all(old_item.get(k) == item.get(k) for k in keys):
                return old_item, True
    if list_type == "set" and item in old_list:
        return item, True
    return None, False


def _check_rule(rule: dict, schema: dict, value: Any, old: Any, has_old: bool, path: tuple) -> FieldError | None:
    source = rule.get("rule", "")
    if cel.uses_old_self(source) and not has_old:
        return None
    field_path = render_path(path + _relative_path(rule.get("fieldPath"))) or "<nil>"
    type_name = schema.get("type", "")
    try:
        passed = cel.evaluate(source, value, old if has_old else None)
    except cel.CelError as e:
        return FieldError("FieldValueInvalid", field_path, type_name, f"{_runtime_message(str(e))} evaluating rule: {source.strip()}")
    if passed is True:
        return None
    message = _rule_message(rule, value, old if has_old else None)
    reason = rule.get("reason") or "FieldValueInvalid"
    if reason == "FieldValueForbidden":
        return FieldError("FieldValueForbidden", field_path, detail=message)
    if reason == "FieldValueRequired":
        return FieldError("FieldValueRequired", field_path, detail=message)
    if reason == "FieldValueDuplicate":
        return FieldError("FieldValueDuplicate", field_path, type_name)
    return FieldError("FieldValueInvalid", field_path, type_name, message)


def _rule_message(rule: dict, value: Any, old: Any) -> str:
    if rule.get("messageExpression"):
        try:
            text = cel.evaluate(rule["messageExpression"], value, old)
            if isinstance(text, str) and text.strip() and "\n" not in text:
                return text
        except cel.CelError:
            pass
    if rule.get("message"):
        return rule["message"]
    return f"failed rule: {rule.get('rule', '').strip()}"


def _runtime_message(message: str) -> str:
    match = re.search(r'Key not found in map\s*:\s*"?([^"]*)"?', message)
    if match:
        return f"no such key: {match.group(1)}"
    return re.sub(r"^[A-Z_]+:\s*", "", message)


def _relative_path(field_path: str | None) -> tuple:
    """`fieldPath: .spec.x` or `.items[0]` or `['dotted.key']` relative to the rule's node."""
    if not field_path:
        return ()
    parts: list[Any] = []
    for match in re.finditer(r"\.([^.\[\]]+)|\['([^']*)'\]|\[(\d+)\]", field_path):
        name, quoted, index = match.groups()
        parts.append(int(index) if index is not None else (name if name is not None else quoted))
    return tuple(parts)


# ---------------------------------------------------------------------------------------------------------------
# The whole object


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def name_errors(name: str, *, label: bool = False, field: str = "metadata.name") -> list[FieldError]:
    """Object names: RFC 1123 subdomains (253 chars), or labels (63 chars) for namespaces."""
    if label:
        if len(name) > 63:
            return [FieldError("FieldValueInvalid", field, name, "must be no more than 63 characters")]
        if not _DNS_LABEL.match(name):
            return [FieldError("FieldValueInvalid", field, name,
                               "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                               "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
                               "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")]
        return []
    if len(name) > 253:
        return [FieldError("FieldValueInvalid", field, name, "must be no more than 253 characters")]
    if not _DNS_SUBDOMAIN.match(name):
        return [FieldError("FieldValueInvalid", field, name,
                           "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                           "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                           "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]
    return []


def validate_object(schema: dict, obj: dict, old: dict | None = None) -> list[FieldError]:
    """Schema, then CEL (unless a blocking schema error makes the rules meaningless), on an already pruned object."""
    errors = schema_errors(schema, obj)
    if any(e.type in _BLOCKING_FOR_CEL for e in errors):
        errors.append(FieldError("FieldValueInvalid", "<nil>", None,
                                 "some validation rules were not checked because the object was invalid; "
                                 "correct the existing errors to complete validation"))
        return errors
    errors.extend(cel_errors(schema, obj, old, old is not None))
    return errors


# ---------------------------------------------------------------------------------------------------------------
# The CRD itself


def check_crd(crd: dict) -> list[FieldError]:
    """The subset of the apiserver's CRD validation that catches real mistakes in a chart's CRDs."""
    errors: list[FieldError] = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    name = (crd.get("metadata") or {}).get("name") or ""
    if not group:
        errors.append(FieldError("FieldValueRequired", "spec.group"))
    elif "." not in group:
        errors.append(FieldError("FieldValueInvalid", "spec.group", group, "should be a domain with at least one dot"))
    if not plural:
        errors.append(FieldError("FieldValueRequired", "spec.names.plural"))
    if not names.get("kind"):
        errors.append(FieldError("FieldValueRequired", "spec.names.kind"))
    if plural and group and name != f"{plural}.{group}":
        errors.append(FieldError("FieldValueInvalid", "metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        if not spec.get("scope"):
            errors.append(FieldError("FieldValueRequired", "spec.scope"))
        else:
            errors.append(FieldError("FieldValueNotSupported", "spec.scope", spec["scope"],
                                     'supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        errors.append(FieldError("FieldValueInvalid", "spec.versions", None, "must have exactly one version marked as storage version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errors.append(FieldError("FieldValueInvalid", "spec.versions",
                                 [v.get("name") for v in versions], "must have exactly one version marked as storage version"))
    for index, version in enumerate(versions):
        base = f"spec.versions[{index}]"
        if not version.get("name"):
            errors.append(FieldError("FieldValueRequired", f"{base}.name"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            errors.append(FieldError("FieldValueRequired", f"{base}.schema.openAPIV3Schema", detail="schemas are required"))
            continue
        if schema.get("type") != "object":
            errors.append(FieldError("FieldValueRequired" if not schema.get("type") else "FieldValueInvalid",
                                     f"{base}.schema.openAPIV3Schema.type",
                                     OMIT if not schema.get("type") else schema["type"],
                                     "must not be empty at the root" if not schema.get("type") else "must be object at the root"))
        errors.extend(_check_schema_node(schema, f"{base}.schema.openAPIV3Schema", root=True))
        for column_index, column in enumerate(version.get("additionalPrinterColumns") or []):
            for key in ("name", "type", "jsonPath"):
                if not column.get(key):
                    errors.append(FieldError("FieldValueRequired", f"{base}.additionalPrinterColumns[{column_index}].{key}"))
    return errors


def _check_schema_node(schema: dict, path: str, *, root: bool = False) -> list[FieldError]:
    errors: list[FieldError] = []
    if not root and not schema.get("type") and not schema.get("x-kubernetes-int-or-string") \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        errors.append(FieldError("FieldValueRequired", f"{path}.type", detail="must not be empty for specified object fields"))
    for index, rule in enumerate(schema.get("x-kubernetes-validations") or []):
        for key in ("rule", "messageExpression"):
            if rule.get(key):
                try:
                    cel.compile_rule(rule[key])
                except cel.CelError as e:
                    errors.append(FieldError("FieldValueInvalid", f"{path}.x-kubernetes-validations[{index}].{key}",
                                             rule[key], f"compilation failed: {e}"))
        if not rule.get("rule"):
            errors.append(FieldError("FieldValueRequired", f"{path}.x-kubernetes-validations[{index}].rule"))
    if "default" in schema:
        if root:
            errors.append(FieldError("FieldValueForbidden", f"{path}.default", detail="must not be set at the root"))
        else:
            defaulted, _ = default_and_prune({"type": "object", "properties": {"v": schema}}, {"v": copy.deepcopy(schema["default"])})
            for error in schema_errors(schema, defaulted.get("v")):
                errors.append(FieldError(error.type, f"{path}.default" + ("" if error.field == "<nil>" else "." + error.field),
                                         error.value, error.detail))
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            errors.extend(_check_schema_node(sub, f"{path}.properties[{name}]"))
    if isinstance(schema.get("items"), dict):
        errors.extend(_check_schema_node(schema["items"], f"{path}.items"))
    if isinstance(schema.get("additionalProperties"), dict):
        errors.extend(_check_schema_node(schema["additionalProperties"], f"{path}.additionalProperties"))
    return errors
