"""Microsoft.Automation's data: accounts and what they hold (runbooks, schedules, links, Run As assets, jobs).

Children are filed under their lowercased name (Automation names are case-insensitive) and keep the casing they
were created with. Removing a runbook or a schedule also removes the job schedules that point at it, as the
service does, so no caller can leave a dangling link behind.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .recovery import ContainerMapping, ProtectionContainer

# Site Recovery's hidden global runbook: it runs jobs in an account but is never listed among its runbooks.
ASR_RUNBOOK = "MS-SR-Update-MobilityServiceForA2AVirtualMachines"
# The assets a legacy Run As account consists of (besides its service principal).
RUN_AS_CERTIFICATE = "AzureRunAsCertificate"
RUN_AS_CONNECTION = "AzureRunAsConnection"


def account_path(subscription_id: str, resource_group: str, name: str) -> str:
    """An account's id; lowercased, it is the account's key."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Automation/automationAccounts/{name}"
    )


@dataclass(eq=False)
class Runbook:
    """A runbook as the account lists it; its code is never run."""

    name: str
    location: str
    runbook_type: str
    state: str
    created: datetime.datetime
    modified: datetime.datetime
    description: str = ""
    log_progress: bool = False
    log_verbose: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Schedule:
    """A schedule in its wire fields; `next_run` is kept here and moved on as it fires."""

    name: str
    start: datetime.datetime
    frequency: str
    interval: int
    time_zone: str
    expiry: datetime.datetime | None
    advanced: dict[str, Any] | None
    description: str
    created: datetime.datetime
    modified: datetime.datetime
    is_enabled: bool = True
    next_run: datetime.datetime | None = None


@dataclass(eq=False)
class JobSchedule:
    """The link that makes a schedule start a runbook; its name is a GUID."""

    job_schedule_id: str
    schedule_name: str
    runbook_name: str
    run_on: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Certificate:
    """An uploaded certificate: only the facts the service keeps (thumbprint, expiry)."""

    name: str
    thumbprint: str
    expiry: datetime.datetime
    created: datetime.datetime
    modified: datetime.datetime
    is_exportable: bool = False
    description: str = ""


@dataclass(eq=False)
class Connection:
    """A connection asset: a type and its field values (the Run As one names app, tenant, thumbprint)."""

    name: str
    connection_type: str
    field_values: dict[str, str]
    created: datetime.datetime
    modified: datetime.datetime
    description: str = ""


@dataclass(eq=False)
class JobOutcome:
    """Decided when a job starts, applied when it ends (so a Running job shows upgrades in progress)."""

    succeeded: bool = True
    exception: str | None = None
    # Auto-update health errors each mapping shows once the job ends ([] clears them).
    mapping_health: list[tuple[ContainerMapping, list[dict[str, Any]]]] = field(default_factory=list)
    # Containers whose protected items get the latest agent when the job ends.
    upgrade_containers: list[ProtectionContainer] = field(default_factory=list)


# A job's statuses before it runs, and while it runs; any other status is an end (Completed, Failed, ...).
JOB_WAITING = ("New", "Activating")
JOB_RUNNING = "Running"


@dataclass(eq=False)
class Job:
    """A runbook job: created `New`, `Activating` from `activated`, `Running` from `start`, ended at `end`.

    The moments are fixed when the job is created; the scheduler moves `status` on as the clock passes them.
    The outcome is judged when it starts running and applied when it ends.
    """

    job_id: str
    runbook_name: str
    started_by: str
    created: datetime.datetime
    activated: datetime.datetime
    start: datetime.datetime
    end: datetime.datetime
    status: str = "New"
    outcome: JobOutcome = field(default_factory=JobOutcome)
    parameters: dict[str, str] = field(default_factory=dict)
    run_on: str = ""
    # The schedule that started it (None for a `jobs` PUT): the update runbook covers that schedule's mappings.
    schedule_name: str | None = None

    @property
    def started(self) -> bool:
        """Whether it has begun running (startTime is set from then on)."""
        return self.status not in JOB_WAITING

    @property
    def finished(self) -> bool:
        return self.started and self.status != JOB_RUNNING

    @property
    def status_changed(self) -> datetime.datetime:
        """When the current status began: lastModifiedTime and lastStatusModifiedTime."""
        if self.finished:
            return self.end
        if self.started:
            return self.start
        return self.activated if self.status == "Activating" else self.created

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


@dataclass(eq=False)
class AutomationAccount:
    """An account and everything filed under it."""

    id: str
    subscription_id: str
    resource_group: str
    name: str
    location: str
    created: datetime.datetime
    modified: datetime.datetime
    sku: str = "Basic"
    identity_type: str | None = None
    principal_id: str | None = None
    description: str = ""
    public_network_access: bool = True
    disable_local_auth: bool = False
    # Who last wrote it, as the service records it (a user's name or an application's client id).
    last_modified_by: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    runbooks: dict[str, Runbook] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    job_schedules: dict[str, JobSchedule] = field(default_factory=dict)
    certificates: dict[str, Certificate] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)

    @property
    def has_system_identity(self) -> bool:
        """`SystemAssigned` or `SystemAssigned, UserAssigned`, in any spelling ARM accepts."""
        return bool(self.identity_type) and "systemassigned" in self.identity_type.replace(" ", "").lower()

    def job_schedules_of(self, schedule_name: str) -> list[JobSchedule]:
        """The links that make this schedule start a runbook."""
        return [link for link in self.job_schedules.values() if link.schedule_name.lower() == schedule_name.lower()]

    def remove_runbook(self, name: str) -> Runbook | None:
        """Remove a runbook and unlink it from every schedule; None if there was none by that name."""
        runbook = self.runbooks.pop(name.lower(), None)
        if runbook is not None:
            for key, link in list(self.job_schedules.items()):
                if link.runbook_name.lower() == name.lower():
                    del self.job_schedules[key]
        return runbook

    def remove_schedule(self, name: str) -> Schedule | None:
        """Remove a schedule and unlink every runbook from it; None if there was none by that name."""
        schedule = self.schedules.pop(name.lower(), None)
        if schedule is not None:
            for link in self.job_schedules_of(schedule.name):
                del self.job_schedules[link.job_schedule_id.lower()]
        return schedule
