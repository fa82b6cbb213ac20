"""Crash trials: SIGKILL the operator at a seeded random moment of a fleet's convergence, start a successor, and
check that it converges with nothing doubled and no operation lost. Shared by tests/e2e/test_crash_trials.py (a
handful of seeds) and bench/crash_trials.py (fifty or more).

One trial (`run_trial`), on a fresh estate:

* three vaults over both subscriptions (two A2A mappings each) and a MobilityUpdateFleet over them;
* the emulator's Site Recovery operations run `OPERATION_SECONDS`, so mapping updates are in flight for a while
  and a kill can land between a mapping PATCH and the status write that records it;
* `kill_delay(seed)` seconds after the fleet is applied, uniform in [0, KILL_WINDOW_SECONDS] (about the time a
  whole convergence takes), the operator is SIGKILLed and a successor started;
* once the fleet and every child are Ready, the estate is checked: per vault one automation account (the default
  name), one Contributor assignment for its identity on the vault, every A2A mapping Enabled with that account,
  one schedule and one job schedule per mapping, one child policy; no child status.operations entry left
  unfinished, and every mapping as its last recorded operation asked.

The request log says how many mapping PATCHes were sent per mapping and how many were answered 409. More than
one is the known window (the kill came after a PATCH and before the status write that records it: the successor
sees no record and sends it again; Site Recovery, still busy, answers 409 AnotherOperationInProgress, which the
operator waits on, PATCHing again at its next pass until the first operation's change shows). It is counted,
not failed. What fails a trial is a doubling: a mapping with two
operations accepted (two 202s, two operations in the emulator), a second account, assignment, schedule, job
schedule or child; and convergence that does not come.

Reproducible as far as processes are: the seed fixes the kill delay, and the emulator runs without ARM latency,
but where a pass is at that moment depends on the machine's timing.
"""

from __future__ import annotations

import dataclasses
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.azure.state.default_estate import LATEST, a2a_vault
from asr_sandbox.process import OperatorProcess
from tests.e2e.estate_checks import vault_problems
from tests.e2e.kit import (
    GROUP,
    PLURAL,
    VERSION,
    automation_accounts,
    condition,
    default_account_name,
    fleet,
    operator_object_id,
    vault_id,
)
from tests.support import Timeout, wait_for

FLEET = "crashy"
FLEETS = "mobilityupdatefleets"
FLEET_LABEL = f"{GROUP}/fleet"
RESOURCE_GROUP_PREFIX = "rg-crash-"
OPERATION_SECONDS = 3
# The emulator after the reset: identities usable at once (as every e2e test), and mapping operations that run
# a few seconds (Retry-After stays the fast pace's 1 s).
AZURE_CONFIG = {"principalPropagationDelaySeconds": 0, "operationDurationSeconds": OPERATION_SECONDS}
# The fleet test's pace: drift checks, fleet passes and discovery every second or two.
OPERATOR_ARGS = ("--drift-interval-override", "1", "--fleet-tick", "1", "--discovery-interval-override", "2")
# About the time from `kubectl apply` of the fleet to the fleet and its children Ready, undisturbed, with these
# settings: 9.7-11 s when measured (bench/crash_trials.py measures it again and prints it before the trials).
KILL_WINDOW_SECONDS = 10.0
CONVERGE_TIMEOUT = 90.0
VAULT_COUNT = 3
SCHEDULE_TIME = "04:00"
MAPPING_PATH = re.compile(r"/replicationProtectionContainerMappings/([^/?]+)$", re.IGNORECASE)

StartOperator = Callable[..., OperatorProcess]


def kill_delay(seed: int, window: tuple[float, float] = (0.0, KILL_WINDOW_SECONDS)) -> float:
    """The trial's kill point: seconds after the fleet's apply returned, uniform in `window` (by default
    [0, KILL_WINDOW_SECONDS])."""
    return round(random.Random(seed).uniform(*window), 2)


def pause_for_trial(seconds: float) -> None:
    """The experiment's random kill point, not synchronisation: the operator is left to run for `seconds`,
    whatever it is doing, and then killed. Every other wait of a trial is a `wait_for` on a condition."""
    time.sleep(seconds)


# --- the estate ------------------------------------------------------------------------------------------------


