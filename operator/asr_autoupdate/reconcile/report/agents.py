"""The AgentsCurrent condition (informational: it never gates Ready)."""

from __future__ import annotations

from asr_autoupdate.api.conditions import ConditionType, Status
from asr_autoupdate.api.reasons import Reason
from asr_autoupdate.reconcile.model import (
    Part,
)
from asr_autoupdate.reconcile.report.findings import Finding, PassView, finding

_C = ConditionType


def agents_condition(this_pass: PassView) -> Finding:
    kind = _C.AGENTS_CURRENT
    unread = this_pass.unread(kind, Part.PROTECTED_ITEMS)
    if unread:
        return unread
    items = this_pass.observation.protected_items
    behind = sum(item.update_required for item in items)
    if behind:
        return finding(kind, Status.FALSE, Reason.AGENT_UPDATE_REQUIRED, count=behind, total=len(items))
    state = "No protected item yet"
    if items:
        state = f"Every protected item ({len(items)}) runs a current Mobility Service agent"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)


# --- the status sections -------------------------------------------------------------------------------------
