"""The narrow port between the reconciler and Azure, in the project's own words.

The reconciler speaks only to `AzurePort`; `client.py` implements it over the Azure SDK and tests fake it.
Keeping the shapes here (plain frozen dataclasses, no SDK models) is what lets `reconcile/` stay free of the
SDK and lets the plan and report be pure functions over values.

Every method is idempotent and raises only `asr_autoupdate.azure.errors.AzureError` subclasses.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import ClassVar, Protocol

SITE_RECOVERY_RUNBOOK = "MS-SR-Update-MobilityServiceForA2AVirtualMachines"
CONTRIBUTOR_ROLE = "b24988ac-6180-42a0-ab88-20f7382dd24c"
OWNER_ROLE = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
RUN_AS_CERTIFICATE = "AzureRunAsCertificate"
RUN_AS_CONNECTION = "AzureRunAsConnection"


def same_id(left: str | None, right: str | None) -> bool:
    """ARM IDs come back with varying case (`/Subscriptions/` from Site Recovery); compare them as ARM does."""
    if left is None or right is None:
        return left is right
    return left.strip("/").lower() == right.strip("/").lower()


@dataclasses.dataclass(frozen=True)
class ResourceRef:
    """A resource named by subscription, resource group and name; `provider` is its ARM type."""

    subscription_id: str
    resource_group: str
    name: str
    provider: ClassVar[str] = ""

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{self.provider}/{self.name}"
        )


class VaultRef(ResourceRef):
    provider = "Microsoft.RecoveryServices/vaults"


class AccountRef(ResourceRef):
    provider = "Microsoft.Automation/automationAccounts"


@dataclasses.dataclass(frozen=True)
class Vault:
    id: str
    name: str
    location: str


@dataclasses.dataclass(frozen=True)
class DiscoveredVault:
    """A Recovery Services vault as a subscription's vault list shows it: what a fleet selects vaults by."""

    id: str
    name: str
    resource_group: str
    subscription_id: str
    location: str
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class AutomationAccount:
    id: str
    name: str
    location: str
    principal_id: str | None  # the system-assigned identity's object id; None when the identity is off
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RoleAssignment:
    id: str
    scope: str
    role_definition_id: str  # full ARM id; its last segment is the role GUID
    principal_id: str

    @property
    def role_guid(self) -> str:
        return self.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


@dataclasses.dataclass(frozen=True)
class HealthError:
    """A mapping's health error as Site Recovery reports it; `level` is its errorLevel (Error or Warning)."""

    code: str
    message: str
    recommended_action: str = ""
    level: str = "Error"
    possible_causes: str = ""

    @property
    def is_warning(self) -> bool:
        return self.level.lower() == "warning"


