"""The ScheduleConfigured condition: the schedules Site Recovery created, at the spec's time, zone and days."""

from __future__ import annotations

from asr_autoupdate.api.conditions import ConditionType, Status
from asr_autoupdate.api.reasons import Reason
from asr_autoupdate.reconcile.model import (
    Part,
)
from asr_autoupdate.reconcile.report.findings import Finding, PassView, finding

_C = ConditionType


def schedule_condition(this_pass: PassView) -> Finding:
    kind = _C.SCHEDULE_CONFIGURED
    spec = this_pass.spec
    if not spec.automatic:
        return finding(kind, Status.TRUE, Reason.NOT_REQUIRED, subject="schedule")
    assessment = this_pass.assessment
    if not assessment.account_usable:
        return finding(kind, Status.UNKNOWN, Reason.WAITING, dependency="the automation account")
    if spec.schedule is not None and (problem := _zone_problem(this_pass)):
        return finding(kind, Status.FALSE, Reason.INVALID_SPEC, problem=problem)
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.SCHEDULES, Part.JOB_SCHEDULES)
        or this_pass.changing(kind)
        or _schedule_state(this_pass, assessment.schedule_summary or "the spec's time")
    )


def _zone_problem(this_pass: PassView) -> str | None:
    """A schedule without a time zone takes each mapping's source region's: say which region has none."""
    assessment, observation = this_pass.assessment, this_pass.observation
    if Part.FABRICS in observation.failures:
        return None  # unread: `unread` does not cover it, the zone is simply not known yet (Unknown below)
    for mapping in assessment.configured_mappings:
        if assessment.time_zones.get(mapping.name) is None:
            region = observation.source_region(mapping) or "unknown"
            return (
                f"spec.schedule.timeZone is required: the source region {region} of mapping {mapping.name} "
                "has no known time zone"
            )
    return None


def _schedule_state(this_pass: PassView, when: str) -> Finding:
    kind = _C.SCHEDULE_CONFIGURED
    assessment, observation = this_pass.assessment, this_pass.observation
    configured = assessment.configured_mappings
    for mapping in configured:
        if not mapping.schedule_name:
            state = f"Waiting for Site Recovery to create the schedule of mapping {mapping.name}"
            return finding(kind, Status.FALSE, Reason.PROGRESSING, state=state)
        if piece := assessment.missing_pieces.get(mapping.name):
            return finding(kind, Status.FALSE, Reason.SCHEDULE_NOT_FOUND, piece=piece, mapping=mapping.name)
        schedule = observation.schedule(mapping.schedule_name)
        if schedule is not None and schedule.is_enabled == this_pass.spec.updates_paused:
            if this_pass.spec.updates_paused:  # a pause not applied yet, and not planned: nothing to say beyond it
                return finding(kind, Status.FALSE, Reason.PROGRESSING, state=f"Pausing schedule {schedule.name}")
            return finding(kind, Status.FALSE, Reason.SCHEDULE_DISABLED, schedule=schedule.name)
    if len(configured) < len(observation.manageable_mappings):
        return finding(kind, Status.UNKNOWN, Reason.WAITING, dependency="the mappings")
    if Part.FABRICS in observation.failures:
        return this_pass.unread(kind, Part.FABRICS) or finding(
            kind, Status.UNKNOWN, Reason.WAITING, dependency="the fabrics"
        )
    if this_pass.spec.updates_paused and configured:
        return finding(kind, Status.TRUE, Reason.UPDATES_PAUSED, count=str(len(configured)), when=when)
    if this_pass.spec.schedule is None:
        state = (
            f"Site Recovery's own schedules are kept as it made them: {when}"
            if configured
            else ("No schedule yet: Site Recovery creates one per enabled mapping, and it is kept as made")
        )
    elif configured:
        state = f"Every Site Recovery schedule runs at {when}"
    else:
        state = f"No schedule yet: Site Recovery creates one per enabled mapping, then it is set to {when}"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)
