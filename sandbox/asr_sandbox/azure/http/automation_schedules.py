"""The Automation kinds that say what runs when, and what ran: schedules, job schedules and jobs.

The quirks the operator has to live with are reproduced on purpose: a schedule PUT has no `isEnabled` and must
start at least five minutes ahead, only PATCH pauses or resumes it, a runbook+schedule pair links once, and a
job cannot be deleted. Jobs themselves are started and ended by the scheduler service.
"""

from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web

from ..services.recurrence import Recurrence, recurrence_of
from ..state.automation import ASR_RUNBOOK, AutomationAccount, Job, JobSchedule, Schedule
from ..state.errors import resource_not_found
from ..state.timestamps import in_zone_to_the_minute, iso, parse_time, to_the_minute
from .arm import ArmCall, ArmError, bad_request
from .automation import RESOURCE_TYPE, AssetKind, account_of, asset_of, child_id

MINIMUM_LEAD = datetime.timedelta(minutes=5)
# What the service answers for a schedule without an expiry (in UTC whatever the zone, seven fractional digits).
NEVER_EXPIRES_TEXT = "9999-12-31T23:59:59.9999999+00:00"
NEVER_EXPIRES_FROM = datetime.datetime(9999, 12, 30, tzinfo=datetime.UTC)

# ---- schedules ------------------------------------------------------------------------------------


def schedule_body(account: AutomationAccount, schedule: Schedule) -> dict[str, Any]:
    """startTime, expiryTime and nextRun cut to the minute and written in the schedule's zone with its offset,
    as the service answers them (`2026-12-04T00:00:00+01:00`); a paused schedule still shows its next run."""
    zone = recurrence_of(schedule).time_zone
    start = in_zone_to_the_minute(schedule.start, zone)
    next_run = in_zone_to_the_minute(schedule.next_run, zone) if schedule.next_run else None
    expiry = in_zone_to_the_minute(schedule.expiry, zone) if schedule.expiry else None
    return {
        "id": child_id(account, "schedules", schedule.name),
        "name": schedule.name,
        "type": f"{RESOURCE_TYPE}/Schedules",
        "properties": {
            "description": schedule.description,
            "startTime": start.isoformat(),
            "startTimeOffsetMinutes": _offset_minutes(start),
            "expiryTime": expiry.isoformat() if expiry else NEVER_EXPIRES_TEXT,
            "expiryTimeOffsetMinutes": _offset_minutes(expiry) if expiry else 0.0,
            "isEnabled": schedule.is_enabled,
            "nextRun": next_run.isoformat() if next_run else None,
            "nextRunOffsetMinutes": _offset_minutes(next_run) if next_run else 0.0,
            "interval": schedule.interval,
            "frequency": schedule.frequency,
            "timeZone": schedule.time_zone,
            "advancedSchedule": schedule.advanced,
            "creationTime": iso(schedule.created),
            "lastModifiedTime": iso(schedule.modified),
        },
    }


def _offset_minutes(moment: datetime.datetime) -> float:
    offset = moment.utcoffset()
    return offset.total_seconds() / 60 if offset else 0.0


