"""Generated bad input that only the operator can judge (tests/badinput.py's `stalled` cases), all at once, to one
operator watching two namespaces: each ends Stalled with its reason and a one-line message, the operator neither
crashes nor loops hot, and a good policy beside them stays Ready.

The operator is the chart's ServiceAccount in namespaced mode for the test's namespace and a second one
(`watchNamespaces: [both]`, rendered and applied as the fixture does for one): that is what lets a policy in the
second namespace conflict with the good policy in the first (one vault, one policy, across namespaces). It logs
JSON so that each line names its object, which is how the passes per policy are counted.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from asr_sandbox.children import free_port
from tests import badinput
from tests.badinput import FLEET, GROUP, PLURALS, POLICY, VERSION, Case
from tests.chart import chart_kit
from tests.e2e.conftest import OPERATOR_NAMESPACE
from tests.e2e.kit import TRACEBACK, arm_requests, condition, events_for, policy, vault_spec, wait_ready
from tests.kube_kit import install_chart_identity
from tests.pem import encrypted_bundle, self_signed
from tests.support import wait_for

WINDOW = 10.0  # seconds watched for hot loops once every case has stalled
MAX_PASSES = 2  # handler or timer lines per object in the window ("a couple"); a hot loop makes dozens
MAX_MESSAGE = 300
RBAC_DENIAL = 'forbidden: User "system:serviceaccount:'  # as tests/e2e/conftest.py, read from decoded JSON lines


def secret_body(namespace: str, name: str, data: dict[str, str | bytes]) -> dict:
    encoded = {
        key: base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()
        for key, value in data.items()
    }
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "data": encoded}


def get_object(custom, kind: str, namespace: str, name: str) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)


def listed(custom, namespaces: dict[str, str]) -> dict[tuple[str, str, str], dict]:
    """Every policy and fleet of the namespaces, by (kind, namespace, name): a couple of list calls per poll."""
    found = {}
    for namespace in namespaces.values():
        for kind in (POLICY, FLEET):
            for item in custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind])["items"]:
                found[(kind, namespace, item["metadata"]["name"])] = item
    return found


def stalled_as_expected(body: dict | None, case: Case) -> bool:
    if body is None:
        return False
    found = condition(body, "Stalled")
    return (
        found.get("status") == "True"
        and f"stalled:{found.get('reason')}" == case.expect
        and (body.get("status") or {}).get("observedGeneration") == body["metadata"]["generation"]
    )


def log_records(process) -> list[dict]:
    """The operator's JSON log lines, decoded (a line that is not JSON is kept as its text)."""
    records = []
    for line in process.log_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = {"message": line}
        records.append(record if isinstance(record, dict) else {"message": line})
    return records


