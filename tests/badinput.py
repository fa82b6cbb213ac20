"""Generated bad input for both kinds: one table of mutations, applied to a good MobilityUpdatePolicy and a good
MobilityUpdateFleet by walking each CRD's spec schema, so a field added to a CRD gets its bad cases without
anyone writing them.

Every case names its expected outcome:

* `refused`: the API server refuses it (schema, CEL, strict field validation, metadata validation) with a
  message naming `Case.names` (the field path, the rule's message, or the strict decoder's words);
* `stalled:<Reason>`: the API server accepts it and only the operator can judge it (an IANA zone that does not
  exist, a Secret that is missing or unusable, a vault Azure does not have, a vault another policy owns): it
  ends `Stalled=True` with that reason and a one-line message holding `Case.message`.

The choice among the string and enum variants is seeded (`ASR_BADINPUT_SEED`, default `SEED`), so a run is
repeatable and another seed explores other variants; the wrong types, the bounds, the list rules and the
unknown fields are generated for every node, whatever the seed.

Nothing here talks to a server: `tests/contract/test_generated_bad_input.py` sends the refused cases (a server
side dry run), `tests/e2e/test_generated_bad_input.py` applies the stalled ones to a running operator.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pathlib
import random
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
GROUP, VERSION = "asr.autoupdate.dev", "v1alpha1"
POLICY, FLEET = "MobilityUpdatePolicy", "MobilityUpdateFleet"
PLURALS = {POLICY: "mobilityupdatepolicies", FLEET: "mobilityupdatefleets"}
SHORT_NAMES = {POLICY: "mup", FLEET: "mupf"}
SEED = int(os.environ.get("ASR_BADINPUT_SEED", "20261125"))
REFUSED = "refused"
MISSING = object()  # a mutation that removes the field
HUGE = 10_000  # characters in a "huge" string


def stalled(reason: str) -> str:
    return f"stalled:{reason}"


def crd_schema(kind: str) -> dict:
    """The kind's openAPIV3Schema as crds/ ships it."""
    crd = yaml.safe_load((ROOT / "crds" / f"{PLURALS[kind]}.{GROUP}.yaml").read_text())
    [version] = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


# -- the good objects every mutation starts from: every field of each spec set, so every node is reached ---------

# A vault that no test environment has: the refused cases never get as far as Azure.
PLACEHOLDER_VAULT = {
    "subscriptionId": "11111111-2222-3333-4444-555555555555",
    "resourceGroup": "rg-dr",
    "name": "vault1",
}
PLACEHOLDER_SUBSCRIPTIONS = ["11111111-2222-3333-4444-555555555555", "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17"]


def good_policy_spec(vault: Mapping[str, str] = PLACEHOLDER_VAULT) -> dict:
    return {
        "vault": dict(vault),
        "updateMode": "Automatic",
        "automationAccount": {"name": "shared-asr-account", "resourceGroup": "rg-automation"},
        "authentication": "SystemAssignedIdentity",
        "grantVaultAccess": True,
        "updatesPaused": False,
        "schedule": {
            "time": "02:30",
            "timeZone": "Europe/Amsterdam",
            "frequency": "Week",
            "interval": 2,
            "weekDays": ["Monday", "Thursday"],
        },
        "credentialsSecretRef": {"name": "azure-sp"},
        "managementPolicy": "Manage",
        "deletionPolicy": "Orphan",
        "driftCheckIntervalSeconds": 3600,
        "costModel": {"freeMinutesPerMonth": 500, "pricePerMinute": "0.14", "currency": "EUR"},
    }