def _put_schedule(call: ArmCall, account: AutomationAccount, existing: Schedule | None) -> Schedule:
    """What happens to an existing schedule is a setting: the real service's answer is not pinned down."""
    now, name = call.now, call.params["name"]
    if existing is not None and call.world.settings.schedule_put_on_existing == "conflict409":
        raise ArmError(409, "Conflict", f"A schedule with the name '{name}' already exists.")
    properties = call.properties
    start = parse_time(properties.get("startTime"), "properties.startTime")
    if start < now + MINIMUM_LEAD:
        raise bad_request(
            "The start time of the schedule must be at least 5 minutes after the time you create the schedule."
        )
    # The service keeps whole minutes: a start sent as 17:28:57.249 runs, and is answered, at 17:28:00.
    start = to_the_minute(start)
    expiry = parse_time(properties["expiryTime"], "properties.expiryTime") if properties.get("expiryTime") else None
    # An expiry sent back as the service answered "never" is no expiry (and would not fit in a zone east of UTC).
    expiry = to_the_minute(expiry) if expiry and expiry < NEVER_EXPIRES_FROM else None
    try:
        interval = int(properties.get("interval") or 1)
        recurrence = Recurrence.from_schedule(
            start,
            call.required(properties, "frequency"),
            interval,
            properties.get("timeZone") or "UTC",
            expiry,
            properties.get("advancedSchedule"),
        )
    except ValueError as error:
        raise bad_request(str(error)) from None
    schedule = Schedule(
        name=existing.name if existing else name,
        start=start,
        frequency=recurrence.frequency,
        interval=interval,
        time_zone=properties.get("timeZone") or "UTC",
        expiry=expiry,
        advanced=properties.get("advancedSchedule"),
        description=properties.get("description") or "",
        created=existing.created if existing else now,
        modified=now,
        is_enabled=existing.is_enabled if existing else True,
        next_run=recurrence.first_at_or_after(start),
    )
    account.schedules[schedule.name.lower()] = schedule
    return schedule


def _patch_schedule(call: ArmCall) -> web.Response:
    """PATCH is the only way to pause or resume a schedule; resuming looks for the next run from now (a paused
    one keeps showing its next run, moved on by the scheduler past the occurrences it skips)."""
    account, now = account_of(call), call.now
    schedule: Schedule = asset_of(call, SCHEDULES, account)
    properties = call.properties
    if "description" in properties:
        schedule.description = properties["description"] or ""
    if properties.get("isEnabled") is not None:
        enabled = bool(properties["isEnabled"])
        if enabled and not schedule.is_enabled:
            schedule.next_run = recurrence_of(schedule).first_at_or_after(now)
        schedule.is_enabled = enabled
    schedule.modified = now
    return web.json_response(schedule_body(account, schedule))


# ---- job schedules --------------------------------------------------------------------------------


def job_schedule_body(account: AutomationAccount, link: JobSchedule) -> dict[str, Any]:
    """The link's name is its GUID; runbook and schedule are referenced by name only."""
    return {
        "id": child_id(account, "jobSchedules", link.job_schedule_id),
        "name": link.job_schedule_id,
        "type": f"{RESOURCE_TYPE}/JobSchedules",
        "properties": {
            "jobScheduleId": link.job_schedule_id,
            "schedule": {"name": link.schedule_name},
            "runbook": {"name": link.runbook_name},
            "runOn": link.run_on,
            "parameters": link.parameters,
        },
    }


def _put_job_schedule(call: ArmCall, account: AutomationAccount, existing: JobSchedule | None) -> JobSchedule:
    """Links are never replaced: an existing id, or a second link of the same pair, is a conflict."""
    link_id, properties = call.params["name"], call.properties
    schedule_name = call.required(properties.get("schedule") or {}, "name", "properties.schedule")
    runbook_name = call.required(properties.get("runbook") or {}, "name", "properties.runbook")
    schedule = account.schedules.get(schedule_name.lower())
    if schedule is None:
        raise resource_not_found(
            f"Microsoft.Automation/automationAccounts/{account.name}/schedules/{schedule_name}", account.resource_group
        )
    runbook = _runbook_or_asr(account, runbook_name)
    if existing is not None:
        raise ArmError(409, "Conflict", f"A job schedule with the id '{link_id}' already exists.")
    if any(link.runbook_name.lower() == runbook_name.lower() for link in account.job_schedules_of(schedule.name)):
        raise ArmError(409, "Conflict", "A job schedule for the specified runbook and schedule already exists.")
    link = JobSchedule(
        job_schedule_id=link_id,
        schedule_name=schedule.name,
        runbook_name=runbook,
        run_on=properties.get("runOn"),
        parameters=properties.get("parameters") or {},
    )
    account.job_schedules[link_id.lower()] = link
    return link


