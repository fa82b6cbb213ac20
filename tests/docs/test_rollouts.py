"""docs/rollouts.md: the example it shows is the one in examples/fleet/, and every name, default, limit, phase,
reason, label, annotation and column it gives is the CRD's or the operator's."""

from __future__ import annotations

import re

import pytest
import yaml

from asr_autoupdate.api.fleet import DEFAULT_WAVE, FLEET_LABEL, RELEASE_ANNOTATION, WAVE_LABEL
from asr_autoupdate.api.reasons import REASONS, WARNING_EVENTS, Reason
from asr_autoupdate.azure.port import DiscoveredVault
from asr_autoupdate.handlers import OperatorOptions
from asr_autoupdate.reconcile.fleet import Phase, Skip, child_name
from tests.docs.docs_kit import FLEET_CRD_FILE, ROOT, fenced_blocks, markdown_table, read

DOC = read("rollouts.md")
EXAMPLE = ROOT / "examples" / "fleet" / "canary-production.yaml"
CRD = yaml.safe_load(FLEET_CRD_FILE.read_text(encoding="utf-8"))
[VERSION] = CRD["spec"]["versions"]
SPEC = VERSION["schema"]["openAPIV3Schema"]["properties"]["spec"]
STATUS = VERSION["schema"]["openAPIV3Schema"]["properties"]["status"]


def flat(text: str) -> str:
    return " ".join(text.split())


TEXT = flat(DOC)


def test_the_example_shown_is_the_example_shipped():
    [shown] = [yaml.safe_load(block) for block in fenced_blocks(DOC, "yaml") if "kind: MobilityUpdateFleet" in block]
    assert shown == yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert "examples/fleet/canary-production.yaml" in DOC


def test_the_example_stays_out_of_the_demos_apply():
    """The demo runs `kubectl apply -f examples/`, which does not recurse: the fleet lives in a subfolder."""
    demo = (ROOT / "sandbox" / "asr_sandbox" / "demo.py").read_text(encoding="utf-8")
    assert 'kubectl("apply", "-f", str(repo / "examples"))' in demo
    assert EXAMPLE.parent != ROOT / "examples" and "--recursive" not in demo and "-R" not in demo.split()
    namespace = yaml.safe_load((ROOT / "examples" / "00-namespace.yaml").read_text(encoding="utf-8"))
    assert yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["metadata"]["namespace"] == namespace["metadata"]["name"]
    header = flat(" ".join(line.lstrip("# ") for line in EXAMPLE.read_text().splitlines() if line.startswith("#")))
    assert "hand-written" in header and "ManagedByPolicy" in header


def test_the_field_table_names_the_crds_fields():
    fields = [row[0].strip("`") for row in markdown_table(DOC, "field")]
    assert {field.split(".")[1].removesuffix("[]") for field in fields} == set(SPEC["properties"])
    wave = SPEC["properties"]["waves"]["items"]["properties"]
    assert {field.split(".")[2] for field in fields if field.startswith("spec.waves[].")} == set(wave) - {"name"}


def test_limits_and_defaults_are_the_crds():
    subscriptions = SPEC["properties"]["subscriptions"]
    assert (subscriptions["minItems"], subscriptions["maxItems"]) == (1, 50)
    assert "1 to 50 subscription IDs" in TEXT
    assert SPEC["properties"]["waves"]["maxItems"] == 10 and "at most 10 waves" in TEXT
    soak = SPEC["properties"]["waves"]["items"]["properties"]["gate"]["properties"]["soakDays"]
    assert (soak["minimum"], soak["maximum"], soak["default"]) == (0, 30, 1)
    assert "0 to 30 days (default 1)" in TEXT
    interval = SPEC["properties"]["discoveryIntervalSeconds"]
    assert (interval["minimum"], interval["maximum"], interval["default"]) == (300, 86400, 3600)
    assert "300 to 86400 seconds (default 3600)" in TEXT
    assert f"one wave, named `{DEFAULT_WAVE}`" in TEXT


def test_phases_table_is_the_crds_enum():
    phases = [row[0].strip("`") for row in markdown_table(DOC, "phase")]
    assert phases == STATUS["properties"]["waves"]["items"]["properties"]["phase"]["enum"]
    assert set(phases) == {Phase.OPEN, Phase.SOAKING, Phase.WAITING, Phase.HELD}


def test_labels_annotation_and_skip_reasons_are_the_operators():
    assert f"`{FLEET_LABEL}: <fleet>`" in TEXT and f"`{WAVE_LABEL}: <wave>`" in TEXT
    assert f"{RELEASE_ANNOTATION}=production" in TEXT
    for reason in (Skip.MANAGED_BY_POLICY, Skip.NO_WAVE):
        assert f"reason `{reason}`" in TEXT
    assert f"-l {FLEET_LABEL}=contoso -L {WAVE_LABEL}" in TEXT


@pytest.mark.parametrize(
    "reason, kind",
    [(Reason.WAVE_HELD, "Warning"), (Reason.WAVE_RELEASED, "Normal"), (Reason.UNKNOWN_WAVE, "Warning")],
)
def test_event_reasons_named_are_the_operators(reason, kind):
    assert reason in REASONS
    assert f"{kind} Event with reason `{reason}`" in TEXT
    if reason is not Reason.WAVE_HELD:  # WaveHeld is a condition reason, posted as a Warning by the fleet pass
        assert (reason in WARNING_EVENTS) == (kind == "Warning")


def test_release_results_are_the_crds():
    described = STATUS["properties"]["lastRelease"]["properties"]["result"]["description"]
    for result in ("Released", "UnknownWave", "NotHeld"):
        assert f"`result: {result}`" in TEXT and result in described


def test_the_get_output_shows_the_printer_columns():
    [block] = [block for block in fenced_blocks(DOC, "text") if "kubectl get mupf" in block]
    header = block.splitlines()[1]
    columns = re.split(r"\s{2,}", header.strip())
    assert columns == ["NAMESPACE", "NAME", *(c["name"].upper() for c in VERSION["additionalPrinterColumns"])]
    assert CRD["spec"]["names"]["shortNames"] == ["mupf"]


def test_the_child_name_is_as_described():
    vault = DiscoveredVault(
        id="/subscriptions/3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17/resourceGroups/rg-asr-weu/providers/"
        "Microsoft.RecoveryServices/vaults/RSV-WEU-Prod",
        name="RSV-WEU-Prod",
        resource_group="rg-asr-weu",
        subscription_id="3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17",
        location="westeurope",
    )
    assert re.fullmatch(r"contoso-rsv-weu-prod-[0-9a-f]{8}", child_name("contoso", vault))
    assert len(child_name("f" * 63, vault)) <= 63
    assert "`<fleet>-<vault name>-<8 hex digits of a hash of the vault's ARM id>`" in TEXT
    assert "cut to fit 63 characters" in TEXT


def test_the_tick_named_is_the_operators():
    assert OperatorOptions().fleet_tick_seconds == 30
    assert "about every 30 seconds" in TEXT
