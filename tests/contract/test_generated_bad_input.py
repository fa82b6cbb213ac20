"""Generated bad input (tests/badinput.py) against the real kube-apiserver: every `refused` case is refused
with a message that names the offending field, and every `stalled` case is accepted (the operator judges it,
tests/e2e/test_generated_bad_input.py) and judged by the operator's own parsing where parsing is the judge.

Each object is sent as a server-side dry run (`dryRun=All`, `fieldValidation=Strict`, as kubectl's
`--dry-run=server --validate=strict`), straight over the Python client's connection pool: hundreds of cases
in a couple of seconds instead of a kubectl process each. A changed vault is an update: the good policy is
stored for real, then a merge patch is sent as a dry run, for the CEL transition rule to refuse.
"""

from __future__ import annotations

import collections
import json
import time
import urllib.parse

import pytest

from asr_autoupdate.api.fleet import parse_fleet
from asr_autoupdate.api.spec import InvalidSpec, parse_spec
from asr_autoupdate.azure.credentials import SecretInvalid, ServicePrincipal
from tests import badinput
from tests.badinput import FLEET, GROUP, PLURALS, POLICY, REFUSED, VERSION, Case
from tests.pem import encrypted_bundle, self_signed

NAMESPACE = "generated-bad-input"
STALLED_VAULT = {"subscriptionId": "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17", "resourceGroup": "rg-asr", "name": "rsv-a"}
SECRET = {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "clientId": "client", "clientSecret": "s3cr3t"}


def stalled_cases() -> list[Case]:
    bundle, certificate, key = self_signed()
    return badinput.stalled_cases(
        STALLED_VAULT,
        [STALLED_VAULT["subscriptionId"]],
        SECRET,
        certificate=bundle,
        certificate_only=certificate,
        key_only=key,
        encrypted=encrypted_bundle(),
    )


REFUSED_CASES = badinput.refused_cases()
STALLED_CASES = stalled_cases()


class Server:
    """Raw requests over the admin client's connection pool: the exact JSON text, no client-side model."""

    def __init__(self, kube):
        self.pool = kube.rest_client.pool_manager
        self.host = kube.configuration.host
        token = kube.configuration.get_api_key_with_prefix("authorization")
        self.auth = {"Authorization": token} if token else {}

    def request(self, method: str, path: str, body: str, content_type: str = "application/json", **query: str):
        url = f"{self.host}{path}?{urllib.parse.urlencode(query)}"
        headers = {"Content-Type": content_type, "Accept": "application/json", **self.auth}
        response = self.pool.request(method, url, body=body.encode(), headers=headers)
        return response.status, json.loads(response.data or b"{}")

    def collection(self, kind: str) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURALS[kind]}"

    def dry_run(self, case: Case) -> tuple[int, str]:
        """(HTTP status, the server's message) for the case, nothing stored."""
        if case.update_of is not None:
            patch = json.dumps({"spec": case.spec})
            path = f"{self.collection(case.kind)}/{case.name}"
            status, answer = self.request(
                "PATCH", path, patch, "application/merge-patch+json", dryRun="All", fieldValidation="Strict"
            )
        else:
            body = case.body(NAMESPACE)
            text = json.dumps(body)
            if case.raw is not None:
                body.pop("spec", None)
                text = json.dumps(body)[:-1] + f', "spec": {case.raw}}}'
            status, answer = self.request(
                "POST", self.collection(case.kind), text, dryRun="All", fieldValidation="Strict"
            )
        return status, str(answer.get("message") or "")

    def store(self, case: Case) -> None:
        body = badinput.manifest(case.kind, case.update_of, name=case.name, namespace=NAMESPACE)
        status, answer = self.request("POST", self.collection(case.kind), json.dumps(body))
        assert status in (201, 409), answer  # 409: stored by an earlier run against the same server


@pytest.fixture(scope="module")
def server(kubectl, crd, kube) -> Server:
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return Server(kube)


def report(capsys, line: str) -> None:
    """A line in pytest's output even while output is captured: the counts are the point."""
    with capsys.disabled():
        print(f"\n{line}")


def short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


# -- offline ------------------------------------------------------------------------------------------------------


