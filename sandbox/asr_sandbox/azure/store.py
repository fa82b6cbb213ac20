"""The emulated estate: tenant, subscriptions, principals, role assignments, automation accounts and vaults.

Every resource keeps the id it was created with (ARM returns that casing) and is filed under the
lowercased id or name, because ARM compares ids case-insensitively.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .arm import ArmError, resource_not_found

ASR_RUNBOOK = "MS-SR-Update-MobilityServiceForA2AVirtualMachines"


def account_path(subscription_id: str, resource_group: str, name: str) -> str:
    """An account's id; lowercased, it is the account's key."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Automation/automationAccounts/{name}"
    )


def vault_path(subscription_id: str, resource_group: str, name: str) -> str:
    """A vault's id (Recovery Services writes `/subscriptions/`); lowercased, it is the vault's key."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.RecoveryServices/vaults/{name}"
    )


@dataclass(eq=False)
class Principal:
    """A directory object that can hold roles: a service principal, a user or a managed identity."""

    object_id: str
    kind: str
    display_name: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    # Upper-case hex SHA-1 and SHA-256 thumbprints of registered certificates (client assertions).
    certificate_thumbprints: set[str] = field(default_factory=set)
    # time.monotonic() after which role assignments can see it (directory replication delay).
    visible_after: float = 0.0

    @property
    def replicated(self) -> bool:
        return time.monotonic() >= self.visible_after

    def public(self) -> dict[str, Any]:
        """What the admin API shows: never the secret itself."""
        return {
            "objectId": self.object_id,
            "kind": self.kind,
            "displayName": self.display_name,
            "clientId": self.client_id,
            "hasClientSecret": self.client_secret is not None,
            "certificateThumbprints": sorted(self.certificate_thumbprints),
            "replicated": self.replicated,
        }


@dataclass(eq=False)
class RoleAssignment:
    name: str
    scope: str
    role_definition_id: str
    principal_id: str
    principal_type: str
    created_on: datetime.datetime
    created_by: str | None = None
    description: str | None = None


@dataclass(eq=False)
class ResourceGroup:
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Subscription:
    subscription_id: str
    display_name: str
    resource_groups: dict[str, ResourceGroup] = field(default_factory=dict)


# ---- Microsoft.Automation -------------------------------------------------------------------------


@dataclass(eq=False)
class Runbook:
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
    job_schedule_id: str
    schedule_name: str
    runbook_name: str
    run_on: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Certificate:
    name: str
    thumbprint: str
    expiry: datetime.datetime
    created: datetime.datetime
    modified: datetime.datetime
    is_exportable: bool = False
    description: str = ""


@dataclass(eq=False)
class Connection:
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


@dataclass(eq=False)
class Job:
    job_id: str
    runbook_name: str
    started_by: str
    created: datetime.datetime
    start: datetime.datetime
    end: datetime.datetime
    status: str = "Running"
    outcome: JobOutcome = field(default_factory=JobOutcome)
    parameters: dict[str, str] = field(default_factory=dict)
    run_on: str = ""

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


@dataclass(eq=False)
class AutomationAccount:
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
    tags: dict[str, str] = field(default_factory=dict)
    runbooks: dict[str, Runbook] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    job_schedules: dict[str, JobSchedule] = field(default_factory=dict)
    certificates: dict[str, Certificate] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)

    @property
    def has_system_identity(self) -> bool:
        return bool(self.identity_type) and "systemassigned" in self.identity_type.replace(" ", "").lower()

    def job_schedules_of(self, schedule_name: str) -> list[JobSchedule]:
        return [link for link in self.job_schedules.values() if link.schedule_name.lower() == schedule_name.lower()]


# ---- Microsoft.RecoveryServices -------------------------------------------------------------------


@dataclass(eq=False)
class ProtectedItem:
    id: str
    name: str
    friendly_name: str
    # A2AReplicationDetails (agent version, expiry, update flags, ...), wire names.
    details: dict[str, Any]
    protection_state: str = "Protected"
    replication_health: str = "Normal"
    policy_friendly_name: str = ""
    recovery_container_id: str = ""


@dataclass(eq=False)
class ContainerMapping:
    id: str
    name: str
    instance_type: str
    state: str
    target_container_id: str
    policy_id: str
    # providerSpecificDetails, wire names (for A2A: agentAutoUpdateStatus, automationAccountArmId, ...).
    details: dict[str, Any]
    health_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def health(self) -> str:
        levels = {error.get("errorLevel") for error in self.health_errors}
        if "Error" in levels:
            return "Critical"
        return "Warning" if levels else "Normal"


@dataclass(eq=False)
class ProtectionContainer:
    id: str
    name: str
    friendly_name: str
    fabric_type: str
    mappings: dict[str, ContainerMapping] = field(default_factory=dict)
    items: dict[str, ProtectedItem] = field(default_factory=dict)


@dataclass(eq=False)
class Fabric:
    id: str
    name: str
    friendly_name: str
    location: str
    instance_type: str
    containers: dict[str, ProtectionContainer] = field(default_factory=dict)


@dataclass(eq=False)
class ReplicationJob:
    """A Site Recovery job (vault activity log), one per mapping operation."""

    id: str
    name: str
    scenario_name: str
    friendly_name: str
    state: str
    start: datetime.datetime
    end: datetime.datetime
    target_id: str
    target_name: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(eq=False)
class Vault:
    id: str
    subscription_id: str
    resource_group: str
    name: str
    location: str
    created: datetime.datetime
    sku: str = "RS0"
    tags: dict[str, str] = field(default_factory=dict)
    fabrics: dict[str, Fabric] = field(default_factory=dict)
    replication_jobs: dict[str, ReplicationJob] = field(default_factory=dict)

    @property
    def asr_prefix(self) -> str:
        """Site Recovery writes its child ids with a capital `/Subscriptions/`."""
        return "/Subscriptions/" + self.id.split("/", 2)[2]

    def containers(self) -> Iterator[tuple[Fabric, ProtectionContainer]]:
        for fabric in self.fabrics.values():
            for container in fabric.containers.values():
                yield fabric, container

    def mappings(self) -> Iterator[tuple[Fabric, ProtectionContainer, ContainerMapping]]:
        for fabric, container in self.containers():
            for mapping in container.mappings.values():
                yield fabric, container, mapping

    def items(self) -> Iterator[tuple[Fabric, ProtectionContainer, ProtectedItem]]:
        for fabric, container in self.containers():
            for item in container.items.values():
                yield fabric, container, item


@dataclass(eq=False)
class AsyncOperation:
    """A Site Recovery long-running operation, polled at `replicationOperationStatus/{name}`."""

    name: str
    vault_id: str
    mapping_id: str
    status: str
    start: datetime.datetime
    end: datetime.datetime
    error: dict[str, str] | None = None
    polls: int = 0
    removes: bool = False


@dataclass(eq=False)
class AzureState:
    tenant_id: str
    operator_object_id: str
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)
    role_assignments: dict[str, RoleAssignment] = field(default_factory=dict)
    accounts: dict[str, AutomationAccount] = field(default_factory=dict)
    vaults: dict[str, Vault] = field(default_factory=dict)
    operations: dict[str, AsyncOperation] = field(default_factory=dict)

    # Lookups that answer the way ARM does when something is missing.

    def subscription(self, subscription_id: str) -> Subscription:
        found = self.subscriptions.get(subscription_id.lower())
        if found is None:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
        return found

    def resource_group(self, subscription_id: str, name: str) -> ResourceGroup:
        found = self.subscription(subscription_id).resource_groups.get(name.lower())
        if found is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return found

    def account(self, subscription_id: str, resource_group: str, name: str) -> AutomationAccount:
        self.resource_group(subscription_id, resource_group)
        found = self.accounts.get(account_path(subscription_id, resource_group, name).lower())
        if found is None:
            raise resource_not_found(f"Microsoft.Automation/automationAccounts/{name}", resource_group)
        return found

    def account_by_id(self, arm_id: str) -> AutomationAccount | None:
        return self.accounts.get(arm_id.rstrip("/").lower())

    def vault(self, subscription_id: str, resource_group: str, name: str) -> Vault:
        self.resource_group(subscription_id, resource_group)
        found = self.vaults.get(vault_path(subscription_id, resource_group, name).lower())
        if found is None:
            raise resource_not_found(f"Microsoft.RecoveryServices/vaults/{name}", resource_group)
        return found

    def principal_by_client_id(self, client_id: str) -> Principal | None:
        for principal in self.principals.values():
            if principal.client_id and principal.client_id.lower() == client_id.lower():
                return principal
        return None
