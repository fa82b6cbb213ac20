"""docs/gitops.md: the Argo CD Lua health check and the Flux CEL expressions do what the page says, on the
statuses the operator's own report code writes, and the page shows exactly the shipped files."""

from __future__ import annotations

import re

import pytest
import yaml

from asr_autoupdate.api.reasons import REASONS, Kind, Reason
from asr_autoupdate.reconcile.report import _SUMMARY_STATUS
from tests.docs.docs_kit import (
    API_VERSION,
    FLUX_FILE,
    LUA_FILE,
    argocd_health,
    cel_eval,
    condition,
    fenced_blocks,
    flux_expressions,
    flux_health,
    flux_kustomization,
    kstatus,
    markdown_table,
    policy_object,
    read,
    sample,
    summary_reasons,
)

DOC = read("gitops.md")
HEALTH_KEY = "resource.customizations.health.asr.autoupdate.dev_MobilityUpdatePolicy"

# What each kind of reason means to the three readers, when it speaks for Ready.
EXPECTED = {
    Kind.OK: ("Healthy", "Current", "Current"),
    Kind.PROGRESSING: ("Progressing", "InProgress", "InProgress"),
    Kind.TRANSIENT: ("Progressing", "InProgress", "InProgress"),
    Kind.WAITING: ("Progressing", "InProgress", "InProgress"),
    Kind.BUG: ("Progressing", "InProgress", "InProgress"),
    Kind.PERSON: ("Degraded", "Failed", "Failed"),
    Kind.INVALID: ("Degraded", "Failed", "Failed"),
    Kind.DRIFT: ("Degraded", "Failed", "Failed"),
}

# (label, object, Argo CD status, Argo CD message start, Flux, kstatus): the samples the brief names.
SAMPLES = [
    (
        "new object",
        policy_object(None),
        "Progressing",
        "Waiting for the operator to write status",
        "Unknown",
        "Current",
    ),
    (
        "status without conditions",
        policy_object({}),
        "Progressing",
        "Waiting for the operator",
        "InProgress",
        "Current",
    ),
    ("reconciling", sample(Reason.PROGRESSING), "Progressing", "Progressing: ", "InProgress", "InProgress"),
    (
        "azure busy",
        sample(Reason.AZURE_UNAVAILABLE),
        "Progressing",
        "AzureUnavailable: Azure could not",
        "InProgress",
        "InProgress",
    ),
    ("operator bug", sample(Reason.INTERNAL_ERROR), "Progressing", "InternalError: ", "InProgress", "InProgress"),
    (
        "stalled: permissions",
        sample(Reason.INSUFFICIENT_PERMISSIONS),
        "Degraded",
        "InsufficientPermissions: The operator's identity may not",
        "Failed",
        "Failed",
    ),
    (
        "stalled: secret",
        sample(Reason.CREDENTIALS_SECRET_INVALID),
        "Degraded",
        "CredentialsSecretInvalid: Secret",
        "Failed",
        "Failed",
    ),
    (
        "stalled: run as expired",
        sample(Reason.RUN_AS_CERTIFICATE_EXPIRED),
        "Degraded",
        "RunAsCertificateExpired: Certificate AzureRunAsCertificate expired",
        "Failed",
        "Failed",
    ),
    ("stalled: conflict", sample(Reason.POLICY_CONFLICT), "Degraded", "PolicyConflict: Vault", "Failed", "Failed"),
    ("stalled: invalid spec", sample(Reason.INVALID_SPEC), "Degraded", "InvalidSpec: ", "Failed", "Failed"),
    (
        "observe mode drift",
        sample(Reason.DRIFT_DETECTED),
        "Degraded",
        "DriftDetected: Observe mode",
        "Failed",
        "Failed",
    ),
    ("ready", sample(Reason.CONVERGED), "Healthy", "Converged: ", "Current", "Current"),
    (
        "stale generation, was ready",
        sample(Reason.CONVERGED, generation=3, observed=2),
        "Progressing",
        "Waiting for the operator to observe generation 3",
        "InProgress",
        "InProgress",
    ),
    (
        "stale generation, was stalled",
        sample(Reason.INSUFFICIENT_PERMISSIONS, generation=3, observed=2),
        "Progressing",
        "Waiting for the operator to observe generation 3",
        "InProgress",
        "InProgress",
    ),
]


@pytest.mark.parametrize(
    ("label", "body", "health", "message", "flux", "kstat"), SAMPLES, ids=[entry[0] for entry in SAMPLES]
)
def test_samples(label, body, health, message, flux, kstat):
    result = argocd_health(body)
    assert result["status"] == health
    assert result["message"].startswith(message)
    assert flux_health(body) == flux
    assert kstatus(body) == kstat


def test_degraded_message_is_the_stalled_reason_and_message():
    body = sample(Reason.INSUFFICIENT_PERMISSIONS)
    stalled = condition(body, "Stalled")
    assert argocd_health(body) == {"status": "Degraded", "message": f"{stalled['reason']}: {stalled['message']}"}


