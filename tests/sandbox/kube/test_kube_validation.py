"""The CRD schema module offline: what contract tests of a chart's CRDs can check without any server."""

from __future__ import annotations

import copy

import pytest
import yaml

from asr_sandbox.kube import validation
from tests.sandbox.kube.kube_testing import CRD_FILE

WIDGETS = yaml.safe_load(CRD_FILE.read_text())


def widget(**spec) -> dict:
    return {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3, **spec}}


def crd_with(schema: dict) -> dict:
    crd = copy.deepcopy(WIDGETS)
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    return crd


def test_a_valid_object_has_no_errors_and_gets_defaults():
    assert validation.validate(WIDGETS, widget()) == []
    stored = validation.apply_defaults_and_prune(WIDGETS, widget(colour="blue"))
    assert stored["spec"] == {"size": 3, "color": "red"}
    assert validation.unknown_fields(WIDGETS, widget(colour="blue", vault={"name": "v", "x": 1})) == \
        ["spec.colour", "spec.vault.x"]
    assert validation.unknown_fields(WIDGETS, dict(widget(), extra=1, metadata={"name": "w", "bogus": 1})) == \
        ["metadata.bogus", "extra"]


@pytest.mark.parametrize("spec, expected", [
    ({"size": 0}, "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"),
    ({"size": 11}, "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"),
    ({"size": "3"}, 'spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"'),
    ({"color": "pink"}, 'spec.color: Unsupported value: "pink": supported values: "red", "green", "blue"'),
    ({"name": "Bad"}, "spec.name: Invalid value: \"Bad\": spec.name in body should match '^[a-z][a-z0-9-]*$'"),
    ({"name": "a" * 21}, "spec.name: Too long: may not be more than 20 bytes"),
    ({"tags": ["a", "b", "c", "d"]}, "spec.tags: Too many: 4: must have at most 3 items"),
])
def test_schema_errors_read_like_the_apiserver(spec, expected):
    errors = validation.validate(WIDGETS, widget(**spec))
    assert expected in errors


def test_required_fields_and_blocking_errors_skip_cel():
    errors = validation.validate(WIDGETS, {"apiVersion": "example.dev/v1", "kind": "Widget",
                                           "metadata": {"name": "w"}, "spec": {"color": "red"}})
    assert errors == [
        "spec.size: Required value",
        "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; "
        "correct the existing errors to complete validation",
    ]


def test_cel_rules_and_transition_rules():
    assert validation.validate(WIDGETS, widget(size=7)) == \
        ['spec: Invalid value: "object": red widgets are at most 5 big']
    assert validation.validate(WIDGETS, widget(size=7, color="blue")) == []

    old = widget(vault={"name": "v1"})
    assert validation.validate(WIDGETS, widget(vault={"name": "v1"}), old) == []
    assert validation.validate(WIDGETS, widget(vault={"name": "v2"}), old) == \
        ['spec.vault: Invalid value: "object": vault is immutable']
    # Transition rules need an old value: not on create, not when the field is new.
    assert validation.validate(WIDGETS, widget(vault={"name": "v2"})) == []
    assert validation.validate(WIDGETS, widget(vault={"name": "v2"}), widget()) == []


def test_cel_messages_reasons_field_paths_and_runtime_errors():
    schema = {
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "messageExpression": "'min ' + string(self.min) + ' > max'"},
                {"rule": "self.min > 0", "reason": "FieldValueForbidden", "fieldPath": ".min", "message": "positive"},
                {"rule": "self.missing > 0"},
            ],
            "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
        }},
    }
    errors = validation.validate(crd_with(schema), {"spec": {"min": -1, "max": -5}, "metadata": {"name": "x"}})
    assert errors[0] == 'spec: Invalid value: "object": min -1 > max'
    assert errors[1] == "spec.min: Forbidden: positive"
    assert errors[2].startswith('spec: Invalid value: "object": no such key: missing evaluating rule: self.missing > 0')


def test_nullable_int_or_string_and_preserved_fields():
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "port": {"x-kubernetes-int-or-string": True},
            "note": {"type": "string", "nullable": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        }}},
    }
    crd = crd_with(schema)
    good = {"metadata": {"name": "x"}, "spec": {"port": "http", "note": None, "free": {"any": {"thing": 1}},
                                                  "labels": {"a": "b"}}}
    assert validation.validate(crd, good) == []
    assert validation.apply_defaults_and_prune(crd, good)["spec"]["free"] == {"any": {"thing": 1}}
    assert validation.validate(crd, {"metadata": {"name": "x"}, "spec": {"port": 80}}) == []
    assert validation.validate(crd, {"metadata": {"name": "x"}, "spec": {"port": True}}) == [
        'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
        "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; "
        "correct the existing errors to complete validation",
    ]
    assert validation.validate(crd, {"metadata": {"name": "x"}, "spec": {"labels": {"a": 1}}})[0] == \
        'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"'


def test_check_crd_finds_mistakes_in_the_definition():
    assert validation.check_crd(WIDGETS) == []
    broken = crd_with({
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [{"rule": "self.size >"}],
            "properties": {
                "untyped": {"description": "no type"},
                "color": {"type": "string", "enum": ["red"], "default": "blue"},
            },
        }},
    })
    broken["metadata"]["name"] = "wrong.example.dev"
    errors = [str(e) for e in validation.check_crd(broken)]
    base = "spec.versions[0].schema.openAPIV3Schema.properties[spec]"
    assert 'metadata.name: Invalid value: "wrong.example.dev": must be spec.names.plural+"."+spec.group' in errors
    assert f"{base}.properties[untyped].type: Required value: must not be empty for specified object fields" in errors
    assert f'{base}.properties[color].default: Unsupported value: "blue": supported values: "red"' in errors
    assert any(e.startswith(f'{base}.x-kubernetes-validations[0].rule: Invalid value: "self.size >": compilation failed')
               for e in errors)
