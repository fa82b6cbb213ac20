"""The one command: its subcommands exist and `version` answers; sandbox commands come by entry point."""

import subprocess
import sys

import pytest

from asr_autoupdate import __version__
from asr_autoupdate.cli import build_parser


def test_version_subcommand():
    result = subprocess.run(
        [sys.executable, "-m", "asr_autoupdate", "version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"asr-autoupdate {__version__}"


@pytest.mark.parametrize("command", ["run", "sandbox", "demo", "version"])
def test_every_subcommand_has_its_place(command):
    """Each answers --help (the sandbox's two come by entry point from the other distribution)."""
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0


def test_unknown_subcommand_is_refused():
    result = subprocess.run([sys.executable, "-m", "asr_autoupdate", "frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
