"""The `sandbox` and `demo` subcommands, plugged into `asr-autoupdate` by entry point."""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib

# The Azure emulator's profiles (services.settings.PROFILES), named here so that `--help` loads no aiohttp.
PACES = ("real", "fast")


def add_sandbox_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sandbox",
        help="run the Azure emulator and a real Kubernetes control plane with a seeded estate until SIGTERM",
        description="Start the Azure emulator and kube-apiserver + etcd (built by hack/controlplane/build) on loopback, seed a small estate, write DIR/sandbox.json, "
        "DIR/kubeconfig and DIR/operator.env, print the path of sandbox.json, run until SIGTERM.",
    )
    parser.add_argument("--state-dir", type=pathlib.Path, required=True, help="where the sandbox writes its files")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--azure-port", type=int, default=0, help="HTTPS port of the Azure emulator (0: any)")
    parser.add_argument("--kube-port", type=int, default=0, help="HTTPS port of kube-apiserver (0: any)")
    parser.add_argument(
        "--pace",
        choices=PACES,
        default="real",
        help="the Azure emulator's timings: real (Azure's: minutes-long mapping operations, the default) or fast",
    )
    parser.add_argument(
        "--config",
        type=json.loads,
        default={},
        help="Azure emulator settings over the pace's, as admin-API JSON, e.g. '{\"operationDurationSeconds\": 10}'",
    )
    parser.set_defaults(func=_run_sandbox)


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo", help="start the sandbox, run the operator on the examples until they converge, show status, stop"
    )
    parser.add_argument("--state-dir", type=pathlib.Path, default=None, help="keep the sandbox files here")
    parser.add_argument(
        "--pace",
        choices=PACES,
        default="fast",
        help="the Azure emulator's timings: fast (the default, about a minute in all) or real (Azure's)",
    )
    parser.set_defaults(func=_run_demo)


def _run_sandbox(args: argparse.Namespace) -> int:
    from asr_sandbox.sandbox import serve

    asyncio.run(
        serve(
            args.state_dir,
            host=args.host,
            azure_port=args.azure_port,
            kube_port=args.kube_port,
            pace=args.pace,
            config=args.config,
        )
    )
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from asr_sandbox.demo import run_demo

    return run_demo(args.state_dir, pace=args.pace)
