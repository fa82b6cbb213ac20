"""A small synchronous client for the Azure emulator's `/_sandbox` admin API (tests and the demo)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any


class AdminError(RuntimeError):
    pass


class AdminClient:
    """JSON over HTTPS to `adminEndpoint`, trusting only the sandbox's own CA."""

    def __init__(self, admin_endpoint: str, ca_bundle: str, *, timeout: float = 30.0):
        self.base = admin_endpoint.rstrip("/")
        self.context = ssl.create_default_context(cafile=ca_bundle)
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + "/" + path.lstrip("/"), data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise AdminError(f"{method} {path}: {error.code} {error.read().decode(errors='replace')}") from None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})

    def delete(self, path: str, body: Any = None) -> Any:
        return self.call("DELETE", path, body)

    def state(self) -> dict:
        return self.get("state")

    def reset(self) -> None:
        self.post("reset")

    def requests(self) -> list[dict]:
        return self.get("requests")["requests"]

    def advance_clock(self, seconds: float) -> dict:
        return self.post("clock", {"advanceSeconds": seconds})

    def fail_update_jobs(self, vault_id: str, fail: bool = True, message: str | None = None) -> dict:
        """Make every Site Recovery update run covering the vault end Failed (with `message`, or the default
        exception), leaving its agents as they are; `fail=False` lets the next run succeed again."""
        body: dict[str, Any] = {"vaultId": vault_id, "fail": fail}
        if message is not None:
            body["message"] = message
        return self.post("vaults/update-job-failure", body)
