"""`asr-autoupdate`: the one command users and the container image run.

`run` starts the operator and `version` prints what is installed. `sandbox` and `demo` come from the separate
sandbox distribution through the `asr_autoupdate.commands` entry point, so the operator never imports the
sandbox and its image can leave it out.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence

from asr_autoupdate import __version__

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

    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
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


def _print_version(args: argparse.Namespace) -> int:
    print(f"asr-autoupdate {__version__}")
    return 0


def _run_operator(args: argparse.Namespace) -> int:
    print("asr-autoupdate run: the reconciler has not landed yet (see issue 3)", file=sys.stderr)
    return 2


def _sandbox_not_installed(args: argparse.Namespace) -> int:
    print(
        f"asr-autoupdate {args.command}: the sandbox is not installed here; "
        "install the asr-autoupdate-sandbox distribution (`pip install -e ./sandbox` from a clone)",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
