"""docs/upgrading.md: the CRD and chart facts it relies on, and the names its v1alpha1 promise lists."""

from __future__ import annotations

import yaml

from asr_autoupdate.api import FINALIZER, GROUP, KIND, REPAIR_ANNOTATION, VERSION
from tests.chart.chart_kit import CHART_DIR, one, render
from tests.docs.docs_kit import CRD_FILE, FLEET_CRD_FILE, ROOT, fenced_blocks, read

DOC = read("upgrading.md")


def flat(text: str) -> str:
    return " ".join(text.split())


def crd() -> dict:
    return yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))


def test_v1alpha1_is_the_only_version_served_and_stored():
    for file in (CRD_FILE, FLEET_CRD_FILE):
        definition = yaml.safe_load(file.read_text(encoding="utf-8"))
        versions = definition["spec"]["versions"]
        assert [(v["name"], v["served"], v["storage"]) for v in versions] == [(VERSION, True, True)]
        assert "conversion" not in definition["spec"]  # strategy None, the default
    assert f"`{GROUP}/{VERSION}` is the only version" in DOC


def test_the_chart_ships_the_same_crds():
    for file in (CRD_FILE, FLEET_CRD_FILE):
        assert (CHART_DIR / "crds" / file.name).read_bytes() == file.read_bytes()


def test_commands_apply_the_crds_before_the_chart():
    [commands] = [block for block in fenced_blocks(DOC, "sh") if "helm upgrade" in block]
    assert commands.index("kubectl apply --server-side -f crds/") < commands.index("helm upgrade")
    assert (ROOT / "crds").is_dir() and sorted((ROOT / "crds").glob("*.yaml")) == sorted([CRD_FILE, FLEET_CRD_FILE])
    for file in (CRD_FILE, FLEET_CRD_FILE):
        assert f"`crds/{file.name}`" in flat(DOC)


def test_flux_helmrelease_snippet():
    [release] = [yaml.safe_load(block) for block in fenced_blocks(DOC, "yaml") if "HelmRelease" in block]
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    spec = release["spec"]
    assert spec["install"]["crds"] == "Create" and spec["upgrade"]["crds"] == "CreateReplace"
    assert (ROOT / spec["chart"]["spec"]["chart"]).resolve() == CHART_DIR.resolve()
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    assert set(spec["values"]) <= set(values)
    render(spec["values"])  # the chart's values.schema.json accepts them


def test_deployment_rolls_in_peering_and_recreates_a_standalone_replica():
    deployment = one(render(), "Deployment")
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30
    standalone = one(render({"replicaCount": 1, "peering": {"enabled": False}}), "Deployment")
    assert standalone["spec"]["strategy"] == {"type": "Recreate"} and standalone["spec"]["replicas"] == 1
    text = flat(DOC)
    assert "`RollingUpdate`" in text and "`Recreate`" in text and "(default 30)" in text
    assert "`peering.enabled: false`" in text


def test_commands_apply_the_peering_crds_too():
    [commands] = [block for block in fenced_blocks(DOC, "sh") if "helm upgrade" in block]
    assert "-f crds/peering/" in commands.partition("helm upgrade")[0]
    assert sorted(p.name for p in (ROOT / "crds" / "peering").glob("*.yaml")) == [
        "clusterkopfpeerings.kopf.dev.yaml",
        "kopfpeerings.kopf.dev.yaml",
    ]


def test_promised_names_are_the_codes():
    names = crd()["spec"]["names"]
    text = flat(DOC)
    assert names["kind"] == KIND and crd()["spec"]["group"] == GROUP
    assert f"`{names['shortNames'][0]}`" in text and f"`{names['categories'][0]}`" in text
    fleet = yaml.safe_load(FLEET_CRD_FILE.read_text(encoding="utf-8"))["spec"]
    assert f"`{fleet['names']['kind']}`" in text and f"`{fleet['names']['shortNames'][0]}`" in text
    assert fleet["names"]["categories"] == names["categories"] and fleet["group"] == GROUP
    assert f"`{FINALIZER}`" in text and f"`{REPAIR_ANNOTATION}`" in text
    for kind in ("Ready", "Reconciling", "Stalled"):
        assert f"`{kind}`" in text


def test_kubernetes_versions_named_agree_with_the_chart():
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["kubeVersion"].startswith(">=1.29")
    assert "Kubernetes 1.30 and later" in flat(DOC)  # ratcheting is beta and on from 1.30
