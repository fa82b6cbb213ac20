"""Microsoft.Automation schedules, job schedules and jobs: what runs when, and what ran.

The quirks the operator has to live with are reproduced on purpose: a schedule PUT has no `isEnabled` and must
start at least five minutes ahead, only PATCH pauses or resumes it, and a runbook+schedule pair links once.
"""

from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web

from .arm import ArmCall, ArmError, Router, bad_request, iso, parse_time, resource_not_found
from .automation import ACCOUNT, RESOURCE_TYPE, account_of, child_id, child_missing, register_children
from .odata import parse_filter
from .recurrence import Recurrence, recurrence_of
from .store import ASR_RUNBOOK, AutomationAccount, Job, JobSchedule, Schedule

MINIMUM_LEAD = datetime.timedelta(minutes=5)
NEVER_EXPIRES = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)


def register(router: Router) -> None:
    register_children(
        router,
        {
            "schedules": (_put_schedule, _get_schedule, _delete_schedule, _list_schedules),
            "jobSchedules": (_put_job_schedule, _get_job_schedule, _delete_job_schedule, _list_job_schedules),
            "jobs": (_put_job, _get_job, None, _list_jobs),
        },
    )
    router.add("PATCH", f"{ACCOUNT}/schedules/{{name}}", _patch_schedule)


# ---- schedules ------------------------------------------------------------------------------------


