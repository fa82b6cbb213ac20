"""A real `kopf run` against the emulator: the lifecycle of a Widget, namespaced and cluster-wide, and 410 Gone.

The operator runs in its own emulator (a cluster-wide operator would otherwise adopt every Widget the other test
modules leave behind), and every process is ended by PID when a test is done.
"""

from __future__ import annotations

import threading

import kubernetes
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from tests.sandbox.kube.kube_testing import CRD_FILE, KubeServer, Operator, wait_until

GROUP, VERSION, PLURAL = "example.dev", "v1", "widgets"
FINALIZER = "example.dev/widget-cleanup"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    server = KubeServer(tmp_path_factory.mktemp("kube-for-kopf")).start()
    client = kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig))
    kubernetes.client.ApiextensionsV1Api(client).create_custom_resource_definition(yaml.safe_load(CRD_FILE.read_text()))
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


@pytest.fixture
def kube(cluster):
    return cluster[0]


@pytest.fixture
def custom(cluster):
    return kubernetes.client.CustomObjectsApi(cluster[1])


@pytest.fixture
def core(cluster):
    return kubernetes.client.CoreV1Api(cluster[1])


@pytest.fixture
def namespace(core, request):
    name = request.node.name.replace("_", "-")[:40].strip("-")
    core.create_namespace({"metadata": {"name": name}})
    return name


def widget(name: str, size: int) -> dict:
    return {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": size}}


def ready_condition(obj: dict) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def wait_for_reason(custom, namespace: str, name: str, reason: str, timeout: float = 20.0) -> dict:
    def reconciled():
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        condition = ready_condition(obj)
        return obj if condition and condition["reason"] == reason and condition["status"] == "True" else None

    return wait_until(reconciled, timeout=timeout, what=f"{name} to be {reason}")


def wait_until_gone(custom, namespace: str, name: str, timeout: float = 20.0) -> None:
    def gone() -> bool:
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as e:
            return e.status == 404
        return False

    wait_until(gone, timeout=timeout, what=f"{name} to be deleted")


def test_namespaced_operator_lifecycle(kube, custom, core, namespace, tmp_path):
    with Operator(kube, tmp_path / "kopf.log", f"--namespace={namespace}") as operator:
        created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, widget("w1", 3))
        assert created["metadata"]["generation"] == 1 and created["spec"]["color"] == "red"

        obj = wait_for_reason(custom, namespace, "w1", "ReconciledCreate")
        assert FINALIZER in obj["metadata"]["finalizers"]
        assert obj["status"]["observedSize"] == 3 and ready_condition(obj)["message"] == "size=3"

        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "w1", {"spec": {"size": 5}})
        obj = wait_for_reason(custom, namespace, "w1", "ReconciledUpdate")
        assert obj["metadata"]["generation"] == 2
        assert obj["status"]["observedGeneration"] == 2 and ready_condition(obj)["message"] == "size=5"

        def posted_reasons():
            events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=w1").items
            reasons = {event.reason for event in events}
            return reasons if {"ReconciledCreate", "ReconciledUpdate"} <= reasons else None

        wait_until(posted_reasons, what="the operator's Events")

        # Watch the deletion: first the mark (deletionTimestamp, finalizer still there), then the removal.
        seen: list[tuple[str, bool, bool]] = []
        start = obj["metadata"]["resourceVersion"]

        def watch_deletion():
            for event in kubernetes.watch.Watch().stream(
                    custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL,
                    resource_version=start, field_selector="metadata.name=w1", timeout_seconds=15):
                metadata = event["object"]["metadata"]
                seen.append((event["type"], bool(metadata.get("deletionTimestamp")),
                             FINALIZER in (metadata.get("finalizers") or [])))
                if event["type"] == "DELETED":
                    return

        watcher = threading.Thread(target=watch_deletion)
        watcher.start()
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "w1")
        wait_until_gone(custom, namespace, "w1")
        watcher.join(15)
        assert ("MODIFIED", True, True) in seen and seen[-1][0] == "DELETED"
        operator.wait_for_log("cleanup of w1 done")
    assert operator.process.returncode is not None  # ended by PID


def test_cluster_wide_operator_recovers_from_410_gone(kube, custom, namespace, tmp_path):
    with Operator(kube, tmp_path / "kopf.log", "--all-namespaces", "--standalone") as operator:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, widget("before", 2))
        obj = wait_for_reason(custom, namespace, "before", "ReconciledCreate")
        assert FINALIZER in obj["metadata"]["finalizers"]

        # Compaction ends every open watch with a 410 ERROR event: kopf must relist and watch again.
        kube.compact(expire_watches=True)
        operator.wait_for_log("Restarting the watch-stream for widgets.v1.example.dev cluster-wide")
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, widget("after", 4))
        wait_for_reason(custom, namespace, "after", "ReconciledCreate")

        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "before")
        wait_until_gone(custom, namespace, "before")
        operator.wait_for_log("cleanup of before done")

        # The request log shows which verbs the operator needed on which resources (what its RBAC must allow).
        used = {(r["verb"], r["resource"], r["subresource"]) for r in kube.requests() if r["resource"]}
        assert {("watch", "widgets", None), ("patch", "widgets", None), ("patch", "widgets", "status"),
                ("create", "events", None)} <= used
    assert operator.process.returncode is not None
