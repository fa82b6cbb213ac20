"""Start and stop `asr-autoupdate sandbox` as a child process: shared by the demo and the test fixtures."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time


class SandboxProcess:
    """A running sandbox; `description` is its sandbox.json. Ends the process it started, by PID."""

    def __init__(self, state_dir: pathlib.Path, *, startup_timeout: float = 60.0):
        self.state_dir = pathlib.Path(state_dir)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.description: dict = {}

    def start(self) -> dict:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        sandbox_json = self.state_dir / "sandbox.json"
        sandbox_json.unlink(missing_ok=True)
        log = open(self.state_dir / "sandbox.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "asr_autoupdate", "sandbox", "--state-dir", str(self.state_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while not sandbox_json.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {self.process.returncode}; see {self.state_dir}/sandbox.log")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the sandbox did not start within {self.startup_timeout}s")
            time.sleep(0.05)
        self.description = json.loads(sandbox_json.read_text())
        return self.description

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_env_file(path: pathlib.Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


class OperatorProcess:
    """`asr-autoupdate run` against a sandbox: the recipe of design/testing.md, as a child process.

    Ready when its liveness endpoint answers; `stop()` ends it by PID (SIGTERM, then SIGKILL), `kill()` ends
    it abruptly (a crash in the middle of a pass).
    """

    def __init__(self, state_dir: pathlib.Path, *, args: list[str], log_path: pathlib.Path, startup_timeout: float = 60.0):
        self.state_dir = pathlib.Path(state_dir)
        self.args = list(args)
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.liveness_port = free_port()

    def start(self) -> OperatorProcess:
        import urllib.request

        env = {
            **os.environ,
            **read_env_file(self.state_dir / "operator.env"),
            "KUBECONFIG": str(self.state_dir / "kubeconfig"),
            "PYTHONUNBUFFERED": "1",
        }
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "asr_autoupdate", "run", *self.args,
             "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"the operator was not live within {self.startup_timeout}s") from None
                time.sleep(0.1)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
