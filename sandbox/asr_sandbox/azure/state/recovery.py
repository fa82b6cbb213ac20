"""Microsoft.RecoveryServices' data: vaults, and Site Recovery's fabrics, containers, mappings and items.

Site Recovery's own details (a mapping's providerSpecificDetails, an item's A2AReplicationDetails) are kept in
their wire names: they are what the operator reads, and the emulator only ever changes a few fields of them.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


def vault_path(subscription_id: str, resource_group: str, name: str) -> str:
    """A vault's id (Recovery Services writes `/subscriptions/`); lowercased, it is the vault's key."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.RecoveryServices/vaults/{name}"
    )


def new_mapping_details(instance_type: str) -> dict[str, Any]:
    """A2A mappings start with auto-update off and the swagger's default authentication type."""
    if instance_type != "A2A":
        return {"instanceType": instance_type}
    return {
        "instanceType": "A2A",
        "agentAutoUpdateStatus": "Disabled",
        "automationAccountArmId": None,
        "automationAccountAuthenticationType": "RunAsAccount",
        "scheduleName": None,
        "jobScheduleName": None,
    }


@dataclass(eq=False)
class ProtectedItem:
    """A replicated VM; its Mobility agent's state is in `details`."""

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
    """A pairing of two protection containers under a policy: where auto-update is set."""

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
        """Derived from the health errors, as the portal shows it."""
        levels = {error.get("errorLevel") for error in self.health_errors}
        if "Error" in levels:
            return "Critical"
        return "Warning" if levels else "Normal"


@dataclass(eq=False)
class ProtectionContainer:
    """A container of protected items in one fabric."""

    id: str
    name: str
    friendly_name: str
    fabric_type: str
    mappings: dict[str, ContainerMapping] = field(default_factory=dict)
    items: dict[str, ProtectedItem] = field(default_factory=dict)


@dataclass(eq=False)
class Fabric:
    """A site (an Azure region, or a VMware site) of a vault."""

    id: str
    name: str
    friendly_name: str
    location: str
    instance_type: str
    containers: dict[str, ProtectionContainer] = field(default_factory=dict)


@dataclass(eq=False)
class ReplicationJob:
    """A Site Recovery job (vault activity log), one per mapping operation; no end while it is InProgress."""

    id: str
    name: str
    scenario_name: str
    friendly_name: str
    state: str
    start: datetime.datetime
    end: datetime.datetime | None
    target_id: str
    target_name: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(eq=False)
class Vault:
    """A Recovery Services vault and Site Recovery's objects under it."""

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
    # A test's switch (admin API): every update run covering this vault fails, its agents left as they are.
    fail_update_jobs: bool = False
    # The exception those runs end with; None: the emulator's default wording (it names the run's item count).
    update_failure_message: str | None = None

    @property
    def asr_prefix(self) -> str:
        """Site Recovery writes its child ids with a capital `/Subscriptions/`."""
        return "/Subscriptions/" + self.id.split("/", 2)[2]

    def containers(self) -> Iterator[tuple[Fabric, ProtectionContainer]]:
        """Every container with its fabric."""
        for fabric in self.fabrics.values():
            for container in fabric.containers.values():
                yield fabric, container

    def mappings(self) -> Iterator[tuple[Fabric, ProtectionContainer, ContainerMapping]]:
        """Every mapping with its fabric and container (the vault-wide list calls)."""
        for fabric, container in self.containers():
            for mapping in container.mappings.values():
                yield fabric, container, mapping

    def items(self) -> Iterator[tuple[Fabric, ProtectionContainer, ProtectedItem]]:
        """Every protected item with its fabric and container."""
        for fabric, container in self.containers():
            for item in container.items.values():
                yield fabric, container, item

    def container_by_id(self, container_id: str) -> tuple[Fabric, ProtectionContainer] | None:
        """Mappings and items name their partner container by id only."""
        for fabric, container in self.containers():
            if container.id.lower() == container_id.lower():
                return fabric, container
        return None


@dataclass(eq=False)
class AsyncOperation:
    """A Site Recovery long-running operation, polled at `replicationOperationStatus/{name}`.

    It runs from `start` to `due` on the emulated clock (`due` None: it never ends) and only then does `change`
    happen to the estate; `outcome` is how it will end, fixed when it starts.
    """

    name: str
    vault_id: str
    mapping_id: str
    mapping_name: str
    start: datetime.datetime
    due: datetime.datetime | None
    outcome: str
    job: ReplicationJob
    change: Callable[[datetime.datetime], None] = field(repr=False)
    status: str = "InProgress"
    end: datetime.datetime | None = None
    error: dict[str, str] | None = None

    @property
    def running(self) -> bool:
        """Until it settles; a NeverEnds operation runs for good."""
        return self.status == "InProgress"


class OperationsInFlight:
    """The operations still running: by due time (to settle those whose time has come, in order, without
    looking at the rest of the estate) and by mapping (Site Recovery runs one operation per mapping at a time)."""

    def __init__(self) -> None:
        self._by_due: list[tuple[datetime.datetime, int, AsyncOperation]] = []
        self._by_mapping: dict[str, AsyncOperation] = {}
        self._order = itertools.count()

    def add(self, operation: AsyncOperation) -> None:
        """Track it; one that never ends only blocks its mapping."""
        self._by_mapping[operation.mapping_id.lower()] = operation
        if operation.due is not None:
            heapq.heappush(self._by_due, (operation.due, next(self._order), operation))

    def of_mapping(self, mapping_id: str) -> AsyncOperation | None:
        """The operation running on a mapping, if any."""
        return self._by_mapping.get(mapping_id.lower())

    def pop_due(self, now: datetime.datetime) -> Iterator[AsyncOperation]:
        """Take out, earliest first, every operation due at or before `now`."""
        while self._by_due and self._by_due[0][0] <= now:
            operation = heapq.heappop(self._by_due)[2]
            self._by_mapping.pop(operation.mapping_id.lower(), None)
            yield operation

    def __iter__(self) -> Iterator[AsyncOperation]:
        return iter(list(self._by_mapping.values()))