def reconcile_totals(port: int) -> tuple[float, float]:
    """(policy passes so far, InternalError passes so far) from controller-runtime's counters."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    passes = panics = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "controller_runtime_reconcile_total":
                passes += sample.value
            elif sample.name == "controller_runtime_reconcile_panics_total":
                panics += sample.value
    return passes, panics


def test_generated_bad_input_stalls_each_case_cleanly_and_disturbs_nothing(
    description, namespace, kubectl, custom, core, admin, start_operator, capsys
):
    started = time.monotonic()
    other = f"{namespace}-other"
    namespaces = {"main": namespace, "other": other}
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        _run(description, namespaces, kubectl, custom, core, admin, start_operator, capsys, started)
    finally:
        for item in custom.list_namespaced_custom_object(GROUP, VERSION, other, PLURALS[POLICY])["items"]:
            # no namespace controller in the sandbox: strip what the operator may have left, then let it go
            kubectl(
                "patch",
                "mup",
                item["metadata"]["name"],
                "-n",
                other,
                "--type=merge",
                "-p",
                '{"metadata":{"finalizers":null}}',
            )
        kubectl("delete", "namespace", other, "--wait=false")


def _run(description, namespaces, kubectl, custom, core, admin, start_operator, capsys, started):
    namespace, other = namespaces["main"], namespaces["other"]
    manifests = chart_kit.render({"watchNamespaces": [namespace, other]}, namespace=OPERATOR_NAMESPACE)
    install_chart_identity(kubectl, manifests, OPERATOR_NAMESPACE)
    metrics_port = free_port()
    process = start_operator("-n", other, "--log-format", "json", "--metrics-port", str(metrics_port))

    good_vault = vault_spec(description, 0)
    kubectl.apply(policy("good", namespace, good_vault))
    good = wait_ready(custom, namespace, "good")
    good_since = condition(good, "Ready")["lastTransitionTime"]

    bundle, certificate, private_key = self_signed()
    identity = {
        "tenantId": description["tenantId"],
        "clientId": description["clientId"],
        "clientSecret": description["clientSecret"],
    }
    subscriptions = sorted({vault["subscriptionId"] for vault in description["vaults"]})
    cases = badinput.stalled_cases(
        good_vault,
        subscriptions,
        identity,
        certificate=bundle,
        certificate_only=certificate,
        key_only=private_key,
        encrypted=encrypted_bundle(),
    )
    secrets = [
        secret_body(namespaces[case.namespace], case.secret_name, dict(case.secret))
        for case in cases
        if case.secret is not None
    ]
    kubectl.apply([*secrets, *(case.body(namespaces[case.namespace]) for case in cases)])
    applied = time.monotonic()

    def key_of(case: Case) -> tuple[str, str, str]:
        return (case.kind, namespaces[case.namespace], case.name)

    def all_stalled():
        found = listed(custom, namespaces)
        waiting = [case for case in cases if not stalled_as_expected(found.get(key_of(case)), case)]
        return found if not waiting else None

    try:
        found = wait_for(all_stalled, timeout=60, interval=0.5, what="every generated case Stalled with its reason")
    except AssertionError:
        found = listed(custom, namespaces)
        seen = {
            case.id: (
                condition(found.get(key_of(case)) or {}, "Ready").get("reason"),
                condition(found.get(key_of(case)) or {}, "Ready").get("message"),
            )
            for case in cases
            if not stalled_as_expected(found.get(key_of(case)), case)
        }
        raise AssertionError(f"not stalled as expected: {json.dumps(seen, indent=2)}") from None
    settled = time.monotonic()

    # each stalled cleanly: one reason on the three summary conditions, a one-line message that says what
    problems = []
    for case in cases:
        body = found[key_of(case)]
        summary = {kind: condition(body, kind) for kind in ("Ready", "Reconciling", "Stalled")}
        message = summary["Ready"].get("message") or ""
        if [summary[kind].get("status") for kind in ("Ready", "Reconciling", "Stalled")] != ["False", "False", "True"]:
            problems.append(f"{case.id}: Ready/Reconciling/Stalled are {[c.get('status') for c in summary.values()]}")
        if len({(c.get("reason"), c.get("message")) for c in summary.values()}) != 1:
            problems.append(f"{case.id}: the summary conditions disagree: {summary}")
        if case.message not in message:
            problems.append(f"{case.id}: {case.message!r} not in {message!r}")
        if "\n" in message or len(message) > MAX_MESSAGE or TRACEBACK.search(message):
            problems.append(f"{case.id}: not a one-line message: {message!r}")
        events = events_for(core, namespaces[case.namespace], case.name)
        for event in events:
            if TRACEBACK.search(event.message or "") or "\n" in (event.message or ""):
                problems.append(f"{case.id}: Event {event.reason}: {event.message!r}")
        if len([event for event in events if f"stalled:{event.reason}" == case.expect]) > 1:
            problems.append(f"{case.id}: more than one {case.expect} Event")
    conflict = found[key_of(next(case for case in cases if case.namespace == "other"))]
    assert f"MobilityUpdatePolicy {namespace}/good" in condition(conflict, "Ready")["message"]
    assert not problems, "\n".join(problems)

    # then nothing more happens: no pass loop, no status churn, no Azure calls for the stalled vaults
    records_before = len(log_records(process))
    passes_before, _ = reconcile_totals(metrics_port)
    requests_before = len(admin.requests())
    versions = {key_of(case): found[key_of(case)]["metadata"]["resourceVersion"] for case in cases}
    changes: dict[tuple[str, str, str], int] = {}
    window_end = time.monotonic() + WINDOW

    def window_over():
        for item_key, body in listed(custom, namespaces).items():
            if item_key in versions and body["metadata"]["resourceVersion"] != versions[item_key]:
                changes[item_key] = changes.get(item_key, 0) + 1
                versions[item_key] = body["metadata"]["resourceVersion"]
        return time.monotonic() >= window_end

    wait_for(window_over, timeout=WINDOW + 30, interval=0.5, what="the end of the observation window")
    passes_after, panics = reconcile_totals(metrics_port)
    records = log_records(process)
    window = records[records_before:]
    per_object: dict[tuple[str, str], int] = {}
    for record in window:
        ref = record.get("object") or {}
        text = str(record.get("message") or "")
        if ref and (text.startswith("Handler ") or text.startswith("Timer ")):
            per_object[(ref.get("namespace"), ref.get("name"))] = (
                per_object.get((ref.get("namespace"), ref.get("name")), 0) + 1
            )
    operator = arm_requests(_After(admin, requests_before))
    nowhere = [request for request in operator if "nowhere" in request["path"] or "0badc0de" in request["path"]]

    hot = {f"{ns}/{name}": count for (ns, name), count in per_object.items() if count > MAX_PASSES}
    retried = [  # only a new spec helps an invalid one: it is not retried at all
        case.id
        for case in cases
        if case.expect == "stalled:InvalidSpec" and per_object.get((namespaces[case.namespace], case.name))
    ]
    assert not retried, f"InvalidSpec retried without a spec change: {retried}"
    churn = {f"{kind} {ns}/{name}": count for (kind, ns, name), count in changes.items() if count > MAX_PASSES}
    assert not hot, f"handler or timer lines per object in {WINDOW:.0f} s: {hot}"
    assert not churn, f"resourceVersion changes per object in {WINDOW:.0f} s: {churn}"
    assert passes_after - passes_before <= MAX_PASSES * len(cases), (passes_before, passes_after)
    assert len(nowhere) <= MAX_PASSES * 3, "\n".join(f"{r['method']} {r['status']} {r['path']}" for r in nowhere)
    assert panics == 0, "a pass ended in InternalError"

    # the operator never crashed or logged a failure of its own, and the chart's RBAC was enough
    assert process.process is not None and process.process.poll() is None, "the operator exited"
    messages = [str(record.get("message") or "") + str(record.get("exc_info") or "") for record in records]
    assert not [m for m in messages if TRACEBACK.search(m)], [m for m in messages if TRACEBACK.search(m)][:3]
    assert not [m for m in messages if "failed unexpectedly" in m]
    assert not [m for m in messages if RBAC_DENIAL in m], [m for m in messages if RBAC_DENIAL in m][:3]

    # and the good policy never noticed
    good = get_object(custom, POLICY, namespace, "good")
    assert condition(good, "Ready")["status"] == "True" and condition(good, "Ready")["reason"] == "Converged"
    assert condition(good, "Ready")["lastTransitionTime"] == good_since
    assert not [e for e in events_for(core, namespace, "good") if e.type == "Warning"]

    # a conflicting policy in the other namespace goes away through its finalizer, and the good one stays
    conflicting = next(case for case in cases if case.namespace == "other")
    kubectl("delete", "mup", conflicting.name, "-n", other, "--timeout=30s")
    assert condition(get_object(custom, POLICY, namespace, "good"), "Ready")["status"] == "True"

    with capsys.disabled():
        print(
            f"\n{len(cases)} generated stalled cases ({sum(c.kind == POLICY for c in cases)} policies, "
            f"{sum(c.kind == FLEET for c in cases)} fleets) in 2 namespaces: all Stalled "
            f"{settled - applied:.1f} s after one apply; {passes_after - passes_before:.0f} passes, "
            f"{len(window)} log lines and {sum(changes.values())} status writes in the {WINDOW:.0f} s after; "
            f"{time.monotonic() - started:.0f} s in all"
        )


class _After:
    """`admin` as `arm_requests` reads it, showing only the request log after its first `since` entries."""

    def __init__(self, admin, since: int):
        self.admin, self.since = admin, since

    def requests(self) -> list[dict]:
        return self.admin.requests()[self.since :]