def trial_vaults(subscriptions: list[str]) -> list[dict]:
    """Three vaults, two in the first subscription and one in the second, two A2A mappings each."""
    sub_a, sub_b = subscriptions[:2]
    shapes = [
        (sub_a, "westeurope", "northeurope", "rsv-crash-weu-1"),
        (sub_a, "westeurope", "northeurope", "rsv-crash-weu-2"),
        (sub_b, "southeastasia", "eastasia", "rsv-crash-sea"),
    ]
    return [
        a2a_vault(
            subscription,
            RESOURCE_GROUP_PREFIX + location,
            name,
            location,
            source,
            [{"friendlyName": f"{name}-vm-{i}", "agentVersion": LATEST, "agentExpiresInDays": 300} for i in (1, 2)],
        )
        for subscription, location, source, name in shapes
    ]


def vault_ref(vault: dict) -> dict:
    return {key: vault[key] for key in ("subscriptionId", "resourceGroup", "name")}


def fleet_manifest(namespace: str, subscriptions: list[str]) -> dict:
    return fleet(
        FLEET,
        namespace,
        subscriptions,
        {"resourceGroups": [RESOURCE_GROUP_PREFIX + "*"]},
        {"updateMode": "Automatic", "schedule": {"time": SCHEDULE_TIME, "timeZone": "UTC"}},
    )


# --- reading the trial back ------------------------------------------------------------------------------------


def get_fleet(custom, namespace: str) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, FLEETS, FLEET)


def all_policies(custom, namespace: str) -> list[dict]:
    return custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]


def converged(custom, namespace: str, count: int) -> bool:
    """The fleet Ready (Converged, for its generation, every vault counted Ready) and each child Ready for its
    generation."""
    fleet = get_fleet(custom, namespace)
    status = fleet.get("status") or {}
    if condition(fleet, "Ready").get("reason") != "Converged" or status.get("totals", {}).get("ready") != count:
        return False
    if status.get("observedGeneration") not in (None, fleet["metadata"]["generation"]):
        return False
    children = all_policies(custom, namespace)
    return len(children) == count and all(
        condition(child, "Ready").get("status") == "True"
        and condition(child, "Ready").get("reason") == "Converged"
        and (child.get("status") or {}).get("observedGeneration") == child["metadata"]["generation"]
        for child in children
    )


def mapping_key(path: str) -> str | None:
    """`vault/mapping` of a mapping's path (None for any other path)."""
    path = path.split("?")[0]
    found = MAPPING_PATH.search(path)
    if not found:
        return None
    vault = re.search(r"/vaults/([^/]+)/", path, re.IGNORECASE)
    return f"{vault.group(1) if vault else '?'}/{found.group(1)}".lower()


def describe_request(request: dict) -> str:
    """`PATCH 202 rsv-crash-sea/<mapping>`, `GET 200 rsv-crash-sea jobSchedules`: short enough for a table."""
    path = request["path"].split("?")[0]
    key = mapping_key(path)
    if key is None:
        parts = [p for p in path.split("/") if p]
        owner = re.search(r"/(?:vaults|automationAccounts)/([^/]+)", path, re.IGNORECASE)
        kind = parts[-2] if len(parts) % 2 == 0 else parts[-1]  # a named resource's type, or a collection
        key = f"{owner.group(1).removesuffix('-asr-automationaccount')} {kind}" if owner else kind
    return f"{request['method']} {request['status']} {key}"


@dataclasses.dataclass
class Trial:
    seed: int
    delay: float
    namespace: str = ""  # where the trial ran (the bench's --keep keeps its operators' logs by that name)
    last_before_kill: str = ""  # the operator's last ARM request before the kill
    in_flight_at_kill: int = 0  # Site Recovery operations running at the kill
    unrecorded_at_kill: int = 0  # ... of which no child's status.operations held a record: the known window
    children_at_kill: int = 0
    converged_at_kill: bool = False
    patches: dict[str, int] = dataclasses.field(default_factory=dict)  # vault/mapping -> PATCHes sent
    conflicts: dict[str, int] = dataclasses.field(default_factory=dict)  # vault/mapping -> 409 answers
    seconds_to_converge: float | None = None  # from the successor's start to the fleet converged
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def max_patches(self) -> int:
        return max(self.patches.values(), default=0)

    @property
    def total_conflicts(self) -> int:
        return sum(self.conflicts.values())


