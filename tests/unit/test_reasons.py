"""The one table of reasons: complete against api.md, well-formed, and the committed doc is generated from it."""

import pathlib
import re

import pytest

from asr_autoupdate.api.reasons import REASONS, Kind, Reason, message, render_markdown

ROOT = pathlib.Path(__file__).resolve().parents[2]
API_MD_REASONS = {
    "Converged",
    "InsufficientPermissions",
    "RunAsAccountUnauthorized",
    "RunAsAccountNotFound",
    "RunAsThumbprintMismatch",
    "RunAsCertificateExpiring",
    "RunAsCertificateExpired",
    "RunAsAccountRetired",
    "IdentityNotAuthorized",
    "VaultNotFound",
    "CredentialsSecretInvalid",
    "AuthenticationFailed",
    "PolicyConflict",
    "AutomationAccountConflict",
    "MappingUpdateFailed",
    "MappingHealthError",
    "DriftDetected",
    "AzureUnavailable",
    "InvalidSpec",
}
CONDITION_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


def test_every_reason_of_the_contract_is_in_the_table():
    assert {str(reason) for reason in REASONS} >= API_MD_REASONS
    assert set(REASONS) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason))
def test_reason_is_well_formed(reason):
    info = REASONS[reason]
    assert CONDITION_REASON.match(reason)
    assert (info.kind is Kind.EVENT) == (not info.conditions)
    assert "\n" not in info.summary and "\n" not in info.action
    if info.kind not in (Kind.OK, Kind.EVENT):
        assert info.action, "a problem says what to do"


def test_message_is_one_bounded_line():
    text = message(Reason.MAPPING_HEALTH_ERROR, mapping="m1", code="E1", recommendation="Do\nthis " + "x" * 2000)
    assert "\n" not in text and len(text) <= 1024


def test_committed_doc_is_generated():
    committed = (ROOT / "docs" / "reasons.md").read_text()
    assert committed == render_markdown(), "run: python -m asr_autoupdate.api.reasons > docs/reasons.md"


def test_azures_free_text_is_cut_to_one_short_line():
    from asr_autoupdate.api.reasons import EXCERPT_LIMIT, excerpt

    long = "Check the automation account.\n" + "Then retry the operation. " * 100
    cut = excerpt(long)
    assert len(cut) <= EXCERPT_LIMIT and "\n" not in cut and cut.endswith("…")
    assert excerpt("Retry.") == "Retry."


def test_condition_messages_stay_one_short_line():
    """About 200 characters with values of a realistic length (a name, a code, a count: 10 characters here);
    the what-to-click lives in docs/reasons.md (`detail`)."""
    from asr_autoupdate.api.reasons import REASONS, fields_of, message

    for reason in REASONS:
        text = message(reason, **{name: "x" * 10 for name in fields_of(reason)})
        assert len(text) <= 210 and "\n" not in text, (reason, len(text), text)
