"""The values the reconcile steps hand to each other: what Azure said, what to change, how it went.

All of them are plain frozen values so that `plan` and `report` stay pure functions that tests can feed from a
table, and so that an observation can be compared and printed.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from asr_autoupdate.api.conditions import ConditionType
from asr_autoupdate.api.reasons import Reason, RetryKind
from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import AzureError


@dataclasses.dataclass(frozen=True)
class PolicyInput:
    """What the handler layer knows about one MobilityUpdatePolicy object; reconcile needs nothing else."""

    namespace: str
    name: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    repair_token: str | None = None  # the value of the asr.autoupdate.dev/repair annotation

    @property
    def conditions(self) -> list[Mapping[str, Any]]:
        return list(self.status.get("conditions") or [])

    @property
    def repair_requested(self) -> bool:
        """A repair token that no finished repair pass has answered yet."""
        done = (self.status.get("lastRepair") or {}).get("token")
        return self.repair_token is not None and self.repair_token != done


class Part(enum.StrEnum):
    """One read of the observation; its value completes "Azure could not ..." in messages."""

    VAULT = "read the Recovery Services vault"
    AUTOMATION_ACCOUNT = "read the automation account"
    ROLE_ASSIGNMENTS = "list the role assignments of the account's identity on the vault"
    MAPPINGS = "list the vault's protection-container mappings"
    SCHEDULES = "list the automation account's schedules"
    JOB_SCHEDULES = "list the automation account's job schedules"
    RUN_AS_CERTIFICATE = "read certificate AzureRunAsCertificate"
    RUN_AS_CONNECTION = "read connection AzureRunAsConnection"
    PROTECTED_ITEMS = "list the vault's protected items"
    JOBS = "list the Site Recovery runbook's jobs"
    FABRICS = "list the vault's replication fabrics"


# What cleanup must have read before it may change anything: deleting the account while a mapping that
# could not be read still points at it would break that mapping.
CLEANUP_PARTS = (Part.VAULT, Part.AUTOMATION_ACCOUNT, Part.MAPPINGS, Part.ROLE_ASSIGNMENTS)

# Parts that only inform (agents, job minutes) and change slowly: read at most once per drift interval and
# otherwise taken from the policy's last observation. Every other part is read on every pass.
# Fabrics (each mapping's source region, for its time zone) never change: read when a mapping names one not
# known yet, and only while a schedule without a time zone asks for the source regions' zones.
SLOW_PARTS = frozenset({Part.PROTECTED_ITEMS, Part.JOBS, Part.FABRICS})
FAST_PARTS = frozenset(Part) - SLOW_PARTS
# Parts read through the automation account: reading the account again means reading these again too.
ACCOUNT_PARTS = frozenset(
    {Part.ROLE_ASSIGNMENTS, Part.SCHEDULES, Part.JOB_SCHEDULES, Part.RUN_AS_CERTIFICATE, Part.RUN_AS_CONNECTION}
)


@dataclasses.dataclass(frozen=True)
class Observation:
    """What Azure said in one pass; a read that failed is in `failures`, and its field keeps the default."""

    vault: port.Vault | None = None
    automation_account: port.AutomationAccount | None = None
    role_assignments: tuple[port.RoleAssignment, ...] = ()
    mappings: tuple[port.Mapping, ...] = ()
    schedules: tuple[port.Schedule, ...] = ()
    job_schedules: tuple[port.JobSchedule, ...] = ()
    run_as_certificate: port.Certificate | None = None
    run_as_connection: port.Connection | None = None
    protected_items: tuple[port.ProtectedItem, ...] = ()
    jobs: tuple[port.Job, ...] = ()
    fabrics: tuple[port.Fabric, ...] = ()
    failures: Mapping[Part, AzureError] = dataclasses.field(default_factory=dict)
    read_at: Mapping[Part, datetime] = dataclasses.field(default_factory=dict)  # parts taken over keep their time
    # the automation account's schedules (name, next run) when `jobs` was read: a schedule that has run since
    # has moved its next run, which is how a later pass knows the jobs list has changed
    jobs_schedule_marks: tuple[tuple[str, datetime | None], ...] | None = None

    @property
    def known_vault(self) -> port.Vault:
        """The vault, where the vault gate has let the pass through: plan and report judge nothing without it."""
        if self.vault is None:
            raise AssertionError("judged a vault that was not found")
        return self.vault

    @property
    def known_account(self) -> port.AutomationAccount:
        """The automation account, where it is known to exist (`desired.account_usable` said so)."""
        if self.automation_account is None:
            raise AssertionError("judged an automation account that was not found")
        return self.automation_account

    @property
    def manageable_mappings(self) -> list[port.Mapping]:
        return sorted((mapping for mapping in self.mappings if mapping.manageable), key=lambda m: m.name)

    def schedule(self, name: str) -> port.Schedule | None:
        """Automation names are case-insensitive."""
        return next((s for s in self.schedules if s.name.lower() == name.lower()), None)

    def source_region(self, mapping: port.Mapping) -> str | None:
        """The region of the mapping's source fabric (where its replicated VMs run), when the fabrics are known."""
        fabric = (mapping.fabric_name or "").lower()
        return next((f.location for f in self.fabrics if f.name.lower() == fabric and fabric), None)


