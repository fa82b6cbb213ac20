"""kubectl 1.32, the one users and the demo run, against the emulator through a kubeconfig."""

from __future__ import annotations

import json
import subprocess
import textwrap

from tests.sandbox.kube.kube_testing import CRD_FILE, wait_until


def manifest(name: str, namespace: str, spec: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: example.dev/v1
        kind: Widget
        metadata:
          name: {name}
          namespace: {namespace}
        spec:
        """) + textwrap.indent(textwrap.dedent(spec), "  ")


def test_apply_get_wait_patch_delete(kube, kubectl, namespace):
    assert kubectl("apply", "-f", str(CRD_FILE)).returncode == 0
    applied = kubectl("apply", "-f", "-", input=manifest("w1", namespace, """\
        size: 3
        vault:
          name: v1
        """))
    assert applied.returncode == 0, applied.stderr
    assert "widget.example.dev/w1 created" in applied.stdout

    listed = kubectl("get", "widgets", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "SIZE", "COLOR", "READY", "AGE"]  # the CRD's printer columns
    assert row.split()[:3] == ["w1", "3", "red"]
    for alias in ("wdg", "example", "widget.example.dev"):  # short name, category, qualified
        assert "w1" in kubectl("get", alias, "-n", namespace).stdout, alias

    patched = kubectl("patch", "widget", "w1", "-n", namespace, "--subresource=status", "--type=merge", "-p",
                      json.dumps({"status": {"conditions": [
                          {"type": "Ready", "status": "True", "reason": "Done", "message": "all good"}]}}))
    assert patched.returncode == 0, patched.stderr
    waited = kubectl("wait", "--for=condition=Ready", "widget/w1", "-n", namespace, "--timeout=10s")
    assert waited.returncode == 0 and "condition met" in waited.stdout, waited.stderr
    wide = kubectl("get", "widget", "w1", "-n", namespace, "-o", "wide").stdout
    assert "MESSAGE" in wide and "all good" in wide and "True" in wide

    explained = kubectl("explain", "widgets.spec.size")
    assert explained.returncode == 0 and "How big the widget is" in explained.stdout, explained.stderr

    server_side = kubectl("apply", "--server-side", "-f", "-", input=manifest("w1", namespace, """\
        size: 4
        vault:
          name: v1
        """))
    assert server_side.returncode == 0, server_side.stderr
    assert kubectl("get", "widget", "w1", "-n", namespace, "-o", "jsonpath={.spec.size} {.metadata.generation}").stdout == "4 2"

    # `kubectl delete` waits for the finalizers to go.
    assert kubectl("patch", "widget", "w1", "-n", namespace, "--type=merge",
                   "-p", '{"metadata":{"finalizers":["example.dev/hold"]}}').returncode == 0
    deleting = subprocess.Popen(
        ["kubectl", f"--kubeconfig={kube.kubeconfig}", "delete", "widget", "w1", "-n", namespace, "--timeout=20s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: kubectl("get", "widget", "w1", "-n", namespace,
                                   "-o", "jsonpath={.metadata.deletionTimestamp}").stdout, what="the deletion mark")
        assert deleting.poll() is None  # still waiting for the finalizer
        assert kubectl("patch", "widget", "w1", "-n", namespace, "--type=json",
                       "-p", '[{"op":"remove","path":"/metadata/finalizers"}]').returncode == 0
        out, err = deleting.communicate(timeout=20)
    finally:
        if deleting.poll() is None:
            deleting.kill()
    assert deleting.returncode == 0 and 'widget.example.dev "w1" deleted' in out, err
    assert "NotFound" in kubectl("get", "widget", "w1", "-n", namespace).stderr


def test_rejections_show_the_server_message(kubectl, namespace):
    assert kubectl("apply", "-f", str(CRD_FILE)).returncode == 0
    assert kubectl("apply", "-f", "-", input=manifest("kept", namespace, "size: 2\nvault:\n  name: v1\n")).returncode == 0

    cases = {
        "size: 30\n": 'spec.size: Invalid value: 30: spec.size in body should be less than or equal to 10',
        "size: 3\ncolor: purple\n": 'spec.color: Unsupported value: "purple"',
        "size: 7\n": 'spec: Invalid value: "object": red widgets are at most 5 big',
        "size: 3\ncolour: red\n": 'unknown field "spec.colour"',
        "size: 3\ntags: [a, b, c, d]\n": "spec.tags: Too many: 4: must have at most 3 items",
    }
    for spec, message in cases.items():
        rejected = kubectl("apply", "-f", "-", input=manifest("bad", namespace, spec))
        assert rejected.returncode != 0 and message in rejected.stderr, (spec, rejected.stderr)

    moved = kubectl("apply", "-f", "-", input=manifest("kept", namespace, "size: 2\nvault:\n  name: v2\n"))
    assert moved.returncode != 0
    assert 'spec.vault: Invalid value: "object": vault is immutable' in moved.stderr


def test_builtins_through_kubectl(kubectl, namespace):
    configmap = textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: settings, namespace: {namespace}, labels: {{app: demo}}}}
        data: {{mode: auto}}
        """)
    assert kubectl("apply", "-f", "-", input=configmap).returncode == 0
    changed = kubectl("apply", "-f", "-", input=configmap.replace("auto", "manual"))
    assert changed.returncode == 0 and "configured" in changed.stdout, changed.stderr
    assert kubectl("get", "cm", "settings", "-n", namespace, "-o", "jsonpath={.data.mode}").stdout == "manual"
    assert "settings" in kubectl("get", "cm", "-l", "app=demo", "-n", namespace).stdout
    assert kubectl("label", "cm", "settings", "-n", namespace, "tier=x").returncode == 0
    listed = kubectl("get", "ns", namespace)
    assert listed.stdout.split()[:5] == ["NAME", "STATUS", "AGE", namespace, "Active"]


