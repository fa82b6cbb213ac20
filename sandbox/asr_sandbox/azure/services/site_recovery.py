"""What Azure Site Recovery does when a container mapping's auto-update setting changes, and for a new release.

Enabling auto-update on a mapping makes Site Recovery create a daily schedule and a job schedule for its hidden
global runbook in the chosen automation account; disabling it (or removing the mapping) takes them away again.
Each change is recorded as a long-running operation and a vault job, the way the SDK's poller and the portal
find it.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

from ..state.automation import ASR_RUNBOOK, AutomationAccount, JobSchedule, Schedule
from ..state.estate import AzureState
from ..state.recovery import AsyncOperation, ContainerMapping, ReplicationJob, Vault
from ..state.timestamps import iso
from .clock import EmulatedClock
from .recurrence import zone
from .regions import time_zone_of
from .update_runbook import clear_health

MINIMUM_LEAD = datetime.timedelta(minutes=5)
OPERATION_DURATION = datetime.timedelta(seconds=2)


class AutoUpdateFailure(Exception):
    """The mapping update's long-running operation ends Failed with this code and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class SiteRecoveryService:
    """The service side: reacts to mapping updates and to agent releases, never to HTTP directly."""

    def __init__(self, state: AzureState, clock: EmulatedClock):
        self._state = state
        self._clock = clock

    # ---- the auto-update setting on a container mapping ------------------------------------------------

    def configure_auto_update(self, vault: Vault, mapping: ContainerMapping, provider_input: dict[str, Any]) -> None:
        """Apply an A2A provider input (PATCH or PUT) to a mapping, creating or removing the schedule as ASR does."""
        status = provider_input.get("agentAutoUpdateStatus")
        if status is None:
            return
        if str(status).lower() == "enabled":
            self._enable(vault, mapping, provider_input)
        elif str(status).lower() == "disabled":
            self._remove_schedule(mapping)
            mapping.details.update(agentAutoUpdateStatus="Disabled", scheduleName=None, jobScheduleName=None)
            clear_health(mapping)
        else:
            raise AutoUpdateFailure(
                "InvalidParameter", f"The agentAutoUpdateStatus '{status}' is not valid; use Enabled or Disabled."
            )

    def _enable(self, vault: Vault, mapping: ContainerMapping, provider_input: dict[str, Any]) -> None:
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
            schedule_name = self._create_schedule(account, vault, mapping).name
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

    def _create_schedule(self, account: AutomationAccount, vault: Vault, mapping: ContainerMapping) -> Schedule:
        """Daily at the next 00:00 in the vault region's zone that is at least five minutes away."""
        now = self._clock.now()
        time_zone = time_zone_of(vault.location)
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

    def run_operation(
        self,
        vault: Vault,
        mapping: ContainerMapping,
        scenario: str,
        friendly: str,
        change: Callable[[], None],
        *,
        removes: bool = False,
    ) -> AsyncOperation:
        """Apply the change now and record it as an operation and a vault job; a refused change makes both Failed."""
        now = self._clock.now()
        operation = AsyncOperation(
            name=str(uuid.uuid4()),
            vault_id=vault.id,
            mapping_id=mapping.id,
            status="Succeeded",
            start=now,
            end=now + OPERATION_DURATION,
            removes=removes,
        )
        try:
            change()
        except AutoUpdateFailure as failure:
            operation.status = "Failed"
            operation.error = {"code": failure.code, "message": failure.message}
        vault.replication_jobs[operation.name] = ReplicationJob(
            id=f"{vault.asr_prefix}/replicationJobs/{operation.name}",
            name=operation.name,
            scenario_name=scenario,
            friendly_name=friendly,
            state=operation.status,
            start=now,
            end=operation.end,
            target_id=mapping.id,
            target_name=mapping.name,
            errors=[
                {
                    "serviceErrorDetails": {**operation.error, "activityId": operation.name},
                    "errorLevel": "Error",
                    "creationTime": iso(now),
                }
            ]
            if operation.error
            else [],
        )
        self._state.operations[operation.name] = operation
        return operation

    # ---- Mobility Service releases ----------------------------------------------------------------------

    def release_agent(self, latest_agent_version: str) -> None:
        """A new Mobility Service version makes every older agent need (and be able to take) an update."""
        for vault in self._state.vaults.values():
            for _fabric, _container, item in vault.items():
                behind = item.details.get("agentVersion") != latest_agent_version
                item.details["isReplicationAgentUpdateRequired"] = behind
                item.details["isAgentUpgradeable"] = behind