def good_fleet_spec(subscriptions: Sequence[str] = PLACEHOLDER_SUBSCRIPTIONS) -> dict:
    template = {key: value for key, value in good_policy_spec().items() if key != "vault"}
    return {
        "subscriptions": list(subscriptions),
        "vaultSelector": {"resourceGroups": ["rg-asr-*"], "names": ["rsv-*"], "tags": {"env": "prod"}},
        "template": template,
        "waves": [
            {
                "name": "canary",
                "vaultSelector": {"resourceGroups": ["rg-asr-weu"], "names": ["rsv-canary-*"], "tags": {"ring": "0"}},
                "schedule": {"time": "01:00", "timeZone": "UTC", "frequency": "Day", "interval": 1},
            },
            {
                "name": "production",
                "vaultSelector": {"resourceGroups": ["rg-asr-[a-z]*"], "names": ["rsv-?"], "tags": {"ring": "1"}},
                "schedule": {"time": "03:00", "frequency": "Week", "interval": 1, "weekDays": ["Saturday", "Sunday"]},
                "gate": {"soakDays": 2},
            },
        ],
        "discoveryIntervalSeconds": 3600,
    }


GOOD_SPECS = {POLICY: good_policy_spec, FLEET: good_fleet_spec}


def manifest(kind: str, spec: Any, *, name: str, namespace: str, metadata: Mapping[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, **(metadata or {})},
    }
    if spec is not MISSING:
        body["spec"] = copy.deepcopy(spec)
    return body


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    kind: str  # POLICY or FLEET
    spec: Any  # the spec as sent (MISSING: none at all)
    expect: str  # REFUSED or stalled(<Reason>)
    names: tuple[str, ...] = ()  # refused: what the server's message must say (the field path, a rule's message)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # over the generated name and namespace
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # top-level keys beside spec
    raw: str | None = None  # refused: JSON text sent as it is (what a dict cannot say: a key given twice)
    update_of: Any = None  # refused: the spec stored first; `spec` is then sent as a merge patch of it
    secret: Mapping[str, str | bytes] | None = None  # stalled: the Secret `azure-sp-<case>` with these keys
    namespace: str = "main"  # stalled: "main" (the test's) or "other" (a second watched namespace)
    message: str = ""  # stalled: words the Ready condition's message must hold
    shape: str = ""  # generated from the schema: the node it mutates (Node.shape)

    @property
    def name(self) -> str:
        """A Kubernetes name for the object: a slug of the id and a short digest, unique per case."""
        digest = uuid.uuid5(uuid.NAMESPACE_URL, self.id).hex[:6]
        what = self.id.split(":", 1)[1]
        slug = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")[:40].strip("-")
        return self.metadata.get("name") or f"{SHORT_NAMES[self.kind]}-{slug}-{digest}"

    @property
    def secret_name(self) -> str | None:
        """The Secret the spec names (a fleet's in its template)."""
        spec = self.spec if isinstance(self.spec, Mapping) else {}
        spec = spec.get("template", spec) if self.kind == FLEET else spec
        return (spec.get("credentialsSecretRef") or {}).get("name")

    def body(self, namespace: str) -> dict:
        metadata = {key: value for key, value in self.metadata.items() if key != "name"}
        body = manifest(self.kind, self.spec, name=self.name, namespace=namespace, metadata=metadata)
        body.update(copy.deepcopy(dict(self.extra)))
        return body


# -- walking a schema and a good object side by side ---------------------------------------------------------------

Segment = str | int


@dataclasses.dataclass(frozen=True)
class Node:
    path: tuple[Segment, ...]  # from the object's root: ("spec", "schedule", "weekDays", 1)
    shape: str  # the path without list indices and map keys: spec.schedule.weekDays[], spec.vaultSelector.tags{}
    schema: Mapping[str, Any]
    value: Any  # the good object's value there (MISSING when it has none)
    required: bool

    @property
    def text(self) -> str:
        return dotted(self.path)


def dotted(path: Sequence[Segment]) -> str:
    """A path as the API server prints it: spec.waves[1].schedule.time, spec.vaultSelector.tags.env."""
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if text else segment)
    return text


