"""An in-memory AzurePort with the Site Recovery behaviour the reconciler relies on.

Enabling auto-update on a mapping makes "Site Recovery" create a schedule `<mapping>_<guid>` (daily at
midnight in the zone of the mapping's source region) and a job schedule linking it to the global runbook, as
the real service does. Schedules refuse a start less than five minutes after the fake's clock. Any method can
be told to raise one of our errors (`fail`). A mapping update finishes in its answer (ARM's 200 with the
mapping) unless the test leaves the next ones running (`leave_mapping_updates_running`): those answer with a
status address that reads InProgress until `finish_mapping_updates` (or `end_mapping_updates`) ends them.
Every write is recorded in `writes`, so tests can assert that a pass wrote nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from asr_autoupdate.api.regions import region_time_zone
from asr_autoupdate.azure import port, wire
from asr_autoupdate.azure.errors import ConflictError, InvalidRequestError, NotFoundError

WRITES = {
    "put_automation_account",
    "delete_automation_account",
    "create_role_assignment",
    "delete_role_assignment",
    "begin_mapping_update",
    "put_schedule",
    "set_schedule_enabled",
}

FAKE_ARM = "https://fake-arm.invalid"


def _key(arm_id: str) -> str:
    return arm_id.strip("/").lower()


class FakeAzure:
    """State is kept by lower-cased ARM id, as ARM compares ids."""

    def __init__(self, clock: datetime) -> None:
        self.clock = clock
        self.vaults: dict[str, port.Vault] = {}
        self.accounts: dict[str, port.AutomationAccount] = {}
        self.role_assignments: list[port.RoleAssignment] = []
        self.mappings: dict[str, dict[str, port.Mapping]] = defaultdict(dict)
        self.schedules: dict[str, dict[str, port.Schedule]] = defaultdict(dict)
        self.job_schedules: dict[str, list[port.JobSchedule]] = defaultdict(list)
        self.certificates: dict[tuple[str, str], port.Certificate] = {}
        self.connections: dict[tuple[str, str], port.Connection] = {}
        self.protected_items: dict[str, list[port.ProtectedItem]] = defaultdict(list)
        self.jobs: dict[str, list[port.Job]] = defaultdict(list)
        self.calls: list[str] = []
        self.writes: list[str] = []
        self._faults: dict[str, list[Exception]] = defaultdict(list)
        self._running_updates = 0
        self._in_flight: dict[str, tuple[port.Mapping, dict]] = {}  # status url -> (mapping, change)
        self._ended: dict[str, port.OperationStatus] = {}
        self.fabrics: dict[str, list[port.Fabric]] = defaultdict(list)
        self._finish_during_mappings_read = False
        self.tags: dict[str, dict[str, str]] = {}  # vault key -> its Azure tags (what a fleet selects by)
        self._serial = itertools.count(1)

    # --- test controls -------------------------------------------------------------------------------------

    def fail(self, method: str, error: Exception, times: int = 1) -> None:
        """The next `times` calls of `method` raise `error` (an AzureError, or anything to stand for a crash)."""
        self._faults[method].extend([error] * times)

    def leave_mapping_updates_running(self, count: int) -> None:
        """The next `count` mapping updates answer with a status address: running until they are ended."""
        self._running_updates = count

    def finish_updates_while_mappings_are_read(self) -> None:
        """Site Recovery ends the running updates while the next mapping list is in flight: their change, and
        the schedules they make, land between the start and the end of that read."""
        self._finish_during_mappings_read = True

    def finish_mapping_updates(self, status: str = "Succeeded") -> None:
        """End every running update with `status`; a succeeding one (any but Failed) applies its change."""
        self.end_mapping_updates(status)

    def end_mapping_updates(self, status: str, error_code: str = "") -> None:
        for url, (mapping, change) in list(self._in_flight.items()):
            answer = port.OperationStatus(status=status, error_code=error_code)
            if not answer.failed:
                try:
                    self._apply(mapping, **change)
                except InvalidRequestError as refused:
                    answer = port.OperationStatus(status="Failed", error_code=refused.code)
            self._ended[url] = answer
            del self._in_flight[url]

    @property
    def updates_in_flight(self) -> int:
        return len(self._in_flight)

    def add_fabric(self, vault: port.VaultRef, name: str, location: str) -> None:
        self.fabrics[_key(vault.id)].append(port.Fabric(name=name, location=location))

    def guid(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._serial):012d}"

    # --- seeding -------------------------------------------------------------------------------------------

    def add_vault(self, vault: port.VaultRef, location: str, tags: dict[str, str] | None = None) -> port.Vault:
        seeded = port.Vault(id=vault.id, name=vault.name, location=location)
        self.vaults[_key(vault.id)] = seeded
        self.tags[_key(vault.id)] = dict(tags or {})
        return seeded

    def add_account(
        self, account: port.AccountRef, location: str, *, principal_id: str | None = "principal-1", tags=None
    ) -> port.AutomationAccount:
        seeded = port.AutomationAccount(account.id, account.name, location, principal_id, dict(tags or {}))
        self.accounts[_key(account.id)] = seeded
        return seeded

    def add_mapping(self, vault: port.VaultRef, name: str, *, fabric: str = "fabric1", **fields) -> port.Mapping:
        values = dict(
            instance_type="A2A",
            state="Paired",
            auto_update="Disabled",
            automation_account_id=None,
            authentication_type=None,
            schedule_name=None,
            job_schedule_name=None,
        )
        values.update(fields)
        mapping_id = (
            vault.id.replace("/subscriptions/", "/Subscriptions/")
            + f"/replicationFabrics/{fabric}/replicationProtectionContainers/container1"
            + f"/replicationProtectionContainerMappings/{name}"
        )
        mapping = port.Mapping(id=mapping_id, name=name, **values)
        self.mappings[_key(vault.id)][name] = mapping
        return mapping

    def add_schedule(self, account: port.AccountRef, schedule: port.Schedule) -> None:
        self.schedules[_key(account.id)][schedule.name.lower()] = schedule

    def add_role_assignment(self, scope: str, principal_id: str, role_guid: str) -> port.RoleAssignment:
        subscription = scope.split("/")[2]
        assignment = port.RoleAssignment(
            id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/{self.guid()}",
            scope=scope,
            role_definition_id=(
                f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"
            ),
            principal_id=principal_id,
        )
        self.role_assignments.append(assignment)
        return assignment

    # --- AzurePort -----------------------------------------------------------------------------------------

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if method in WRITES:
            self.writes.append(method)
        if self._faults[method]:
            raise self._faults[method].pop(0)

    async def get_vault(self, vault: port.VaultRef) -> port.Vault | None:
        self._enter("get_vault")
        return self.vaults.get(_key(vault.id))

    async def list_vaults(self, subscription_id: str) -> list[port.DiscoveredVault]:
        self._enter("list_vaults")
        # the list's items as ARM sends them, read by the adapter's own parser
        return [
            wire.parse_discovered_vault(
                {
                    "id": vault.id,
                    "name": vault.name,
                    "type": "Microsoft.RecoveryServices/vaults",
                    "location": vault.location,
                    "tags": dict(self.tags.get(key, {})),
                },
                subscription_id,
            )
            for key, vault in self.vaults.items()
            if vault.id.strip("/").split("/")[1].lower() == subscription_id.lower()
        ]

    def azure_now(self) -> datetime:
        return self.clock

    async def get_automation_account(self, account: port.AccountRef) -> port.AutomationAccount | None:
        self._enter("get_automation_account")
        return self.accounts.get(_key(account.id))

    async def put_automation_account(
        self, account: port.AccountRef, *, location: str, tags: dict[str, str]
    ) -> port.AutomationAccount:
        self._enter("put_automation_account")
        existing = self.accounts.get(_key(account.id))
        principal = existing.principal_id if existing and existing.principal_id else f"principal-{self.guid()}"
        return self.add_account(account, location, principal_id=principal, tags=tags)

    async def delete_automation_account(self, account: port.AccountRef) -> None:
        self._enter("delete_automation_account")
        if self.accounts.pop(_key(account.id), None) is None:
            raise NotFoundError("not found", status=404, code="ResourceNotFound")
        self.schedules.pop(_key(account.id), None)
        self.job_schedules.pop(_key(account.id), None)

    async def list_role_assignments(self, scope: str, principal_id: str) -> list[port.RoleAssignment]:
        self._enter("list_role_assignments")
        return [
            assignment
            for assignment in self.role_assignments
            if assignment.principal_id == principal_id
            and (_key(scope) == _key(assignment.scope) or _key(scope).startswith(_key(assignment.scope) + "/"))
        ]

    async def create_role_assignment(self, scope: str, principal_id: str, role_guid: str) -> port.RoleAssignment:
        self._enter("create_role_assignment")
        for assignment in self.role_assignments:
            same = _key(assignment.scope) == _key(scope) and assignment.principal_id == principal_id
            if same and assignment.role_guid == role_guid:
                return assignment
        return self.add_role_assignment(scope, principal_id, role_guid)

    async def delete_role_assignment(self, assignment_id: str) -> None:
        self._enter("delete_role_assignment")
        kept = [a for a in self.role_assignments if _key(a.id) != _key(assignment_id)]
        if len(kept) == len(self.role_assignments):
            raise NotFoundError("not found", status=404, code="RoleAssignmentNotFound")
        self.role_assignments = kept

    async def list_mappings(self, vault: port.VaultRef) -> list[port.Mapping]:
        self._enter("list_mappings")
        if self._finish_during_mappings_read:
            self._finish_during_mappings_read = False
            await asyncio.sleep(0)  # the read is in flight (other reads may run meanwhile)...
            self.finish_mapping_updates()  # ...when the operations end
        if _key(vault.id) not in self.vaults:
            raise NotFoundError("vault not found", status=404, code="ResourceNotFound")
        return list(self.mappings[_key(vault.id)].values())

    async def list_fabrics(self, vault: port.VaultRef) -> list[port.Fabric]:
        self._enter("list_fabrics")
        return list(self.fabrics[_key(vault.id)])

    async def begin_mapping_update(
        self,
        mapping: port.Mapping,
        *,
        enabled: bool,
        automation_account_id: str | None,
        authentication_type: str | None,
    ) -> port.MappingUpdate:
        self._enter("begin_mapping_update")
        change = dict(
            enabled=enabled, automation_account_id=automation_account_id, authentication_type=authentication_type
        )
        if any(_key(running.id) == _key(mapping.id) for running, _ in self._in_flight.values()):
            raise ConflictError("another operation is in progress", status=409, code="AnotherOperationInProgress")
        if self._running_updates:
            self._running_updates -= 1
            vault_id = mapping.id.split("/replicationFabrics/")[0]
            url = f"{FAKE_ARM}{vault_id}/replicationOperationStatus/{self.guid()}?api-version=x"
            self._in_flight[url] = (mapping, change)
            return port.MappingUpdate(status_url=url, retry_after=30.0)
        return port.MappingUpdate(status_url=None, mapping=self._apply(mapping, **change))

    async def get_operation_status(self, vault: port.VaultRef, status_url: str) -> port.OperationStatus:
        self._enter("get_operation_status")
        if status_url in self._in_flight:
            return port.OperationStatus(status="InProgress", retry_after=30.0)
        if status_url in self._ended:
            return self._ended[status_url]
        raise NotFoundError("no such operation", status=404, code="NotFound")

    def _apply(self, mapping: port.Mapping, *, enabled, automation_account_id, authentication_type) -> port.Mapping:
        """Site Recovery's side: enabling with an account makes it create that account's schedule."""
        vault_key = _key(mapping.id.split("/replicationFabrics/")[0])
        current = self.mappings[vault_key][mapping.name]
        schedule_name, job_schedule_name = current.schedule_name, current.job_schedule_name
        if enabled:
            account = self.accounts.get(_key(automation_account_id or ""))
            if account is None:
                raise InvalidRequestError("account not found", status=400, code="AutomationAccountNotFound")
            if schedule_name is None or _key(account.id) != _key(current.automation_account_id or ""):
                schedule_name, job_schedule_name = self._create_site_recovery_schedule(account, mapping.name, vault_key)
        updated = dataclasses.replace(
            current,
            auto_update="Enabled" if enabled else "Disabled",
            automation_account_id=automation_account_id,
            authentication_type=authentication_type,
            schedule_name=schedule_name,
            job_schedule_name=job_schedule_name,
            health_errors=(),
        )
        self.mappings[vault_key][mapping.name] = updated
        return updated

    def _create_site_recovery_schedule(
        self, account: port.AutomationAccount, mapping_name: str, vault_key: str
    ) -> tuple[str, str]:
        source = next((fabric.location for fabric in self.fabrics[vault_key] if fabric.name.lower() == "fabric1"), None)
        zone_name = region_time_zone(source or self.vaults[vault_key].location) or "UTC"
        local_midnight = datetime.combine(
            self.clock.astimezone(zoneinfo.ZoneInfo(zone_name)).date(), datetime.min.time()
        ).replace(tzinfo=zoneinfo.ZoneInfo(zone_name))
        name = f"{mapping_name}_{self.guid()}"
        start = local_midnight.astimezone(UTC)
        self.schedules[_key(account.id)][name.lower()] = port.Schedule(
            name=name,
            start_time=start,
            frequency="Day",
            interval=1,
            time_zone=zone_name,
            next_run=start + timedelta(days=1),
        )
        job_schedule = port.JobSchedule(id=self.guid(), schedule_name=name, runbook_name=port.SITE_RECOVERY_RUNBOOK)
        self.job_schedules[_key(account.id)].append(job_schedule)
        return name, job_schedule.id

    async def list_schedules(self, account: port.AccountRef) -> list[port.Schedule]:
        self._enter("list_schedules")
        return list(self.schedules[_key(account.id)].values())

    async def put_schedule(self, account: port.AccountRef, schedule: port.ScheduleSpec) -> port.Schedule:
        self._enter("put_schedule")
        if schedule.start_time < self.clock + timedelta(minutes=5):
            raise InvalidRequestError(
                "The start time of the schedule must be at least 5 minutes after the time you create the schedule.",
                status=400,
                code="BadRequest",
            )
        existing = self.schedules[_key(account.id)].get(schedule.name.lower())
        written = port.Schedule(
            name=schedule.name,
            start_time=schedule.start_time,
            frequency=schedule.frequency,
            interval=schedule.interval,
            time_zone=schedule.time_zone,
            week_days=schedule.week_days,
            next_run=schedule.start_time,
            is_enabled=existing.is_enabled if existing else True,
        )
        self.schedules[_key(account.id)][schedule.name.lower()] = written
        return written

    async def set_schedule_enabled(self, account: port.AccountRef, name: str, *, enabled: bool) -> port.Schedule:
        self._enter("set_schedule_enabled")
        schedules = self.schedules[_key(account.id)]
        if name.lower() not in schedules:
            raise NotFoundError("schedule not found", status=404, code="NotFound")
        schedules[name.lower()] = dataclasses.replace(schedules[name.lower()], is_enabled=enabled)
        return schedules[name.lower()]

    async def list_job_schedules(self, account: port.AccountRef) -> list[port.JobSchedule]:
        self._enter("list_job_schedules")
        return list(self.job_schedules[_key(account.id)])

    async def get_certificate(self, account: port.AccountRef, name: str) -> port.Certificate | None:
        self._enter("get_certificate")
        return self.certificates.get((_key(account.id), name))

    async def get_connection(self, account: port.AccountRef, name: str) -> port.Connection | None:
        self._enter("get_connection")
        return self.connections.get((_key(account.id), name))

    async def list_protected_items(self, vault: port.VaultRef) -> list[port.ProtectedItem]:
        self._enter("list_protected_items")
        return list(self.protected_items[_key(vault.id)])

    async def list_jobs(self, account: port.AccountRef, *, runbook_name: str, since: datetime) -> list[port.Job]:
        self._enter("list_jobs")
        return [
            job
            for job in self.jobs[_key(account.id)]
            if job.runbook_name == runbook_name and job.start_time is not None and job.start_time >= since
        ]