def schedule_body(account: AutomationAccount, schedule: Schedule) -> dict[str, Any]:
    """Times in the schedule's own zone with their offsets, as the service reports them; nextRun only while enabled."""
    recurrence = recurrence_of(schedule)
    start = schedule.start.astimezone(recurrence.time_zone)
    next_run = schedule.next_run.astimezone(recurrence.time_zone) if schedule.is_enabled and schedule.next_run else None
    expiry = schedule.expiry or NEVER_EXPIRES
    if expiry < NEVER_EXPIRES - datetime.timedelta(days=2):
        expiry = expiry.astimezone(recurrence.time_zone)
    return {
        "id": child_id(account, "schedules", schedule.name),
        "name": schedule.name,
        "type": f"{RESOURCE_TYPE}/Schedules",
        "properties": {
            "description": schedule.description,
            "startTime": iso(start),
            "startTimeOffsetMinutes": _offset_minutes(start),
            "expiryTime": iso(expiry),
            "expiryTimeOffsetMinutes": _offset_minutes(expiry),
            "isEnabled": schedule.is_enabled,
            "nextRun": iso(next_run),
            "nextRunOffsetMinutes": _offset_minutes(next_run) if next_run else 0,
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


def _put_schedule(call: ArmCall) -> web.Response:
    account, now = account_of(call), call.now
    name = call.params["name"]
    existing = account.schedules.get(name.lower())
    if existing is not None and call.world.settings.schedule_put_on_existing == "conflict409":
        raise ArmError(409, "Conflict", f"A schedule with the name '{name}' already exists.")
    properties = call.body.get("properties") or {}
    start = parse_time(properties.get("startTime"), "properties.startTime")
    if start < now + MINIMUM_LEAD:
        raise bad_request(
            "The start time of the schedule must be at least 5 minutes after the time you create the schedule."
        )
    expiry = parse_time(properties["expiryTime"], "properties.expiryTime") if properties.get("expiryTime") else None
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
    return web.json_response(schedule_body(account, schedule), status=200 if existing else 201)


def _patch_schedule(call: ArmCall) -> web.Response:
    """PATCH is the only way to pause or resume a schedule; resuming looks for the next run from now."""
    account, now = account_of(call), call.now
    schedule = account.schedules.get(call.params["name"].lower())
    if schedule is None:
        raise child_missing(call, "schedules")
    properties = call.body.get("properties") or {}
    if "description" in properties:
        schedule.description = properties["description"] or ""
    if properties.get("isEnabled") is not None:
        enabled = bool(properties["isEnabled"])
        if enabled and not schedule.is_enabled:
            schedule.next_run = recurrence_of(schedule).first_at_or_after(now)
        schedule.is_enabled = enabled
    schedule.modified = now
    return web.json_response(schedule_body(account, schedule))


def _get_schedule(call: ArmCall) -> web.Response:
    account = account_of(call)
    schedule = account.schedules.get(call.params["name"].lower())
    if schedule is None:
        raise child_missing(call, "schedules")
    return web.json_response(schedule_body(account, schedule))


def _delete_schedule(call: ArmCall) -> web.Response:
    """Deleting a schedule unlinks every runbook from it, as the service does."""
    account = account_of(call)
    schedule = account.schedules.pop(call.params["name"].lower(), None)
    if schedule is None:
        raise child_missing(call, "schedules")
    for link in account.job_schedules_of(schedule.name):
        del account.job_schedules[link.job_schedule_id.lower()]
    return web.Response(status=200)


def _list_schedules(call: ArmCall) -> web.Response:
    account = account_of(call)
    return call.page(schedule_body(account, schedule) for schedule in account.schedules.values())


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


def _put_job_schedule(call: ArmCall) -> web.Response:
    account = account_of(call)
    link_id = call.params["name"]
    properties = call.body.get("properties") or {}
    schedule_name = call.required(properties.get("schedule") or {}, "name", "properties.schedule")
    runbook_name = call.required(properties.get("runbook") or {}, "name", "properties.runbook")
    schedule = account.schedules.get(schedule_name.lower())
    if schedule is None:
        raise resource_not_found(
            f"Microsoft.Automation/automationAccounts/{account.name}/schedules/{schedule_name}", account.resource_group
        )
    runbook = account.runbooks.get(runbook_name.lower())
    if runbook is None and runbook_name.lower() != ASR_RUNBOOK.lower():
        raise resource_not_found(
            f"Microsoft.Automation/automationAccounts/{account.name}/runbooks/{runbook_name}", account.resource_group
        )
    if link_id.lower() in account.job_schedules:
        raise ArmError(409, "Conflict", f"A job schedule with the id '{link_id}' already exists.")
    if any(link.runbook_name.lower() == runbook_name.lower() for link in account.job_schedules_of(schedule.name)):
        raise ArmError(409, "Conflict", "A job schedule for the specified runbook and schedule already exists.")
    link = JobSchedule(
        job_schedule_id=link_id,
        schedule_name=schedule.name,
        runbook_name=runbook.name if runbook else ASR_RUNBOOK,
        run_on=properties.get("runOn"),
        parameters=properties.get("parameters") or {},
    )
    account.job_schedules[link_id.lower()] = link
    return web.json_response(job_schedule_body(account, link), status=201)


def _get_job_schedule(call: ArmCall) -> web.Response:
    account = account_of(call)
    link = account.job_schedules.get(call.params["name"].lower())
    if link is None:
        raise child_missing(call, "jobSchedules")
    return web.json_response(job_schedule_body(account, link))


def _delete_job_schedule(call: ArmCall) -> web.Response:
    account = account_of(call)
    if account.job_schedules.pop(call.params["name"].lower(), None) is None:
        raise child_missing(call, "jobSchedules")
    return web.Response(status=200)


def _list_job_schedules(call: ArmCall) -> web.Response:
    account = account_of(call)
    clauses = parse_filter(call.query.get("$filter", ""))
    fields = {"properties/runbook/name": "runbook_name", "properties/schedule/name": "schedule_name"}
    for clause in clauses:
        if clause.path not in fields:
            raise bad_request(f"The filter field '{clause.path or clause.function}' is not supported.", "InvalidFilter")
    return call.page(
        job_schedule_body(account, link)
        for link in account.job_schedules.values()
        if all(clause.holds(getattr(link, fields[clause.path or ""])) for clause in clauses)
    )


# ---- jobs -----------------------------------------------------------------------------------------

_JOB_FIELDS = {
    "properties/runbook/name": lambda job: job.runbook_name,
    "properties/status": lambda job: job.status,
    "properties/starttime": lambda job: job.start,
    "properties/endtime": lambda job: job.end if job.status != "Running" else None,
    "properties/creationtime": lambda job: job.created,
    "properties/lastmodifiedtime": lambda job: job.end if job.status != "Running" else job.start,
}


def job_body(account: AutomationAccount, job: Job, *, full: bool = True) -> dict[str, Any]:
    """A list item lacks exception and parameters (JobCollectionItem); endTime stays null while running."""
    finished = job.status != "Running"
    properties: dict[str, Any] = {
        "runbook": {"name": job.runbook_name},
        "jobId": job.job_id,
        "startedBy": job.started_by,
        "creationTime": iso(job.created),
        "status": job.status,
        "startTime": iso(job.start),
        "endTime": iso(job.end) if finished else None,
        "lastModifiedTime": iso(job.end if finished else job.start),
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


def _put_job(call: ArmCall) -> web.Response:
    account = account_of(call)
    properties = call.body.get("properties") or {}
    runbook_name = call.required(properties.get("runbook") or {}, "name", "properties.runbook")
    if runbook_name.lower() not in account.runbooks and runbook_name.lower() != ASR_RUNBOOK.lower():
        raise resource_not_found(
            f"Microsoft.Automation/automationAccounts/{account.name}/runbooks/{runbook_name}", account.resource_group
        )
    if call.params["name"].lower() in account.jobs:
        raise ArmError(409, "Conflict", f"A job with the id '{call.params['name']}' already exists.")
    job = call.world.service.start_job(
        account,
        runbook_name,
        started_by=call.principal.object_id,
        job_id=call.params["name"],
        parameters=properties.get("parameters") or {},
        start=call.now,
        schedule_name=None,
    )
    return web.json_response(job_body(account, job), status=201)


def _get_job(call: ArmCall) -> web.Response:
    account = account_of(call)
    job = account.jobs.get(call.params["name"].lower())
    if job is None:
        raise child_missing(call, "jobs")
    return web.json_response(job_body(account, job))


def _list_jobs(call: ArmCall) -> web.Response:
    account = account_of(call)
    clauses = parse_filter(call.query.get("$filter", ""))
    for clause in clauses:
        if clause.path not in _JOB_FIELDS:
            raise bad_request(f"The filter field '{clause.path or clause.function}' is not supported.", "InvalidFilter")
    jobs = sorted(account.jobs.values(), key=lambda job: job.start, reverse=True)
    return call.page(
        job_body(account, job, full=False)
        for job in jobs
        if all(clause.holds(_JOB_FIELDS[clause.path or ""](job)) for clause in clauses)
    )
