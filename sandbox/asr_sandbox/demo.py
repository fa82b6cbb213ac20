"""`asr-autoupdate demo`: the whole product on one machine, in about a minute.

Starts the sandbox, applies the CRD and `examples/` with kubectl, runs the operator, and watches the policies
the way `kubectl get mup -A --watch` shows them (the header once, then a time-stamped row whenever a policy's
row changes) until every one is Ready. Then it lets a week pass on the emulated clock, so Site Recovery's update
runbook runs and upgrades the agents that were behind, and watches again. It stops everything it started, ends
with a short summary and exits 0, or non-zero with the reason if something did not converge.

The emulator runs the `fast` pace by default (mapping operations of a second); `--pace real` shows Azure's
own timings (two-minute mapping operations, ARM latency), and the waits grow to match.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from asr_sandbox import controlplane
from asr_sandbox.admin_client import AdminClient
from asr_sandbox.process import OperatorProcess, SandboxProcess

CRD = "mobilityupdatepolicies.asr.autoupdate.dev"
CONVERGE_TIMEOUT = 180.0
AGENTS_TIMEOUT = 120.0
# At real pace each mapping update takes minutes, and the operator works through the mappings a few at a time.
REAL_PACE_CONVERGE_TIMEOUT = 1200.0


class DemoFailed(RuntimeError):
    pass


def run_demo(state_dir: pathlib.Path | None, repo: pathlib.Path | None = None, *, pace: str = "fast") -> int:
    """0 when it all converged, 1 when something did not (logs are kept), 2 when not run from a clone."""
    repo = (repo or pathlib.Path.cwd()).resolve()
    if not (repo / "crds" / f"{CRD}.yaml").exists() or not (repo / "examples").is_dir():
        print(
            f"asr-autoupdate demo: run it from a clone of the project (no crds/ and examples/ in {repo})",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="asr-demo-") as scratch:
        state = pathlib.Path(state_dir or scratch)
        try:
            summary = _demo(state, repo, pace)
        except DemoFailed as failure:
            print(f"\ndemo failed: {failure}\nlogs: {state}/sandbox.log, {state}/operator.log", file=sys.stderr)
            if state_dir is None:  # keep the logs a failed demo leaves behind
                kept = pathlib.Path(tempfile.mkdtemp(prefix="asr-demo-failed-"))
                for log in ("sandbox.log", "operator.log"):
                    if (state / log).exists():
                        (kept / log).write_bytes((state / log).read_bytes())
                print(f"logs kept in {kept}", file=sys.stderr)
            return 1
    print(summary, flush=True)
    return 0


def _demo(state: pathlib.Path, repo: pathlib.Path, pace: str) -> str:
    """Run the demo; the summary is returned to be printed last, once everything has stopped."""
    step(f"starting the sandbox (the Azure Resource Manager emulator at {pace} pace, kube-apiserver and etcd)")
    converge_timeout = REAL_PACE_CONVERGE_TIMEOUT if pace == "real" else CONVERGE_TIMEOUT
    with SandboxProcess(state, pace=pace) as sandbox:
        description = sandbox.description
        admin = AdminClient(description["adminEndpoint"], description["caBundle"])
        kubectl = _kubectl(description["kubeconfig"])
        show_estate(admin.state())

        step("kubectl apply -f crds/ && kubectl apply -f examples/")
        kubectl("apply", "-f", str(repo / "crds"))
        kubectl("wait", "--for=condition=Established", f"crd/{CRD}", "--timeout=30s")
        kubectl("apply", "-f", str(repo / "examples"))

        step("asr-autoupdate run --all-namespaces (the operator, against the sandbox)")
        operator = OperatorProcess(
            state,
            args=["--all-namespaces", "--drift-tick", "1", "--drift-interval-override", "5"],
            log_path=state / "operator.log",
        )
        with operator:
            watch = PolicyWatch(kubectl)
            watch.until(all_ready, converge_timeout, "every policy Ready")
            show_azure(admin.state())

            step("one emulated week passes: Site Recovery's update runbook runs on every schedule")
            admin.advance_clock(7 * 24 * 3600)
            items = watch.until(no_agents_behind, AGENTS_TIMEOUT, "no agents behind")
            summary = summarize(items, admin.state())
        step("stopping the operator and the sandbox")
    return summary


def step(text: str) -> None:
    """A stage of the demo, set apart so the watch output between stages reads as its result."""
    print(f"\n==> {text}", flush=True)


def _kubectl(kubeconfig: str):
    env = {**os.environ, "KUBECONFIG": kubeconfig, "KUBECACHEDIR": str(pathlib.Path(kubeconfig).parent / "kubecache")}
    kubectl_path = controlplane.kubectl()

    def kubectl(*args: str) -> str:
        result = subprocess.run([kubectl_path, *args], capture_output=True, text=True, env=env, timeout=60)
        if result.returncode != 0:
            raise DemoFailed(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    return kubectl


def policies(kubectl) -> list[dict]:
    """Every MobilityUpdatePolicy, as the API server has it now."""
    return json.loads(kubectl("get", "mup", "-A", "-o", "json"))["items"]


def ready(policy: dict) -> bool:
    return ready_condition(policy).get("status") == "True"


def all_ready(items: list[dict]) -> bool:
    """The first watch ends here: every policy has converged on Azure."""
    return bool(items) and all(ready(item) for item in items)


def no_agents_behind(items: list[dict]) -> bool:
    """The second watch ends here: the update runbook's runs have upgraded every agent that was behind."""
    return all_ready(items) and all(item["status"].get("agents", {}).get("updateRequired") == 0 for item in items)


