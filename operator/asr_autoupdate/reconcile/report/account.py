"""The AutomationAccountReady condition, and the vault gate that stops every area when the vault is gone."""

from __future__ import annotations

from asr_autoupdate.api.conditions import AREA_TYPES, ConditionType, Status
from asr_autoupdate.api.reasons import Reason
from asr_autoupdate.reconcile.model import (
    Part,
)
from asr_autoupdate.reconcile.report.findings import Finding, PassView, finding

_C = ConditionType


def _unseen(kind: ConditionType) -> Finding:
    raise AssertionError(f"{kind}: the vault's read failed, yet no failure was recorded for it")


def vault_gate(this_pass: PassView) -> list[Finding] | None:
    """Without the vault nothing else can be judged: every area says why."""
    observation = this_pass.observation
    if Part.VAULT in observation.failures:
        return [this_pass.unread(kind, Part.VAULT) or _unseen(kind) for kind in AREA_TYPES]
    if observation.vault is None:
        vault = this_pass.spec.vault.name
        return [finding(kind, Status.UNKNOWN, Reason.VAULT_NOT_FOUND, vault=vault) for kind in AREA_TYPES]
    return None


def account_condition(this_pass: PassView) -> Finding:
    kind = _C.AUTOMATION_ACCOUNT_READY
    if not this_pass.spec.automatic:
        return finding(kind, Status.TRUE, Reason.NOT_REQUIRED, subject="automation account")
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.AUTOMATION_ACCOUNT)
        or this_pass.changing(kind)
        or _account_state(this_pass)
    )


def _account_state(this_pass: PassView) -> Finding:
    kind = _C.AUTOMATION_ACCOUNT_READY
    account = this_pass.observation.automation_account
    name = this_pass.spec.automation_account.name
    if account is None:  # only Run As gets here: identity mode plans the account's creation
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=f"automation account {name}")
    if problem := this_pass.assessment.region_problem:
        return finding(kind, Status.FALSE, Reason.AUTOMATION_ACCOUNT_CONFLICT, account=name, problem=problem)
    identity = " with a system-assigned identity" if account.principal_id else ""
    state = f"Automation account {name} is in {account.location}{identity}"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)
