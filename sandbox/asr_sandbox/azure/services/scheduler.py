"""Azure Automation's scheduler: schedules fire on the emulated clock; jobs queue, activate, run and end.

Nothing here waits for real time. Each tick runs every occurrence that became due, oldest first, moving the
jobs on (New, Activating, Running, an end) in between, so that a clock moved a week ahead plays out the week in
order and every job sees what the one before it left behind. A paused schedule runs nothing, but its next run
still moves on past the occurrences it skips.
"""

from __future__ import annotations

import datetime
import uuid

from ..state.automation import (
    ASR_RUNBOOK,
    JOB_RUNNING,
    JOB_WAITING,
    AutomationAccount,
    Job,
    JobOutcome,
    JobSchedule,
    Schedule,
)
from ..state.estate import AzureState
from . import update_runbook
from .clock import EmulatedClock
from .recurrence import recurrence_of
from .settings import EmulatorSettings

# A schedule advanced by years with a minute frequency would otherwise start millions of jobs.
MAX_CATCH_UP = 1000
# Emulated seconds a job spends queued (`New`) and then `Activating` (a sandbox being found for it) before it
# runs. Azure gives no figure; a few seconds each keeps both states visible without slowing tests down.
NEW_SECONDS = 5
ACTIVATING_SECONDS = 10

# The order of a job's changes at one moment: ends first, so a job starting then sees what the last one left.
_ENDS, _RUNS, _ACTIVATES = 0, 1, 2


class Scheduler:
    """Starts jobs for due schedules (and for `jobs` PUTs) and moves them on as the clock passes their moments."""

    def __init__(self, state: AzureState, clock: EmulatedClock, settings: EmulatorSettings):
        self._state = state
        self._clock = clock
        self._settings = settings

    def tick(self) -> None:
        """Run every occurrence that became due, oldest first, moving jobs on in between so each sees the last."""
        now = self._clock.now()
        due: list[tuple[datetime.datetime, AutomationAccount, Schedule, JobSchedule]] = []
        for account in self._state.accounts.values():
            for schedule in account.schedules.values():
                due.extend(
                    (moment, account, schedule, link)
                    for moment in _occurrences_due(schedule, now)
                    for link in account.job_schedules_of(schedule.name)
                )
        for moment, account, schedule, link in sorted(due, key=lambda entry: entry[0]):
            self._advance_jobs(moment)
            self.start_job(
                account,
                link.runbook_name,
                started_by="Scheduler",
                job_id=str(uuid.uuid4()),
                parameters=link.parameters,
                created=moment,
                schedule_name=schedule.name,
            )
        self._advance_jobs(now)

    def start_job(
        self,
        account: AutomationAccount,
        runbook_name: str,
        *,
        started_by: str,
        job_id: str,
        parameters: dict[str, str],
        created: datetime.datetime,
        schedule_name: str | None,
    ) -> Job:
        """Queue a job (now, or at a past occurrence); it runs `jobDurationSeconds` once New and Activating pass."""
        activated = created + datetime.timedelta(seconds=NEW_SECONDS)
        start = activated + datetime.timedelta(seconds=ACTIVATING_SECONDS)
        runbook = account.runbooks.get(runbook_name.lower())
        job = Job(
            job_id=job_id,
            runbook_name=runbook.name if runbook else ASR_RUNBOOK,
            started_by=started_by,
            created=created,
            activated=activated,
            start=start,
            end=start + datetime.timedelta(seconds=self._settings.job_duration_seconds),
            parameters=parameters,
            schedule_name=schedule_name,
        )
        account.jobs[job_id.lower()] = job
        return job

    def _advance_jobs(self, until: datetime.datetime) -> None:
        """Every status change due by `until`, in the order they happen (at one moment, ends come first)."""
        changes: list[tuple[datetime.datetime, int, int, AutomationAccount, Job]] = []
        for account in self._state.accounts.values():
            for job in account.jobs.values():
                if job.finished:
                    continue
                steps = []
                if job.status == "New":
                    steps.append((job.activated, _ACTIVATES))
                if job.status in JOB_WAITING:
                    steps.append((job.start, _RUNS))
                steps.append((job.end, _ENDS))
                changes.extend((moment, kind, len(changes), account, job) for moment, kind in steps if moment <= until)
        for _moment, kind, _order, account, job in sorted(changes, key=lambda change: change[:3]):
            # A job's own steps keep their order even at one moment (a zero jobDurationSeconds).
            if kind == _ACTIVATES and job.status == "New":
                job.status = "Activating"
            elif kind == _RUNS and job.status in JOB_WAITING:
                self._run(account, job)
            elif kind == _ENDS and not job.finished:
                if not job.started:
                    self._run(account, job)
                self._end(job)

    def _run(self, account: AutomationAccount, job: Job) -> None:
        """The job starts running: the update runbook judges the credentials as they are at this moment."""
        job.status = JOB_RUNNING
        if job.runbook_name.lower() == ASR_RUNBOOK.lower():
            job.outcome = update_runbook.judge_run(self._state, account, job.schedule_name, job.start)
        else:
            job.outcome = JobOutcome()
        update_runbook.begin(job.outcome)

    def _end(self, job: Job) -> None:
        job.status = "Completed" if job.outcome.succeeded else "Failed"
        update_runbook.finish(job.outcome, job.end, self._settings.latest_agent_version)


def _occurrences_due(schedule: Schedule, now: datetime.datetime) -> list[datetime.datetime]:
    """The schedule's runs up to now, its next run moved past them (at most MAX_CATCH_UP of them are run).

    A paused schedule keeps a next run (Azure answers one), moved past the occurrences it skips, and runs none.
    """
    if schedule.next_run is None or schedule.next_run > now:
        return []
    recurrence = recurrence_of(schedule)
    if not schedule.is_enabled:
        schedule.next_run = recurrence.first_after(now)
        return []
    moments: list[datetime.datetime] = []
    while schedule.next_run is not None and schedule.next_run <= now:
        if len(moments) == MAX_CATCH_UP:
            schedule.next_run = recurrence.first_after(now)
            break
        moments.append(schedule.next_run)
        schedule.next_run = recurrence.first_after(schedule.next_run)
    return moments