def ready_condition(policy: dict) -> dict:
    """The Ready condition ({} while the operator has not written one yet)."""
    return next((c for c in policy.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})


# The CRD's printer columns without AGE (which changes every second and would make every row look changed).
COLUMNS: tuple[tuple[str, Callable[[dict], object]], ...] = (
    ("NAMESPACE", lambda p: p["metadata"]["namespace"]),
    ("NAME", lambda p: p["metadata"]["name"]),
    ("VAULT", lambda p: p.get("spec", {}).get("vault", {}).get("name")),
    ("MODE", lambda p: p.get("spec", {}).get("updateMode")),
    ("SCHEDULE", lambda p: p.get("status", {}).get("scheduleSummary")),
    ("READY", lambda p: ready_condition(p).get("status")),
    ("REASON", lambda p: ready_condition(p).get("reason")),
    ("AGENTS BEHIND", lambda p: p.get("status", {}).get("agents", {}).get("updateRequired")),
)
STAMP = "%H:%M:%S"
# Room for what a new policy's empty status grows into, so that later rows stay under their header.
MIN_WIDTHS = {"SCHEDULE": 40, "READY": 5, "REASON": 20}


class PolicyWatch:
    """`kubectl get mup -A --watch`, as the demo shows it: the header once per watch, then a row, time-stamped,
    whenever a policy's row differs from the last one shown for it (across both watches of the demo)."""

    def __init__(self, kubectl):
        self._kubectl = kubectl
        self._shown: dict[tuple[str, str], tuple[str, ...]] = {}
        self._widths: list[int] = []

    def until(self, done, timeout: float, what: str) -> list[dict]:
        """Poll every second until `done` holds for the policies (returned), or fail at the deadline."""
        print("\n$ kubectl get mup -A --watch", flush=True)
        deadline = time.monotonic() + timeout
        header_shown = False
        while True:
            items = policies(self._kubectl)
            rows = {(item["metadata"]["namespace"], item["metadata"]["name"]): _row(item) for item in items}
            if not header_shown:
                self._size(rows.values())
                self._print("TIME", tuple(name for name, _ in COLUMNS))
                header_shown = True
            for key in sorted(rows):
                if self._shown.get(key) != rows[key]:
                    self._print(time.strftime(STAMP), rows[key])
                    self._shown[key] = rows[key]
            if done(items):
                return items
            if time.monotonic() > deadline:
                raise DemoFailed(f"not {what} within {timeout:.0f}s")
            time.sleep(1)

    def _size(self, rows) -> None:
        """Columns as wide as the header and the first rows (or MIN_WIDTHS), like kubectl's; a value longer still
        pushes the rest of its row on, as it does with kubectl."""
        if not self._widths:
            table = [tuple(name for name, _ in COLUMNS), *rows]
            self._widths = [
                max(MIN_WIDTHS.get(name, 0), *(len(row[index]) for row in table))
                for index, (name, _) in enumerate(COLUMNS)
            ]

    def _print(self, first: str, cells: tuple[str, ...]) -> None:
        padded = [cell.ljust(width) for cell, width in zip(cells, self._widths, strict=True)]
        print("   ".join([first.ljust(len("00:00:00")), *padded]).rstrip(), flush=True)


