"""What a MobilityUpdateFleet costs in Azure calls: discovery per subscription and per vault, and convergence per
vault against the same vaults written as one hand-written policy each (the baseline, measured in the same run).

Runs the sandbox and `asr-autoupdate run` as subprocesses (as the e2e tests do), seeds `--vaults` A2A vaults
(two mappings each) spread over the sandbox's two subscriptions, and prints:

* discovery: the ARM list requests of one discovery (`GET …/providers/Microsoft.RecoveryServices/vaults` with
  its nextLink pages), per subscription and per vault, at the emulator's page size and at `--page-size`;
* apply -> every vault Ready: seconds and Azure calls per vault, for a fleet and for hand-written policies;
* steady state: list requests per discovery over `--discoveries` rediscoveries (`--discovery-interval-override`).

Usage: python bench/fleet_discovery.py [--vaults 40] [--page-size 10] [--discoveries 3]
This is a measurement, not a test: it asserts nothing and takes a minute or two.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import tempfile
import time
import uuid
from datetime import datetime

import kubernetes
import yaml
from e2e_figures import GROUP, PLURAL, VERSION, kubectl, operator_calls, ready, wait
from estate import a2a_vaults, policy_manifest, seed_vaults

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.process import OperatorProcess, SandboxProcess

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLEETS = "mobilityupdatefleets"
LIST_SUFFIX = "/providers/Microsoft.RecoveryServices/vaults"


def seed(admin: AdminClient, count: int) -> list[dict]:
    """`count` vaults over the sandbox's subscriptions, two mappings and two protected VMs each."""
    subscriptions = [s["subscriptionId"] for s in admin.state()["subscriptions"]]
    vaults = a2a_vaults(subscriptions, count, resource_group="rg-bench-fleet", prefix="rsv-bench")
    seed_vaults(admin, vaults)
    return vaults


def list_calls(calls: list[dict]) -> list[dict]:
    return [c for c in calls if c["method"] == "GET" and c["path"].split("?")[0].endswith(LIST_SUFFIX)]


def all_ready(custom, namespace: str, names: list[str]) -> bool:
    return all(ready(custom, namespace, name) for name in names)


def fleet_children(custom, namespace: str) -> list[str]:
    items = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, label_selector=f"{GROUP}/fleet=bench"
    )["items"]
    return [item["metadata"]["name"] for item in items]


def bursts(calls: list[dict], gap: float = 1.0) -> list[list[dict]]:
    """Calls grouped into bursts (a discovery lists every subscription within a fraction of a second)."""
    groups: list[list[dict]] = []
    for call in sorted(calls, key=lambda c: c["time"]):
        moment = datetime.fromisoformat(call["time"])
        if groups and (moment - datetime.fromisoformat(groups[-1][-1]["time"])).total_seconds() < gap:
            groups[-1].append(call)
        else:
            groups.append([call])
    return groups


