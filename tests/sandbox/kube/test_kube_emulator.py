"""KubeEmulator in-process (as `asr-autoupdate sandbox` runs it): lifecycle, discovery, OpenAPI, tables, watches."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import yaml

from asr_sandbox.kube import KubeEmulator
from tests.sandbox.kube.kube_testing import CRD_FILE

WIDGETS = "/apis/example.dev/v1/namespaces/default/widgets"


@pytest.fixture
async def emulator():
    server = KubeEmulator(bookmark_interval=0.2)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http(emulator):
    async with aiohttp.ClientSession(base_url=emulator.url, headers={"Authorization": "Bearer anything"}) as session:
        yield session


async def call(http, method: str, path: str, body=None, content_type: str = "application/json", **headers):
    data = None if body is None else json.dumps(body)
    async with http.request(method, path, data=data, headers={"Content-Type": content_type, **headers}) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def install_widgets(http) -> None:
    status, _ = await call(http, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                           yaml.safe_load(CRD_FILE.read_text()))
    assert status == 201


async def read_events(response, count: int) -> list[dict]:
    events = []
    async for line in response.content:
        if line.strip():
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


async def test_stop_ends_open_watch_streams(emulator, http, tmp_path):
    emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace="team")
    config = yaml.safe_load((tmp_path / "kubeconfig").read_text())
    assert config["clusters"][0]["cluster"]["server"] == emulator.url
    assert config["contexts"][0]["context"]["namespace"] == "team"
    assert config["users"][0]["user"]["token"]

    response = await http.get("/api/v1/namespaces/default/configmaps?watch=true")
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/json")
    started = time.monotonic()
    await asyncio.wait_for(emulator.stop(), timeout=5)
    assert time.monotonic() - started < 3
    assert await response.content.read() == b""  # the stream was closed, not left hanging
    response.close()


async def test_discovery_documents(http):
    await install_widgets(http)
    status, version = await call(http, "GET", "/version")
    assert version["major"] == "1" and version["minor"] == "32"

    _, core = await call(http, "GET", "/api/v1")
    assert core["groupVersion"] == "v1"
    assert {"name": "namespaces/status", "singularName": "", "namespaced": False, "kind": "Namespace",
            "verbs": ["get", "patch", "update"]} in core["resources"]

    _, groups = await call(http, "GET", "/apis")
    example = next(g for g in groups["groups"] if g["name"] == "example.dev")
    assert example["preferredVersion"] == {"groupVersion": "example.dev/v1", "version": "v1"}

    _, resources = await call(http, "GET", "/apis/example.dev/v1")
    widgets, status_entry = resources["resources"]
    assert widgets["name"] == "widgets" and widgets["shortNames"] == ["wdg"] and widgets["categories"] == ["example"]
    assert widgets["namespaced"] is True and widgets["kind"] == "Widget" and "watch" in widgets["verbs"]
    assert status_entry["name"] == "widgets/status" and "shortNames" not in status_entry

    aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    async with http.get("/apis", headers={"Accept": aggregated}) as response:
        assert response.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        document = await response.json(content_type=None)
    item = next(i for i in document["items"] if i["metadata"].get("name") == "example.dev")
    resource = item["versions"][0]["resources"][0]
    assert resource["scope"] == "Namespaced" and resource["subresources"][0]["subresource"] == "status"


async def test_openapi_v3_advertises_field_validation_and_crd_schemas(http):
    await install_widgets(http)
    _, root = await call(http, "GET", "/openapi/v3")
    url = root["paths"]["apis/example.dev/v1"]["serverRelativeURL"]
    _, document = await call(http, "GET", url)
    item = document["paths"]["/apis/example.dev/v1/namespaces/{namespace}/widgets/{name}"]
    assert any(p["name"] == "fieldValidation" and p["in"] == "query" for p in item["patch"]["parameters"])
    assert "application/strategic-merge-patch+json" not in item["patch"]["requestBody"]["content"]
    schema = document["components"]["schemas"]["dev.example.v1.Widget"]
    assert schema["properties"]["spec"]["properties"]["size"]["description"].startswith("How big")
    assert schema["x-kubernetes-group-version-kind"] == [{"group": "example.dev", "version": "v1", "kind": "Widget"}]
    status, _ = await call(http, "GET", "/openapi/v3/apis/nothing.example/v1")
    assert status == 404


async def test_tables_use_printer_columns(http):
    await install_widgets(http)
    await call(http, "POST", WIDGETS, {"metadata": {"name": "t1"}, "spec": {"size": 2}})
    await call(http, "PATCH", WIDGETS + "/t1/status", {"status": {"conditions": [
        {"type": "Other", "status": "False"}, {"type": "Ready", "status": "True", "message": "fine"}]}},
        "application/merge-patch+json")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    _, table = await call(http, "GET", WIDGETS, Accept=accept)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Color", "Ready", "Message", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[:5] == ["t1", 2, "red", "True", "fine"] and cells[5].endswith("s")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    _, plain = await call(http, "GET", "/api/v1/namespaces", Accept=accept)
    assert [c["name"] for c in plain["columnDefinitions"]] == ["Name", "Status", "Age"]


async def test_watch_bookmarks_timeout_and_initial_events(emulator, http):
    await call(http, "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c1"}})
    async with http.get("/api/v1/namespaces/default/configmaps",
                        params={"watch": "true", "allowWatchBookmarks": "true", "sendInitialEvents": "true",
                                "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "1"}) as response:
        events = await read_events(response, 3)
        rest = await response.content.read()  # the server ends the stream at timeoutSeconds
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert all(json.loads(line)["type"] == "BOOKMARK" for line in rest.splitlines() if line.strip())


async def test_compaction_expires_watches_with_410(emulator, http):
    async with http.get("/api/v1/configmaps", params={"watch": "true", "resourceVersion": "1"}) as response:
        await asyncio.sleep(0)  # the watch is registered before the request returns headers
        status, _ = await call(http, "POST", "/_kube/compact?expireWatches=true")
        assert status == 200
        events = await read_events(response, 1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


async def test_crd_deletion_deletes_its_objects_and_unregisters(http):
    await install_widgets(http)
    await call(http, "POST", WIDGETS, {"metadata": {"name": "doomed"}, "spec": {"size": 1}})
    status, crd = await call(http, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev")
    assert status == 200 and crd["metadata"]["deletionTimestamp"]
    for _ in range(100):
        status, _ = await call(http, "GET", "/apis/example.dev/v1")
        if status == 404:
            break
        await asyncio.sleep(0.01)
    assert status == 404
    status, _ = await call(http, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev")
    assert status == 404


async def test_request_log_names_verbs_and_resources(emulator, http):
    await call(http, "DELETE", "/_kube/requests")
    await call(http, "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "logged"}})
    await call(http, "PATCH", "/api/v1/namespaces/default/configmaps/logged", {"data": {"a": "b"}},
               "application/merge-patch+json")
    await call(http, "GET", "/api/v1/configmaps")
    _, log = await call(http, "GET", "/_kube/requests")
    summary = [(r["verb"], r["resource"], r["namespace"], r["status"]) for r in log["requests"]]
    assert summary == [("create", "configmaps", "default", 201), ("patch", "configmaps", "default", 200),
                       ("list", "configmaps", None, 200)]
    assert log["requests"][1]["contentType"] == "application/merge-patch+json"
