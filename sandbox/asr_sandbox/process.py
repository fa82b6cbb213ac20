"""Start and stop `asr-autoupdate sandbox`, `asr-autoupdate run` and the Azure emulator alone
(`python -m asr_sandbox.azure`) as child processes: shared by the demo and the test fixtures. Each waits for its
own readiness with a deadline and is ended by PID.

The emulator children start at the `fast` pace unless told otherwise: they serve tests, which would otherwise
wait minutes per mapping update; a test or a demo that wants Azure's timings passes `pace="real"`."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import urllib.request
from collections.abc import Callable

from asr_sandbox import controlplane
from asr_sandbox.children import Child, ChildFailed, free_port


def read_env_file(path: pathlib.Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


class _ChildProcess:
    """One `python -m <module>` child process (by default an `asr-autoupdate` subcommand), its output appended
    to `log_path`; a `children.Child` underneath."""

    name = "process"
    module = "asr_autoupdate"

    def __init__(self, log_path: pathlib.Path, startup_timeout: float):
        self.log_path = pathlib.Path(log_path)
        self.startup_timeout = startup_timeout
        self.child: Child | None = None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.child.popen if self.child is not None else None

    def _spawn(self, args: list[str], env: dict[str, str], ready: Callable[[], bool], poll_interval: float) -> None:
        """Start the child and wait until `ready()`; fail early if it exits, and at the deadline."""
        self.child = Child(
            self.name, [sys.executable, "-m", self.module, *args], self.log_path, env={**env, "PYTHONUNBUFFERED": "1"}
        )
        try:
            self.child.wait_until(
                f"the {self.name} was ready", ready, timeout=self.startup_timeout, interval=poll_interval
            )
        except ChildFailed:
            self.stop()
            raise

    def log_tail(self, lines: int = 40) -> str:
        """The end of its log, for a failure message that shows why it did not come up."""
        return self.child.log_tail(lines) if self.child is not None else "(no log)"

    def kill(self) -> None:
        """End it abruptly, as a crash would."""
        if self.child is not None:
            self.child.kill()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not end in time."""
        if self.child is not None:
            self.child.stop(timeout)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class SandboxProcess(_ChildProcess):
    """A running sandbox; `description` is its sandbox.json. `config` holds emulator settings over the pace's."""

    name = "sandbox"

    def __init__(
        self,
        state_dir: pathlib.Path,
        *,
        pace: str = "fast",
        config: dict | None = None,
        startup_timeout: float = 90.0,
    ):
        self.state_dir = pathlib.Path(state_dir)
        super().__init__(self.state_dir / "sandbox.log", startup_timeout)
        self.pace = pace
        self.config = dict(config or {})
        self.description: dict = {}

    def start(self) -> dict:
        """Build the control plane here first if it is missing (minutes, with progress on stderr), so that the
        sandbox's own start is seconds; then start the sandbox and wait for its sandbox.json."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        sandbox_json = self.state_dir / "sandbox.json"
        sandbox_json.unlink(missing_ok=True)
        env = {**os.environ, controlplane.BIN_ENV: str(controlplane.binaries())}
        args = ["sandbox", "--state-dir", str(self.state_dir), "--pace", self.pace, "--config", json.dumps(self.config)]
        self._spawn(args, env, sandbox_json.exists, 0.05)
        self.description = json.loads(sandbox_json.read_text())
        return self.description

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self


class AzureEmulatorProcess(_ChildProcess):
    """The Azure emulator alone, for tests that need ARM but no Kubernetes; `description` is its azure.json.

    `pace` names the settings profile, `config` start-up settings over it in the admin API's names
    (`{"lroRetryAfterSeconds": 0}`); a `POST /_sandbox/reset` returns to them. Ready once azure.json exists (it
    is written whole, then renamed).
    """

    name = "Azure emulator"
    module = "asr_sandbox.azure"

    def __init__(
        self,
        state_dir: pathlib.Path,
        *,
        pace: str = "fast",
        config: dict | None = None,
        startup_timeout: float = 30.0,
    ):
        self.state_dir = pathlib.Path(state_dir)
        super().__init__(self.state_dir / "emulator.log", startup_timeout)
        self.pace = pace
        self.config = dict(config or {})
        self.description: dict = {}

    def start(self) -> dict:
        """Start it and wait for azure.json: the emulator writes it only once it is listening."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        azure_json = self.state_dir / "azure.json"
        azure_json.unlink(missing_ok=True)
        args = ["--state-dir", str(self.state_dir), "--pace", self.pace, "--config", json.dumps(self.config)]
        self._spawn(args, dict(os.environ), azure_json.exists, 0.05)
        self.description = json.loads(azure_json.read_text())
        return self.description

    def __enter__(self) -> AzureEmulatorProcess:
        self.start()
        return self


class OperatorProcess(_ChildProcess):
    """`asr-autoupdate run` against a sandbox: the recipe of design/testing.md, as a child process.

    It speaks Kubernetes through `kubeconfig` (the sandbox's admin one unless told otherwise: the tests pass a
    ServiceAccount's). Ready when its liveness endpoint answers; `stop()` ends it by PID (SIGTERM, then SIGKILL), `kill()` ends
    it abruptly (a crash in the middle of a pass).
    """

    name = "operator"

    def __init__(
        self,
        state_dir: pathlib.Path,
        *,
        args: list[str],
        log_path: pathlib.Path,
        startup_timeout: float = 60.0,
        kubeconfig: pathlib.Path | None = None,
    ):
        super().__init__(log_path, startup_timeout)
        self.state_dir = pathlib.Path(state_dir)
        self.args = list(args)
        self.kubeconfig = pathlib.Path(kubeconfig) if kubeconfig else self.state_dir / "kubeconfig"
        self.liveness_port = free_port()

    def start(self) -> OperatorProcess:
        env = {
            **os.environ,
            **read_env_file(self.state_dir / "operator.env"),
            "KUBECONFIG": str(self.kubeconfig),
        }
        liveness = f"http://127.0.0.1:{self.liveness_port}/healthz"
        self._spawn(["run", *self.args, "--liveness", liveness], env, lambda: _answers(liveness), 0.1)
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> OperatorProcess:
        return self.start()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False