class Action:
    """One change to Azure. `condition` is the condition it serves, `event` the Event reason it leaves,
    `refusal` the reason reported when Azure refuses it for a cause a person has to fix."""

    condition: ClassVar[ConditionType]
    event: ClassVar[Reason]
    refusal: ClassVar[Reason] = Reason.AZURE_REQUEST_FAILED
    touches: ClassVar[frozenset[Part]] = FAST_PARTS  # what to read again after it ran

    @property
    def todo(self) -> str:
        """The change as an imperative phrase ("create automation account aa1 in westeurope")."""
        raise NotImplementedError

    @property
    def fields(self) -> dict[str, str]:
        """The names its Event and refusal messages are formatted with."""
        raise NotImplementedError

    @property
    def needs(self) -> str:
        """The role, and where, the operator's identity needs for this change (InsufficientPermissions says it)."""
        return "Contributor on the vault"


@dataclasses.dataclass(frozen=True)
class CreateAccount(Action):
    account: port.AccountRef
    location: str
    tags: Mapping[str, str]
    condition = ConditionType.AUTOMATION_ACCOUNT_READY
    event = Reason.AUTOMATION_ACCOUNT_CREATED
    refusal = Reason.AUTOMATION_ACCOUNT_CONFLICT
    touches = frozenset({Part.AUTOMATION_ACCOUNT})

    @property
    def todo(self) -> str:
        return f"create automation account {self.account.name} in {self.location}"

    @property
    def needs(self) -> str:
        return f"Contributor on resource group {self.account.resource_group}"

    @property
    def fields(self) -> dict[str, str]:
        return {"account": self.account.name, "location": self.location}


@dataclasses.dataclass(frozen=True)
class EnableIdentity(Action):
    """Turn on the system-assigned identity by putting the account again, its tags kept."""

    account: port.AccountRef
    location: str
    tags: Mapping[str, str]
    condition = ConditionType.AUTOMATION_ACCOUNT_READY
    event = Reason.IDENTITY_ENABLED
    refusal = Reason.AUTOMATION_ACCOUNT_CONFLICT
    touches = frozenset({Part.AUTOMATION_ACCOUNT})

    @property
    def todo(self) -> str:
        return f"turn on the system-assigned identity of automation account {self.account.name}"

    @property
    def needs(self) -> str:
        return f"Contributor on automation account {self.account.name}"

    @property
    def fields(self) -> dict[str, str]:
        return {"account": self.account.name}


