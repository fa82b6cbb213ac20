"""How many Azure reads one steady-state drift check costs per vault, counted in the emulator's request log.

Starts the sandbox (both emulators) and `asr-autoupdate run` against it, applies one Automatic policy per
seeded vault, waits until every one is Ready and settled, then reads the request log over a few drift checks
(`--drift-interval-override`, so the checks come seconds apart instead of hourly) and prints, per vault, the
reads of each check and what they were. Then it moves Azure's clock past the nightly run and shows the one
check that lists the runbook's jobs again.

    python bench/drift_reads.py [--checks 3] [--interval 2]

Every number printed is a count of ARM requests (token requests excluded); nothing is timed.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from asr_sandbox import controlplane  # noqa: E402
from asr_sandbox.admin_client import AdminClient  # noqa: E402
from asr_sandbox.process import OperatorProcess, SandboxProcess  # noqa: E402

NAMESPACE = "bench"
CRD = ROOT / "crds" / "mobilityupdatepolicies.asr.autoupdate.dev.yaml"
GAP = 0.5  # seconds between the requests of two checks of one vault (checks are `--interval` apart)


def kind(path: str) -> str:
    """What a request read, in a word."""
    tail = path.lower().rstrip("/").rsplit("/", 1)[-1]
    if "/providers/microsoft.authorization/roleassignments" in path.lower():
        return "roleAssignments"
    if path.lower().endswith(("/schedules", "/jobschedules", "/jobs")) or "replication" in tail:
        return path.rstrip("/").rsplit("/", 1)[-1]
    return "automationAccount" if "/automationaccounts/" in path.lower() else "vault"


def bursts(requests: list[dict]) -> list[list[dict]]:
    groups: list[list[dict]] = []
    for request in requests:
        moment = datetime.fromisoformat(request["time"])
        if groups and (moment - datetime.fromisoformat(groups[-1][-1]["time"])).total_seconds() < GAP:
            groups[-1].append(request)
        else:
            groups.append([request])
    return groups


def checks_per_vault(
    admin: AdminClient, vaults: list[dict], count: int, timeout: float = 120, clear: bool = True
) -> dict:
    """{vault name: [requests of each whole check]} for `count` checks of every vault, from now on (from the
    last clearing of the request log when `clear` is False)."""
    if clear:
        admin.delete("requests")
    deadline = time.monotonic() + timeout
    while True:
        requests = [r for r in admin.requests() if "/oauth2/" not in r["path"] and "openid" not in r["path"]]
        found = {}
        for vault in vaults:
            own = [r for r in requests if f"/{vault['name']}".lower() in r["path"].lower()]
            found[vault["name"]] = bursts(own)[1:-1]  # the first and last may be cut by the window
        if all(len(groups) >= count for groups in found.values()):
            return {name: groups[:count] for name, groups in found.items()}
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} drift checks seen in {timeout}s")
        time.sleep(0.5)


def wait_ready(kubectl, names: list[str]) -> None:
    for name in names:
        kubectl("wait", "--for=condition=Ready", f"mup/{name}", "-n", NAMESPACE, "--timeout=120s")


def describe(groups: list[list[dict]]) -> str:
    counted = Counter(kind(r["path"]) for group in groups for r in group)
    return ", ".join(f"{name} {count / len(groups):g}" for name, count in sorted(counted.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=3, help="drift checks to count per vault")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between drift checks")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="drift-reads-") as scratch,
        SandboxProcess(pathlib.Path(scratch)) as sandbox,
    ):
        description = sandbox.description
        admin = AdminClient(description["adminEndpoint"], description["caBundle"])
        admin.post("config", {"principalPropagationDelaySeconds": 0})
        env = {**os.environ, "KUBECONFIG": description["kubeconfig"]}

        def kubectl(*command: str, manifest: dict | None = None) -> str:
            done = subprocess.run(
                [controlplane.kubectl(), *command],
                input=yaml.safe_dump(manifest) if manifest else None,
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            return done.stdout

        kubectl("apply", "-f", str(CRD))
        kubectl("wait", "--for=condition=Established", "crd/mobilityupdatepolicies.asr.autoupdate.dev")
        kubectl("create", "namespace", NAMESPACE)
        vaults = description["vaults"]
        operator = OperatorProcess(
            sandbox.state_dir,
            args=[
                "-n",
                NAMESPACE,
                "--drift-tick",
                "1",
                "--drift-interval-override",
                str(args.interval),
                "--metrics-port",
                "0",
            ],
            log_path=pathlib.Path(scratch) / "operator.log",
        )
        with operator:
            names = []
            for vault in vaults:
                name = vault["name"]
                names.append(name)
                spec = {
                    "vault": {key: vault[key] for key in ("subscriptionId", "resourceGroup", "name")},
                    "updateMode": "Automatic",
                }
                kubectl(
                    "apply",
                    "-f",
                    "-",
                    manifest={
                        "apiVersion": "asr.autoupdate.dev/v1alpha1",
                        "kind": "MobilityUpdatePolicy",
                        "metadata": {"name": name, "namespace": NAMESPACE},
                        "spec": spec,
                    },
                )
            wait_ready(kubectl, names)
            checks_per_vault(admin, vaults, 1)  # settle: the first check after Ready lists the jobs once more

            steady = checks_per_vault(admin, vaults, args.checks)
            print(f"Steady state: Azure reads per drift check, per vault ({args.checks} checks each)")
            for name, groups in steady.items():
                reads = [sum(r["method"] == "GET" for r in group) for group in groups]
                writes = sum(r["method"] != "GET" for group in groups for r in group)
                print(f"  {name:14} reads per check {reads}  writes {writes}  ({describe(groups)})")

            admin.delete("requests")
            admin.advance_clock(86400)
            after = checks_per_vault(admin, vaults, args.checks, clear=False)
            everything = admin.requests()
            print("After the nightly run (Azure's clock moved a day):")
            for name, groups in after.items():
                listed = sum(
                    1 for r in everything if f"/{name}-".lower() in r["path"].lower() and kind(r["path"]) == "jobs"
                )
                reads = [sum(r["method"] == "GET" for r in group) for group in groups]
                print(f"  {name:14} jobs listed {listed} time(s) since the run; the checks after it: reads {reads}")
        # the operator's per-check cost is independent of the interval: protected items are re-read once
        # per interval and the jobs only after a run, so any interval gives the same counts per check
    return 0


if __name__ == "__main__":
    sys.exit(main())