@pytest.mark.parametrize("reason", summary_reasons(), ids=str)
def test_every_reason_on_ready_means_the_same_to_argocd_flux_and_kstatus(reason):
    body = sample(reason)
    health, flux, kstat = EXPECTED[REASONS[reason].kind]
    assert argocd_health(body)["status"] == health
    assert flux_health(body) == flux
    assert flux_health(body, generation_check=False) == flux, "the expressions alone must agree"
    assert kstatus(body) == kstat


def test_expressions_alone_catch_a_stale_generation():
    body = sample(Reason.CONVERGED, generation=2, observed=1)
    assert flux_health(body, generation_check=False) == "InProgress"


def test_reconciling_and_stalled_are_never_true_together():
    # the page says so, and the Lua script's order (Reconciling before Stalled) relies on it
    for _ready, reconciling, stalled in _SUMMARY_STATUS.values():
        assert not (reconciling == "True" and stalled == "True")


def test_lua_uses_only_what_argocd_offers_without_open_libs():
    source = LUA_FILE.read_text(encoding="utf-8")
    for library in ("string.", "os.", "io.", "math.", "require", "debug."):
        assert library not in source
    # and it really runs in an environment that has nothing else (docs_kit passes base functions only)
    assert argocd_health(sample(Reason.CONVERGED))["status"] == "Healthy"


def test_lua_survives_partial_objects():
    # a condition without a message, an unknown condition type, no generation at all
    body = sample(Reason.CONVERGED)
    del condition(body, "Ready")["message"]
    body["status"]["conditions"].append({"type": "SomethingNew", "status": "True", "reason": "X", "message": "y"})
    assert argocd_health(body)["status"] == "Healthy"
    del body["metadata"]["generation"]
    assert argocd_health(body)["status"] == "Healthy"


def test_doc_embeds_the_lua_file_exactly():
    assert fenced_blocks(DOC, "lua") == [LUA_FILE.read_text(encoding="utf-8")]


def test_argocd_cm_block_holds_the_lua_file_under_the_right_key():
    [config_map] = [yaml.safe_load(block) for block in fenced_blocks(DOC, "yaml") if "argocd-cm" in block]
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["name"] == "argocd-cm"
    assert config_map["data"] == {HEALTH_KEY: LUA_FILE.read_text(encoding="utf-8")}
    group, kind = API_VERSION.split("/")[0], "MobilityUpdatePolicy"
    assert f"resource.customizations.health.{group}_{kind}" == HEALTH_KEY


def test_doc_embeds_the_flux_file_exactly():
    assert FLUX_FILE.read_text(encoding="utf-8") in fenced_blocks(DOC, "yaml")


def test_flux_kustomization_shape():
    kustomization = flux_kustomization()
    assert kustomization["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert kustomization["kind"] == "Kustomization"
    spec = kustomization["spec"]
    assert spec["wait"] is True
    assert set(flux_expressions()) == {"inProgress", "failed", "current"}


def test_flux_expressions_fail_to_evaluate_without_status_as_the_page_says():
    from tests.docs.docs_kit import CelError

    with pytest.raises(CelError):
        cel_eval(flux_expressions()["inProgress"], policy_object(None))


def test_state_table_matches_what_the_tools_compute():
    rows = markdown_table(DOC, "state")
    assert rows, "the state table is missing"
    seen = set()
    for state, summary, kstat, argo, flux in rows:
        match = re.fullmatch(r"`(\w+)`", state)
        if match:
            reason = Reason(match.group(1))
            body = sample(reason)
            statuses = " / ".join(condition(body, kind)["status"] for kind in ("Ready", "Reconciling", "Stalled"))
            assert summary == statuses, state
        elif state.startswith("no status yet"):
            body = policy_object(None)
        elif state.startswith("spec edited"):
            body = sample(Reason.CONVERGED, generation=2, observed=1)
        else:
            raise AssertionError(f"unknown state row {state!r}")
        assert kstat == kstatus(body), state
        assert argo == argocd_health(body)["status"], state
        assert flux.split(" ")[0] == flux_health(body), state
        seen.add(state)
    assert len(seen) == len(rows)


def test_summary_table_matches_the_report_code():
    rows = {row[0]: row for row in markdown_table(DOC, "condition")}
    assert set(rows) == {"`Ready`", "`Reconciling`", "`Stalled`"}
    assert rows["`Ready`"][2] == "Current" and kstatus(sample(Reason.CONVERGED)) == "Current"
    assert rows["`Reconciling`"][2] == "InProgress" and kstatus(sample(Reason.PROGRESSING)) == "InProgress"
    assert rows["`Stalled`"][2] == "Failed" and kstatus(sample(Reason.INSUFFICIENT_PERMISSIONS)) == "Failed"


def test_conditions_carry_the_generation():
    body = sample(Reason.CONVERGED, generation=4)
    assert body["status"]["observedGeneration"] == 4
    assert {entry["observedGeneration"] for entry in body["status"]["conditions"]} == {4}


def test_immutable_vault_message_is_the_crds():
    from tests.docs.docs_kit import CRD_FILE

    crd = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    vault = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["vault"]
    [rule] = vault["x-kubernetes-validations"]
    assert rule["rule"] in DOC
    assert rule["message"] in DOC.replace("\n  ", " ")
