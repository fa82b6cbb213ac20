"""apiserver behaviour as the `kubernetes` 37 client sees it: status codes, metadata, subresources, watches."""

from __future__ import annotations

import base64
import json
import threading

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException
from tests.sandbox.kube.kube_testing import wait_until

GROUP, VERSION, PLURAL = "example.dev", "v1", "widgets"


def widget(name: str, size: int = 3, **spec) -> dict:
    return {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": size, **spec}}


def body(error: ApiException) -> dict:
    return json.loads(error.body)


@pytest.fixture
def widgets(custom, widget_crd, namespace):
    """Create/get/patch Widgets in this test's namespace."""

    class Widgets:
        ns = namespace

        def create(self, obj):
            return custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)

        def get(self, name):
            return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

        def patch(self, name, patch):
            return custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)

        def patch_status(self, name, patch):
            return custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, patch)

        def delete(self, name, **kwargs):
            return custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, **kwargs)

        def list(self, **kwargs):
            return custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **kwargs)

    return Widgets()


def test_create_returns_the_stored_object_with_server_metadata_and_defaults(widgets):
    created = widgets.create(widget("w1"))  # no metadata.namespace: it comes from the URL
    metadata = created["metadata"]
    assert metadata["namespace"] == widgets.ns
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z")
    assert metadata["generation"] == 1 and int(metadata["resourceVersion"]) > 0
    assert created["spec"]["color"] == "red"  # schema default

    with pytest.raises(ApiException) as error:
        widgets.create(widget("w1"))
    assert error.value.status == 409 and body(error.value)["reason"] == "AlreadyExists"
    assert body(error.value)["message"] == 'widgets.example.dev "w1" already exists'

    with pytest.raises(ApiException) as error:
        widgets.get("missing")
    assert error.value.status == 404
    assert body(error.value)["details"] == {"name": "missing", "group": "example.dev", "kind": "widgets"}


def test_generate_name_and_missing_namespace(custom, widgets, widget_crd):
    first = widgets.create({"apiVersion": "example.dev/v1", "kind": "Widget",
                            "metadata": {"generateName": "gen-"}, "spec": {"size": 1}})
    second = widgets.create({"apiVersion": "example.dev/v1", "kind": "Widget",
                             "metadata": {"generateName": "gen-"}, "spec": {"size": 1}})
    assert first["metadata"]["name"].startswith("gen-") and len(first["metadata"]["name"]) == 9
    assert first["metadata"]["name"] != second["metadata"]["name"]

    with pytest.raises(ApiException) as error:
        custom.create_namespaced_custom_object(GROUP, VERSION, "ghost", PLURAL, widget("w"))
    assert error.value.status == 404 and body(error.value)["message"] == 'namespaces "ghost" not found'


def test_schema_and_cel_errors_are_422_in_apiserver_format(widgets):
    with pytest.raises(ApiException) as error:
        widgets.create(widget("big", size=11, color="purple"))
    status = body(error.value)
    assert error.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"].startswith('Widget.example.dev "big" is invalid: [')
    assert {"reason": "FieldValueNotSupported", "field": "spec.color",
            "message": 'Unsupported value: "purple": supported values: "red", "green", "blue"'} in status["details"]["causes"]
    assert 'spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10' in status["message"]

    with pytest.raises(ApiException) as error:
        widgets.create(widget("red", size=7))
    assert body(error.value)["message"] == \
        'Widget.example.dev "red" is invalid: spec: Invalid value: "object": red widgets are at most 5 big'

    widgets.create(widget("kept", vault={"name": "v1"}))
    with pytest.raises(ApiException) as error:
        widgets.patch("kept", {"spec": {"vault": {"name": "v2"}}})
    assert body(error.value)["message"] == \
        'Widget.example.dev "kept" is invalid: spec.vault: Invalid value: "object": vault is immutable'


