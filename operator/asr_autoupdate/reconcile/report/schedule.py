"""The ScheduleConfigured condition: the schedules Site Recovery created, at the spec's time, zone and days."""

from __future__ import annotations

from asr_autoupdate.api.conditions import ConditionType, Status
from asr_autoupdate.api.reasons import Reason
from asr_autoupdate.reconcile import desired
from asr_autoupdate.reconcile.model import (
    Part,
)
from asr_autoupdate.reconcile.report.findings import Finding, PassView, finding

_C = ConditionType


def schedule_condition(this_pass: PassView) -> Finding:
    kind = _C.SCHEDULE_CONFIGURED
    spec, observation = this_pass.spec, this_pass.observation
    if not spec.automatic:
        return finding(kind, Status.TRUE, Reason.NOT_REQUIRED, subject="schedule")
    if not desired.account_usable(spec, observation):
        return finding(kind, Status.UNKNOWN, Reason.WAITING, dependency="the automation account")
    time_zone = desired.schedule_time_zone(spec, observation.known_vault)
    if time_zone is None:
        problem = (
            f"spec.schedule.timeZone is required: the vault's region {observation.known_vault.location} "
            "has no known time zone"
        )
        return finding(kind, Status.FALSE, Reason.INVALID_SPEC, problem=problem)
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.SCHEDULES, Part.JOB_SCHEDULES)
        or this_pass.changing(kind)
        or _schedule_state(this_pass, time_zone)
    )


def _schedule_state(this_pass: PassView, time_zone: str) -> Finding:
    kind = _C.SCHEDULE_CONFIGURED
    spec, observation = this_pass.spec, this_pass.observation
    manageable = observation.manageable_mappings
    configured = [mapping for mapping in manageable if desired.mapping_configured(spec, mapping)]
    job_schedules = {job_schedule.id.lower() for job_schedule in observation.job_schedules}
    for mapping in configured:
        if not mapping.schedule_name:
            state = f"Waiting for Site Recovery to create the schedule of mapping {mapping.name}"
            return finding(kind, Status.FALSE, Reason.PROGRESSING, state=state)
        schedule = observation.schedule(mapping.schedule_name)
        if schedule is None:
            piece = f"schedule {mapping.schedule_name}"
            return finding(kind, Status.FALSE, Reason.SCHEDULE_NOT_FOUND, piece=piece, mapping=mapping.name)
        if mapping.job_schedule_name and mapping.job_schedule_name.lower() not in job_schedules:
            piece = f"job schedule {mapping.job_schedule_name}"
            return finding(kind, Status.FALSE, Reason.SCHEDULE_NOT_FOUND, piece=piece, mapping=mapping.name)
        if not schedule.is_enabled:
            return finding(kind, Status.FALSE, Reason.SCHEDULE_DISABLED, schedule=schedule.name)
    if len(configured) < len(manageable):
        return finding(kind, Status.UNKNOWN, Reason.WAITING, dependency="the mappings")
    when = desired.desired_summary(spec, time_zone)
    if configured:
        state = f"Every Site Recovery schedule runs at {when}"
    else:
        state = f"No schedule yet: Site Recovery creates one per enabled mapping, then it is set to {when}"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)