def test_typed_create_commands_and_auth(kubectl, namespace):
    """kubectl's typed `create` commands send protobuf; the emulator decodes the kinds they create."""
    assert kubectl("create", "namespace", f"{namespace}-x").returncode == 0
    created = kubectl("create", "configmap", "c", "-n", namespace, "--from-literal=a=b")
    assert created.returncode == 0, created.stderr
    assert kubectl("create", "secret", "generic", "s", "-n", namespace, "--from-literal=pw=hunter2").returncode == 0
    assert kubectl("get", "secret", "s", "-n", namespace, "-o", "jsonpath={.type} {.data.pw}").stdout == \
        "Opaque aHVudGVyMg=="
    assert kubectl("get", "cm", "c", "-n", namespace, "-o", "jsonpath={.data.a}").stdout == "b"
    assert kubectl("auth", "can-i", "patch", "widgets.example.dev").stdout.strip() == "yes"


def test_crd_and_resource_in_one_file_behave_like_a_cluster(kubectl, namespace):
    """The CRD is created; the CR in the same file has no mapping yet (as on a real cluster), then applies."""
    group = f"{namespace}.example.dev"
    both = textwrap.dedent(f"""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {{name: gadgets.{group}}}
        spec:
          group: {group}
          scope: Namespaced
          names: {{plural: gadgets, singular: gadget, kind: Gadget}}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
        ---
        apiVersion: {group}/v1
        kind: Gadget
        metadata: {{name: g1, namespace: {namespace}}}
        spec: {{anything: 1}}
        """)
    first = kubectl("apply", "-f", "-", input=both)
    assert f"customresourcedefinition.apiextensions.k8s.io/gadgets.{group} created" in first.stdout
    assert 'no matches for kind "Gadget"' in first.stderr
    second = kubectl("apply", "-f", "-", input=both)
    assert second.returncode == 0 and f"gadget.{group}/g1 created" in second.stdout, second.stderr
