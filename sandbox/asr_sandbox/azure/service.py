"""What Azure Site Recovery and Azure Automation do on their own, behind the API.

Enabling auto-update on a mapping makes Site Recovery create a daily schedule and a job schedule for its hidden
global runbook in the chosen automation account. When the emulated clock passes a schedule's next run, a job
runs that runbook: with healthy credentials it upgrades the vault's Mobility agents; otherwise it fails and the
mappings show the health errors the portal would show.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

from .arm import iso
from .authorization import CONTRIBUTOR, OWNER, holds_role
from .recurrence import recurrence_of, zone
from .regions import time_zone_of
from .store import (
    ASR_RUNBOOK,
    AutomationAccount,
    ContainerMapping,
    Job,
    JobOutcome,
    JobSchedule,
    ProtectionContainer,
    Schedule,
    Vault,
)

if TYPE_CHECKING:
    from .world import World

HEALTH_SOURCE = "AgentAutoUpdate"
RUN_AS_CERTIFICATE = "AzureRunAsCertificate"
RUN_AS_CONNECTION = "AzureRunAsConnection"
CERTIFICATE_WARNING_WINDOW = datetime.timedelta(days=60)
AGENT_SUPPORT_PERIOD = datetime.timedelta(days=365)
# A schedule advanced by years with a minute frequency would otherwise start millions of jobs.
MAX_CATCH_UP = 1000
MINIMUM_LEAD = datetime.timedelta(minutes=5)


class AutoUpdateFailure(Exception):
    """The mapping update's long-running operation ends Failed with this code and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class SiteRecoveryService:
    """The service side: reacts to mapping updates and to the clock, never to HTTP directly."""

    def __init__(self, world: World):
        self._world = world

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
            self._clear_health(mapping)
        else:
            raise AutoUpdateFailure(
                "InvalidParameter", f"The agentAutoUpdateStatus '{status}' is not valid; use Enabled or Disabled."
            )

    def _enable(self, vault: Vault, mapping: ContainerMapping, provider_input: dict[str, Any]) -> None:
        state = self._world.state
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
        self._clear_health(mapping)

    def _create_schedule(self, account: AutomationAccount, vault: Vault, mapping: ContainerMapping) -> Schedule:
        """Daily at the next 00:00 in the vault region's zone that is at least five minutes away."""
        now = self._world.clock.now()
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
        account = self._world.state.account_by_id(mapping.details.get("automationAccountArmId") or "")
        schedule_name = mapping.details.get("scheduleName")
        if account is None or not schedule_name:
            return
        if account.schedules.pop(schedule_name.lower(), None) is not None:
            for link in account.job_schedules_of(schedule_name):
                del account.job_schedules[link.job_schedule_id.lower()]
        account.job_schedules.pop((mapping.details.get("jobScheduleName") or "").lower(), None)

    @staticmethod
    def _clear_health(mapping: ContainerMapping) -> None:
        mapping.health_errors = [error for error in mapping.health_errors if error.get("errorSource") != HEALTH_SOURCE]

    # ---- the clock: schedules fire, jobs end -------------------------------------------------------------

    def tick(self) -> None:
        """Run every occurrence that became due, oldest first, ending jobs in between so each sees the last."""
        now = self._world.clock.now()
        due: list[tuple[datetime.datetime, AutomationAccount, Schedule, JobSchedule]] = []
        for account in self._world.state.accounts.values():
            for schedule in account.schedules.values():
                due.extend(
                    (moment, account, schedule, link)
                    for moment in self._occurrences_due(schedule, now)
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

    @staticmethod
    def _occurrences_due(schedule: Schedule, now: datetime.datetime) -> list[datetime.datetime]:
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
        end = start + datetime.timedelta(seconds=self._world.settings.job_duration_seconds)
        outcome = JobOutcome()
        if runbook_name.lower() == ASR_RUNBOOK.lower():
            outcome = self._judge_update_run(account, schedule_name, start)
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
        for container in outcome.upgrade_containers:
            for item in container.items.values():
                if item.details.get("isReplicationAgentUpdateRequired"):
                    item.details["isAgentUpgradeInProgress"] = True
        if end <= self._world.clock.now():
            self._end(job)
        return job

    def _end_jobs(self, until: datetime.datetime) -> None:
        running = [
            job
            for account in self._world.state.accounts.values()
            for job in account.jobs.values()
            if job.status == "Running" and job.end <= until
        ]
        for job in sorted(running, key=lambda job: job.end):
            self._end(job)

    def _end(self, job: Job) -> None:
        outcome = job.outcome
        job.status = "Completed" if outcome.succeeded else "Failed"
        for container in outcome.upgrade_containers:
            for item in container.items.values():
                if item.details.get("isReplicationAgentUpdateRequired"):
                    item.details.update(
                        agentVersion=self._world.settings.latest_agent_version,
                        agentExpiryDate=iso(job.end + AGENT_SUPPORT_PERIOD),
                        isReplicationAgentUpdateRequired=False,
                        autoAgentUpgradeRetryCount=0,
                    )
                item.details["isAgentUpgradeInProgress"] = False
        for mapping, errors in outcome.mapping_health:
            self._clear_health(mapping)
            mapping.health_errors.extend(errors)

    # ---- the global runbook's credential checks ------------------------------------------------------

    def _judge_update_run(
        self, account: AutomationAccount, schedule_name: str | None, at: datetime.datetime
    ) -> JobOutcome:
        """Each vault is judged on its own credentials; one broken vault fails the job but not the others' upgrades."""
        outcome = JobOutcome()
        failures: list[str] = []
        for vault, targets in self._targets(account, schedule_name):
            auth_type = targets[0][1].details.get("automationAccountAuthenticationType") or "RunAsAccount"
            problems = self._credential_problems(account, auth_type, vault, at)
            fatal = [problem for problem in problems if problem["errorLevel"] == "Error"]
            for _container, mapping in targets:
                outcome.mapping_health.append((mapping, [dict(problem, entityId=mapping.id) for problem in problems]))
            if fatal:
                failures.extend(f"{problem['errorMessage']} Vault: {vault.id}." for problem in fatal)
            else:
                outcome.upgrade_containers.extend(container for container, _mapping in targets)
        if failures:
            outcome.succeeded = False
            outcome.exception = " ".join(failures)
        return outcome

    def _targets(
        self,
        account: AutomationAccount,
        schedule_name: str | None,
    ) -> list[tuple[Vault, list[tuple[ProtectionContainer, ContainerMapping]]]]:
        """Per vault, the enabled A2A mappings that use this account (the runbook covers the whole vault)."""
        state = self._world.state
        found = []
        for vault in state.vaults.values():
            enabled = [
                (container, mapping)
                for _fabric, container, mapping in vault.mappings()
                if mapping.instance_type == "A2A"
                and mapping.details.get("agentAutoUpdateStatus") == "Enabled"
                and state.account_by_id(mapping.details.get("automationAccountArmId") or "") is account
            ]
            if schedule_name is not None and not any(
                (mapping.details.get("scheduleName") or "").lower() == schedule_name.lower() for _c, mapping in enabled
            ):
                continue
            if enabled:
                found.append((vault, enabled))
        return found

    def _credential_problems(
        self, account: AutomationAccount, auth_type: str, vault: Vault, at: datetime.datetime
    ) -> list[dict[str, Any]]:
        state = self._world.state
        if auth_type.lower() == "systemassignedidentity":
            if not account.has_system_identity or not account.principal_id:
                return [
                    _health_error(
                        "ManagedIdentityNotEnabled",
                        at,
                        f"The system-assigned managed identity of automation account '{account.name}' is not enabled.",
                        "Enable the system-assigned managed identity on the automation account, then assign it the "
                        "Contributor role on the Recovery Services vault.",
                    )
                ]
            if not holds_role(state, account.principal_id, {CONTRIBUTOR, OWNER}, vault.id):
                return [
                    _health_error(
                        "ManagedIdentityUnauthorized",
                        at,
                        "The managed identity of the automation account does not have the permission to access the "
                        "recovery services resource.",
                        f"Assign the Contributor role on the Recovery Services vault '{vault.name}' to the system-assigned "
                        f"managed identity of automation account '{account.name}'.",
                    )
                ]
            return []
        return self._run_as_problems(account, vault, at)

    def _run_as_problems(self, account: AutomationAccount, vault: Vault, at: datetime.datetime) -> list[dict[str, Any]]:
        """Application, service principal, both assets and equal thumbprints, then expiry, then the role."""
        connection = account.connections.get(RUN_AS_CONNECTION.lower())
        certificate = account.certificates.get(RUN_AS_CERTIFICATE.lower())
        fields = connection.field_values if connection else {}
        principal = self._world.state.principal_by_client_id(fields.get("ApplicationId", ""))
        missing = [
            piece
            for piece, absent in (
                (
                    "Automation Connection asset of type AzureServicePrincipal",
                    connection is None or connection.connection_type != "AzureServicePrincipal",
                ),
                (
                    "Azure Active Directory Application / Service Principal",
                    connection is not None and principal is None,
                ),
                ("Automation Certificate asset", certificate is None),
                (
                    "the Thumbprint is not identical between Certificate and Connection",
                    connection is not None
                    and certificate is not None
                    and fields.get("CertificateThumbprint", "").upper() != certificate.thumbprint.upper(),
                ),
            )
            if absent
        ]
        retire = (
            "Run As accounts are retired: migrate the automation account to a system-assigned managed "
            "identity with the Contributor role on the vault."
        )
        renew = "Renew the certificate with Repair/Renew Certificate, or migrate to a managed identity."
        if missing or certificate is None or principal is None:
            return [
                _health_error(
                    "RunAsAccountNotFound",
                    at,
                    "Run As account is not found. Either one of these was deleted or not created - Azure Active "
                    "Directory Application, Service Principal, Role, Automation Certificate asset, Automation Connection "
                    "asset - or the Thumbprint is not identical between Certificate and Connection.",
                    retire,
                    possible_causes="; ".join(missing),
                )
            ]
        if certificate.expiry <= at:
            return [
                _health_error(
                    "RunAsCertificateExpired",
                    at,
                    "The Azure Run as Certificate used by the automation account has expired.",
                    renew,
                )
            ]
        if not holds_role(self._world.state, principal.object_id, {CONTRIBUTOR, OWNER}, vault.id):
            return [
                _health_error(
                    "RunAsAccountUnauthorized",
                    at,
                    "The Run As account does not have the permission to access the recovery services resource.",
                    retire,
                )
            ]
        if certificate.expiry - at <= CERTIFICATE_WARNING_WINDOW:
            return [
                _health_error(
                    "RunAsCertificateExpiring",
                    at,
                    "The Azure Run as Certificate used by the automation account is about to expire.",
                    renew,
                    level="Warning",
                )
            ]
        return []


def _health_error(
    code: str, at: datetime.datetime, message: str, recommended: str, *, possible_causes: str = "", level: str = "Error"
) -> dict[str, Any]:
    """A HealthError as Site Recovery reports it on a mapping (codes are the emulator's own names)."""
    return {
        "errorCode": code,
        "errorMessage": message,
        "summaryMessage": message,
        "possibleCauses": possible_causes or message,
        "recommendedAction": recommended,
        "errorSource": HEALTH_SOURCE,
        "errorType": "AutomationAccount",
        "errorLevel": level,
        "errorCategory": "Configuration",
        "errorId": str(uuid.uuid4()),
        "creationTimeUtc": iso(at),
        "recoveryProviderErrorMessage": "",
        "customerResolvability": "Allowed",
        "innerHealthErrors": [],
    }
