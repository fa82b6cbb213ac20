"""Helpers for the emulator tests: processes ended by PID, and waits on conditions with deadlines."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable

HERE = pathlib.Path(__file__).resolve().parent
CRD_FILE = HERE / "widget_crd.yaml"
OPERATOR_FILE = HERE / "widget_operator.py"


def wait_until(condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` (and the last error) at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
            if result:
                return result
        except Exception as e:  # e.g. 404 while the object is not there yet
            last_error = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}; last error: {last_error!r}")
        time.sleep(interval)


def end_process(process: subprocess.Popen, *, timeout: float = 10.0) -> None:
    """SIGTERM by PID, then SIGKILL by PID if it does not exit in time."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout)


class KubeServer:
    """`python -m asr_sandbox.kube` as a child process, described by its kube.json."""

    def __init__(self, state_dir: pathlib.Path):
        self.state_dir = state_dir
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.kubeconfig = state_dir / "kubeconfig"

    def start(self, *, timeout: float = 15.0) -> KubeServer:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        description = self.state_dir / "kube.json"
        description.unlink(missing_ok=True)
        with open(self.state_dir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "asr_sandbox.kube", "--state-dir", str(self.state_dir),
                 "--bookmark-interval", "1", "--log-level", "INFO"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {process.returncode}: {self.log()}")
            return description.exists()

        wait_until(ready, timeout=timeout, what="kube.json")
        self.url = json.loads(description.read_text())["url"]
        return self

    def stop(self) -> None:
        if self.process is not None:
            end_process(self.process)

    def log(self) -> str:
        path = self.state_dir / "server.log"
        return path.read_text() if path.exists() else ""

    # Test hooks of the emulator.

    def call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def raw(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
            headers: dict | None = None) -> tuple[int, Any]:
        """An HTTP call with an exact Content-Type, as no typed client makes it; returns (status, parsed body)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": content_type, "Authorization": "Bearer t",
                                                  **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode()

    def compact(self, *, expire_watches: bool = False) -> str:
        return self.call("POST", "/_kube/compact" + ("?expireWatches=true" if expire_watches else ""))["resourceVersion"]

    def requests(self) -> list[dict]:
        return self.call("GET", "/_kube/requests")["requests"]

    def clear_requests(self) -> None:
        self.call("DELETE", "/_kube/requests")


class Operator:
    """`kopf run widget_operator.py` as a child process; its log is kept for assertions and diagnostics."""

    def __init__(self, server: KubeServer, log_path: pathlib.Path, *args: str):
        self.log_path = log_path
        self.args = args
        self.server = server
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Operator:
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kopf", "run", "--verbose", *self.args, str(OPERATOR_FILE)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(HERE),
            )
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is not None:
            end_process(self.process)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_for_log(self, text: str, *, timeout: float = 15.0) -> None:
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"kopf exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            return text in self.log()

        wait_until(seen, timeout=timeout, what=f"{text!r} in the operator log")