def walk(schema: Mapping[str, Any], value: Any, path: tuple[Segment, ...] = ("spec",)) -> Iterator[Node]:
    """Every node under the spec, with the good object's value at it; into a list through its last item and into
    a map (additionalProperties) through its first key."""
    yield from _walk(schema, value, path, dotted(path), required=True)


def _walk(schema, value, path, shape, *, required) -> Iterator[Node]:
    yield Node(path, shape, schema, value, required)
    present = value if isinstance(value, Mapping) else {}
    for name, child in (schema.get("properties") or {}).items():
        required_here = name in schema.get("required", [])
        yield from _walk(child, present.get(name, MISSING), (*path, name), f"{shape}.{name}", required=required_here)
    if isinstance(schema.get("items"), Mapping) and isinstance(value, list) and value:
        index = len(value) - 1
        yield from _walk(schema["items"], value[index], (*path, index), f"{shape}[]", required=False)
    if isinstance(schema.get("additionalProperties"), Mapping) and isinstance(value, Mapping) and value:
        key = next(iter(value))
        yield from _walk(schema["additionalProperties"], value[key], (*path, key), f"{shape}{{}}", required=False)


def schema_nodes(node: Mapping[str, Any], path: str = "openAPIV3Schema") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every node of a schema with its path: properties, list items (`[]`) and the value schema of a map
    (`{}`)."""
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), Mapping):
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


def schema_shapes(schema: Mapping[str, Any], shape: str = "spec") -> Iterator[str]:
    """Every node of a spec schema as `Node.shape` spells it, from the schema alone."""
    return (path for path, _ in schema_nodes(schema, shape))


def with_value(obj: Mapping[str, Any], path: Sequence[Segment], value: Any) -> dict:
    """A deep copy of `obj` (a whole object, spec included) with `value` at `path` (MISSING removes the key);
    missing parents are made as objects."""
    result = copy.deepcopy(dict(obj))
    here: Any = result
    for segment in path[:-1]:
        here = here[segment] if isinstance(segment, int) else here.setdefault(segment, {})
    last = path[-1]
    if value is MISSING:
        if isinstance(last, int):
            del here[last]
        else:
            here.pop(last, None)
    else:
        here[last] = copy.deepcopy(value)
    return result


# -- the one table of mutations --------------------------------------------------------------------------------------

# A value of every other JSON type, by the type the schema asks for.
WRONG_TYPES: dict[str, dict[str, Any]] = {
    "string": {"int-for-string": 42, "bool-for-string": True, "list-for-string": ["x"], "object-for-string": {}},
    "integer": {"string-for-int": "5", "bool-for-int": True, "float-for-int": 1.5, "list-for-int": [1]},
    "boolean": {"string-for-bool": "true", "int-for-bool": 1, "list-for-bool": [True]},
    "object": {"string-for-object": "x", "list-for-object": [{}], "int-for-object": 7},
    "array": {"string-for-list": "x", "object-for-list": {}, "int-for-list": 7},
}

LOOKALIKES = str.maketrans("aceopxyAEOPCX", "асеорхуАЕОРСХ")  # Latin letters and their Cyrillic twins
FULLWIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}


def string_variants(good: str) -> dict[str, str]:
    """Bad strings made of a good one: empty, huge, unicode (emoji, RTL override, zero-width, lookalikes,
    fullwidth, combining marks), control characters, padding and injection-shaped text."""
    good = good or "x"
    return {
        "empty": "",
        "blank": " ",
        "huge": (good * (HUGE // len(good) + 1))[:HUGE],
        "emoji": f"{good}🚀",
        "rtl-override": f"\u202e{good}",
        "zero-width": f"{good[:1]}\u200b{good[1:]}",
        "cyrillic-lookalike": good.translate(LOOKALIKES) if good.translate(LOOKALIKES) != good else f"а{good}",
        "fullwidth": good.translate(FULLWIDTH),
        "combining-accent": f"{good[:1]}\u0301{good[1:]}",
        "newline": f"{good}\n",
        "tab": f"\t{good}",
        "nul": f"{good}\x00",
        "bell": f"\x07{good}",
        "leading-space": f" {good}",
        "trailing-space": f"{good} ",
        "injection": f"{good}'; DROP TABLE vaults;--",
        "path-traversal": f"../{good}",
        "percent-encoded": f"{good}%2F",
    }


def enum_variants(values: Sequence[str]) -> dict[str, str]:
    first = values[0]
    candidates = {
        "lower-case": first.lower(),
        "upper-case": first.upper(),
        "unknown-value": "Sometimes",
        "empty": "",
        "padded": f" {first} ",
        "cyrillic-lookalike": first.translate(LOOKALIKES),
        "zero-width": f"{first}\u200b",
        "all-joined": "|".join(values),
    }
    return {tag: value for tag, value in candidates.items() if value not in values}


ALWAYS = ("empty", "huge", "lower-case", "unknown-value")  # kept whatever the seed; the rest is sampled
SAMPLED = 4  # seeded picks among the other variants of each string and enum field


def refused_by_schema(schema: Mapping[str, Any], value: str) -> bool:
    """Whether the string schema refuses `value` as the API server does (RE2's `$` is the end of the text)."""
    if "minLength" in schema and len(value) < schema["minLength"]:
        return True
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return True
    if "enum" in schema and value not in schema["enum"]:
        return True
    pattern = schema.get("pattern")
    return bool(pattern) and re.search(re.sub(r"\$$", r"\\Z", pattern), value) is None


def _pick(variants: dict[str, str], rng: random.Random) -> dict[str, str]:
    always = {tag: value for tag, value in variants.items() if tag in ALWAYS}
    others = sorted(tag for tag in variants if tag not in ALWAYS)
    chosen = rng.sample(others, min(SAMPLED, len(others)))
    return {**always, **{tag: variants[tag] for tag in sorted(chosen)}}


def valid_items(schema: Mapping[str, Any], count: int, rng: random.Random) -> list[Any]:
    """`count` valid, distinct where possible, list items for `schema` (a list's items)."""
    if schema.get("type") == "object":
        keys = schema.get("required") or ["name"]
        return [{key: f"item-{index}" for key in keys} for index in range(count)]
    if "enum" in schema:
        return [schema["enum"][index % len(schema["enum"])] for index in range(count)]
    if "[0-9a-fA-F]{8}" in (schema.get("pattern") or ""):
        return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]
    return [f"item-{index}" for index in range(count)]