def run_trial(
    seed: int,
    *,
    admin: AdminClient,
    arm,
    kubectl,
    custom,
    namespace: str,
    start_operator: StartOperator,
    delay: float | None = None,
) -> Trial:
    """One trial on the fresh estate of `namespace` (reset and configured with AZURE_CONFIG by the caller);
    never raises for what it finds: `Trial.problems` says what went wrong."""
    trial = Trial(seed=seed, delay=kill_delay(seed) if delay is None else delay, namespace=namespace)
    subscriptions = [s["subscriptionId"] for s in admin.state()["subscriptions"]]
    vaults = trial_vaults(subscriptions)
    admin.post("seed", {"vaults": vaults})
    operator = operator_object_id(admin)

    first = start_operator(*OPERATOR_ARGS)
    kubectl.apply(fleet_manifest(namespace, subscriptions))
    pause_for_trial(trial.delay)
    first.kill()
    killed_at = datetime.now().astimezone()
    _note_kill(trial, admin, custom, namespace, operator, killed_at)

    restarted = time.monotonic()
    start_operator(*OPERATOR_ARGS)
    try:
        wait_for(
            lambda: converged(custom, namespace, len(vaults)),
            timeout=CONVERGE_TIMEOUT,
            interval=0.2,
            what="the fleet and its children Ready after the restart",
        )
    except Timeout as timeout:
        trial.problems.append(f"no convergence: {timeout}")
    else:
        trial.seconds_to_converge = round(time.monotonic() - restarted, 2)
    _check_estate(trial, admin, arm, custom, namespace, vaults, operator)
    return trial


@dataclasses.dataclass(frozen=True)
class Baseline:
    """An undisturbed convergence, in seconds after the fleet's apply returned (the point kill delays count
    from): until converged, and the first and last mapping PATCH (the writes a kill can cut from their record)."""

    seconds: float
    first_patch: float | None
    last_patch: float | None


def undisturbed_convergence(
    *, admin: AdminClient, kubectl, custom, namespace: str, start_operator: StartOperator
) -> Baseline:
    """The fleet's convergence with no kill: what KILL_WINDOW_SECONDS is meant to be about."""
    subscriptions = [s["subscriptionId"] for s in admin.state()["subscriptions"]]
    admin.post("seed", {"vaults": trial_vaults(subscriptions)})
    start_operator(*OPERATOR_ARGS)
    kubectl.apply(fleet_manifest(namespace, subscriptions))
    applied, applied_at = time.monotonic(), datetime.now().astimezone()
    wait_for(lambda: converged(custom, namespace, VAULT_COUNT), timeout=CONVERGE_TIMEOUT, interval=0.05)
    seconds = time.monotonic() - applied
    patches = [
        (datetime.fromisoformat(r["time"]) - applied_at).total_seconds()
        for r in _operator_requests(admin, operator_object_id(admin))
        if r["method"] == "PATCH" and mapping_key(r["path"])
    ]
    return Baseline(
        round(seconds, 2), round(min(patches), 2) if patches else None, round(max(patches), 2) if patches else None
    )


def _note_kill(trial: Trial, admin, custom, namespace: str, operator: str, killed_at: datetime) -> None:
    """What was going on at the kill: the last request, the operations running and those not yet recorded."""
    state = admin.state()
    before = [r for r in _operator_requests(admin, operator) if datetime.fromisoformat(r["time"]) <= killed_at]
    trial.last_before_kill = describe_request(before[-1]) if before else "(none)"
    children = all_policies(custom, namespace)
    trial.children_at_kill = len(children)
    trial.converged_at_kill = converged(custom, namespace, VAULT_COUNT)
    recorded = {
        entry.get("mappingId", "").lower()
        for child in children
        for entry in (child.get("status") or {}).get("operations") or []
        if not entry.get("finished")
    }
    running = [op["mapping"].lower() for op in state["operationsInFlight"]]
    trial.in_flight_at_kill = len(running)
    trial.unrecorded_at_kill = sum(mapping not in recorded for mapping in running)


