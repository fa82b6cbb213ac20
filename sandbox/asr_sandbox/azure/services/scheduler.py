"""Azure Automation's scheduler: schedules fire on the emulated clock, jobs start, run for a while and end.

Nothing here waits for real time. Each tick runs every occurrence that became due, oldest first, ending the
jobs that finished in between, so that a clock moved a week ahead plays out the week in order and every job
sees what the one before it left behind.
"""

from __future__ import annotations

import datetime
import uuid

from ..state.automation import ASR_RUNBOOK, AutomationAccount, Job, JobOutcome, JobSchedule, Schedule
from ..state.estate import AzureState
from . import update_runbook
from .clock import EmulatedClock
from .recurrence import recurrence_of
from .settings import EmulatorSettings

# A schedule advanced by years with a minute frequency would otherwise start millions of jobs.
MAX_CATCH_UP = 1000


class Scheduler:
    """Starts jobs for due schedules (and for `jobs` PUTs) and ends them when their run time has passed."""

    def __init__(self, state: AzureState, clock: EmulatedClock, settings: EmulatorSettings):
        self._state = state
        self._clock = clock
        self._settings = settings

    def tick(self) -> None:
        """Run every occurrence that became due, oldest first, ending jobs in between so each sees the last."""
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
            self._end_jobs(moment)
            self.start_job(
                account,
                link.runbook_name,
                started_by="Scheduler",
                job_id=str(uuid.uuid4()),
                parameters=link.parameters,
                start=moment,
                schedule_name=schedule.name,
            )
        self._end_jobs(now)

    def start_job(
        self,
        account: AutomationAccount,
        runbook_name: str,
        *,
        started_by: str,
        job_id: str,
        parameters: dict[str, str],
        start: datetime.datetime,
        schedule_name: str | None,
    ) -> Job:
        """Start a job now or at a past occurrence; its outcome is judged on the credentials as they are now."""
        end = start + datetime.timedelta(seconds=self._settings.job_duration_seconds)
        outcome = JobOutcome()
        if runbook_name.lower() == ASR_RUNBOOK.lower():
            outcome = update_runbook.judge_run(self._state, account, schedule_name, start)
        runbook = account.runbooks.get(runbook_name.lower())
        job = Job(
            job_id=job_id,
            runbook_name=runbook.name if runbook else ASR_RUNBOOK,
            started_by=started_by,
            created=start,
            start=start,
            end=end,
            outcome=outcome,
            parameters=parameters,
        )
        account.jobs[job_id.lower()] = job
        update_runbook.begin(outcome)
        if end <= self._clock.now():
            self._end(job)
        return job

    def _end_jobs(self, until: datetime.datetime) -> None:
        running = [
            job
            for account in self._state.accounts.values()
            for job in account.jobs.values()
            if job.status == "Running" and job.end <= until
        ]
        for job in sorted(running, key=lambda job: job.end):
            self._end(job)

    def _end(self, job: Job) -> None:
        job.status = "Completed" if job.outcome.succeeded else "Failed"
        update_runbook.finish(job.outcome, job.end, self._settings.latest_agent_version)


def _occurrences_due(schedule: Schedule, now: datetime.datetime) -> list[datetime.datetime]:
    """The schedule's runs up to now, its next run moved past them (at most MAX_CATCH_UP of them are run)."""
    if not schedule.is_enabled or schedule.next_run is None or schedule.next_run > now:
        return []
    recurrence = recurrence_of(schedule)
    moments: list[datetime.datetime] = []
    while schedule.next_run is not None and schedule.next_run <= now:
        if len(moments) == MAX_CATCH_UP:
            schedule.next_run = recurrence.first_after(now)
            break
        moments.append(schedule.next_run)
        schedule.next_run = recurrence.first_after(schedule.next_run)
    return moments