@dataclasses.dataclass(frozen=True)
class Mutation:
    tag: str
    value: Any  # MISSING removes the field
    words: tuple[str, ...]  # besides the path: words the refusal must hold
    at: tuple[Segment, ...] | None = None  # where the value goes, when not at the node itself
    named: tuple[Segment, ...] | None = None  # the path the message names, when not where the value goes; () none


def mutations(node: Node, rng: random.Random) -> Iterator[Mutation]:
    """Every bad value the schema says `node` must refuse."""
    schema, kind = node.schema, node.schema.get("type")
    for tag, value in WRONG_TYPES.get(kind, {}).items():
        yield Mutation(tag, value, ("must be of type",))
    if node.required:
        yield Mutation("missing", MISSING, ("Required value",))
        yield Mutation("null", None, ("Required value",))
    elif isinstance(node.path[-1], int):
        yield Mutation("null-item", None, ("must be of type",))
    if kind == "integer":
        yield from _number_mutations(schema)
    if kind == "string":
        variants = enum_variants(schema["enum"]) if "enum" in schema else string_variants(str(node.value))
        refused = {tag: value for tag, value in variants.items() if refused_by_schema(schema, value)}
        for tag, value in _pick(refused, rng).items():
            yield Mutation(tag, value, ("Unsupported value",) if "enum" in schema else ())
    if kind == "array":
        yield from _list_mutations(node, rng)
    if kind == "object" and schema.get("properties"):
        unknown = f'unknown field "{node.text}.surprise"'
        yield Mutation("unknown-field", 1, (unknown,), at=(*node.path, "surprise"), named=())
        first = next(iter(schema["properties"]))
        twin = first[:1].swapcase() + first[1:]
        value = node.value.get(first, "x") if isinstance(node.value, Mapping) else "x"
        twin_words = (f'unknown field "{node.text}.{twin}"',)
        yield Mutation("field-name-case", value, twin_words, at=(*node.path, twin), named=())
    if kind == "object" and "maxProperties" in schema:
        too_many = {f"key{index}": "value" for index in range(schema["maxProperties"] + 1)}
        yield Mutation("too-many-keys", too_many, ("Too many",))


