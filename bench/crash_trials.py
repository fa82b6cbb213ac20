"""Crash trials: the operator SIGKILLed at a seeded random moment of a fleet's convergence, then a successor,
`--trials` times (tests/e2e/crash_kit.py; the e2e suite runs a handful of the same trials).

Runs its own sandbox (the `fast` pace, as the e2e suite) and `asr-autoupdate run` as subprocesses, under the
chart's ServiceAccount and RBAC as the e2e fixtures do. First `--baselines` undisturbed convergences: seconds
from the fleet's apply to the fleet and its three children Ready (what the kill window [0,
KILL_WINDOW_SECONDS] is measured against), and when the six mapping PATCHes went out. Then per trial (seeds
`--seed` .. `--seed + --trials - 1`, the kill delay drawn from the seed, uniform in `--window`) one line:

  the seed and the kill delay; at the kill, how many children existed and how many Site Recovery operations were
  running (and how many of those no child's status.operations recorded yet: the PATCH-then-crash window); the
  operator's last ARM request before the kill; the most mapping PATCHes any one mapping got; the 409s answered
  to them; seconds from the successor's start to converged; OK, or FAIL (its namespace) and what was doubled,
  lost or never converged.

And a summary: trials, failures (with their seeds), most PATCHes per mapping, 409s, trials where a mapping was
PATCHed more than once, kills that landed with an operation unrecorded, median and max seconds to converge.

The mapping PATCHes go out within about half a second of the apply (see the baselines), so a uniform draw over
the whole convergence seldom lands between a PATCH and its status write; `--window 0.2:0.6` aims at it.

Usage: python bench/crash_trials.py [--trials 50] [--seed 1] [--baselines 3] [--window 0:10]
Rerun one trial, keeping its logs: python bench/crash_trials.py --trials 1 --seed <seed> [--window as it ran]
  --baselines 0 --keep DIR
This is a measurement, not a test: it asserts nothing; about ten seconds a trial.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

import kubernetes

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.process import OperatorProcess, SandboxProcess
from tests.chart import chart_kit
from tests.e2e.conftest import LRO_POLLING_INTERVAL, OPERATOR_NAMESPACE, PERSON, RBAC_DENIAL, TEST_AZURE_CONFIG, Arm
from tests.e2e.crash_kit import (
    AZURE_CONFIG,
    KILL_WINDOW_SECONDS,
    OPERATION_SECONDS,
    VAULT_COUNT,
    Trial,
    kill_delay,
    run_trial,
    trial_line,
    undisturbed_convergence,
)
from tests.e2e.kit import TRACEBACK, fresh_estate
from tests.kube_kit import Kubectl, install_chart_identity, install_crd, service_account_kubeconfig


def kubeconfig_for_operator(kubectl, core, description: dict, namespace: str, path: pathlib.Path) -> pathlib.Path:
    """What the e2e `operator_kubeconfig` fixture does: the chart's identity for `namespace` (namespaced mode)
    applied, and a kubeconfig with a token for its ServiceAccount."""
    manifests = chart_kit.render({"watchNamespaces": [namespace]}, namespace=OPERATOR_NAMESPACE)
    install_chart_identity(kubectl, manifests, OPERATOR_NAMESPACE)
    [account] = [m for m in manifests if m["kind"] == "ServiceAccount"]
    return service_account_kubeconfig(core, description, OPERATOR_NAMESPACE, account["metadata"]["name"], path)


class Operators:
    """What the e2e `start_operator` fixture does: `asr-autoupdate run -n <namespace> --drift-tick 1 ...` as the
    chart's ServiceAccount, each process ended by PID once the trial is over, and their logs checked."""

    def __init__(self, sandbox: SandboxProcess, namespace: str, kubeconfig: pathlib.Path, work: pathlib.Path):
        self.sandbox, self.namespace, self.kubeconfig, self.work = sandbox, namespace, kubeconfig, work
        self.started: list[OperatorProcess] = []

    def __call__(self, *extra: str) -> OperatorProcess:
        process = OperatorProcess(
            self.sandbox.state_dir,
            args=["-n", self.namespace, "--drift-tick", "1", *extra],
            log_path=self.work / f"{self.namespace}-operator-{len(self.started)}.log",
            kubeconfig=self.kubeconfig,
        )
        self.started.append(process)
        return process.start()

    def finish(self) -> list[str]:
        """Kill every process started; what their logs show that they should not."""
        for process in self.started:
            process.kill()
        lines = [line for process in self.started for line in process.log_text().splitlines()]
        problems = []
        if refused := [line for line in lines if RBAC_DENIAL in line]:
            problems.append(f"the API server refused the chart's ServiceAccount: {refused[0][:200]}")
        if crashed := [line for line in lines if TRACEBACK.search(line)]:
            problems.append(f"{len(crashed)} tracebacks in the operator's log")
        return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1, help="the first trial's seed; the others follow it")
    parser.add_argument("--baselines", type=int, default=3, help="undisturbed convergences measured first")
    parser.add_argument(
        "--window",
        metavar="LOW:HIGH",
        default=f"0:{KILL_WINDOW_SECONDS:g}",
        help="kill delays drawn uniform in [LOW, HIGH] s after the apply (default the whole convergence); a narrow "
        "window about the baselines' mapping PATCHes aims the kills at the PATCH-then-crash window",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep the sandbox's state and the operators' logs in DIR")
    args = parser.parse_args(argv)
    low, high = (float(bound) for bound in args.window.split(":"))
    os.environ["ASR_AUTOUPDATE_LRO_POLLING_INTERVAL"] = LRO_POLLING_INTERVAL
    azure_config = {**TEST_AZURE_CONFIG, **AZURE_CONFIG}

    with tempfile.TemporaryDirectory(prefix="asr-crash-") as tmp:
        work = pathlib.Path(args.keep or tmp)
        sandbox = SandboxProcess(work / "sandbox", pace="fast")
        description = sandbox.start()
        try:
            admin = AdminClient(description["adminEndpoint"], description["caBundle"])
            kubectl = Kubectl(description["kubeconfig"])
            install_crd(kubectl)
            api = kubernetes.config.new_client_from_config(config_file=description["kubeconfig"])
            custom, core = kubernetes.client.CustomObjectsApi(api), kubernetes.client.CoreV1Api(api)
            arm = Arm(description, PERSON["clientId"], PERSON["clientSecret"])

            def fresh() -> tuple[str, Operators]:
                namespace = fresh_estate(admin, kubectl, azure_config, PERSON)
                kubeconfig = kubeconfig_for_operator(kubectl, core, description, namespace, work / f"{namespace}.kc")
                return namespace, Operators(sandbox, namespace, kubeconfig, work)

            print(
                f"{VAULT_COUNT} vaults over 2 subscriptions, 2 A2A mappings each, one fleet; Site Recovery operations "
                f"of {OPERATION_SECONDS} s; kill uniform in [{low:g}, {high:g}] s after the apply"
            )
            baselines = []
            for _ in range(args.baselines):
                namespace, operators = fresh()
                baselines.append(
                    undisturbed_convergence(
                        admin=admin, kubectl=kubectl, custom=custom, namespace=namespace, start_operator=operators
                    )
                )
                operators.finish()
            if baselines:
                seconds = [b.seconds for b in baselines]
                print(
                    f"undisturbed apply -> converged: median {statistics.median(seconds):.2f} s "
                    f"(min {min(seconds):.2f}, max {max(seconds):.2f}; {len(baselines)} runs); the 6 mapping "
                    "PATCHes sent at "
                    + ", ".join(
                        f"{b.first_patch:.2f}-{b.last_patch:.2f}" for b in baselines if b.first_patch is not None
                    )
                    + " s"
                )
            sys.stdout.flush()

            trials: list[Trial] = []
            began = time.monotonic()
            for seed in range(args.seed, args.seed + args.trials):
                namespace, operators = fresh()
                try:
                    trial = run_trial(
                        seed,
                        admin=admin,
                        arm=arm,
                        kubectl=kubectl,
                        custom=custom,
                        namespace=namespace,
                        start_operator=operators,
                        delay=kill_delay(seed, (low, high)),
                    )
                finally:
                    problems = operators.finish()
                trial.problems.extend(problems)
                trials.append(trial)
                print(trial_line(trial))
                sys.stdout.flush()
            report(trials, time.monotonic() - began)
        finally:
            sandbox.stop()
    return 0


def report(trials: list[Trial], seconds: float) -> None:
    failed = [t for t in trials if not t.ok]
    converge = [t.seconds_to_converge for t in trials if t.seconds_to_converge is not None]
    twice = [t for t in trials if t.max_patches > 1]
    unrecorded = [t for t in trials if t.unrecorded_at_kill]
    print(f"trials {len(trials)} in {seconds / 60:.1f} min")
    print(f"  failures {len(failed)}" + (f" (seeds {', '.join(str(t.seed) for t in failed)})" if failed else ""))
    print(f"  max PATCHes per mapping {max((t.max_patches for t in trials), default=0)}")
    print(f"  409s {sum(t.total_conflicts for t in trials)} (in {sum(bool(t.total_conflicts) for t in trials)} trials)")
    print(
        f"  a mapping PATCHed twice in {len(twice)} trials"
        + (f" (seeds {', '.join(str(t.seed) for t in twice)})" if twice else "")
    )
    print(
        f"  kills with an operation running but not yet recorded: {len(unrecorded)}"
        + (f" (seeds {', '.join(str(t.seed) for t in unrecorded)})" if unrecorded else "")
    )
    print(f"  kills after convergence {sum(t.converged_at_kill for t in trials)}")
    if converge:
        print(f"  seconds to converge after restart: median {statistics.median(converge):.2f}, max {max(converge):.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
