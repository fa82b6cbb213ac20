"""record_requests.py turns the Kubernetes emulator's request log into operator-requests.json: the operator's
calls kept once per shape, the harness's calls, discovery and failures dropped, the `why` notes carried over."""

from __future__ import annotations

import json

from tests.chart import record_requests
from tests.chart.chart_kit import operator_requests, triple

REQUESTS = operator_requests()


def entry(method, verb, group, resource, namespace=None, subresource=None, status=200, **extra):
    """One line of GET <kube>/_kube/requests, in the emulator's shape."""
    path = "/api/v1" if not group else f"/apis/{group}/v1"
    return {"method": method, "path": path, "query": {}, "contentType": "", "verb": verb, "group": group,
            "version": "v1", "resource": resource, "subresource": subresource, "namespace": namespace,
            "name": None, "status": status, **extra}


def log_of(requests: list[dict]) -> list[dict]:
    return [entry("GET", r["verb"], r["group"], r["resource"], r["namespace"], r["subresource"]) for r in requests]


def test_a_log_of_the_recorded_requests_regenerates_them():
    for mode in ("cluster-wide", "namespaced"):
        expected = [r for r in REQUESTS if r["mode"] == mode]
        recorded = record_requests.distinct_requests(log_of(expected), mode=None,
                                                     excludes=list(record_requests.DEFAULT_EXCLUDES),
                                                     user_agent=record_requests.DEFAULT_USER_AGENT)
        assert {r["mode"] for r in recorded} == {mode}, "the mode is inferred from the policy list/watch calls"
        assert sorted(triple(r) + (r["namespace"] is None,) for r in recorded) == sorted(
            triple(r) + (r["namespace"] is None,) for r in expected)


def test_harness_calls_discovery_and_failures_are_dropped():
    log = [
        {"method": "GET", "path": "/apis", "query": {}, "verb": None, "resource": None, "namespace": None,
         "status": 200},
        entry("GET", "list", "asr.autoupdate.dev", "mobilityupdatepolicies"),
        entry("POST", "create", "", "namespaces"),
        entry("POST", "create", "", "secrets", "dr"),
        entry("DELETE", "delete", "asr.autoupdate.dev", "mobilityupdatepolicies", "dr"),
        entry("GET", "get", "", "secrets", "dr", status=404),
        entry("GET", "list", "", "events", "dr"),
        entry("PATCH", "patch", "", "configmaps", "dr", userAgent="kubectl/v1.32.4"),
        entry("GET", "get", "", "secrets", "team-a"),
        entry("GET", "get", "", "secrets", "team-b"),
        entry("POST", "create", "", "events", "dr", userAgent="kopf/1.45.2"),
    ]
    recorded = record_requests.distinct_requests(log, mode=None, excludes=list(record_requests.DEFAULT_EXCLUDES),
                                                 user_agent=record_requests.DEFAULT_USER_AGENT)
    assert [(r["verb"], r["resource"], r["namespace"]) for r in recorded] == [
        ("create", "events", "dr"),
        ("get", "secrets", "team-a"),  # one line per shape, whichever namespace came first
        ("list", "mobilityupdatepolicies", None),
    ]
    assert {r["mode"] for r in recorded} == {"cluster-wide"}


def test_script_writes_the_file_and_keeps_why_notes_and_the_other_mode(tmp_path):
    output = tmp_path / "operator-requests.json"
    output.write_text(json.dumps(REQUESTS))
    saved = tmp_path / "log.json"
    namespaced = [r for r in REQUESTS if r["mode"] == "namespaced"]
    saved.write_text(json.dumps({"requests": log_of(namespaced)}))
    assert record_requests.main(["--from-file", str(saved), "-o", str(output)]) == 0
    written = json.loads(output.read_text())
    assert sorted(json.dumps(r, sort_keys=True) for r in written) == sorted(
        json.dumps(r, sort_keys=True) for r in REQUESTS)


def test_an_empty_log_is_an_error(tmp_path):
    saved = tmp_path / "log.json"
    saved.write_text("[]")
    assert record_requests.main(["--from-file", str(saved), "-o", str(tmp_path / "out.json")]) == 1