def _number_mutations(schema: Mapping[str, Any]) -> Iterator[Mutation]:
    if "minimum" in schema:
        low = schema["minimum"]
        yield Mutation("below-minimum", low - 1, ("greater than or equal to",))
        if low - 1 != -1:
            yield Mutation("negative", -1, ("greater than or equal to",))
        yield Mutation("hugely-negative", -(2**62), ("greater than or equal to",))
    if "maximum" in schema:
        high = schema["maximum"]
        yield Mutation("above-maximum", high + 1, ("less than or equal to",))
        yield Mutation("huge", 2**62, ("less than or equal to",))
    yield Mutation("beyond-int64", 2**64, ("must be of type integer",))


def _list_mutations(node: Node, rng: random.Random) -> Iterator[Mutation]:
    schema, good = node.schema, node.value if isinstance(node.value, list) else []
    items = schema.get("items") or {}
    if schema.get("minItems", 0) >= 1:
        yield Mutation("empty-list", [], ("at least",))
    if "maxItems" in schema:
        yield Mutation("too-many-items", valid_items(items, schema["maxItems"] + 1, rng), ("Too many",))
    list_type = schema.get("x-kubernetes-list-type")
    if list_type in ("set", "map") and good:
        yield Mutation("duplicate-entry", [*good, good[-1]], ("Duplicate value",), named=(*node.path, len(good)))


# -- what only a hand can say: CEL rules, metadata, the JSON text itself, updates -------------------------------------


def _cel_and_cross_field_cases() -> Iterator[Case]:
    policy, fleet = good_policy_spec(), good_fleet_spec()
    day = {"time": "02:30", "frequency": "Day", "interval": 1}
    only_week = "weekDays is only allowed when frequency is Week"
    needs_days = "weekDays is required when frequency is Week"
    schedules = {
        POLICY: [(("schedule",), policy)],
        FLEET: [(("template", "schedule"), fleet), (("waves", 1, "schedule"), fleet)],
    }
    for kind, places in schedules.items():
        for where, spec in places:
            at = dotted(("spec", *where))
            bad = {
                "week-days-with-day": ({**day, "weekDays": ["Monday"]}, only_week),
                "week-days-without-frequency": ({"time": "02:30", "weekDays": ["Monday"]}, only_week),
                "week-without-days": ({"frequency": "Week"}, needs_days),
                "week-with-no-days": ({"frequency": "Week", "weekDays": []}, needs_days),
            }
            for tag, (schedule, words) in bad.items():
                yield Case(f"{kind}:{at}:{tag}", kind, with_value(spec, where, schedule), REFUSED, (at, words))
    first_gate = "the first wave has no previous wave to soak; remove its gate"
    for tag, gate in {"gate-on-first-wave": {"soakDays": 0}, "empty-gate-on-first-wave": {}}.items():
        yield Case(
            f"{FLEET}:spec.waves:{tag}", FLEET, with_value(fleet, ("waves", 0, "gate"), gate), REFUSED, (first_gate,)
        )
    yield Case(
        f"{FLEET}:spec.template.vault:vault-in-template",
        FLEET,
        with_value(fleet, ("template", "vault"), PLACEHOLDER_VAULT),
        REFUSED,
        ('unknown field "spec.template.vault"',),
    )
    tags = ("vaultSelector", "tags")
    for where in (tags, ("waves", 1, *tags)):
        at = dotted(("spec", *where))
        yield Case(
            f"{FLEET}:{at}:tag-name-too-long",
            FLEET,
            with_value(fleet, where, {"k" * 513: "v"}),
            REFUSED,
            (at, "a tag name is at most 512 characters"),
        )
        yield Case(
            f"{FLEET}:{at}:tag-name-empty",
            FLEET,
            with_value(fleet, where, {"": "prod"}),
            REFUSED,
            (at, "a tag name is not empty"),
        )


