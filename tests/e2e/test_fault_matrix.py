"""The Azure fault matrix: every operation × every fault, from the tables of tests/e2e/fault_matrix.py (whose
docstring says what a cell checks). The cells run once for the module (`matrix`); each cell is one test that
asserts its own result, so a failing cell names itself (`-k <operation>-<fault>`). The terminal summary prints
one line per cell and the counts (cells run, not applicable, passed, failed)."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import kubernetes
import pytest

from asr_sandbox.azure.state.default_estate import LATEST, a2a_vault
from asr_sandbox.process import OperatorProcess
from tests.chart import chart_kit
from tests.e2e import fault_matrix as fm
from tests.e2e.conftest import OPERATOR_NAMESPACE, PERSON, RBAC_DENIAL
from tests.e2e.estate_checks import vault_problems
from tests.e2e.kit import (
    GROUP,
    PLURAL,
    REPAIR_ANNOTATION,
    TRACEBACK,
    VERSION,
    a2a_mappings,
    automation_accounts,
    condition,
    default_account_name,
    events_for,
    fleet,
    policy,
    role_assignments_on_vault,
    secret_manifest,
)
from tests.kube_kit import install_chart_identity, service_account_kubeconfig

FLEETS = "mobilityupdatefleets"
MATRIX_LINES = pytest.StashKey[list]()
CELLS = fm.cells()
COLUMNS = [f for f in fm.FAULTS if any(c.fault is f and not c.serial for c in CELLS)]


class CellRun:
    """One cell's state machine, stepped by its batch's loop: prepare → faulted → cleared → done."""

    def __init__(self, cell: fm.Cell, env: MatrixEnv, namespace: str, subscription: str):
        self.cell, self.env, self.namespace = cell, env, namespace
        self.result = fm.Result(cell, namespace=namespace)
        op = cell.operation
        group = f"rg-mx-fleet-{cell.index:03d}" if op.scenario == "fleet" else fm.FIRST_SUBSCRIPTION_GROUP
        self.vault = {"subscriptionId": subscription, "resourceGroup": group, "name": cell.vault}
        self.account = default_account_name(self.vault)
        self.fault_id: str | None = None
        self.client_id = f"c1e47000-0000-4000-8000-{cell.index:012d}"  # the token cell's own application
        self.secret_name = f"{cell.policy}-credentials"
        self.state = "prepare"
        self.started = time.monotonic()
        self.faulted_at = 0.0
        self.cleared_at = 0.0
        self.deadline = self.started + fm.REASON_TIMEOUT

    # --- the cell's objects ---

    def seed(self) -> dict:
        return a2a_vault(
            self.vault["subscriptionId"],
            self.vault["resourceGroup"],
            self.cell.vault,
            "westeurope",
            "northeurope",
            [
                {"friendlyName": f"{self.cell.vault}-vm-{i}", "agentVersion": LATEST, "agentExpiresInDays": 300}
                for i in (1, 2)
            ],
        )

    def manifest(self) -> dict:
        op = self.cell.operation
        spec: dict = {"schedule": {"time": fm.SCHEDULE_TIME, "timeZone": "UTC"}}
        if op.scenario == "localtime":
            spec["schedule"] = {"time": fm.SCHEDULE_TIME}
        if op.scenario == "paused":
            spec["updatesPaused"] = True
        if op.scenario == "runas":
            spec["authentication"] = "RunAsAccount"
        if op.scenario == "delete":
            spec["deletionPolicy"] = "Delete"
        if op.scenario == "token":
            spec["credentialsSecretRef"] = {"name": self.secret_name}
        if op.scenario == "fleet":
            return fleet(
                self.cell.policy,
                self.namespace,
                [self.vault["subscriptionId"]],
                {"resourceGroups": [self.vault["resourceGroup"]]},
                {"updateMode": "Automatic", **spec},
            )
        ref = {k: self.vault[k] for k in ("subscriptionId", "resourceGroup", "name")}
        return policy(self.cell.policy, self.namespace, ref, **spec)

    def body(self) -> dict | None:
        plural = FLEETS if self.cell.operation.scenario == "fleet" else PLURAL
        try:
            return self.env.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, self.cell.policy
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def child(self) -> dict | None:
        """The policy whose estate is checked: the cell's own, or the fleet's child."""
        if self.cell.operation.scenario != "fleet":
            return self.body()
        items = self.env.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)["items"]
        return items[0] if len(items) == 1 else None

    # --- the fault ---

    def post_fault(self) -> None:
        fault = self.cell.fault
        if fault.outcome is not None:
            self.env.admin.post("config", {"operationOutcome": fault.outcome})
        else:
            pattern = self.cell.operation.pattern(self.cell.vault, self.account)
            confined = {"clientId": self.client_id} if self.cell.operation.scenario == "token" else {}
            answer = self.env.admin.post(
                "faults",
                {"method": self.cell.operation.method, "pathPattern": pattern, **confined, **(fault.spec or {})},
            )
            self.fault_id = answer["id"]
        self.faulted_at = time.monotonic()
        self.deadline = self.faulted_at + fm.REASON_TIMEOUT

    def clear_fault(self) -> None:
        if self.cell.fault.outcome is not None:
            self.env.admin.post("config", {"operationOutcome": "Succeeded"})
            if self.cell.fault.outcome == "NeverEnds":
                self.env.admin.post("operations/end", {})
            else:  # MappingUpdateFailed waits for a person: what docs/reasons.md tells them to do
                self.annotate_repair()
        elif self.fault_id:
            self.env.admin.delete(f"faults/{self.fault_id}")
        self.cleared_at = time.monotonic()
        self.deadline = self.cleared_at + fm.CONVERGE_TIMEOUT

    def annotate_repair(self) -> None:
        patch = {"metadata": {"annotations": {REPAIR_ANNOTATION: uuid.uuid4().hex}}}
        self.env.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.cell.policy, patch)

    def hits(self, faults: dict[str, dict]) -> int:
        if self.cell.fault.outcome is not None:
            state = self.env.admin.state()
            return sum(
                1
                for op in state["operations"]
                if op["outcome"] == self.cell.fault.outcome and f"/vaults/{self.cell.vault}/" in op["vaultId"] + "/"
            )
        found = faults.get(self.fault_id or "")
        return found["hits"] if found else self.result.hits

    # --- one step ---

    def start(self) -> None:
        if self.cell.operation.scenario == "runas":
            self.person_made_run_as_account()
        if self.cell.operation.scenario == "token":
            self.own_service_principal()
        if self.cell.operation.scenario != "delete":
            self.post_fault()
        self.env.kubectl.apply(self.manifest())
        self.state = "converging" if self.cell.operation.scenario == "delete" else "faulted"

    def person_made_run_as_account(self) -> None:
        automation = self.env.arm.automation(self.vault["subscriptionId"])
        account = automation.automation_account.create_or_update(
            self.vault["resourceGroup"],
            self.account,
            {"location": "westeurope", "properties": {"sku": {"name": "Basic"}}},
        )
        self.env.admin.post("runas", {"automationAccountId": account.id})

    def own_service_principal(self) -> None:
        """An application of the cell's own, Owner on the vault's subscription, in a Secret the policy names."""
        secret = f"mx-secret-{self.cell.index}"
        object_id = f"0b1e7000-0000-4000-8000-{self.cell.index:012d}"
        principal = {"kind": "ServicePrincipal", "displayName": self.cell.policy, "objectId": object_id}
        self.env.admin.post("principals", {**principal, "clientId": self.client_id, "clientSecret": secret})
        scope = f"/subscriptions/{self.vault['subscriptionId']}"
        self.env.admin.post("role-assignments", {"principalId": object_id, "role": "Owner", "scope": scope})
        self.env.kubectl.apply(
            secret_manifest(
                self.namespace,
                self.secret_name,
                tenantId=self.env.description["tenantId"],
                clientId=self.client_id,
                clientSecret=secret,
            )
        )

    def step(self, faults: dict[str, dict]) -> bool:
        """Advance; True once done."""
        now = time.monotonic()
        body = self.body()
        ready = condition(body or {}, "Ready")
        fresh = body is not None and (body.get("status") or {}).get("observedGeneration") in (
            None,
            body["metadata"]["generation"],
        )
        if self.state == "converging":  # a deletion cell: converge first, then fault the deletion
            if ready.get("reason") == "Converged" and fresh:
                self.post_fault()
                self.env.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, self.cell.policy
                )
                self.state = "faulted"
            elif now > self.deadline:
                return self.fail("never converged before its deletion")
            return False
        if self.state == "faulted":
            self.result.hits = self.hits(faults)
            if self.result.hits and condition(body or {}, self.cell.operation.shows_on).get("reason"):
                self.result.reasons.append(condition(body or {}, self.cell.operation.shows_on)["reason"])
                self.check_waiting(body or {})
            if body is None:
                return self.fail(f"gone while the fault lasted (hits {self.result.hits})")
            hit_enough = self.result.hits >= (1 if self.cell.fault.outcome else fm.RETRIES + 1)
            shown = condition(body or {}, self.cell.operation.shows_on)
            wanted_status = ("True",) if self.cell.reason == "Converged" else ("False", "Unknown")
            if (
                hit_enough
                and shown.get("reason") == self.cell.reason
                and shown.get("status") in wanted_status
                and (self.cell.reason != "Converged" or fresh)
            ):
                self.result.seconds_to_reason = round(now - self.faulted_at, 1)
                self.clear_fault()
                self.state = "cleared"
            elif now > self.deadline:
                self.clear_fault()
                return self.fail(f"no {self.cell.reason} within {fm.REASON_TIMEOUT:g}s: {shown}")
            return False
        if self.state == "cleared":
            if self.cell.operation.scenario == "delete":
                done = body is None
            else:
                done = ready.get("status") == "True" and ready.get("reason") == "Converged" and fresh
                if done and self.cell.operation.scenario == "fleet":
                    child = self.child()
                    done = child is not None and condition(child, "Ready").get("reason") == "Converged"
            if done:
                self.result.seconds_to_converge = round(now - self.cleared_at, 1)
                self.finish()
                return True
            if now > self.deadline:
                return self.fail(f"not converged within {fm.CONVERGE_TIMEOUT:g}s of the fault's end: Ready {ready}")
            return False
        return True

    def check_waiting(self, body: dict) -> None:
        reason = condition(body, "Ready").get("reason")
        if reason == "InternalError":
            self.problem("InternalError while the fault lasted")
        if self.cell.fault.waiting and reason not in ("Progressing", "Converged", None):
            self.problem(f"{reason} while Azure only said 'not yet'")
        if self.cell.fault.waiting and condition(body, "Stalled").get("status") == "True":
            self.problem("Stalled=True while Azure only said 'not yet'")

    def finish(self) -> None:
        op = self.cell.operation
        if op.scenario == "delete":
            self.result.problems.extend(self.nothing_left())
        else:
            self.result.problems.extend(
                vault_problems(
                    self.env.arm,
                    self.vault,
                    identity=op.scenario != "runas",
                    policy=self.child(),
                    schedule_time=fm.SCHEDULE_TIME,
                )
            )
        names = [self.cell.policy] + (
            [c["metadata"]["name"] for c in [self.child() or {}] if c] if op.scenario == "fleet" else []
        )
        for name in names:
            for event in events_for(self.env.core, self.namespace, name):
                if TRACEBACK.search(event.message or "") or "InternalError" in (event.reason or "") + (
                    event.message or ""
                ):
                    self.problem(f"Event {event.reason}: {event.message}")

    def nothing_left(self) -> list[str]:
        """After a deletion with deletionPolicy Delete: no account, no role of it on the vault, mappings off."""
        problems = []
        accounts = [
            a for a in automation_accounts(self.env.arm, self.vault["subscriptionId"]) if a.name == self.account
        ]
        if accounts:
            problems.append(f"{len(accounts)} accounts {self.account} after the deletion")
        if self.env.principals.get(self.cell.id):
            roles = role_assignments_on_vault(self.env.arm, self.vault, self.env.principals[self.cell.id])
            if roles:
                problems.append(f"{len(roles)} role assignments left on the vault")
        statuses = {
            m.properties.provider_specific_details.agent_auto_update_status
            for m in a2a_mappings(self.env.arm, self.vault)
        }
        if statuses != {"Disabled"}:
            problems.append(f"mappings {sorted(statuses)} after the deletion")
        return problems

    def problem(self, text: str) -> None:
        if text not in self.result.problems:
            self.result.problems.append(text)

    def fail(self, text: str) -> bool:
        self.problem(text)
        return True


class MatrixEnv:
    """The session's clients, the operators this module starts (ended by PID) and the namespaces."""

    def __init__(self, sandbox, admin, arm, kubectl, custom, core, description, tmp_path_factory):
        self.sandbox, self.admin, self.arm, self.kubectl = sandbox, admin, arm, kubectl
        self.custom, self.core, self.description = custom, core, description
        self.tmp = tmp_path_factory.mktemp("fault-matrix")
        self.operators: list[OperatorProcess] = []
        self.principals: dict[str, str] = {}
        self.kubeconfig = None

    def identity(self, namespaces: list[str]) -> None:
        manifests = chart_kit.render({"watchNamespaces": namespaces}, namespace=OPERATOR_NAMESPACE)
        install_chart_identity(self.kubectl, manifests, OPERATOR_NAMESPACE)
        [account] = [m for m in manifests if m["kind"] == "ServiceAccount"]
        self.kubeconfig = service_account_kubeconfig(
            self.core, self.description, OPERATOR_NAMESPACE, account["metadata"]["name"], self.tmp / "kubeconfig"
        )

    def start_operator(self, namespace: str) -> OperatorProcess:
        process = OperatorProcess(
            self.sandbox.state_dir,
            args=["-n", namespace, *fm.OPERATOR_ARGS],
            log_path=self.tmp / f"operator-{namespace}.log",  # one operator per namespace
            kubeconfig=self.kubeconfig,
        )
        self.operators.append(process)
        return process.start()


