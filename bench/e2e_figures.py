"""End-to-end figures: seconds from `kubectl apply` to Ready, and Azure calls per policy.

Runs the sandbox and `asr-autoupdate run` as subprocesses (as the e2e tests do) and prints, per profile:

* apply -> Ready: seconds from `kubectl apply` of one Automatic policy (a fresh estate: no account yet, two A2A
  mappings) until its Ready condition is True for its generation; median, min and max of `--runs` runs;
* Azure calls to converge: ARM requests made by the operator's principal from apply to Ready (token requests
  not counted), with the writes among them;
* Azure calls per steady-state drift check: requests per pass once Ready, with nothing to change (a second
  operator process with `--drift-interval-override 2`; a check is a burst of calls, checks being 2 s apart;
  the restarted process's first pass, by its resume handler, is left out).

Profiles:
  e2e       the e2e suite's settings: the emulator's principalPropagationDelaySeconds 0, and the operator's
            ASR_AUTOUPDATE_LRO_POLLING_INTERVAL=1 (a floor for polls that carry no Retry-After)
  defaults  the sandbox's fast profile as it starts (one-second Site Recovery operations, no ARM latency,
            new identities visible at once) and the operator's defaults; Azure's real pace is
            bench/real_pace.py's

Usage: python bench/e2e_figures.py [--runs 3] [--profiles e2e,defaults] [--drift-passes 5]
This is a measurement, not a test: it asserts nothing and takes a minute or two.
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime

import kubernetes
import yaml
from estate import GROUP, VERSION, policy_manifest

from asr_sandbox import controlplane
from asr_sandbox.admin_client import AdminClient
from asr_sandbox.process import OperatorProcess, SandboxProcess

ROOT = pathlib.Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "mobilityupdatepolicies.asr.autoupdate.dev.yaml"
PLURAL = "mobilityupdatepolicies"
PROFILES = {
    "e2e": ({"principalPropagationDelaySeconds": 0}, {"ASR_AUTOUPDATE_LRO_POLLING_INTERVAL": "1"}),
    "defaults": ({}, {}),
}


def kubectl(sandbox: dict, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [controlplane.kubectl(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KUBECONFIG": sandbox["kubeconfig"]},
    )
    return result.stdout


def operator_calls(admin: AdminClient, operator: str) -> list[dict]:
    return [
        r
        for r in admin.requests()
        if (r.get("principal") or "").lower() == operator.lower() and "/oauth2/" not in r["path"]
    ]


def ready(custom, namespace: str, name: str) -> bool:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    status = body.get("status") or {}
    found = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
    return found.get("status") == "True" and status.get("observedGeneration") == body["metadata"]["generation"]


def wait(check, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(interval)


def one_run(
    sandbox_process: SandboxProcess, admin: AdminClient, custom, profile: str, work: pathlib.Path, drift_passes: int
) -> dict:
    sandbox = sandbox_process.description
    azure_settings, operator_env = PROFILES[profile]
    admin.reset()
    if azure_settings:
        admin.post("config", azure_settings)
    operator = admin.state()["operatorObjectId"]
    vault = sandbox["vaults"][0]
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    kubectl(sandbox, "create", "namespace", namespace)
    saved = {key: os.environ.get(key) for key in operator_env}
    os.environ.update(operator_env)
    # apply -> Ready with the operator as deployed (no drift override: a faster drift timer would also
    # shorten the retries); the drift checks then with a second process that checks every 2 s
    process = OperatorProcess(
        sandbox_process.state_dir, log_path=work / f"{namespace}.log", args=["-n", namespace, "--drift-tick", "1"]
    )
    try:
        process.start()
        manifest = policy_manifest(namespace, vault, name="bench")
        admin.delete("requests")
        started = time.monotonic()
        kubectl(sandbox, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        wait(lambda: ready(custom, namespace, "bench"), 180, "Ready")
        seconds = time.monotonic() - started
        converge = operator_calls(admin, operator)
        process.stop()

        process = OperatorProcess(
            sandbox_process.state_dir,
            log_path=work / f"{namespace}-drift.log",
            args=["-n", namespace, "--drift-tick", "1", "--drift-interval-override", "2"],
        )
        process.start()
        admin.delete("requests")

        def bursts() -> list[list[dict]]:
            """Drift checks in the log: bursts of calls, checks being 2 s apart and a pass well under 0.5 s."""
            groups: list[list[dict]] = []
            for call in operator_calls(admin, operator):
                moment = datetime.fromisoformat(call["time"])
                if groups and (moment - datetime.fromisoformat(groups[-1][-1]["time"])).total_seconds() < 0.5:
                    groups[-1].append(call)
                else:
                    groups.append([call])
            return groups if len(groups) >= drift_passes + 2 else []

        # whole checks only: not the first (the resume handler's pass when the process started), not the last
        steady = [
            call
            for group in wait(bursts, 30 + 5 * drift_passes, f"{drift_passes} drift checks")[1 : drift_passes + 1]
            for call in group
        ]
        return {"seconds": seconds, "converge": converge, "steady": steady, "passes": drift_passes}
    finally:
        process.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def kind_of(request: dict) -> str:
    path = request["path"].split("?")[0]
    parts = [p for p in path.split("/") if p]
    tail = parts[-1] if len(parts) % 2 else parts[-2]  # a collection, or the type of a named resource
    return f"{request['method']} {tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profiles", default="e2e,defaults")
    parser.add_argument("--drift-passes", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        work = pathlib.Path(tmp)
        sandbox_process = SandboxProcess(work / "sandbox")
        sandbox = sandbox_process.start()
        try:
            admin = AdminClient(sandbox["adminEndpoint"], sandbox["caBundle"])
            kubectl(sandbox, "apply", "-f", str(CRD))
            kubectl(sandbox, "wait", "--for=condition=Established", f"crd/{PLURAL}.{GROUP}", "--timeout=30s")
            api = kubernetes.config.new_client_from_config(config_file=sandbox["kubeconfig"])
            custom = kubernetes.client.CustomObjectsApi(api)
            for profile in args.profiles.split(","):
                runs = [
                    one_run(sandbox_process, admin, custom, profile, work, args.drift_passes) for _ in range(args.runs)
                ]
                report(profile, runs)
        finally:
            sandbox_process.stop()
    return 0


def report(profile: str, runs: list[dict]) -> None:
    seconds = [run["seconds"] for run in runs]
    converge = [len(run["converge"]) for run in runs]
    converge_writes = [sum(r["method"] != "GET" for r in run["converge"]) for run in runs]
    per_pass = [len(run["steady"]) / run["passes"] for run in runs]
    steady_writes = sum(r["method"] != "GET" for run in runs for r in run["steady"])
    print(f"profile {profile} ({len(runs)} runs, one policy, vault with 2 A2A mappings, fresh estate)")
    print(
        f"  apply -> Ready           median {statistics.median(seconds):.2f} s"
        f"  (min {min(seconds):.2f}, max {max(seconds):.2f})"
    )
    print(
        f"  Azure calls to converge  median {statistics.median(converge):g}"
        f"  (writes {statistics.median(converge_writes):g}; min {min(converge)}, max {max(converge)})"
    )
    print(
        f"  Azure calls per steady-state drift check  {statistics.median(per_pass):.1f} (mean per pass)"
        f"  (writes in all of them: {steady_writes})"
    )
    kinds = collections.Counter(kind_of(r) for r in runs[0]["converge"])
    print("  converge, first run: " + ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items())))
    kinds = collections.Counter(kind_of(r) for run in runs for r in run["steady"])
    checks = sum(run["passes"] for run in runs)
    print(
        f"  a drift check, mean of {checks}: "
        + ", ".join(f"{kind} x{n / checks:.2g}" for kind, n in sorted(kinds.items()))
    )
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