def _metadata_cases() -> Iterator[Case]:
    policy, fleet = good_policy_spec(), good_fleet_spec()
    subdomain = "a lowercase RFC 1123 subdomain"
    names = {
        "upper-case": "Vault1",
        "unicode": "vault-🚀",
        "rtl-override": "\u202evault",
        "underscore": "vault_1",
        "leading-hyphen": "-vault",
        "trailing-dot": "vault.",
        "too-long": "v" * 254,
    }
    for kind, spec in ((POLICY, policy), (FLEET, fleet)):
        for tag, name in names.items():
            words = "must be no more than 253 characters" if len(name) > 253 else subdomain
            yield Case(f"{kind}:metadata.name:{tag}", kind, spec, REFUSED, ("metadata.name", words), {"name": name})
        yield Case(
            f"{kind}:metadata.labels:unicode-value",
            kind,
            spec,
            REFUSED,
            ("metadata.labels", "a valid label must be"),
            {"labels": {"team": "🚀"}},
        )
        yield Case(
            f"{kind}:metadata.annotations:bad-key",
            kind,
            spec,
            REFUSED,
            ("metadata.annotations", "Invalid value"),
            {"annotations": {"not a key": "x"}},
        )
        yield Case(
            f"{kind}:unknown-top-level-field", kind, spec, REFUSED, ('unknown field "surprise"',), extra={"surprise": 1}
        )
    yield Case(
        f"{FLEET}:metadata.name:longer-than-a-label",
        FLEET,
        fleet,
        REFUSED,
        ("a fleet's name is at most 63 characters",),
        {"name": "f" * 64},
    )


def _raw_cases() -> Iterator[Case]:
    """A key given twice: strict field validation names it (a dict cannot say it, so the JSON text is sent)."""
    for kind, key in ((POLICY, "updateMode"), (FLEET, "discoveryIntervalSeconds")):
        spec = GOOD_SPECS[kind]()
        text = json.dumps(spec)
        value = json.dumps(spec[key])
        raw_spec = text.replace(f'"{key}": {value}', f'"{key}": {value}, "{key}": {value}', 1)
        yield Case(
            f"{kind}:spec.{key}:duplicate-key", kind, spec, REFUSED, (f'duplicate field "spec.{key}"',), raw=raw_spec
        )
    spec = good_policy_spec()
    text = json.dumps(spec).replace('"name": "vault1"', '"name": "vault1", "name": "vault2"', 1)
    yield Case(
        f"{POLICY}:spec.vault.name:duplicate-key",
        POLICY,
        spec,
        REFUSED,
        ('duplicate field "spec.vault.name"',),
        raw=text,
    )


IMMUTABLE_VAULT = "spec.vault is immutable; create a new policy for another vault"


def _update_cases() -> Iterator[Case]:
    """A changed vault: stored first, then a merge patch that the CEL transition rule must refuse."""
    spec = good_policy_spec()
    vault = spec["vault"]
    changes = {
        "other-subscription": {"subscriptionId": "99999999-8888-4777-8666-555555555555"},
        "other-resource-group": {"resourceGroup": "rg-elsewhere"},
        "other-name": {"name": "vault2"},
        "name-case-only": {"name": vault["name"].upper()},
        "all-three": {"subscriptionId": PLACEHOLDER_SUBSCRIPTIONS[1], "resourceGroup": "rg-b", "name": "vault9"},
    }
    for tag, change in changes.items():
        yield Case(
            f"{POLICY}:spec.vault:changed-{tag}",
            POLICY,
            {"vault": change},
            REFUSED,
            ("spec.vault", IMMUTABLE_VAULT),
            update_of=spec,
        )
    yield Case(
        f"{POLICY}:spec.vault:removed",
        POLICY,
        {"vault": None},
        REFUSED,
        ("spec.vault: Required value",),
        update_of=spec,
    )


