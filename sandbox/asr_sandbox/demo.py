"""`asr-autoupdate demo`: the whole product on one machine, in about a minute.

Starts the sandbox, applies the CRD and `examples/` with kubectl, runs the operator, and prints the policies
as `kubectl get mup` shows them until every one is Ready. Then it lets a week pass on the emulated clock, so
Site Recovery's update runbook runs and upgrades the agents that were behind, and shows the policies again.
It stops everything it started and exits 0, or non-zero with the reason if something did not converge.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from asr_sandbox import controlplane
from asr_sandbox.admin_client import AdminClient
from asr_sandbox.process import OperatorProcess, SandboxProcess

CRD = "mobilityupdatepolicies.asr.autoupdate.dev"
CONVERGE_TIMEOUT = 180.0
AGENTS_TIMEOUT = 120.0


class DemoFailed(RuntimeError):
    pass


def run_demo(state_dir: pathlib.Path | None, repo: pathlib.Path | None = None) -> int:
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
            _demo(state, repo)
        except DemoFailed as failure:
            print(f"\ndemo failed: {failure}\nlogs: {state}/sandbox.log, {state}/operator.log", file=sys.stderr)
            if state_dir is None:  # keep the logs a failed demo leaves behind
                kept = pathlib.Path(tempfile.mkdtemp(prefix="asr-demo-failed-"))
                for log in ("sandbox.log", "operator.log"):
                    if (state / log).exists():
                        (kept / log).write_bytes((state / log).read_bytes())
                print(f"logs kept in {kept}", file=sys.stderr)
            return 1
    return 0


def _demo(state: pathlib.Path, repo: pathlib.Path) -> None:
    step("starting the sandbox (the Azure Resource Manager emulator, kube-apiserver and etcd)")
    with SandboxProcess(state) as sandbox:
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
            watch_until(kubectl, all_ready, CONVERGE_TIMEOUT, "every policy Ready")
            show_azure(admin.state())

            step("one emulated week passes: Site Recovery's update runbook runs on every schedule")
            admin.advance_clock(7 * 24 * 3600)
            watch_until(kubectl, no_agents_behind, AGENTS_TIMEOUT, "no agents behind")
            show_jobs(admin.state())
        step("stopping the operator and the sandbox")


def step(text: str) -> None:
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
    return json.loads(kubectl("get", "mup", "-A", "-o", "json"))["items"]


def ready(policy: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in policy.get("status", {}).get("conditions", []))


def all_ready(items: list[dict]) -> bool:
    return bool(items) and all(ready(item) for item in items)


def no_agents_behind(items: list[dict]) -> bool:
    return all_ready(items) and all(item["status"].get("agents", {}).get("updateRequired") == 0 for item in items)


def watch_until(kubectl, done, timeout: float, what: str) -> None:
    """Print `kubectl get mup -A` whenever it changes, until `done` holds for the policies."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        table = kubectl("get", "mup", "-A")
        if table != last:
            print(f"\n$ kubectl get mup -A   ({time.strftime('%H:%M:%S')})\n{table}", end="", flush=True)
            last = table
        if done(policies(kubectl)):
            return
        if time.monotonic() > deadline:
            raise DemoFailed(f"not {what} within {timeout:.0f}s")
        time.sleep(1)


def show_estate(state: dict) -> None:
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
    print("\nWhat the operator made Azure look like:")
    for account in state["automationAccounts"]:
        principal = (account.get("identity") or {}).get("principalId")
        roles = sorted({a["roleName"] for a in state["roleAssignments"] if a["principalId"] == principal})
        zones = sorted({s["properties"]["timeZone"] for s in account["schedules"]})
        print(
            f"  {account['name']} in {account['location']}: identity with {', '.join(roles) or 'no role'} on the vault, "
            f"{len(account['schedules'])} schedule(s) in {', '.join(zones)}, {len(account['jobSchedules'])} job schedule(s)"
        )


def show_jobs(state: dict) -> None:
    print("\nSite Recovery's update jobs:")
    for account in state["automationAccounts"]:
        jobs = account["jobs"]
        statuses = ", ".join(sorted({job["status"] for job in jobs})) or "none yet"
        print(f"  {account['name']}: {len(jobs)} job(s) ({statuses}), {account['jobMinutes']:.1f} job minutes")
