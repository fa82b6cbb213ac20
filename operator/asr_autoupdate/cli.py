"""`asr-autoupdate`: the one command users and the container image run.

`run` starts the operator and `version` prints what is installed. `sandbox` and `demo` come from the separate
sandbox distribution through the `asr_autoupdate.commands` entry point, so the operator never imports the
sandbox and its image can leave it out.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence

from asr_autoupdate import __version__, peering

PLUGIN_GROUP = "asr_autoupdate.commands"
_SANDBOX_COMMANDS = ("sandbox", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asr-autoupdate",
        description="Keep Azure Site Recovery's Mobility Service extension updated, one policy per vault.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    version = commands.add_parser("version", help="print the operator's version")
    version.set_defaults(func=_print_version)

    run = commands.add_parser(
        "run",
        help="run the operator against the current kubeconfig (or in-cluster service account)",
        description="Run the operator. Azure endpoints, authority and CA come from the environment "
        "(ASR_AUTOUPDATE_ARM_ENDPOINT, AZURE_AUTHORITY_HOST, ASR_AUTOUPDATE_CA_BUNDLE); the operator's own "
        "identity from AZURE_* variables, workload identity or managed identity.",
    )
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable; globs allowed)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    run.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        metavar="URL",
        help="liveness endpoint to serve ('' to disable)",
    )
    run.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.add_argument(
        "--drift-tick",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how often to look whether a policy's drift check is due",
    )
    budget = run.add_argument_group(
        "request budget per subscription",
        "Azure Resource Manager allows each subscription about 25 reads/s (a bucket of 250) and 10 writes/s "
        "(200); the operator stays well under that by default, so people and other tools keep their share. "
        "Also from ASR_AUTOUPDATE_READS_PER_SECOND, _READ_BURST, _WRITES_PER_SECOND, _WRITE_BURST and "
        "_PASSES_PER_SUBSCRIPTION.",
    )
    budget.add_argument("--reads-per-second", type=float, metavar="N", help="reads per second (default 8)")
    budget.add_argument("--read-burst", type=float, metavar="N", help="reads sent at once after a pause (40)")
    budget.add_argument("--writes-per-second", type=float, metavar="N", help="writes per second (default 3)")
    budget.add_argument("--write-burst", type=float, metavar="N", help="writes sent at once after a pause (15)")
    budget.add_argument(
        "--passes-per-subscription",
        type=int,
        metavar="N",
        help="passes let into one subscription at a time; the others wait their turn (default 4)",
    )
    run.add_argument(
        "--fleet-tick",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how often each fleet's waves are gated again from its children's status (discovery keeps its interval)",
    )
    run.add_argument(
        "--discovery-interval-override",
        type=float,
        default=None,
        metavar="SECONDS",
        help="rediscover every fleet's vaults this often instead of its discoveryIntervalSeconds (tests, demo)",
    )
    run.add_argument(
        "--drift-interval-override",
        type=float,
        default=None,
        metavar="SECONDS",
        help="use this instead of every policy's driftCheckIntervalSeconds (for tests and demos)",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        default=8000,
        metavar="PORT",
        help="serve Prometheus metrics on this port at /metrics (0 to disable; default 8000)",
    )
    ha = run.add_argument_group(
        "high availability",
        "Two or more replicas with one leader, through kopf's peering: each replica writes keep-alives into the "
        "peering object (a ClusterKopfPeering cluster-wide, a KopfPeering in each watched namespace; it must "
        "exist), the oldest live replica acts and the others stand by. Without --peering the operator runs "
        "standalone: one replica only.",
    )
    ha.add_argument(
        "--peering",
        type=_peering_name,
        default=None,
        metavar="NAME",
        help="run as one replica of several, in the peering object NAME (default: standalone, no peering)",
    )
    ha.add_argument(
        "--peering-lifetime",
        type=_lifetime,
        default=peering.DEFAULT_LIFETIME,
        metavar="SECONDS",
        help="how long a replica's keep-alive counts: a killed leader is replaced at most this long after its "
        f"last one (whole seconds, at least {peering.MIN_LIFETIME}; default {peering.DEFAULT_LIFETIME})",
    )
    run.set_defaults(func=_run_operator)

    plugged = set()
    for entry_point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        entry_point.load()(commands)
        plugged.add(entry_point.name)
    for name in _SANDBOX_COMMANDS:
        if name not in plugged:
            missing = commands.add_parser(name, help="(needs the asr-autoupdate-sandbox distribution)")
            missing.set_defaults(func=_sandbox_not_installed)
    return parser


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port


def _peering_name(value: str) -> str:
    try:
        return peering.name(value)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def _lifetime(value: str) -> int:
    try:
        return peering.lifetime(value)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def _print_version(args: argparse.Namespace) -> int:
    print(f"asr-autoupdate {__version__}")
    return 0


def _run_operator(args: argparse.Namespace) -> int:
    from asr_autoupdate import handlers
    from asr_autoupdate.azure.credentials import AzureSettings
    from asr_autoupdate.azure.throttle import budget_from_env

    try:
        azure = AzureSettings.from_env()
        budget = budget_from_env(
            os.environ,
            read_rate=args.reads_per_second,
            read_burst=args.read_burst,
            write_rate=args.writes_per_second,
            write_burst=args.write_burst,
            passes_per_subscription=args.passes_per_subscription,
        )
    except ValueError as problem:
        print(f"asr-autoupdate run: {problem}", file=sys.stderr)
        return 2
    options = handlers.OperatorOptions(
        namespaces=tuple(args.namespace),
        clusterwide=not args.namespace,
        liveness_endpoint=args.liveness or None,
        log_json=args.log_format == "json",
        verbose=args.verbose,
        drift_tick_seconds=args.drift_tick,
        fleet_tick_seconds=args.fleet_tick,
        discovery_interval_override=args.discovery_interval_override,
        drift_interval_override=args.drift_interval_override,
        metrics_port=args.metrics_port,
        peering_name=args.peering,
        peering_lifetime=args.peering_lifetime,
        azure=azure,
        budget=budget,
    )
    return handlers.run(options)


def _sandbox_not_installed(args: argparse.Namespace) -> int:
    print(
        f"asr-autoupdate {args.command}: the sandbox is not installed here; "
        "install the asr-autoupdate-sandbox distribution (`pip install -e ./sandbox` from a clone)",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
