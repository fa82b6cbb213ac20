"""What the contract tests of both CRDs share: the two CRDs as files (`POLICY`, `FLEET`), the static
vocabulary they are checked against, and the ways of asking the real server (a dry run, a stored object's
printed row).

`tests/contract/test_crds.py` runs the checks that are the same for both CRDs, once per CRD; what only one of
them has stays in test_crd.py (the policy) and test_fleet_crd.py (the fleet).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import re
import uuid
from typing import Any

import yaml

from asr_autoupdate.api import GROUP, KIND, PLURAL, VERSION
from asr_autoupdate.api.fleet import FLEET_KIND, FLEET_PLURAL
from asr_autoupdate.reconcile.desired import assess
from asr_autoupdate.reconcile.report import report
from tests.unit.policy_builders import NOW, converged, make_policy, make_spec

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).parent / "fixtures"
FLEET_EXAMPLES = sorted((ROOT / "examples" / "fleet").glob("*.yaml"))
NAMESPACE = "contract"  # where the contract tests store objects (tests/contract/conftest.py makes it)

# What a structural schema node may say (apiextensions v1), and the CEL functions every supported
# Kubernetes version (1.25 and later) has in its CEL environment.
SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "items",
        "enum",
        "default",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    }
)
CEL_FUNCTIONS = frozenset(
    {"has", "size", "matches", "startsWith", "endsWith", "contains", "all", "exists", "exists_one"}
)


@dataclasses.dataclass(frozen=True)
class Crd:
    """One of the operator's CRDs, as crds/ ships it, and what its contract tests need to know of it."""

    label: str  # the test ids' word for it
    kind: str
    plural: str
    singular: str
    short_name: str
    keywords: frozenset[str]  # the schema keywords its nodes may use
    fixtures: pathlib.Path  # good/ and bad/ below it

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def file(self) -> pathlib.Path:
        return ROOT / "crds" / f"{self.name}.yaml"

    @functools.cached_property
    def document(self) -> dict[str, Any]:
        return yaml.safe_load(self.file.read_text())

    @property
    def version_entry(self) -> dict[str, Any]:
        [entry] = self.document["spec"]["versions"]
        return entry

    @property
    def schema(self) -> dict[str, Any]:
        return self.version_entry["schema"]["openAPIV3Schema"]

    def object(self, spec: dict[str, Any], name: str, *, namespace: str = "dr") -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": self.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    def __str__(self) -> str:
        return self.label


POLICY = Crd("policy", KIND, PLURAL, "mobilityupdatepolicy", "mup", SCHEMA_KEYWORDS, FIXTURES)
# Beyond the policy CRD's keywords: the tag map of a vault selector (a map of strings, at most 20).
FLEET = Crd(
    "fleet",
    FLEET_KIND,
    FLEET_PLURAL,
    "mobilityupdatefleet",
    "mupf",
    SCHEMA_KEYWORDS | {"additionalProperties", "maxProperties"},
    FIXTURES / "fleet",
)
CRDS = (POLICY, FLEET)


def dry_run(server, obj, *, verb: str = "create"):
    """Ask the real server to admit `obj` without storing it: (accepted object or None, kubectl's stderr)."""
    args = [verb, "--server-side"] if verb == "apply" else [verb]
    result = server(
        *args,
        "--dry-run=server",
        "--validate=strict",
        "-n",
        NAMESPACE,
        "-o",
        "json",
        "-f",
        "-",
        input=yaml.safe_dump(obj),
        check=False,
    )
    return (json.loads(result.stdout) if result.returncode == 0 else None), result.stderr.strip()


def renamed(obj, prefix):
    obj = json.loads(json.dumps(obj))
    obj.setdefault("metadata", {})["name"] = f"{prefix}-{uuid.uuid4().hex[:6]}"
    obj["metadata"]["namespace"] = NAMESPACE
    return obj


def expectation(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must say what it expects on its first line"
    return first.removeprefix("# expect: ")


def without_nulls(value):
    """Status as stored after a merge patch: a None asks to remove a key."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def store_with_status(server, obj: dict[str, Any], plural: str, status: dict[str, Any]) -> str:
    """Store `obj` for real and write `status` as the operator writes it (a merge patch of the status
    subresource); answers the object's name."""
    server.apply(obj, "--server-side")
    server(
        "patch",
        plural,
        obj["metadata"]["name"],
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    return obj["metadata"]["name"]


def stored(server, crd: Crd, name: str) -> dict[str, Any]:
    return json.loads(server("get", crd.plural, name, "-n", NAMESPACE, "-o", "json").stdout)


def printed_row(server, crd: Crd, name: str) -> dict[str, str]:
    """`kubectl get <short name> <name>` as column -> cell."""
    header, row = server("get", crd.short_name, name, "-n", NAMESPACE).stdout.splitlines()
    starts = [match.start() for match in re.finditer(r"(?<=\s{2})\S|^\S", header)]
    cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=False)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=False)]
    return dict(zip(names, cells, strict=False))


# --- the statuses the operator writes -----------------------------------------------------------------------------


def policy_status() -> dict[str, Any]:
    """A converged vault's status, as the operator's report writes it."""
    return report(make_policy(), assess(make_spec(), converged()), [], [], NOW).status


def fleet_status() -> dict[str, Any]:
    """A fleet's status with every field the schema declares, as the operator writes it."""
    vault = "/subscriptions/3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17/resourceGroups/rg-asr-weu"
    return {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "WaveHeld",
                "message": "Wave production is held: an update job failed in wave canary",
                "observedGeneration": 1,
                "lastTransitionTime": "2026-11-25T22:00:00Z",
            }
        ],
        "vaults": {
            "discovered": 4,
            "managed": 3,
            "skipped": [
                {
                    "vault": f"{vault}/providers/Microsoft.RecoveryServices/vaults/rsv-weu-prod",
                    "reason": "ManagedByPolicy",
                    "message": "Managed by MobilityUpdatePolicy asr-fleet/rsv-weu-prod",
                }
            ],
        },
        "waves": [
            {
                "name": "canary",
                "vaults": 1,
                "ready": 1,
                "agentsBehind": 0,
                "phase": "Open",
                "since": "2026-11-24T02:00:00Z",
                "settledSince": "2026-11-24T03:10:00Z",
                "agentVersion": "9.63.7187.1",
                "message": "Updates run on the wave's schedule",
            },
            {
                "name": "production",
                "vaults": 2,
                "ready": 1,
                "agentsBehind": 3,
                "phase": "Held",
                "since": "2026-11-25T02:40:00Z",
                "releasedAt": "2026-11-20T09:00:00Z",
                "message": "An update job failed in wave canary; release with asr.autoupdate.dev/release-wave",
            },
        ],
        "waveSummary": "canary Open, production Held",
        "totals": {"vaults": 3, "ready": 2, "agentsBehind": 3},
        "lastDiscovery": {"time": "2026-11-25T21:00:00Z", "subscriptions": 2},
        "lastRelease": {"wave": "staging", "time": "2026-11-20T09:00:00Z", "result": "UnknownWave"},
    }