# The spellings of Azure's enums as the port hands them on (the wire parser normalizes their case), so the
# reconciler compares them exactly.
INSTANCE_TYPES = ("A2A",)
MAPPING_STATES = ("Paired", "Unpaired", "Pairing", "Unpairing")
AUTO_UPDATE_STATES = ("Enabled", "Disabled")
AUTHENTICATION_TYPES = ("SystemAssignedIdentity", "RunAsAccount")
FREQUENCIES = ("OneTime", "Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CONNECTION_TYPES = ("AzureServicePrincipal",)


@dataclasses.dataclass(frozen=True)
class Mapping:
    """An A2A (or other) protection-container mapping: where Site Recovery keeps the auto-update setting."""

    id: str
    name: str
    instance_type: str | None  # "A2A" for Azure-to-Azure
    state: str | None  # "Paired" when usable
    auto_update: str | None  # "Enabled" | "Disabled"
    automation_account_id: str | None
    authentication_type: str | None  # "SystemAssignedIdentity" | "RunAsAccount"
    schedule_name: str | None
    job_schedule_name: str | None
    health_errors: tuple[HealthError, ...] = ()

    @property
    def manageable(self) -> bool:
        return self.instance_type == "A2A" and self.state == "Paired"

    @property
    def fabric_name(self) -> str | None:
        """The source fabric (the replicated VMs' region) the mapping's container belongs to, from its id."""
        parts = [part for part in self.id.split("/") if part]
        lowered = [part.lower() for part in parts]
        if "replicationfabrics" not in lowered:
            return None
        index = lowered.index("replicationfabrics") + 1
        return parts[index] if index < len(parts) else None


@dataclasses.dataclass(frozen=True)
class Fabric:
    """A Site Recovery fabric: for Azure-to-Azure, one Azure region of the vault's replication."""

    name: str
    location: str | None


# Site Recovery operation statuses (compared case-insensitively). azure-core's poller knows only the first
# three terminal ones and would loop forever on the others, so the operator polls them itself.
OPERATION_SUCCEEDED = frozenset({"succeeded", "partiallysucceeded", "completedwithinformation"})
OPERATION_FAILED = frozenset({"failed", "canceled", "cancelled"})
OPERATION_RUNNING = frozenset({"inprogress", "notstarted", "running", "accepted"})


@dataclasses.dataclass(frozen=True)
class MappingUpdate:
    """A mapping update Azure accepted: `status_url` (its Azure-AsyncOperation address) to poll after
    `retry_after` seconds; None with `mapping` when Azure finished it in the answer itself."""

    status_url: str | None
    retry_after: float | None = None
    mapping: Mapping | None = None


@dataclasses.dataclass(frozen=True)
class OperationStatus:
    """One poll of a long-running operation's status address."""

    status: str  # as Azure wrote it: InProgress, Succeeded, Failed, PartiallySucceeded, ...
    retry_after: float | None = None
    error_code: str = ""
    error_message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status.lower() in OPERATION_SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.status.lower() in OPERATION_FAILED

    @property
    def running(self) -> bool:
        """Neither succeeded nor failed: InProgress, NotStarted, and any status Azure may add later."""
        return not (self.succeeded or self.failed)


@dataclasses.dataclass(frozen=True)
class Schedule:
    name: str
    start_time: datetime | None
    frequency: str | None
    interval: int | None
    time_zone: str | None
    week_days: tuple[str, ...] = ()
    next_run: datetime | None = None
    is_enabled: bool = True


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """What a schedule should be; `start_time` is absolute (UTC-aware) and at least 5 minutes ahead."""

    name: str
    start_time: datetime
    frequency: str
    interval: int
    time_zone: str
    week_days: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class JobSchedule:
    id: str  # the GUID (jobScheduleId)
    schedule_name: str | None
    runbook_name: str | None


@dataclasses.dataclass(frozen=True)
class Certificate:
    name: str
    thumbprint: str | None
    expiry_time: datetime | None


@dataclasses.dataclass(frozen=True)
class Connection:
    """An Automation connection asset; for Run As its fields are ids and a thumbprint, never a secret."""

    name: str
    connection_type: str | None
    fields: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ProtectedItem:
    id: str
    name: str
    agent_version: str | None
    update_required: bool
    upgrade_in_progress: bool
    agent_expiry: datetime | None = None
    certificate_expiry: datetime | None = None
    replication_health: str | None = None  # Normal | Warning | Critical, as Site Recovery reports it


@dataclasses.dataclass(frozen=True)
class Job:
    id: str
    runbook_name: str | None
    status: str | None
    start_time: datetime | None
    end_time: datetime | None


class AzurePort(Protocol):
    """What the reconciler needs from Azure, and nothing more."""

    async def get_vault(self, vault: VaultRef) -> Vault | None: ...

    async def list_vaults(self, subscription_id: str) -> list[DiscoveredVault]:
        """Every Recovery Services vault of the subscription (all pages)."""
        ...

    def azure_now(self) -> datetime:
        """Azure's clock (the `Date` of ARM's latest answer, carried forward): what rollout soaks are timed on."""
        ...

    async def get_automation_account(self, account: AccountRef) -> AutomationAccount | None: ...

    async def put_automation_account(
        self, account: AccountRef, *, location: str, tags: dict[str, str]
    ) -> AutomationAccount:
        """Create, or update in place, with a system-assigned identity (PUT is idempotent)."""
        ...

    async def delete_automation_account(self, account: AccountRef) -> None: ...

    async def list_role_assignments(self, scope: str, principal_id: str) -> list[RoleAssignment]:
        """Assignments of `principal_id` that apply at `scope` (inherited ones included)."""
        ...

    async def create_role_assignment(self, scope: str, principal_id: str, role_guid: str) -> RoleAssignment:
        """Idempotent: an existing equal assignment (409 RoleAssignmentExists) is returned, not raised."""
        ...

    async def delete_role_assignment(self, assignment_id: str) -> None: ...

    async def list_mappings(self, vault: VaultRef) -> list[Mapping]: ...

    async def list_fabrics(self, vault: VaultRef) -> list[Fabric]: ...

    async def begin_mapping_update(
        self,
        mapping: Mapping,
        *,
        enabled: bool,
        automation_account_id: str | None,
        authentication_type: str | None,
    ) -> MappingUpdate:
        """Send the update (one PATCH) and return at once with where to follow it; never waits for it."""
        ...

    async def get_operation_status(self, vault: VaultRef, status_url: str) -> OperationStatus:
        """Poll an operation of `vault` at the address Azure gave; refuses an address that is not the ARM
        endpoint's or not the vault's (it may come from a policy's status, which others can write)."""
        ...

    async def list_schedules(self, account: AccountRef) -> list[Schedule]: ...

    async def put_schedule(self, account: AccountRef, schedule: ScheduleSpec) -> Schedule:
        """Rewrite a schedule under the same name (Site Recovery's names stay valid)."""
        ...

    async def set_schedule_enabled(self, account: AccountRef, name: str, *, enabled: bool) -> Schedule:
        """Pause or resume a schedule (PATCH isEnabled: the only way Automation toggles one)."""
        ...

    async def list_job_schedules(self, account: AccountRef) -> list[JobSchedule]: ...

    async def get_certificate(self, account: AccountRef, name: str) -> Certificate | None: ...

    async def get_connection(self, account: AccountRef, name: str) -> Connection | None: ...

    async def list_protected_items(self, vault: VaultRef) -> list[ProtectedItem]: ...

    async def list_jobs(self, account: AccountRef, *, runbook_name: str, since: datetime) -> list[Job]: ...
