"""The MappingsConfigured condition: auto-update on every A2A mapping, and Site Recovery's health errors."""

from __future__ import annotations

from asr_autoupdate.api.conditions import ConditionType, Status
from asr_autoupdate.api.reasons import Reason, excerpt
from asr_autoupdate.reconcile.model import (
    Observation,
    Part,
)
from asr_autoupdate.reconcile.report.findings import Finding, PassView, finding

_C = ConditionType


def mappings_condition(this_pass: PassView) -> Finding:
    kind = _C.MAPPINGS_CONFIGURED
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.MAPPINGS)
        or _updating(this_pass)
        or _health_problem(this_pass.observation)
        or this_pass.changing(kind)
        or _mapping_state(this_pass)
    )


def _updating(this_pass: PassView) -> Finding | None:
    """Site Recovery is still working on updates: waiting on it is progress, never a failure."""
    updating = this_pass.waiting.mappings
    if not updating:
        return None
    total = len(this_pass.observation.manageable_mappings) or len(updating)
    noun = "mapping" if total == 1 else "mappings"
    state = f"{len(updating)} of {total} {noun} updating in Site Recovery"
    return finding(_C.MAPPINGS_CONFIGURED, Status.FALSE, Reason.PROGRESSING, state=state)


def _health_problem(observation: Observation) -> Finding | None:
    """The first health error Site Recovery lists on a mapping (what the portal shows as a configuration
    issue), with its recommended action. Warnings (a certificate nearing expiry) do not count: they stop
    nothing, and CredentialsHealthy tells them."""
    for mapping in observation.manageable_mappings:
        for health in mapping.health_errors:
            if health.is_warning:
                continue
            return finding(
                _C.MAPPINGS_CONFIGURED,
                Status.FALSE,
                Reason.MAPPING_HEALTH_ERROR,
                mapping=mapping.name,
                code=health.code,
                recommendation=excerpt(health.recommended_action or health.message),
            )
    return None


def _mapping_state(this_pass: PassView) -> Finding:
    kind = _C.MAPPINGS_CONFIGURED
    spec = this_pass.spec
    manageable = this_pass.observation.manageable_mappings
    if len(this_pass.assessment.configured) < len(manageable):
        return finding(kind, Status.FALSE, Reason.WAITING, dependency="the automation account")
    if not manageable:
        state = "No A2A Paired mapping yet; new ones get the setting when they appear"
    elif spec.automatic:
        state = (
            f"Every A2A Paired mapping ({len(manageable)}) has auto-update Enabled with automation account "
            f"{spec.automation_account.name}"
        )
    else:
        state = f"Every A2A Paired mapping ({len(manageable)}) has auto-update Disabled"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)