# -- the cases -------------------------------------------------------------------------------------------------------


def schema_cases(kind: str, rng: random.Random) -> Iterator[Case]:
    """The table applied to every node of the kind's spec."""
    spec_schema = crd_schema(kind)["properties"]["spec"]
    good = {"spec": GOOD_SPECS[kind]()}
    for node in walk(spec_schema, good["spec"]):
        for mutation in mutations(node, rng):
            target = mutation.at or node.path
            obj = with_value(good, target, mutation.value)
            named = target if mutation.named is None else mutation.named
            names = ((dotted(named),) if named else ()) + mutation.words
            spec = obj.get("spec", MISSING)
            yield Case(f"{kind}:{node.text}:{mutation.tag}", kind, spec, REFUSED, names, shape=node.shape)


def refused_cases(seed: int = SEED) -> list[Case]:
    """Every case the API server must refuse, the same list for the same seed."""
    rng = random.Random(seed)
    cases = [
        *schema_cases(POLICY, rng),
        *schema_cases(FLEET, rng),
        *_cel_and_cross_field_cases(),
        *_metadata_cases(),
        *_raw_cases(),
        *_update_cases(),
    ]
    ids = [case.id for case in cases]
    duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
    assert not duplicates, f"case ids must be unique: {duplicates}"
    return cases


# -- what only the operator can judge --------------------------------------------------------------------------------

UNKNOWN_ZONES = {
    "mars": "Mars/Olympus",
    "atlantis": "Europe/Atlantis",
    "offset-out-of-range": "Etc/GMT+99",
    "region-not-zone": "Europe",  # a directory of the zone database, not a zone
    "nested-directory": "America/Argentina",
    "not-a-tzif-file": "leapseconds",  # a text file beside the zones
}


