"""The policy CRD against the contract: naming what api.md names and refusing exactly the bad input it
names, as the real kube-apiserver (the sandbox's control plane) decides it; the checks both CRDs share
(identity, a structural and documented schema, portable CEL, the bad fixtures, status, printer columns,
`kubectl explain`) are test_crds.py's, with the kit in crd_kit.py.

Fixtures live in `fixtures/`: `good/` must be accepted, `bad/` refused with the message on each file's first
line (`# expect: ...`, the real server's words as kubectl prints them), `updates/` hold an old and a new object
(`# expect: accepted` or a message). Acceptance is asked of the server with `--dry-run=server` (schema, CEL,
defaults, pruning and kubectl's Strict field validation, nothing stored); transition rules need the old object
stored, so updates create it first. Static checks that need no server (the names of api.md) stay offline.
"""

from __future__ import annotations

import pytest
import yaml

from asr_autoupdate.api import KIND
from asr_autoupdate.api.spec import parse_spec
from tests.contract.crd_kit import NAMESPACE, POLICY, ROOT, dry_run, expectation, renamed

FIXTURES = POLICY.fixtures
SCHEMA = POLICY.schema

API_SPEC_FIELDS = {
    "vault",
    "updateMode",
    "automationAccount",
    "authentication",
    "grantVaultAccess",
    "updatesPaused",
    "schedule",
    "credentialsSecretRef",
    "managementPolicy",
    "deletionPolicy",
    "driftCheckIntervalSeconds",
    "costModel",
}
API_STATUS_FIELDS = {
    "observedGeneration",
    "conditions",
    "automationAccount",
    "mappings",
    "schedules",
    "agents",
    "jobs",
    "lastRepair",
}


def test_spec_and_status_name_what_api_md_names():
    properties = SCHEMA["properties"]
    assert set(properties["spec"]["properties"]) == API_SPEC_FIELDS
    # beyond api.md: the Schedule column's text, and the updates followed across passes (status.operations)
    assert API_STATUS_FIELDS | {"scheduleSummary", "operations"} == set(properties["status"]["properties"])


def test_schema_defaults_are_the_operators_defaults(server):
    """The API server's defaults and parse_spec's must agree, or the stored object would lie."""
    minimal = POLICY.object(
        {
            "vault": {
                "subscriptionId": "11111111-2222-3333-4444-555555555555",
                "resourceGroup": "rg-dr",
                "name": "vault1",
            },
            "updateMode": "Automatic",
        },
        "vault1",
    )
    stored, refusal = dry_run(server, renamed(minimal, "defaults"))
    assert stored is not None, refusal
    assert stored["spec"] != minimal["spec"], "the server applied no default"
    assert parse_spec(stored["spec"], namespace="dr", name="vault1") == parse_spec(
        minimal["spec"], namespace="dr", name="vault1"
    )


@pytest.mark.parametrize("path", sorted((FIXTURES / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_good_fixtures_are_accepted(server, path):
    obj = yaml.safe_load(path.read_text())
    stored, refusal = dry_run(server, renamed(obj, "good"))
    assert stored is not None, refusal
    parse_spec(stored["spec"], namespace="dr", name=obj["metadata"]["name"])


@pytest.mark.parametrize("path", sorted((FIXTURES / "updates").glob("*.yaml")), ids=lambda p: p.stem)
def test_updates(server, path):
    old, new = yaml.safe_load_all(path.read_text())
    old = renamed(old, "update")
    new = {**new, "metadata": {**new["metadata"], "name": old["metadata"]["name"], "namespace": NAMESPACE}}
    server.apply(old, "--server-side")
    stored, refusal = dry_run(server, new, verb="apply")
    if expectation(path) == "accepted":
        assert stored is not None, refusal
    else:
        assert stored is None, f"{path.name}: the update was accepted"
        assert expectation(path) in refusal


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_examples_are_accepted(server, path):
    server("apply", "--server-side", "-f", str(ROOT / "examples" / "00-namespace.yaml"))  # for real: policies need it
    result = server("apply", "--server-side", "--dry-run=server", "-o", "json", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    for obj in yaml.safe_load_all(path.read_text()):
        if obj and obj.get("kind") == KIND:
            parse_spec(obj["spec"], namespace="default", name=obj["metadata"]["name"])


def test_kubectl_wait_for_ready(server, with_status):
    name = with_status[POLICY.label]
    result = server("wait", "--for=condition=Ready", f"mup/{name}", "-n", NAMESPACE, "--timeout=10s")
    assert "condition met" in result.stdout
