"""What Azure Site Recovery does when a container mapping's auto-update setting changes, and for a new release.

Enabling auto-update on a mapping makes Site Recovery create a daily schedule and a job schedule for its hidden
global runbook in the chosen automation account; disabling it (or removing the mapping) takes them away again.
Each change is a long-running operation and a vault job that run for `operationDurationSeconds` of emulated
time, as the real service's take minutes: until the end the mapping reads as before, and only then is the change
applied (or refused) and the operation's final status known. One operation per mapping runs at a time.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

from ..state.automation import ASR_RUNBOOK, AutomationAccount, JobSchedule, Schedule
from ..state.estate import AzureState
from ..state.recovery import AsyncOperation, ContainerMapping, Fabric, OperationsInFlight, ReplicationJob, Vault
from ..state.timestamps import iso
from .clock import EmulatedClock
from .recurrence import zone
from .regions import time_zone_of
from .settings import APPLYING_OUTCOMES, FAILED_OUTCOME, NEVER_ENDS_OUTCOME, EmulatorSettings
from .update_runbook import clear_health

MINIMUM_LEAD = datetime.timedelta(minutes=5)
# The code and message a mapping operation ends with when `operationOutcome` is Failed (the emulator's own
# choice: Site Recovery reports internal failures with varying codes).
FAILED_CODE = "ProtectionContainerMappingOperationFailed"

# What a mapping operation does to the estate when it ends, given the (emulated) moment it ends at.
Change = Callable[[datetime.datetime], None]


class AutoUpdateFailure(Exception):
    """The mapping update's long-running operation ends Failed with this code and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class SiteRecoveryService:
    """The service side: reacts to mapping updates and to agent releases, never to HTTP directly."""

    def __init__(
        self, state: AzureState, clock: EmulatedClock, settings: EmulatorSettings, in_flight: OperationsInFlight
    ):
        self._state = state
        self._clock = clock
        self._settings = settings
        self._in_flight = in_flight

    # ---- the auto-update setting on a container mapping ------------------------------------------------

    def configure_auto_update(
        self,
        vault: Vault,
        fabric: Fabric,
        mapping: ContainerMapping,
        provider_input: dict[str, Any],
        moment: datetime.datetime,
    ) -> None:
        """Apply an A2A provider input (PATCH or PUT) to a mapping at `moment`, creating or removing the schedule
        as ASR does; `fabric` is the mapping's source, whose region's zone the schedule keeps."""
        status = provider_input.get("agentAutoUpdateStatus")
        if status is None:
            return
        if str(status).lower() == "enabled":
            self._enable(vault, fabric, mapping, provider_input, moment)
        elif str(status).lower() == "disabled":
            self._remove_schedule(mapping)
            mapping.details.update(agentAutoUpdateStatus="Disabled", scheduleName=None, jobScheduleName=None)
            clear_health(mapping)
        else:
            raise AutoUpdateFailure(
                "InvalidParameter", f"The agentAutoUpdateStatus '{status}' is not valid; use Enabled or Disabled."
            )

    def _enable(
        self,
        vault: Vault,
        fabric: Fabric,
        mapping: ContainerMapping,
        provider_input: dict[str, Any],
        moment: datetime.datetime,
    ) -> None:
        state = self._state
        account_id = provider_input.get("automationAccountArmId")
        if not account_id:
            raise AutoUpdateFailure(
                "AutomationAccountArmIdRequired",
                "An automation account ARM id is required to "
                "enable automatic update of the Mobility service extension.",
            )
        account = state.account_by_id(account_id)
        if account is None:
            raise AutoUpdateFailure(
                "AutomationAccountNotFound",
                f"The automation account '{account_id}' could not "
                "be found. Provide an existing automation account in the vault's subscription.",
            )
        if account.subscription_id.lower() != vault.subscription_id.lower():
            raise AutoUpdateFailure(
                "AutomationAccountInDifferentSubscription",
                f"The automation account '{account_id}' must be in the vault's subscription '{vault.subscription_id}'.",
            )
        details = mapping.details
        schedule_name = details.get("scheduleName")
        same_account = state.account_by_id(details.get("automationAccountArmId") or "") is account
        if not (same_account and schedule_name and schedule_name.lower() in account.schedules):
            self._remove_schedule(mapping)
            schedule_name = self._create_schedule(account, fabric, mapping, moment).name
        link = self._asr_link(account, schedule_name, details.get("jobScheduleName"))
        details.update(
            agentAutoUpdateStatus="Enabled",
            automationAccountArmId=account_id,
            automationAccountAuthenticationType=provider_input.get("automationAccountAuthenticationType")
            or "RunAsAccount",
            scheduleName=account.schedules[schedule_name.lower()].name,
            jobScheduleName=link.job_schedule_id,
        )
        clear_health(mapping)

    def _create_schedule(
        self, account: AutomationAccount, fabric: Fabric, mapping: ContainerMapping, now: datetime.datetime
    ) -> Schedule:
        """Daily at the next 00:00 at least five minutes away, in the zone of the replicated VMs' geography: the
        source fabric's region (the documented default), not the vault's."""
        time_zone = time_zone_of(fabric.location)
        local = (now + MINIMUM_LEAD).astimezone(zone(time_zone))
        midnight = datetime.datetime.combine(local.date(), datetime.time(0), tzinfo=local.tzinfo)
        if midnight < local:
            midnight = datetime.datetime.combine(
                local.date() + datetime.timedelta(days=1), datetime.time(0), tzinfo=local.tzinfo
            )
        start = midnight.astimezone(datetime.UTC)
        schedule = Schedule(
            name=f"{mapping.name}_{uuid.uuid4()}",
            start=start,
            frequency="Day",
            interval=1,
            time_zone=time_zone,
            expiry=None,
            advanced=None,
            description="",
            created=now,
            modified=now,
            next_run=start,
        )
        account.schedules[schedule.name.lower()] = schedule
        return schedule

    def _asr_link(self, account: AutomationAccount, schedule_name: str, recorded_id: str | None) -> JobSchedule:
        """The job schedule tying the global runbook to the schedule: the recorded one, an equivalent, or a new one."""
        recorded = account.job_schedules.get((recorded_id or "").lower())
        if recorded is not None and recorded.schedule_name.lower() == schedule_name.lower():
            return recorded
        for link in account.job_schedules_of(schedule_name):
            if link.runbook_name.lower() == ASR_RUNBOOK.lower():
                return link
        link = JobSchedule(
            job_schedule_id=str(uuid.uuid4()),
            schedule_name=account.schedules[schedule_name.lower()].name,
            runbook_name=ASR_RUNBOOK,
        )
        account.job_schedules[link.job_schedule_id.lower()] = link
        return link

    def _remove_schedule(self, mapping: ContainerMapping) -> None:
        account = self._state.account_by_id(mapping.details.get("automationAccountArmId") or "")
        schedule_name = mapping.details.get("scheduleName")
        if account is None or not schedule_name:
            return
        account.remove_schedule(schedule_name)
        account.job_schedules.pop((mapping.details.get("jobScheduleName") or "").lower(), None)

    # ---- mapping operations ------------------------------------------------------------------------------

    def running_on(self, mapping_id: str) -> AsyncOperation | None:
        """The operation still running on a mapping (a second one is refused meanwhile)."""
        return self._in_flight.of_mapping(mapping_id)

    def in_flight(self) -> list[AsyncOperation]:
        """Every operation still running (the admin API shows them)."""
        return list(self._in_flight)

    def start_operation(
        self,
        vault: Vault,
        mapping: ContainerMapping,
        scenario: str,
        friendly: str,
        change: Change,
    ) -> AsyncOperation:
        """Record the operation and its vault job as InProgress; the change waits for the operation's end."""
        now = self._clock.now()
        outcome = self._settings.operation_outcome
        due = (
            None
            if outcome == NEVER_ENDS_OUTCOME
            else now + datetime.timedelta(seconds=self._settings.operation_duration_seconds)
        )
        name = str(uuid.uuid4())
        job = ReplicationJob(
            id=f"{vault.asr_prefix}/replicationJobs/{name}",
            name=name,
            scenario_name=scenario,
            friendly_name=friendly,
            state="InProgress",
            start=now,
            end=None,
            target_id=mapping.id,
            target_name=mapping.name,
        )
        operation = AsyncOperation(
            name=name,
            vault_id=vault.id,
            mapping_id=mapping.id,
            mapping_name=mapping.name,
            start=now,
            due=due,
            outcome=outcome,
            job=job,
            change=change,
        )
        vault.replication_jobs[name] = job
        self._state.operations[name] = operation
        self._in_flight.add(operation)
        return operation

    def settle(self) -> None:
        """End every operation whose time has come, earliest first, at the moment it was due."""
        for operation in self._in_flight.pop_due(self._clock.now()):
            self._finish(operation)

    def end_never_ending(self, outcome: str = APPLYING_OUTCOMES[0]) -> int:
        """End now, with `outcome`, every operation that would run for good (`NeverEnds`): how a test lets a
        stuck operation finish at last. Answers how many there were."""
        now = self._clock.now()
        stuck = [operation for operation in self._in_flight if operation.due is None]
        for operation in stuck:
            operation.outcome, operation.due = outcome, now
            self._in_flight.add(operation)
        self.settle()
        return len(stuck)

    def _finish(self, operation: AsyncOperation) -> None:
        moment = operation.due or self._clock.now()
        status, error = self._conclude(operation, moment)
        operation.status, operation.error, operation.end = status, error, moment
        _end_job(operation.job, status, error, moment, operation.name)

    def _conclude(self, operation: AsyncOperation, moment: datetime.datetime) -> tuple[str, dict[str, str] | None]:
        """Apply the change for an applying outcome (a refusal fails it then); any other outcome skips it."""
        if operation.outcome in APPLYING_OUTCOMES:
            try:
                operation.change(moment)
            except AutoUpdateFailure as failure:
                return FAILED_OUTCOME, {"code": failure.code, "message": failure.message}
        elif operation.outcome == FAILED_OUTCOME:
            return FAILED_OUTCOME, {
                "code": FAILED_CODE,
                "message": f"The operation '{operation.job.friendly_name}' on the protection container mapping "
                f"'{operation.mapping_name}' failed because of an internal error. Retry the operation after "
                "some time.",
            }
        return operation.outcome, None

    # ---- Mobility Service releases ----------------------------------------------------------------------

    def release_agent(self, latest_agent_version: str) -> None:
        """A new Mobility Service version makes every older agent need (and be able to take) an update."""
        for vault in self._state.vaults.values():
            for _fabric, _container, item in vault.items():
                behind = item.details.get("agentVersion") != latest_agent_version
                item.details["isReplicationAgentUpdateRequired"] = behind
                item.details["isAgentUpgradeable"] = behind


def _end_job(
    job: ReplicationJob, status: str, error: dict[str, str] | None, moment: datetime.datetime, name: str
) -> None:
    """The vault job ends with its operation, carrying the error the portal shows for a failure."""
    job.state, job.end = status, moment
    if error:
        job.errors = [
            {"serviceErrorDetails": {**error, "activityId": name}, "errorLevel": "Error", "creationTime": iso(moment)}
        ]