@dataclasses.dataclass(frozen=True)
class GrantRole(Action):
    """`force` (a repair) puts the assignment even when the identity already holds the role."""

    scope: str
    principal_id: str
    role_guid: str = port.CONTRIBUTOR_ROLE
    force: bool = False
    condition = ConditionType.CREDENTIALS_HEALTHY
    event = Reason.ROLE_ASSIGNED
    touches = frozenset({Part.ROLE_ASSIGNMENTS})

    @property
    def todo(self) -> str:
        return f"grant Contributor on the vault to the automation account's identity {self.principal_id}"

    @property
    def needs(self) -> str:
        return "Owner or User Access Administrator on the vault"

    @property
    def fields(self) -> dict[str, str]:
        return {"principal": self.principal_id}


@dataclasses.dataclass(frozen=True)
class UpdateMapping(Action):
    mapping: port.Mapping
    enabled: bool
    automation_account_id: str | None
    authentication_type: str | None
    condition = ConditionType.MAPPINGS_CONFIGURED
    event = Reason.MAPPING_UPDATED
    refusal = Reason.MAPPING_UPDATE_FAILED
    touches = frozenset({Part.MAPPINGS, Part.SCHEDULES, Part.JOB_SCHEDULES})

    @property
    def status(self) -> str:
        return "Enabled" if self.enabled else "Disabled"

    @property
    def todo(self) -> str:
        return f"set auto-update {self.status} on mapping {self.mapping.name}"

    @property
    def fields(self) -> dict[str, str]:
        return {"mapping": self.mapping.name, "status": self.status}


@dataclasses.dataclass(frozen=True)
class MigrateMapping(UpdateMapping):
    """Move an enabled mapping from the retired Run As account to the account's system-assigned identity."""

    event = Reason.MIGRATED_TO_MANAGED_IDENTITY

    @property
    def fields(self) -> dict[str, str]:
        account = (self.automation_account_id or "").rstrip("/").rsplit("/", 1)[-1]
        return {**super().fields, "account": account}


@dataclasses.dataclass(frozen=True)
class RewriteSchedule(Action):
    """Put Site Recovery's schedule again under its own name, so the mapping's reference stays valid."""

    account: port.AccountRef
    schedule: port.ScheduleSpec
    mapping_name: str
    when: str  # the schedule as people read it, "00:00 Europe/Amsterdam"
    condition = ConditionType.SCHEDULE_CONFIGURED
    event = Reason.SCHEDULE_REWRITTEN
    touches = frozenset({Part.SCHEDULES})

    @property
    def todo(self) -> str:
        return f"rewrite schedule {self.schedule.name} to run at {self.when}"

    @property
    def needs(self) -> str:
        return f"Contributor on automation account {self.account.name}"

    @property
    def fields(self) -> dict[str, str]:
        return {"schedule": self.schedule.name, "when": self.when, "mapping": self.mapping_name}


@dataclasses.dataclass(frozen=True)
class PauseSchedule(Action):
    """Disable a Site Recovery schedule for spec.updatesPaused (PATCH isEnabled false; the schedule stays)."""

    account: port.AccountRef
    schedule_name: str
    mapping_name: str
    condition = ConditionType.SCHEDULE_CONFIGURED
    event = Reason.SCHEDULE_PAUSED
    touches = frozenset({Part.SCHEDULES})
    enabled: ClassVar[bool] = False

    @property
    def todo(self) -> str:
        return f"pause schedule {self.schedule_name}"

    @property
    def needs(self) -> str:
        return f"Contributor on automation account {self.account.name}"

    @property
    def fields(self) -> dict[str, str]:
        return {"schedule": self.schedule_name, "mapping": self.mapping_name}


@dataclasses.dataclass(frozen=True)
class ResumeSchedule(PauseSchedule):
    """Enable a Site Recovery schedule again: updates are not paused (any more)."""

    event = Reason.SCHEDULE_RESUMED
    enabled: ClassVar[bool] = True

    @property
    def todo(self) -> str:
        return f"resume schedule {self.schedule_name}"


