"""TLS connections and seconds for N ARM calls through `AzureClient`, for each way of giving the CA.

Each way runs in its own child process, with the CA given as the operator would get it before it starts:
`setting` (`ASR_AUTOUPDATE_CA_BUNDLE`, i.e. `AzureSettings.ca_bundle`), `SSL_CERT_FILE` or
`REQUESTS_CA_BUNDLE`. The child makes `--calls` `get_vault` calls, `--concurrency` at a time, and prints its
seconds and peak RSS; the connections are counted from the emulator's request log (`connection`, the client's
`ip:port`). Against the Azure emulator started here (no Kubernetes), with the subscription's request budget
lifted so the calls go as fast as the transport allows.

Usage: python bench/tls_reuse.py [--calls 200] [--concurrency 1] [--latency 0] [--ways setting,SSL_CERT_FILE,...]
A measurement, not a test: it prints figures and asserts nothing (tests/adapter/test_tls_reuse.py asserts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.azure.state import default_estate
from asr_sandbox.process import AzureEmulatorProcess

WAYS = ("setting", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
CA_VARIABLES = ("ASR_AUTOUPDATE_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


async def calls(description: dict, count: int, concurrency: int) -> float:
    """The child's work: `count` reads of one vault through one `AzureClient`; the seconds they took."""
    from asr_autoupdate.azure import port, throttle
    from asr_autoupdate.azure.client import AzureClient
    from asr_autoupdate.azure.credentials import AzureSettings, ServicePrincipal

    settings = AzureSettings.from_env(
        arm_endpoint=description["armEndpoint"], authority_host=description["authorityHost"]
    )
    identity = ServicePrincipal(
        description["tenantId"], description["clientId"], client_secret=description["clientSecret"]
    )
    vault = port.VaultRef(default_estate.SUBSCRIPTION_A, "rg-asr-weu", "rsv-weu-prod")
    gate = asyncio.Semaphore(concurrency)
    # the subscription's request budget would pace the calls at 8 reads/s: lift it, the transport is measured
    budgets = throttle.BudgetRegistry(throttle.BudgetSettings(read_rate=10_000, read_burst=10_000))
    async with AzureClient(settings, identity, budgets=budgets) as azure:
        await azure.get_vault(vault)  # the token, outside the timing

        async def one() -> None:
            async with gate:
                await azure.get_vault(vault)

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(count)))
        return time.monotonic() - started


def child(args: argparse.Namespace) -> None:
    description = json.loads(pathlib.Path(args.child).read_text())
    seconds = asyncio.run(calls(description, args.calls, args.concurrency))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_kib / 1024}))


def run_way(way: str, description_file: pathlib.Path, description: dict, args: argparse.Namespace) -> dict:
    admin = AdminClient(description["adminEndpoint"], description["caBundle"])
    admin.reset()  # full ARM buckets and an empty request log for every way
    env = {name: value for name, value in os.environ.items() if name not in CA_VARIABLES}
    env["ASR_AUTOUPDATE_CA_BUNDLE" if way == "setting" else way] = description["caBundle"]
    command = [sys.executable, __file__, "--child", str(description_file)]
    command += ["--calls", str(args.calls), "--concurrency", str(args.concurrency)]
    answer = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        last = (answer.stderr.strip().splitlines() or ["?"])[-1]
        return {"way": way, "error": last}
    figures = json.loads(answer.stdout.strip().splitlines()[-1])
    arm = [r for r in admin.requests() if r["subscription"]]
    return {
        "way": way,
        "calls": len(arm),
        "connections": len({r["connection"] for r in arm}),
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0, help="the emulator's median ARM latency, seconds")
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="tls-reuse-") as tmp:
        config = {
            "lroRetryAfterSeconds": 0,
            "armLatencyMedianSeconds": args.latency,
            # ARM's own throttling would answer 429s (and the SDK retry) past 250 reads: not what is measured
            "readBucketSize": 1_000_000,
            "readRefillPerSecond": 1_000_000,
        }
        emulator = AzureEmulatorProcess(pathlib.Path(tmp) / "azure", config=config)
        try:
            description = emulator.start()
            description_file = pathlib.Path(tmp) / "azure.json"
            description_file.write_text(json.dumps(description))
            print(f"{args.calls} get_vault calls, {args.concurrency} at a time, ARM latency {args.latency:g} s")
            print(f"{'CA given as':<20} {'ARM calls':>9} {'connections':>11} {'seconds':>8} {'peak RSS MiB':>12}")
            for way in args.ways.split(","):
                row = run_way(way, description_file, description, args)
                if "error" in row:
                    print(f"{way:<20} failed: {row['error']}")
                    continue
                print(
                    f"{way:<20} {row['calls']:>9} {row['connections']:>11} {row['seconds']:>8.2f}"
                    f" {row['peak_rss_mib']:>12.1f}"
                )
        finally:
            emulator.stop()


if __name__ == "__main__":
    main()