def fresh_estate(admin) -> list[str]:
    admin.reset()
    admin.post("config", fm.AZURE_CONFIG)
    admin.post("principals", PERSON)
    subscriptions = [s["subscriptionId"] for s in admin.state()["subscriptions"]]
    for subscription in subscriptions:
        admin.post(
            "role-assignments",
            {"principalId": PERSON["objectId"], "role": "Owner", "scope": f"/subscriptions/{subscription}"},
        )
    return subscriptions


def run_batch(runs: list[CellRun], env: MatrixEnv) -> None:
    """Step every run until each is done; a delete cell remembers its account's identity before the delete."""
    for run in runs:
        run.start()
    pending = list(runs)
    while pending:
        faults = {f["id"]: f for f in env.admin.get("faults")["faults"]}
        still = []
        for run in pending:
            if run.cell.operation.scenario == "delete" and run.state == "converging":
                body = run.body() or {}
                principal = ((body.get("status") or {}).get("automationAccount") or {}).get("principalId")
                if principal:
                    env.principals[run.cell.id] = principal
            if not run.step(faults):
                still.append(run)
        pending = still
        time.sleep(0.2)  # the batch's polling interval: every wait above has its own deadline


def run_alone(runs: list[CellRun], env: MatrixEnv) -> None:
    """Cells one after another, each with an operator of its own, ended by PID once the cell is done."""
    for run in runs:
        operator = env.start_operator(run.namespace)
        try:
            run_batch([run], env)
        finally:
            operator.kill()


