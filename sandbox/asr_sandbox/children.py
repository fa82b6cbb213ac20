"""Child processes of the sandbox and the tests, and the one way they are waited on and ended.

Every child gets its output appended to a log file, is waited on with a deadline (never a bare sleep: it fails
early when the child exits), and is ended by PID: SIGTERM, then SIGKILL when it does not go in time. Children
can be made to die with the process that started them (PR_SET_PDEATHSIG), so a SIGKILLed parent leaves none
behind.
"""

from __future__ import annotations

import ctypes
import os
import pathlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence

HOST = "127.0.0.1"


class ChildFailed(RuntimeError):
    """A child exited, or was not ready in time; the message says where its log is."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when the parent goes, however the parent goes."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class Child:
    """One child process, its output appended to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: pathlib.Path,
        *,
        env: dict[str, str] | None = None,
        die_with_parent: bool = False,
    ):
        self.name = name
        self.log_path = pathlib.Path(log_path)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_die_with_parent if die_with_parent else None,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def exited(self) -> bool:
        return self.popen.poll() is not None

    def wait_until(self, what: str, ready: Callable[[], object], *, timeout: float, interval: float = 0.05) -> None:
        """Poll `ready` until it holds; fail at once if the child exits first, and at the deadline."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.exited():
                raise ChildFailed(
                    f"the {self.name} exited with {self.popen.returncode} before {what}; see {self.log_path}:\n"
                    f"{self.log_tail(15)}"
                )
            if time.monotonic() > deadline:
                raise ChildFailed(f"{what}: not within {timeout:.0f} s; see {self.log_path}")
            time.sleep(interval)

    def kill(self) -> None:
        """End it abruptly, as a crash would."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not end within `timeout`."""
        if self.popen.poll() is not None:
            return
        os.kill(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        """The end of its log, for a failure message that shows why it did not come up."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