def _row(policy: dict) -> tuple[str, ...]:
    return tuple("" if (value := read(policy)) is None else str(value) for _, read in COLUMNS)


def summarize(items: list[dict], state: dict) -> str:
    """What the demo ends on: each policy's Ready, reason and agents behind, then Site Recovery's update jobs."""
    named = sorted((f"{item['metadata']['namespace']}/{item['metadata']['name']}", item) for item in items)
    width = max((len(name) for name, _ in named), default=0)
    lines = ["\nSummary:"]
    for name, item in named:
        condition = ready_condition(item)
        ready = "Ready" if condition.get("status") == "True" else "not Ready"
        behind = item.get("status", {}).get("agents", {}).get("updateRequired", "?")
        lines.append(
            f"  {name:<{width}}   {ready} ({condition.get('reason', 'no reason yet')}), {behind} agents behind"
        )
    jobs = [job for account in state["automationAccounts"] for job in account["jobs"]]
    statuses = sorted({job["status"] for job in jobs})
    counts = ", ".join(f"{sum(job['status'] == status for job in jobs)} {status}" for status in statuses)
    minutes = sum(account["jobMinutes"] for account in state["automationAccounts"])
    lines.append(
        f"  update jobs: {len(jobs)} ({counts or 'none'}) in {len(state['automationAccounts'])} automation "
        f"account(s), {minutes:.1f} job minutes"
    )
    return "\n".join(lines)


def show_estate(state: dict) -> None:
    """Before: the vaults as a tenant has them, auto-update off and some agents behind."""
    print("\nThe sandbox's estate (what a real tenant would already have):")
    for vault in state["vaults"]:
        items = vault["protectedItems"]
        behind = sum(
            1 for item in items if item["properties"]["providerSpecificDetails"].get("isReplicationAgentUpdateRequired")
        )
        a2a = [m for m in vault["mappings"] if m["properties"]["providerSpecificDetails"].get("instanceType") == "A2A"]
        print(
            f"  vault {vault['name']:<14} {vault['location']:<14} {len(vault['mappings'])} mappings "
            f"({len(a2a)} A2A), {len(items)} protected VMs, {behind} agents behind, auto-update off"
        )


def show_azure(state: dict) -> None:
    """After convergence: the accounts, identities, roles and schedules the operator set up, read from Azure."""
    print("\nWhat the operator made Azure look like:")
    for account in state["automationAccounts"]:
        principal = (account.get("identity") or {}).get("principalId")
        roles = sorted({a["roleName"] for a in state["roleAssignments"] if a["principalId"] == principal})
        zones = sorted({s["properties"]["timeZone"] for s in account["schedules"]})
        print(
            f"  {account['name']} in {account['location']}: identity with {', '.join(roles) or 'no role'} on the vault, "
            f"{len(account['schedules'])} schedule(s) in {', '.join(zones)}, {len(account['jobSchedules'])} job schedule(s)"
        )