@pytest.fixture(scope="module")
def matrix(request, sandbox, admin, arm, kubectl, custom, core, description, crd, tmp_path_factory):
    env = MatrixEnv(sandbox, admin, arm, kubectl, custom, core, description, tmp_path_factory)
    subscriptions = fresh_estate(admin)
    # the cells whose tests were selected (`-k` runs a few: the module's batches are then smaller)
    selected = {item.callspec.id for item in request.session.items if item.get_closest_marker("fault_cell")}
    chosen = [c for c in CELLS if c.id in selected]
    columns = [f for f in COLUMNS if any(c.fault is f and not c.serial for c in chosen)]
    serial = [c for c in chosen if c.serial]
    run_id = uuid.uuid4().hex[:6]
    column_ns = {f.name: f"mx-{run_id}-{f.name}" for f in columns}
    serial_ns = {c.id: f"mx-{run_id}-{c.index:03d}" for c in serial}
    namespaces = [*column_ns.values(), *serial_ns.values()]
    for name in namespaces:
        kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    env.identity(namespaces)
    runs = [
        CellRun(c, env, column_ns[c.fault.name] if not c.serial else serial_ns[c.id], subscriptions[c.index % 2])
        for c in chosen
    ]
    admin.post("seed", {"vaults": [r.seed() for r in runs]})
    results: dict[str, fm.Result] = {}
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in fm.OPERATOR_ENV.items():
            patch.setenv(key, value)
        try:
            by_column = {f.name: [r for r in runs if not r.cell.serial and r.cell.fault is f] for f in columns}
            # one at a time, but beside the columns: the fleets' discovery path is called by nothing else
            fleets = [r for r in runs if r.cell.serial and r.cell.fault.outcome is None]
            outcomes = [r for r in runs if r.cell.fault.outcome is not None]  # the emulator's: after the rest
            with concurrent.futures.ThreadPoolExecutor(len(by_column) + 1) as pool:
                list(pool.map(env.start_operator, column_ns.values()))
                lanes = [pool.submit(run_batch, batch, env) for batch in by_column.values()]
                lanes.append(pool.submit(run_alone, fleets, env))
                for lane in lanes:
                    lane.result()
            run_alone(outcomes, env)
        finally:
            admin.delete("faults")
            admin.post("config", {"operationOutcome": "Succeeded"})
            for process in env.operators:
                process.kill()
    logs = [line for process in env.operators for line in process.log_text().splitlines()]
    refused = [line for line in logs if RBAC_DENIAL in line]
    assert not refused, "the API server refused the chart's ServiceAccount:\n" + "\n".join(refused[:5])
    traced = {p.args[1] for p in env.operators if TRACEBACK.search(p.log_text())}  # args: -n <namespace> ...
    for run in runs:
        if run.namespace in traced:  # a traceback: every cell of that operator fails (its log says which)
            run.result.problems.append(f"a traceback in the log of the operator of {run.namespace}")
        results[run.cell.id] = run.result
    seconds = time.monotonic() - started
    lines = [run.result.line() for run in runs]
    skipped = fm.skipped_cells()
    passed = sum(not r.result.problems for r in runs)
    summary = (
        f"fault matrix: {len(runs)} cells run ({passed} passed, {len(runs) - passed} failed), "
        f"{len(skipped)} not applicable, {seconds:.0f} s"
    )
    lines += [f"n/a  {o.name}-{f.name}: {why}" for o, f, why in skipped] + [summary]
    request.config.stash[MATRIX_LINES] = lines
    return results


@pytest.mark.fault_cell
@pytest.mark.parametrize("cell", [pytest.param(c, id=c.id) for c in CELLS])
def test_cell(cell, matrix):
    result = matrix[cell.id]
    assert not result.problems, result.line()