def run_fleet(sandbox, admin, custom, work, vaults, subscriptions, discoveries: int) -> dict:
    """Apply -> Ready with the operator as deployed (one discovery: the first pass), then the steady state of a
    second process that rediscovers every few seconds."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    kubectl(sandbox.description, "create", "namespace", namespace)
    operator = admin.state()["operatorObjectId"]
    interval = 4
    fleet = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MobilityUpdateFleet",
        "metadata": {"name": "bench", "namespace": namespace},
        "spec": {
            "subscriptions": subscriptions,
            "vaultSelector": {"resourceGroups": ["rg-bench-fleet"]},
            "template": {"updateMode": "Automatic", "schedule": {"time": "02:30"}},
        },
    }
    args = ["-n", namespace, "--drift-tick", "1", "--fleet-tick", "1"]
    process = OperatorProcess(sandbox.state_dir, log_path=work / f"{namespace}.log", args=args)
    try:
        process.start()
        admin.delete("requests")
        started = time.monotonic()
        kubectl(sandbox.description, "apply", "-f", "-", stdin=yaml.safe_dump(fleet))
        wait(lambda: len(fleet_children(custom, namespace)) == len(vaults), 120, "every child created")
        wait(lambda: all_ready(custom, namespace, fleet_children(custom, namespace)), 600, "every child Ready")
        seconds = time.monotonic() - started
        converge = operator_calls(admin, operator)
        first = len(list_calls(converge))
    finally:
        process.stop()
    steady_args = [*args, "--discovery-interval-override", str(interval)]
    process = OperatorProcess(sandbox.state_dir, log_path=work / f"{namespace}-steady.log", args=steady_args)
    try:
        process.start()
        admin.delete("requests")
        found = wait(
            lambda: (
                (groups := bursts(list_calls(operator_calls(admin, operator))))
                and len(groups) > discoveries + 1
                and groups
            ),
            interval * discoveries * 3 + 30,
            f"{discoveries} rediscoveries",
        )
        steady = [call for group in found[1 : discoveries + 1] for call in group]  # whole ones, after the resume
        return {
            "seconds": seconds,
            "calls": len(converge),
            "first_discovery": first,
            "steady_lists": len(steady),
        }
    finally:
        process.stop()


def run_policies(sandbox, admin, custom, work, vaults) -> dict:
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    kubectl(sandbox.description, "create", "namespace", namespace)
    operator = admin.state()["operatorObjectId"]
    process = OperatorProcess(
        sandbox.state_dir, log_path=work / f"{namespace}.log", args=["-n", namespace, "--drift-tick", "1"]
    )
    manifests = [policy_manifest(namespace, vault) for vault in vaults]
    try:
        process.start()
        admin.delete("requests")
        started = time.monotonic()
        kubectl(sandbox.description, "apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))
        wait(lambda: all_ready(custom, namespace, [v["name"] for v in vaults]), 600, "every policy Ready")
        seconds = time.monotonic() - started
        return {"seconds": seconds, "calls": len(operator_calls(admin, operator))}
    finally:
        process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vaults", type=int, default=40)
    parser.add_argument("--page-size", type=int, default=10)
    parser.add_argument("--discoveries", type=int, default=3)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-fleet-") as scratch,
        SandboxProcess(pathlib.Path(scratch)) as sandbox,
    ):
        work = pathlib.Path(scratch)
        description = sandbox.description
        admin = AdminClient(description["adminEndpoint"], description["caBundle"])
        kubectl(description, "apply", "--server-side", "-f", str(ROOT / "crds"))
        for plural in (PLURAL, FLEETS):
            kubectl(description, "wait", "--for=condition=Established", f"crd/{plural}.{GROUP}", "--timeout=30s")
        client = kubernetes.config.new_client_from_config(config_file=description["kubeconfig"])
        custom = kubernetes.client.CustomObjectsApi(client)
        subscriptions = [s["subscriptionId"] for s in admin.state()["subscriptions"]]
        results = {}
        for label, page_size in (("default page", None), (f"page size {args.page_size}", args.page_size)):
            admin.reset()
            admin.post(
                "config", {"principalPropagationDelaySeconds": 0, **({"pageSize": page_size} if page_size else {})}
            )
            vaults = seed(admin, args.vaults)
            total = len(admin.state()["vaults"])
            results[label] = (total, run_fleet(sandbox, admin, custom, work, vaults, subscriptions, args.discoveries))
        admin.reset()
        admin.post("config", {"principalPropagationDelaySeconds": 0})
        vaults = seed(admin, args.vaults)
        baseline = run_policies(sandbox, admin, custom, work, vaults)
        client.close()

    print(f"fleet discovery cost, {args.vaults} managed vaults over {len(subscriptions)} subscriptions")
    for label, (total, fleet) in results.items():
        per_discovery = fleet["steady_lists"] / args.discoveries
        print(f"  {label}: {total} vaults listed in all")
        print(
            f"    one discovery: {fleet['first_discovery']} list requests = "
            f"{fleet['first_discovery'] / len(subscriptions):.1f} per subscription, "
            f"{fleet['first_discovery'] / total:.3f} per vault listed"
        )
        print(
            f"    steady: {fleet['steady_lists']} list requests for {args.discoveries} rediscoveries "
            f"({per_discovery:.1f} per discovery)"
        )
    fleet = results["default page"][1]
    print(f"apply -> every vault Ready ({args.vaults} vaults)")
    print(f"  fleet:      {fleet['seconds']:.1f} s, {fleet['calls'] / args.vaults:.1f} Azure calls per vault")
    print(f"  policies:   {baseline['seconds']:.1f} s, {baseline['calls'] / args.vaults:.1f} Azure calls per vault")
    print(
        f"  fleet/policies: {fleet['seconds'] / baseline['seconds']:.2f}x time, "
        f"{fleet['calls'] / baseline['calls']:.2f}x calls "
        f"(the fleet's own share: {fleet['first_discovery']} list requests = "
        f"{math.ceil(fleet['first_discovery']) / args.vaults:.3f} per vault)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