def stalled_cases(
    vault: Mapping[str, str],
    subscriptions: Sequence[str],
    secret: Mapping[str, str],
    *,
    certificate: str,
    certificate_only: str,
    key_only: str,
    encrypted: str,
) -> list[Case]:
    """The cases only the operator can judge, for an estate where `vault` exists (the good policy's vault: the
    conflicting policies name it) in `subscriptions`, and `secret` is a working identity's Secret data."""
    base = good_policy_spec(vault)
    base.pop("credentialsSecretRef")
    base["schedule"] = {"time": "02:30", "timeZone": "UTC"}
    invalid, secret_invalid = stalled("InvalidSpec"), stalled("CredentialsSecretInvalid")
    cases: list[Case] = []
    for tag, zone in UNKNOWN_ZONES.items():
        spec = with_value(base, ("schedule", "timeZone"), zone)
        cases.append(Case(f"{POLICY}:time-zone-{tag}", POLICY, spec, invalid, message="spec.schedule.timeZone"))
    bad_secrets: dict[str, tuple[Mapping[str, str | bytes] | None, str]] = {
        "missing": (None, "does not exist in the policy's namespace"),
        "without-client-id": ({**secret, "clientId": None}, "missing key clientId"),
        "blank-tenant-id": ({**secret, "tenantId": "  \n"}, "missing key tenantId"),
        "without-any-secret": ({**secret, "clientSecret": None}, "missing key clientSecret or clientCertificate"),
        "tenant-not-utf8": ({**secret, "tenantId": b"\xff\xfe"}, "key tenantId is not UTF-8 text"),
        "tenant-not-an-id": ({**secret, "tenantId": "not a tenant!"}, "key tenantId is not a tenant ID"),
        "tenant-emoji": ({**secret, "tenantId": "🚀"}, "key tenantId is not a tenant ID"),
        "certificate-not-pem": ({**secret, "clientSecret": None, "clientCertificate": "MIIB..."}, "is not PEM"),
        "certificate-without-key": (
            {**secret, "clientSecret": None, "clientCertificate": certificate_only},
            "holds no private key",
        ),
        "key-without-certificate": (
            {**secret, "clientSecret": None, "clientCertificate": key_only},
            "holds no certificate",
        ),
        "encrypted-key": ({**secret, "clientSecret": None, "clientCertificate": encrypted}, "encrypted private key"),
        "garbled-pem": (
            {
                **secret,
                "clientSecret": None,
                "clientCertificate": certificate.replace("MII", "XXX", 1).replace("\n", "\n!", 3),
            },
            "cannot be read",
        ),
    }
    for tag, (data, words) in bad_secrets.items():
        keys = None if data is None else {key: value for key, value in data.items() if value is not None}
        spec = {**base, "credentialsSecretRef": {"name": f"azure-sp-{tag}"}}
        cases.append(Case(f"{POLICY}:secret-{tag}", POLICY, spec, secret_invalid, secret=keys, message=words))
    nowhere = {
        "vault-not-found": {**vault, "name": "rsv-nowhere"},
        "resource-group-not-found": {**vault, "resourceGroup": "rg-nowhere"},
        "subscription-not-found": {**vault, "subscriptionId": "0badc0de-0000-4000-8000-00000000beef"},
    }
    for tag, where in nowhere.items():
        spec = {**base, "vault": where}
        cases.append(Case(f"{POLICY}:{tag}", POLICY, spec, stalled("VaultNotFound"), message="was not found"))
    shouted = {key: value.upper() for key, value in vault.items()}
    for tag, namespace in (("same-namespace", "main"), ("other-namespace", "other")):
        spec = {**base, "vault": shouted}
        cases.append(
            Case(
                f"{POLICY}:conflict-{tag}",
                POLICY,
                spec,
                stalled("PolicyConflict"),
                namespace=namespace,
                message="is already managed by MobilityUpdatePolicy",
            )
        )
    fleet = good_fleet_spec(subscriptions)
    fleet["template"].pop("credentialsSecretRef")
    fleet_cases = {
        "template-time-zone-unknown": (
            with_value(fleet, ("template", "schedule", "timeZone"), "Mars/Olympus"),
            invalid,
            "spec.template.schedule.timeZone",
        ),
        "template-time-zone-directory": (
            with_value(fleet, ("template", "schedule", "timeZone"), "Asia"),
            invalid,
            "spec.template.schedule.timeZone",
        ),
        "wave-time-zone-unknown": (
            with_value(fleet, ("waves", 1, "schedule", "timeZone"), "Europe/Atlantis"),
            invalid,
            "spec.waves[1].schedule.timeZone",
        ),
        "subscription-twice-in-other-case": (
            with_value(fleet, ("subscriptions",), [subscriptions[0], subscriptions[0].upper()]),
            invalid,
            "a subscription is listed twice",
        ),
        "template-secret-missing": (
            with_value(fleet, ("template", "credentialsSecretRef"), {"name": "azure-sp-fleet-missing"}),
            secret_invalid,
            "does not exist in the policy's namespace",
        ),
        "template-secret-tenant-not-an-id": (
            with_value(fleet, ("template", "credentialsSecretRef"), {"name": "azure-sp-fleet-tenant"}),
            secret_invalid,
            "key tenantId is not a tenant ID",
        ),
    }
    for tag, (spec, expect, words) in fleet_cases.items():
        data = {**secret, "tenantId": "not a tenant!"} if tag.endswith("tenant-not-an-id") else None
        cases.append(Case(f"{FLEET}:{tag}", FLEET, spec, expect, secret=data, message=words))
    return cases