def test_enough_cases_of_every_kind_and_the_same_for_the_same_seed(capsys):
    by_kind = collections.Counter(case.kind for case in REFUSED_CASES)
    stalled = collections.Counter(case.kind for case in STALLED_CASES)
    report(
        capsys,
        f"generated bad input (seed {badinput.SEED}): {len(REFUSED_CASES)} refused "
        f"({by_kind[POLICY]} policies, {by_kind[FLEET]} fleets), {len(STALLED_CASES)} stalled "
        f"({stalled[POLICY]} policies, {stalled[FLEET]} fleets)",
    )
    assert len(REFUSED_CASES) >= 200 and by_kind[POLICY] >= 100 and by_kind[FLEET] >= 100
    assert len(STALLED_CASES) >= 10
    assert [case.id for case in badinput.refused_cases()] == [case.id for case in REFUSED_CASES]
    assert all(case.expect == REFUSED and case.names for case in REFUSED_CASES)
    assert all(case.expect.startswith("stalled:") and case.message for case in STALLED_CASES)
    assert len({(case.kind, case.name) for case in REFUSED_CASES}) == len(REFUSED_CASES), "object names collide"


@pytest.mark.parametrize("kind", [POLICY, FLEET])
def test_every_field_of_the_spec_has_generated_cases(kind):
    """A field added to a CRD gets cases by itself; one the good object lacks (so the walk cannot reach it)
    fails here until badinput's good_*_spec sets it."""
    every = set(badinput.schema_shapes(badinput.crd_schema(kind)["properties"]["spec"]))
    covered = {case.shape for case in REFUSED_CASES if case.kind == kind}
    assert every <= covered, f"no generated case for {sorted(every - covered)}"


@pytest.mark.parametrize("case", [c for c in STALLED_CASES if c.expect == "stalled:InvalidSpec"], ids=lambda c: c.id)
def test_what_only_the_operator_can_judge_is_invalid_spec_when_parsed(case):
    """The operator's own parsing refuses the spec, with a one-line reason naming the field; nothing else
    escapes (an OSError from the zone database would be an InternalError and a traceback)."""
    parse = parse_fleet if case.kind == FLEET else parse_spec
    with pytest.raises(InvalidSpec) as refused:
        parse(case.spec, namespace="dr", name="bad")
    assert case.message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("case", [c for c in STALLED_CASES if c.secret is not None], ids=lambda c: c.id)
def test_what_only_the_operator_can_judge_is_secret_invalid_when_read(case):
    """The Secret check refuses the Secret's data naming the key; nothing else escapes (a ValueError from
    azure-identity would be an InternalError and a traceback on every retry)."""
    data = {key: value if isinstance(value, bytes) else value.encode() for key, value in case.secret.items()}
    with pytest.raises(SecretInvalid) as refused:
        ServicePrincipal.from_secret_data(data)
    assert case.message in str(refused.value) and "\n" not in str(refused.value)


# -- the real server ----------------------------------------------------------------------------------------------


def test_the_good_objects_are_accepted(server):
    """Every mutation starts from these: were they refused, a refusal would say nothing about the mutation."""
    for kind in (POLICY, FLEET):
        case = Case(f"{kind}:good", kind, badinput.GOOD_SPECS[kind](), REFUSED)
        status, message = server.dry_run(case)
        assert status == 201, message
    parse_spec(badinput.good_policy_spec(), namespace="dr", name="good")
    parse_fleet(badinput.good_fleet_spec(), namespace="dr", name="good")


def test_every_generated_bad_object_is_refused_with_a_message_naming_the_field(server, capsys):
    """Refused (422 Invalid or 400 BadRequest from the strict decoder) with every name the case expects in the
    message. An accepted case is a gap in the CRD; a message that misses the field is not clear enough."""
    updates = [case for case in REFUSED_CASES if case.update_of is not None]
    for case in updates:
        server.store(case)
    started = time.monotonic()
    accepted, unclear = [], []
    for case in REFUSED_CASES:
        status, message = server.dry_run(case)
        if status < 400:
            accepted.append(case.id)
        elif status not in (400, 422) or not all(name in message for name in case.names):
            unclear.append(f"{case.id}: HTTP {status}, expected {case.names} in: {short(message)}")
    elapsed = time.monotonic() - started
    report(capsys, f"{len(REFUSED_CASES)} generated bad objects sent as server-side dry runs in {elapsed:.1f} s")
    assert not (accepted or unclear), (
        f"the API server accepted {len(accepted)} bad objects (CRD gaps): {accepted}\n"
        f"{len(unclear)} refused without naming the field:\n" + "\n".join(unclear)
    )


def test_what_only_the_operator_can_judge_is_accepted_by_the_api_server(server):
    """The stalled cases pass the schema and CEL: nothing but the operator can stall them."""
    refused = []
    for case in STALLED_CASES:
        status, message = server.dry_run(case)
        if status != 201:
            refused.append(f"{case.id}: HTTP {status} {short(message)}")
    assert not refused, "\n".join(refused)
