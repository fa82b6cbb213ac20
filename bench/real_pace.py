"""Azure at its real pace: seconds from `kubectl apply` to Ready for one vault, against the critical path of
Azure's own latency, and the PATCHes sent per mapping.

The "real pace" profile: Site Recovery answers `Retry-After: 30` and runs each mapping update for two minutes
(`operationDurationSeconds`), every ARM call takes a lognormal ~150 ms (median; sigma 0.5), and a new managed
identity is invisible to role assignments for 60 s. The vault is seeded for the bench with three A2A Paired
mappings; the policy asks for a schedule at 02:30 in the mappings' source zones.

The critical path is what no operator can avoid: the mapping updates cannot finish before Site Recovery ends
them, and an operator that obeys Retry-After sees the end at the first poll on its 30 s grid after it,
i.e. ceil(duration / Retry-After) x Retry-After after the PATCH (the identity's minute runs alongside: the
updates do not wait for the role); before the PATCH come the calls that create the account and read what is
needed (`CALLS_BEFORE`), after the end the calls that read the mappings again and rewrite the schedules
(`CALLS_AFTER`), each at the median latency. The goal is apply -> Ready within 1.3x that path, with exactly
one PATCH per mapping. A second baseline is measured in the same run: the same convergence written out by
hand through the same adapter, with full knowledge and no reconciler (`by_hand`).

Usage: python bench/real_pace.py [--runs 1] [--duration 120] [--retry-after 30] [--propagation 60]
A measurement, not a test: it prints figures and asserts nothing; a run takes about two and a half minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import pathlib
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import kubernetes
import yaml

# the same sandbox plumbing as the e2e figures (this script runs with bench/ on sys.path)
from e2e_figures import CRD, GROUP, PLURAL, VERSION, kubectl, operator_calls, ready, wait

from asr_autoupdate.azure import errors, port
from asr_autoupdate.azure.client import AzureClient
from asr_autoupdate.azure.credentials import AzureSettings, ServicePrincipal
from asr_sandbox.admin_client import AdminClient
from asr_sandbox.azure.state import default_estate
from asr_sandbox.process import OperatorProcess, SandboxProcess

MEDIAN_LATENCY = 0.15
# Sequential ARM round trips on the critical path, counted as few as any operator could: before the PATCH, read
# the vault and account (1), create the account (1), read the mappings (1); after Site Recovery ends the
# updates, poll (1), read the mappings and schedules (1), rewrite the schedules (1), read them back (1).
CALLS_BEFORE, CALLS_AFTER = 3, 4


def bench_vault() -> dict:
    """A West Europe vault protecting North Europe VMs, with a second forward mapping (another replication
    policy) beside the forward and failback ones: three A2A Paired mappings, from two source regions."""
    vault = default_estate.a2a_vault(
        default_estate.SUBSCRIPTION_A,
        "rg-asr-weu",
        "rsv-bench-paced",
        "westeurope",
        "northeurope",
        [{"friendlyName": "vm-paced-01", "agentVersion": default_estate.LATEST, "agentExpiresInDays": 300}],
        extra_mappings=[
            {
                "name": "northeurope-westeurope-72-hour-retention-policy",
                "target": "asr-a2a-default-westeurope/asr-a2a-default-westeurope-container",
                "policy": "72-hour-retention-policy",
            }
        ],
    )
    return vault


def fresh_estate(admin: AdminClient, args: argparse.Namespace) -> dict:
    admin.reset()
    admin.post(
        "config",
        {
            "lroRetryAfterSeconds": args.retry_after,
            "operationDurationSeconds": args.duration,
            "principalPropagationDelaySeconds": args.propagation,
            "armLatencyMedianSeconds": MEDIAN_LATENCY,
            "armLatencySigma": 0.5,
        },
    )
    vault = bench_vault()
    admin.post("seed", {"vaults": [vault]})
    return vault


async def by_hand(sandbox: dict, vault: dict) -> float:
    """The baseline: the same convergence written out by hand with full knowledge, through the same adapter
    and the same estate: create the account, PATCH every mapping at once, grant the role while Site Recovery
    works (retrying each second until the identity is visible), poll each operation exactly at its
    Retry-After, then rewrite the schedules Site Recovery made, all at once. No reconciler, no Kubernetes."""
    settings = AzureSettings(
        arm_endpoint=sandbox["armEndpoint"], authority_host=sandbox["authorityHost"], ca_bundle=sandbox["caBundle"]
    )
    identity = ServicePrincipal(sandbox["tenantId"], sandbox["clientId"], client_secret=sandbox["clientSecret"])
    ref = port.VaultRef(vault["subscriptionId"], vault["resourceGroup"], vault["name"])
    account_ref = port.AccountRef(ref.subscription_id, ref.resource_group, f"{ref.name}-asr-automationaccount")
    async with AzureClient(settings, identity) as azure:
        started = time.monotonic()
        await azure.get_vault(ref)
        account = await azure.put_automation_account(account_ref, location=vault["location"], tags={})
        mappings = [m for m in await azure.list_mappings(ref) if m.manageable]

        async def grant() -> None:
            while True:
                try:
                    await azure.create_role_assignment(ref.id, account.principal_id or "", port.CONTRIBUTOR_ROLE)
                    return
                except errors.AzureError:
                    await asyncio.sleep(1)

        async def update(mapping: port.Mapping) -> None:
            sent = await azure.begin_mapping_update(
                mapping, enabled=True, automation_account_id=account.id, authentication_type="SystemAssignedIdentity"
            )
            while sent.status_url:
                await asyncio.sleep(sent.retry_after or 30)
                if not (await azure.get_operation_status(ref, sent.status_url)).running:
                    return

        await asyncio.gather(grant(), *(update(mapping) for mapping in mappings))
        enabled = [m for m in await azure.list_mappings(ref) if m.manageable]
        schedules = {s.name: s for s in await azure.list_schedules(account_ref)}
        now = datetime.now(UTC)
        await asyncio.gather(
            *(
                azure.put_schedule(
                    account_ref,
                    port.ScheduleSpec(
                        name=mapping.schedule_name or "",
                        start_time=now + timedelta(days=1),
                        frequency="Day",
                        interval=1,
                        time_zone=schedules[mapping.schedule_name or ""].time_zone or "UTC",
                    ),
                )
                for mapping in enabled
            )
        )
        await azure.list_schedules(account_ref)
        return time.monotonic() - started


def one_run(sandbox_process: SandboxProcess, admin: AdminClient, custom, args: argparse.Namespace, work) -> dict:
    sandbox = sandbox_process.description
    baseline = asyncio.run(by_hand(sandbox, fresh_estate(admin, args)))
    vault = fresh_estate(admin, args)
    operator = admin.state()["operatorObjectId"]
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    kubectl(sandbox, "create", "namespace", namespace)
    process = OperatorProcess(sandbox_process.state_dir, log_path=work / f"{namespace}.log", args=["-n", namespace])
    try:
        process.start()
        manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MobilityUpdatePolicy",
            "metadata": {"name": "paced", "namespace": namespace},
            "spec": {
                "vault": {k: vault[k] for k in ("subscriptionId", "resourceGroup", "name")},
                "updateMode": "Automatic",
                "schedule": {"time": "02:30"},
            },
        }
        admin.delete("requests")
        started = time.monotonic()
        kubectl(sandbox, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))

        wait(lambda: ready(custom, namespace, "paced"), 600, "Ready")
        seconds = time.monotonic() - started
        body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "paced")
    finally:
        process.stop()
    calls = operator_calls(admin, operator)
    patches = Counter(
        r["path"].lower()
        for r in calls
        if r["method"] == "PATCH" and "/replicationprotectioncontainermappings/" in r["path"].lower()
    )
    log = (work / f"{namespace}.log").read_text()
    return {
        "seconds": seconds,
        "baseline": baseline,
        "mappings": (body["status"].get("mappings") or {}).get("configured", 0),
        "patches": patches,
        "polls": sum("/replicationoperationstatus/" in r["path"].lower() for r in calls),
        "calls": len(calls),
        "errors_logged": log.count("failed temporarily"),
        "waits_logged": log.count("is waiting on Azure"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--duration", type=float, default=120.0, help="Site Recovery operation, seconds")
    parser.add_argument("--retry-after", type=int, default=30, help="Site Recovery's Retry-After, seconds")
    parser.add_argument("--propagation", type=float, default=60.0, help="a new identity's invisibility, seconds")
    args = parser.parse_args()

    operation = math.ceil(args.duration / args.retry_after) * args.retry_after
    critical = (CALLS_BEFORE + CALLS_AFTER) * MEDIAN_LATENCY + max(operation, args.propagation)
    with tempfile.TemporaryDirectory(prefix="real-pace-") as work_dir:
        work = pathlib.Path(work_dir)
        with SandboxProcess(work / "sandbox", pace="real") as sandbox_process:
            description = sandbox_process.description
            kubectl(description, "apply", "--server-side", "-f", str(CRD))
            kubectl(description, "wait", "--for=condition=Established", "crd", f"{PLURAL}.{GROUP}")
            admin = AdminClient(description["adminEndpoint"], description["caBundle"])
            custom = kubernetes.client.CustomObjectsApi(
                kubernetes.config.new_client_from_config(config_file=description["kubeconfig"])
            )
            runs = [one_run(sandbox_process, admin, custom, args, work) for _ in range(args.runs)]

    seconds = statistics.median(run["seconds"] for run in runs)
    baseline = statistics.median(run["baseline"] for run in runs)
    print(
        f"real pace: Retry-After {args.retry_after} s, operation {args.duration:.0f} s, "
        f"propagation {args.propagation:.0f} s, ARM latency median {MEDIAN_LATENCY * 1000:.0f} ms"
    )
    print(f"critical path of Azure latency: {critical:.1f} s")
    for index, run in enumerate(runs, 1):
        per_mapping = sorted(run["patches"].values())
        print(
            f"run {index}: apply -> Ready {run['seconds']:.1f} s ({run['seconds'] / critical:.2f}x the critical path, "
            f"{run['seconds'] / run['baseline']:.2f}x the by-hand baseline of {run['baseline']:.1f} s); "
            f"{run['mappings']} mappings, PATCHes per mapping {per_mapping}; {run['polls']} operation polls; "
            f"{run['calls']} ARM calls; log: {run['waits_logged']} waits, {run['errors_logged']} 'failed temporarily'"
        )
    print(
        f"median: {seconds:.1f} s = {seconds / critical:.2f}x the critical path (goal <= 1.30x), "
        f"{seconds / baseline:.2f}x the by-hand baseline measured in the same run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