def _runbook_or_asr(account: AutomationAccount, runbook_name: str) -> str:
    """The runbook's own spelling of its name; Site Recovery's global runbook exists in every account."""
    runbook = account.runbooks.get(runbook_name.lower())
    if runbook is None and runbook_name.lower() != ASR_RUNBOOK.lower():
        raise resource_not_found(
            f"Microsoft.Automation/automationAccounts/{account.name}/runbooks/{runbook_name}", account.resource_group
        )
    return runbook.name if runbook else ASR_RUNBOOK


# ---- jobs -----------------------------------------------------------------------------------------


def job_body(account: AutomationAccount, job: Job, *, full: bool = True) -> dict[str, Any]:
    """As the service answers a job in each state: `New` and `Activating` without startTime, provisioningState
    `Processing` until it ends; a list item lacks exception, parameters and the status details (JobCollectionItem).
    """
    finished = job.finished
    properties: dict[str, Any] = {
        "runbook": {"name": job.runbook_name},
        "jobId": job.job_id,
        "startedBy": job.started_by,
        "creationTime": iso(job.created),
        "status": job.status,
        "startTime": iso(job.start) if job.started else None,
        "endTime": iso(job.end) if finished else None,
        "lastModifiedTime": iso(job.status_changed),
        "provisioningState": "Succeeded" if finished else "Processing",
        "runOn": job.run_on,
    }
    if full:
        properties.update(
            statusDetails="None",
            exception=job.outcome.exception if finished else None,
            parameters=job.parameters,
            lastStatusModifiedTime=properties["lastModifiedTime"],
        )
    return {
        "id": child_id(account, "jobs", job.job_id),
        "name": job.job_id,
        "type": f"{RESOURCE_TYPE}/Jobs",
        "properties": properties,
    }


def _put_job(call: ArmCall, account: AutomationAccount, existing: Job | None) -> Job:
    """A PUT queues the job now (`New`); the scheduler moves it on as the emulated clock passes its moments."""
    properties = call.properties
    runbook_name = call.required(properties.get("runbook") or {}, "name", "properties.runbook")
    _runbook_or_asr(account, runbook_name)
    if existing is not None:
        raise ArmError(409, "Conflict", f"A job with the id '{call.params['name']}' already exists.")
    return call.world.scheduler.start_job(
        account,
        runbook_name,
        started_by=call.principal.object_id,
        job_id=call.params["name"],
        parameters=properties.get("parameters") or {},
        created=call.now,
        schedule_name=None,
    )


SCHEDULES = AssetKind(
    collection="schedules",
    assets=lambda account: account.schedules,
    body=schedule_body,
    put=_put_schedule,
    remove=lambda account, name: account.remove_schedule(name),
    patch=_patch_schedule,
)

KINDS = (
    SCHEDULES,
    AssetKind(
        collection="jobSchedules",
        assets=lambda account: account.job_schedules,
        body=job_schedule_body,
        put=_put_job_schedule,
        remove=lambda account, name: account.job_schedules.pop(name.lower(), None),
        filters={
            "properties/runbook/name": lambda link: link.runbook_name,
            "properties/schedule/name": lambda link: link.schedule_name,
        },
    ),
    AssetKind(
        collection="jobs",
        assets=lambda account: account.jobs,
        body=job_body,
        put=_put_job,
        list_body=lambda account, job: job_body(account, job, full=False),
        filters={
            "properties/runbook/name": lambda job: job.runbook_name,
            "properties/status": lambda job: job.status,
            "properties/starttime": lambda job: job.start if job.started else None,
            "properties/endtime": lambda job: job.end if job.finished else None,
            "properties/creationtime": lambda job: job.created,
            "properties/lastmodifiedtime": lambda job: job.status_changed,
        },
        newest_first_by=lambda job: job.created,
    ),
)
