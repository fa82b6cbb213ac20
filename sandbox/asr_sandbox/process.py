"""Start and stop `asr-autoupdate sandbox` and `asr-autoupdate run` as child processes: shared by the demo
and the test fixtures. Each waits for its own readiness with a deadline and is ended by PID."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from asr_sandbox import controlplane


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_env_file(path: pathlib.Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


class _ChildProcess:
    """One `asr-autoupdate` subcommand as a child process, its output appended to `log_path`."""

    name = "process"

    def __init__(self, log_path: pathlib.Path, startup_timeout: float):
        self.log_path = pathlib.Path(log_path)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    def _spawn(self, args: list[str], env: dict[str, str], ready: Callable[[], bool], poll_interval: float) -> None:
        """Start the subcommand and wait until `ready()`; fail early if it exits, and at the deadline."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "asr_autoupdate", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**env, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + self.startup_timeout
        while not ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.name} exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the {self.name} was not ready within {self.startup_timeout}s")
            time.sleep(poll_interval)

    def kill(self) -> None:
        """End it abruptly, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not end in time."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class SandboxProcess(_ChildProcess):
    """A running sandbox; `description` is its sandbox.json."""

    name = "sandbox"

    def __init__(self, state_dir: pathlib.Path, *, startup_timeout: float = 90.0):
        self.state_dir = pathlib.Path(state_dir)
        super().__init__(self.state_dir / "sandbox.log", startup_timeout)
        self.description: dict = {}

    def start(self) -> dict:
        """Build the control plane here first if it is missing (minutes, with progress on stderr), so that the
        sandbox's own start is seconds; then start the sandbox and wait for its sandbox.json."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        sandbox_json = self.state_dir / "sandbox.json"
        sandbox_json.unlink(missing_ok=True)
        env = {**os.environ, controlplane.BIN_ENV: str(controlplane.binaries())}
        self._spawn(["sandbox", "--state-dir", str(self.state_dir)], env, sandbox_json.exists, 0.05)
        self.description = json.loads(sandbox_json.read_text())
        return self.description

    def __enter__(self) -> SandboxProcess:
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
