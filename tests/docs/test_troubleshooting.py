"""docs/troubleshooting.md: every reason is in the table with the code's action, and what the page says about
conditions, repairs, Run As, Azure errors and logs matches the operator."""

from __future__ import annotations

import importlib
import json
import logging
import re
from datetime import timedelta

import yaml
from azure.core.exceptions import ClientAuthenticationError

from asr_autoupdate import handlers
from asr_autoupdate.api import REPAIR_ANNOTATION
from asr_autoupdate.api.conditions import ConditionType
from asr_autoupdate.api.reasons import REASONS, Reason
from asr_autoupdate.api.spec import ACCOUNT_NAME_SUFFIX
from asr_autoupdate.azure import errors, port
from asr_autoupdate.cli import build_parser
from tests.docs import reasons_table
from tests.docs.docs_kit import CRD_FILE, fenced_blocks, markdown_table, read

DOC = read("troubleshooting.md")
report = importlib.import_module("asr_autoupdate.reconcile.report")
report_credentials = importlib.import_module("asr_autoupdate.reconcile.report.credentials")
sdk_errors = importlib.import_module("asr_autoupdate.azure.sdk_errors")


def flat(text: str) -> str:
    return " ".join(text.split())


def test_reason_table_is_generated_from_the_code():
    assert reasons_table.current_block(DOC) == reasons_table.render(), (
        "docs/troubleshooting.md's reason table is stale: run `.venv/bin/python -m tests.docs.reasons_table`"
    )


def test_every_reason_has_a_row_with_the_codes_action():
    rows = {row[0].strip("`"): row for row in markdown_table(DOC, "Reason")}
    missing = [str(reason) for reason in REASONS if str(reason) not in rows]
    assert not missing, f"reasons missing from docs/troubleshooting.md: {missing}"
    assert set(rows) == {str(reason) for reason in REASONS}
    for reason, info in REASONS.items():
        assert rows[str(reason)][-1] == (info.action or "Nothing."), reason


def test_conditions_table_lists_every_condition_type():
    rows = [row[0].strip("`") for row in markdown_table(DOC, "condition")]
    assert rows == [str(kind) for kind in ConditionType]
    assert "All eight conditions" in DOC and len(ConditionType) == 8


def test_kubectl_get_output_has_the_crds_columns():
    crd = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    columns = [column["name"].upper() for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    [output] = [block for block in fenced_blocks(DOC, "text") if block.startswith("$ kubectl get mup -A")]
    header = output.splitlines()[1]
    assert re.split(r"\s{2,}", header.strip()) == ["NAMESPACE", "NAME", *columns]
    for line in output.splitlines()[2:]:
        reason = re.split(r"\s{2,}", line.strip())[6]
        assert reason in {str(r) for r in REASONS}, reason


def test_repair_section_matches_the_code():
    assert REPAIR_ANNOTATION == "asr.autoupdate.dev/repair"
    assert f"--overwrite {REPAIR_ANNOTATION}=" in DOC
    crd = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    last_repair = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"][
        "lastRepair"
    ]["properties"]
    assert set(last_repair) == {"token", "time", "result"}
    sample_line = next(line for line in DOC.splitlines() if line.startswith('# {"result"'))
    assert set(json.loads(sample_line[2:])) == set(last_repair)
    assert report.PERSON_DELAY == 300 and "5-minute retry" in DOC


def test_run_as_section_matches_the_code():
    text = flat(DOC)
    assert f"`{port.RUN_AS_CERTIFICATE}`" in text and f"`{port.RUN_AS_CONNECTION}`" in text
    assert timedelta(days=60) == report_credentials.CERTIFICATE_WARNING and "within 60 days" in text
    assert f"`<vault name>{ACCOUNT_NAME_SUFFIX}`" in text
    for event in ("IdentityEnabled", "RoleAssigned", "MigratedToManagedIdentity"):
        assert Reason(event) in REASONS and f"`{event}`" in text
    for reason in (
        "RunAsAccountNotFound",
        "RunAsThumbprintMismatch",
        "RunAsCertificateExpired",
        "RunAsAccountUnauthorized",
        "RunAsCertificateExpiring",
        "RunAsAccountRetired",
    ):
        assert Reason(reason) in REASONS and f"`{reason}`" in text


# HTTP status ARM answers with each code the common-errors table names.
ARM_STATUS = {
    "AuthorizationFailed": 403,
    "InvalidAuthenticationToken": 401,
    "ExpiredAuthenticationToken": 401,
    "SubscriptionRequestsThrottled": 429,
    "PrincipalNotFound": 400,
    "AnotherOperationInProgress": 409,
    "ConnectionFailed": 0,
}


# How the credential words the authority's answers (azure-identity keeps the text, not always the response)
AUTHORITY_ANSWERS = {
    "TokenRequestFailed": "get_token failed: invalid_client AADSTS7000215",
    "AuthorityUnavailable": "EnvironmentCredential: Microsoft Entra ID error '{'error': {'code': 'ServiceUnavailable'}}'",
    "TokenRequestThrottled": "EnvironmentCredential: Microsoft Entra ID error '429 Too Many Requests'",
}


def test_common_errors_map_to_the_reasons_the_table_says():
    rows = markdown_table(DOC, "you see")
    checked = 0
    for seen, _, _ in rows:
        match = re.fullmatch(r"`(\w+)` \((.+)\)", seen)
        if not match:
            continue
        reason, codes = match.group(1), re.findall(r"`(\w+)`", match.group(2))
        for code in codes:
            if code in AUTHORITY_ANSWERS:
                # what the adapter makes of the credential failing to get a token (ARM never saw the call)
                error = sdk_errors.convert_error(ClientAuthenticationError(AUTHORITY_ANSWERS[code]), "get vault")
                assert error.code == code
            else:
                error = errors.classify(ARM_STATUS[code], code, "m")
            assert (error.reason or Reason.AZURE_REQUEST_FAILED) == Reason(reason), (reason, code)
            assert report.error_code(error) == code
            checked += 1
    assert checked >= 6


def test_log_section_matches_kopf_and_the_operator():
    from kopf._core.actions.loggers import LogFormat, make_formatter

    formatter = make_formatter(LogFormat.JSON)
    record = logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, "Handler 'converge' failed", None, None)
    record.k8s_ref = {
        "apiVersion": "asr.autoupdate.dev/v1alpha1",
        "kind": "MobilityUpdatePolicy",
        "name": "rsv-weu-prod",
        "uid": "u",
        "namespace": "asr-fleet",
    }
    produced = json.loads(formatter.format(record))
    [documented] = [json.loads(line) for line in DOC.splitlines() if line.startswith('{"message"')]
    assert set(produced) == set(documented) == {"message", "timestamp", "object", "severity"}
    assert set(produced["object"]) == set(documented["object"])
    assert produced["severity"] == "error"

    assert (
        f"Handler '{handlers.CONVERGE}' failed temporarily" in DOC and f"`kopf.zalando.org/{handlers.CONVERGE}`" in DOC
    )
    assert handlers.UNEXPECTED.replace("%s/%s", "<namespace>/<name>") in DOC
    handlers.quiet_loggers()
    assert logging.getLogger("azure").getEffectiveLevel() == logging.ERROR
    assert build_parser().parse_args(["run"]).drift_tick == 15.0 and "(15 s by default)" in DOC