def test_unknown_fields_are_pruned_or_rejected_when_strict(kube, widgets):
    created = widgets.create(widget("pruned", colour="blue"))
    assert "colour" not in created["spec"]

    collection = f"/apis/example.dev/v1/namespaces/{widgets.ns}/widgets"
    status, answer = kube.raw("POST", collection + "?fieldValidation=Strict", widget("strict", colour="blue"))
    assert status == 400
    assert 'strict decoding error: unknown field "spec.colour"' in answer["message"]


def test_patch_types_and_preconditions(kube, core, widgets):
    created = widgets.create(widget("p1"))
    path = f"/apis/example.dev/v1/namespaces/{widgets.ns}/widgets/p1"

    def patch(content_type: str, payload) -> int:
        return kube.raw("PATCH", path, payload, content_type=content_type)[0]

    # kopf's optimistic finalizer patch: a stale `test` of the resourceVersion must be 422, not 500.
    stale = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
             {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}]
    assert patch("application/json-patch+json", stale) == 422
    fresh = [{"op": "test", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
             {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]
    assert patch("application/json-patch+json", fresh) == 200
    assert patch("application/strategic-merge-patch+json", {"spec": {"size": 2}}) == 415
    assert patch("text/plain", "x") == 415
    assert patch("application/merge-patch+json", {"metadata": {"resourceVersion": "1"}, "spec": {"size": 2}}) == 409
    assert patch("application/apply-patch+yaml", widget("p1", 5)) == 422  # apply needs a fieldManager
    status, applied = kube.raw("PATCH", path + "?fieldManager=test", widget("p1", 5),
                               content_type="application/apply-patch+yaml")
    assert status == 200 and applied["spec"]["size"] == 5

    # PUT with a stale resourceVersion: 409 Conflict; without one (for a CR): 422.
    current = widgets.get("p1")
    assert kube.raw("PUT", path, dict(current, spec={"size": 4}))[0] == 200
    status, answer = kube.raw("PUT", path, dict(current, spec={"size": 4}))
    assert status == 409 and answer["reason"] == "Conflict"
    unversioned = dict(current, metadata={"name": "p1"})
    assert kube.raw("PUT", path, unversioned)[0] == 422

    # Built-ins accept strategic merge patches (the client's default for dict bodies).
    core.create_namespaced_config_map(widgets.ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    patched = core.patch_namespaced_config_map("cm", widgets.ns, {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}


def test_generation_and_no_op_writes(widgets):
    created = widgets.create(widget("g1"))
    version = created["metadata"]["resourceVersion"]
    same = widgets.patch("g1", {"spec": {"size": 3}})
    assert same["metadata"]["resourceVersion"] == version  # nothing changed: no new resourceVersion
    labelled = widgets.patch("g1", {"metadata": {"labels": {"x": "y"}}})
    assert labelled["metadata"]["generation"] == 1  # metadata is not spec
    resized = widgets.patch("g1", {"spec": {"size": 4}})
    assert resized["metadata"]["generation"] == 2


def test_status_subresource_semantics(widgets):
    created = widgets.create(dict(widget("s1"), status={"observedSize": 99}))
    assert "status" not in created  # status is dropped on create
    ignored = widgets.patch("s1", {"status": {"observedSize": 1}})
    assert "status" not in ignored  # the main endpoint ignores status
    written = widgets.patch_status("s1", {"status": {"observedSize": 3}, "spec": {"size": 9}})
    assert written["status"] == {"observedSize": 3}
    assert written["spec"]["size"] == 3  # /status ignores everything but status
    assert written["metadata"]["generation"] == 1


def test_finalizers_and_deletion(widgets):
    widgets.create(dict(widget("f1"), metadata={"name": "f1", "finalizers": ["example.dev/hold"]}))
    deleting = widgets.delete("f1")
    assert deleting["metadata"]["deletionTimestamp"]
    assert widgets.get("f1")["metadata"]["generation"] == 2  # the deletion mark bumps CR generations
    with pytest.raises(ApiException) as error:
        widgets.patch("f1", {"metadata": {"finalizers": ["example.dev/hold", "example.dev/new"]}})
    assert error.value.status == 422
    assert "no new finalizers can be added if the object is being deleted" in body(error.value)["message"]
    widgets.patch("f1", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as error:
        widgets.get("f1")
    assert error.value.status == 404


def test_delete_preconditions_and_dry_run(widgets):
    created = widgets.create(widget("d1"))
    with pytest.raises(ApiException) as error:
        widgets.delete("d1", body={"preconditions": {"uid": "not-the-uid"}})
    assert error.value.status == 409
    widgets.delete("d1", dry_run="All")
    assert widgets.get("d1")["metadata"]["uid"] == created["metadata"]["uid"]
    widgets.delete("d1", body={"preconditions": {"uid": created["metadata"]["uid"]}})
    wait_until(lambda: not widgets.list()["items"], what="d1 to be gone")


def test_list_kind_and_selectors(core, widgets):
    widgets.create(dict(widget("l1"), metadata={"name": "l1", "labels": {"tier": "a", "env": "prod"}}))
    widgets.create(dict(widget("l2"), metadata={"name": "l2", "labels": {"tier": "b"}}))
    widgets.create(dict(widget("l3"), metadata={"name": "l3"}))
    listed = widgets.list()
    assert listed["kind"] == "WidgetList" and listed["apiVersion"] == "example.dev/v1"
    assert int(listed["metadata"]["resourceVersion"]) > 0

    def names(**selectors):
        return sorted(item["metadata"]["name"] for item in widgets.list(**selectors)["items"])

    assert names(label_selector="tier=a") == ["l1"]
    assert names(label_selector="tier==a") == ["l1"]
    assert names(label_selector="tier!=a") == ["l2", "l3"]
    assert names(label_selector="tier in (a,b)") == ["l1", "l2"]
    assert names(label_selector="tier notin (a)") == ["l2", "l3"]
    assert names(label_selector="tier") == ["l1", "l2"]
    assert names(label_selector="!tier") == ["l3"]
    assert names(label_selector="tier,env=prod") == ["l1"]
    assert names(field_selector="metadata.name=l2") == ["l2"]
    assert names(field_selector="metadata.name!=l2") == ["l1", "l3"]
    with pytest.raises(ApiException) as error:
        widgets.list(field_selector="spec.size=3")  # CRs only select on metadata (and selectableFields)
    assert error.value.status == 400

    core.create_namespaced_event(widgets.ns, {
        "metadata": {"generateName": "ev-"}, "involvedObject": {"kind": "Widget", "name": "l1"},
        "reason": "Tested", "message": "hello", "type": "Normal"})
    events = core.list_namespaced_event(widgets.ns, field_selector="involvedObject.name=l1").items
    assert [e.reason for e in events] == ["Tested"]
    assert core.list_namespaced_event(widgets.ns, field_selector="involvedObject.name=l2").items == []


def test_watch_resumes_from_a_resource_version_and_410_after_compaction(kube, custom, widgets):
    start = widgets.list()["metadata"]["resourceVersion"]
    widgets.create(widget("r1"))
    widgets.patch("r1", {"spec": {"size": 4}})
    widgets.delete("r1")

    watch = kubernetes.watch.Watch()
    events = []
    for event in watch.stream(custom.list_namespaced_custom_object, GROUP, VERSION, widgets.ns, PLURAL,
                              resource_version=start, timeout_seconds=5):
        events.append((event["type"], event["object"]["metadata"]["name"]))
        if event["type"] == "DELETED":
            watch.stop()
    assert events == [("ADDED", "r1"), ("MODIFIED", "r1"), ("DELETED", "r1")]

    kube.compact()
    with pytest.raises(ApiException) as error:
        for _ in kubernetes.watch.Watch().stream(
                custom.list_namespaced_custom_object, GROUP, VERSION, widgets.ns, PLURAL,
                resource_version=start, timeout_seconds=1):
            pass
    assert error.value.status == 410


def test_watch_sees_writes_that_follow_the_list_and_label_transitions(api_client, custom, widgets):
    listed = widgets.list(label_selector="watched=yes")
    seen: list[tuple[str, str]] = []

    def consume():
        watch = kubernetes.watch.Watch()
        for event in watch.stream(
                custom.list_namespaced_custom_object, GROUP, VERSION, widgets.ns, PLURAL,
                resource_version=listed["metadata"]["resourceVersion"], label_selector="watched=yes",
                timeout_seconds=5):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if len(seen) == 3:
                watch.stop()

    widgets.create(dict(widget("t1"), metadata={"name": "t1", "labels": {"watched": "yes"}}))
    thread = threading.Thread(target=consume)
    thread.start()
    widgets.patch("t1", {"metadata": {"labels": {"watched": "no"}}})  # stops matching: DELETED for this watch
    widgets.patch("t1", {"metadata": {"labels": {"watched": "yes"}}})  # matches again: ADDED
    thread.join(10)
    assert seen == [("ADDED", "t1"), ("DELETED", "t1"), ("ADDED", "t1")]


def test_owner_reference_garbage_collection(core, widgets):
    owner = widgets.create(widget("owner"))
    reference = {"apiVersion": "example.dev/v1", "kind": "Widget", "name": "owner",
                 "uid": owner["metadata"]["uid"], "controller": True}
    core.create_namespaced_config_map(widgets.ns, {"metadata": {"name": "child", "ownerReferences": [reference]}})
    core.create_namespaced_config_map(widgets.ns, {"metadata": {"name": "orphan-to-be", "ownerReferences": [reference]}})
    widgets.delete("owner")

    def gone():
        try:
            core.read_namespaced_config_map("child", widgets.ns)
        except ApiException as e:
            return e.status == 404
        return False

    wait_until(gone, what="the dependent ConfigMap to be collected")


def test_namespace_deletion_terminates_then_cascades(core, widgets):
    widgets.create(dict(widget("held"), metadata={"name": "held", "finalizers": ["example.dev/hold"]}))
    core.create_namespaced_config_map(widgets.ns, {"metadata": {"name": "plain"}})
    core.delete_namespace(widgets.ns)
    assert core.read_namespace(widgets.ns).status.phase == "Terminating"
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map(widgets.ns, {"metadata": {"name": "late"}})
    assert error.value.status == 403
    wait_until(lambda: widgets.get("held")["metadata"].get("deletionTimestamp"), what="the CR to be marked")
    widgets.patch("held", {"metadata": {"finalizers": None}})

    def namespace_gone():
        try:
            core.read_namespace(widgets.ns)
        except ApiException as e:
            return e.status == 404
        return False

    wait_until(namespace_gone, what="the namespace to go")


def test_secret_string_data_and_base64(core, namespace):
    secret = core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}})
    assert secret.type == "Opaque"
    assert secret.data == {"password": base64.b64encode(b"hunter2").decode()}
    assert secret.string_data is None
    with pytest.raises(ApiException) as error:
        core.create_namespaced_secret(namespace, {"metadata": {"name": "bad"}, "data": {"x": "not base64!"}})
    assert error.value.status == 400 and "illegal base64 data at input byte" in body(error.value)["message"]


def test_typed_clients_for_builtins(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    coordination = kubernetes.client.CoordinationV1Api(api_client)
    deployment = apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    assert deployment.metadata.generation == 1 and deployment.spec.replicas == 1
    lease = coordination.create_namespaced_lease(namespace, {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}})
    assert lease.spec.holder_identity == "me"
    assert [item.metadata.name for item in coordination.list_lease_for_all_namespaces().items].count("l") == 1
