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