def _operator_requests(admin, operator: str) -> list[dict]:
    return [
        r
        for r in admin.requests()
        if "/oauth2/" not in r["path"]
        and "openid-configuration" not in r["path"]
        and (r.get("principal") or "").lower() == operator.lower()
    ]


def _check_estate(trial: Trial, admin, arm, custom, namespace: str, vaults: list[dict], operator: str) -> None:
    problems = trial.problems
    state = admin.state()
    requests = _operator_requests(admin, operator)
    patches = [r for r in requests if r["method"] == "PATCH" and mapping_key(r["path"])]
    trial.patches = dict(Counter(mapping_key(r["path"]) for r in patches))
    trial.conflicts = dict(Counter(mapping_key(r["path"]) for r in patches if r["status"] == 409))
    accepted = Counter(mapping_key(r["path"]) for r in patches if r["status"] == 202)
    for key, count in sorted(accepted.items()):
        if count > 1:
            problems.append(f"mapping {key}: {count} PATCHes accepted (202)")
    # None: the request was cut off by the kill before it was answered (it changed nothing, or it is a 202 here)
    other = sorted({r["status"] for r in patches} - {202, 409, None})
    if other:
        problems.append(f"mapping PATCHes answered {other}")
    applied = Counter(op["mappingId"].lower() for op in state["operations"])
    for mapping, count in sorted(applied.items()):
        if count > 1:
            problems.append(f"mapping {mapping_key(mapping)}: {count} Site Recovery operations")
    if state["operationsInFlight"]:
        problems.append(f"{len(state['operationsInFlight'])} Site Recovery operations still running")

    children = all_policies(custom, namespace)
    by_vault = Counter(vault_id(child["spec"]["vault"]).lower() for child in children)
    for vault in vaults:
        if by_vault[vault_id(vault).lower()] != 1:
            problems.append(f"{by_vault[vault_id(vault).lower()]} child policies for {vault['name']}")
    strays = set(by_vault) - {vault_id(v).lower() for v in vaults}
    if strays:
        problems.append(f"child policies for vaults outside the trial: {sorted(strays)}")
    for child in children:
        unfinished = [
            e["mapping"] for e in (child.get("status") or {}).get("operations") or [] if not e.get("finished")
        ]
        if unfinished:
            problems.append(f"{child['metadata']['name']}: operations not finished: {unfinished}")

    for subscription in {v["subscriptionId"] for v in vaults}:
        names = sorted(a.name for a in automation_accounts(arm, subscription))
        wanted = sorted(default_account_name(v) for v in vaults if v["subscriptionId"] == subscription)
        if names != wanted:
            problems.append(f"automation accounts in {subscription}: {names}, not {wanted}")
    for vault in vaults:
        _check_vault(problems, arm, vault_ref(vault), children)


def _check_vault(problems: list[str], arm, vault: dict, children: list[dict]) -> None:
    # the fleet's child of the vault (a second policy for it is reported by _check_estate, not read here)
    child = next(
        (
            c
            for c in children
            if vault_id(c["spec"]["vault"]).lower() == vault_id(vault).lower()
            and (c["metadata"].get("labels") or {}).get(FLEET_LABEL) == FLEET
        ),
        None,
    )
    problems.extend(vault_problems(arm, vault, policy=child, schedule_time=SCHEDULE_TIME))


def trial_line(trial: Trial) -> str:
    """One row of the bench's table."""
    converge = f"{trial.seconds_to_converge:6.2f}" if trial.seconds_to_converge is not None else "     -"
    kill = (
        "after convergence"
        if trial.converged_at_kill
        else f"{trial.children_at_kill} children, {trial.in_flight_at_kill} ops running"
        + (f" ({trial.unrecorded_at_kill} unrecorded)" if trial.unrecorded_at_kill else "")
    )
    verdict = "OK" if trial.ok else f"FAIL ({trial.namespace}) " + "; ".join(trial.problems)
    return (
        f"seed {trial.seed:4d}  kill {trial.delay:5.2f} s  {kill:<38}  last {trial.last_before_kill:<60}  "
        f"PATCH/mapping max {trial.max_patches}  409s {trial.total_conflicts}  converge {converge} s  {verdict}"
    )