@dataclasses.dataclass(frozen=True)
class DeleteAccount(Action):
    account: port.AccountRef
    condition = ConditionType.AUTOMATION_ACCOUNT_READY
    event = Reason.AUTOMATION_ACCOUNT_DELETED
    touches = frozenset({Part.AUTOMATION_ACCOUNT})

    @property
    def todo(self) -> str:
        return f"delete automation account {self.account.name}"

    @property
    def needs(self) -> str:
        return f"Contributor on automation account {self.account.name}"

    @property
    def fields(self) -> dict[str, str]:
        return {"account": self.account.name}


@dataclasses.dataclass(frozen=True)
class RevokeRole(Action):
    assignment: port.RoleAssignment
    condition = ConditionType.CREDENTIALS_HEALTHY
    event = Reason.ROLE_REVOKED
    touches = frozenset({Part.ROLE_ASSIGNMENTS})

    @property
    def todo(self) -> str:
        return f"remove role assignment {self.assignment.id}"

    @property
    def needs(self) -> str:
        return "Owner or User Access Administrator on the vault"

    @property
    def fields(self) -> dict[str, str]:
        return {"assignment": self.assignment.id}


@dataclasses.dataclass(frozen=True)
class MappingOperation:
    """A mapping update the operator sent, as `status.operations` remembers it: while `finished` is None it is
    in flight and is followed at `status_url` (never sent again); once it ended, the record stays until the
    mapping's next update, so a later pass knows when the mapping was last set (see `desired.reapply_due`)."""

    mapping: str
    mapping_id: str
    status_url: str
    requested: Mapping[str, str]  # what was asked, in Site Recovery's words (agentAutoUpdateStatus, ...)
    started: datetime
    retry_after: float | None = None
    polled: datetime | None = None  # the last poll: the next one waits for Azure's Retry-After after it
    finished: datetime | None = None
    result: str | None = None  # Azure's final status (Succeeded, Failed, PartiallySucceeded, ...)
    error_code: str | None = None

    @property
    def in_flight(self) -> bool:
        return self.finished is None

    def poll_due(self, now: datetime) -> float:
        """Seconds until Azure wants to be asked again (0: now), counted from the last poll or the start."""
        since = ((now - (self.polled or self.started)).total_seconds()) if self.retry_after else 0.0
        return max(0.0, (self.retry_after or 0.0) - since)


@dataclasses.dataclass(frozen=True)
class Waiting:
    """What a pass leaves Site Recovery to finish: the mappings being updated, and when to look again."""

    mappings: frozenset[str] = frozenset()
    poll_after: float | None = None  # seconds, from Azure's Retry-After


NOT_WAITING = Waiting()


@dataclasses.dataclass(frozen=True)
class ActionResult:
    """How one action went: `pending` means a long-running operation is running in Azure (`operation`, when
    it is ours and Azure said where to follow it)."""

    action: Action
    changed: bool
    pending: bool = False
    error: AzureError | None = None
    operation: MappingOperation | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclasses.dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Retry:
    """What the handler does after writing status (`RetryKind` says what each kind means; handlers.py turns
    it into kopf's vocabulary). `delay` is seconds until the next pass; None for invalid and internal."""

    kind: RetryKind
    reason: str
    delay: float | None = None
    backoff: bool = False  # the delay is our own guess (Azure said no time): doubled on each retry in a row
    not_after: float | None = None  # ...but never later than this (an operation's poll is due then)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result of one pass: patch `status` key by key (None removes a key), post `events`, then obey `retry`.

    `retry` None means done: come back after `recheck_after` seconds to look for drift (None: no recheck,
    e.g. after a finalizer finished). `observation` is what the pass saw last; the handler keeps it for the
    next pass, which takes the slowly changing parts from it (see `observe`).
    """

    status: dict[str, Any]
    events: tuple[Event, ...] = ()
    retry: Retry | None = None
    recheck_after: float | None = None
    observation: Observation | None = None
