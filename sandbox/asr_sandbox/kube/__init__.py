"""A Kubernetes API emulator for tests and the demo: kopf, the `kubernetes` client and kubectl talk to it over
HTTP through an ordinary kubeconfig. See docs/sandbox-kube.md for what it does and does not emulate."""

from .server import KubeEmulator

__all__ = ["KubeEmulator"]
