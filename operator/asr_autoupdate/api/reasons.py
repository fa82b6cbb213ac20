"""Every reason the operator writes into a condition or an Event, in one table.

Each reason has the conditions it appears on, what it does to the object's kstatus and retry, a stable
one-line message template and what a person does about it (from Site Recovery's own troubleshooting
guidance). Messages are built only from this table, so they stay stable between passes (no timestamps, retry
counts or raw exception text) and never carry secrets. `docs/reasons.md` is generated from it:

    python -m asr_autoupdate.api.reasons > docs/reasons.md

It is a little over 400 lines because it is one table: one entry per reason.
"""

from __future__ import annotations

import dataclasses
import enum
import string
from typing import Any

from asr_autoupdate.api import REPAIR_ANNOTATION
from asr_autoupdate.api.conditions import AREA_TYPES, SUMMARY_TYPES, ConditionType

MESSAGE_LIMIT = 1024


class Reason(enum.StrEnum):
    CONVERGED = "Converged"
    NOT_REQUIRED = "NotRequired"
    PROGRESSING = "Progressing"
    WAITING = "Waiting"
    AZURE_UNAVAILABLE = "AzureUnavailable"
    INSUFFICIENT_PERMISSIONS = "InsufficientPermissions"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    CREDENTIALS_SECRET_INVALID = "CredentialsSecretInvalid"
    CREDENTIALS_SECRET_UNREADABLE = "CredentialsSecretUnreadable"
    POLICY_CONFLICT = "PolicyConflict"
    VAULT_NOT_FOUND = "VaultNotFound"
    INVALID_SPEC = "InvalidSpec"
    INTERNAL_ERROR = "InternalError"
    AZURE_REQUEST_FAILED = "AzureRequestFailed"
    AUTOMATION_ACCOUNT_CONFLICT = "AutomationAccountConflict"
    IDENTITY_NOT_AUTHORIZED = "IdentityNotAuthorized"
    RUN_AS_ACCOUNT_NOT_FOUND = "RunAsAccountNotFound"
    RUN_AS_ACCOUNT_UNAUTHORIZED = "RunAsAccountUnauthorized"
    RUN_AS_THUMBPRINT_MISMATCH = "RunAsThumbprintMismatch"
    RUN_AS_CERTIFICATE_EXPIRED = "RunAsCertificateExpired"
    RUN_AS_CERTIFICATE_EXPIRING = "RunAsCertificateExpiring"
    RUN_AS_ACCOUNT_RETIRED = "RunAsAccountRetired"
    MAPPING_UPDATE_FAILED = "MappingUpdateFailed"
    MAPPING_HEALTH_ERROR = "MappingHealthError"
    SCHEDULE_NOT_FOUND = "ScheduleNotFound"
    SCHEDULE_DISABLED = "ScheduleDisabled"
    DRIFT_DETECTED = "DriftDetected"
    AGENT_UPDATE_REQUIRED = "AgentUpdateRequired"
    AUTOMATION_ACCOUNT_CREATED = "AutomationAccountCreated"
    IDENTITY_ENABLED = "IdentityEnabled"
    ROLE_ASSIGNED = "RoleAssigned"
    MAPPING_UPDATED = "MappingUpdated"
    SCHEDULE_REWRITTEN = "ScheduleRewritten"
    SCHEDULE_PAUSED = "SchedulePaused"
    SCHEDULE_RESUMED = "ScheduleResumed"
    UPDATES_PAUSED = "UpdatesPaused"
    WAVE_HELD = "WaveHeld"
    WAVE_RELEASED = "WaveReleased"
    UNKNOWN_WAVE = "UnknownWave"
    POLICY_CREATED = "PolicyCreated"
    POLICY_DELETED = "PolicyDeleted"
    POLICY_WRITE_FAILED = "PolicyWriteFailed"
    ROLE_REVOKED = "RoleRevoked"
    AUTOMATION_ACCOUNT_DELETED = "AutomationAccountDeleted"
    MIGRATED_TO_MANAGED_IDENTITY = "MigratedToManagedIdentity"
    UPDATE_JOB_FAILED = "UpdateJobFailed"
    JOB_MINUTES_OVER_FREE_TIER = "JobMinutesOverFreeTier"


class Kind(enum.IntEnum):
    """What a reason does to the summary conditions and the retry; higher values win the summary."""

    EVENT = 0
    OK = 1
    INFO = 2
    WAITING = 3
    DRIFT = 4
    PROGRESSING = 5
    TRANSIENT = 6
    PERSON = 7
    INVALID = 8
    BUG = 9


class RetryKind(enum.StrEnum):
    """What the handler does after a pass that is not done, in the operator's words (handlers.py turns it
    into kopf's: TemporaryError or PermanentError)."""

    WAIT = "wait"  # Azure is doing what it was asked (an operation, a new identity): look again after `delay`
    TRANSIENT = "transient"  # Azure is busy or failed briefly: come back after `delay`
    PERSON = "person"  # someone must fix the cause outside the cluster: a slow poll
    INVALID = "invalid"  # only a new spec helps: stop retrying
    INTERNAL = "internal"  # a bug: retried with backoff, the traceback in the log


RETRY_OF_KIND = {
    Kind.WAITING: RetryKind.WAIT,
    Kind.PROGRESSING: RetryKind.WAIT,
    Kind.TRANSIENT: RetryKind.TRANSIENT,
    Kind.PERSON: RetryKind.PERSON,
    Kind.INVALID: RetryKind.INVALID,
    Kind.BUG: RetryKind.INTERNAL,
}

EFFECTS = {
    Kind.EVENT: "Event only",
    Kind.OK: "Ready=True",
    Kind.INFO: "informational: does not gate Ready",
    Kind.WAITING: "follows the condition it waits for",
    Kind.DRIFT: "Stalled=True (Observe mode); checked again every driftCheckIntervalSeconds",
    Kind.PROGRESSING: "Reconciling=True; next pass soon",
    Kind.TRANSIENT: "Reconciling=True; retried after Azure's Retry-After",
    Kind.PERSON: "Stalled=True; retried every 5 minutes",
    Kind.INVALID: "Stalled=True; retried when the spec changes",
    Kind.BUG: "Ready=Unknown; retried with backoff",
}


@dataclasses.dataclass(frozen=True)
class ReasonInfo:
    kind: Kind
    conditions: tuple[ConditionType, ...]
    summary: str  # str.format template; a message is `summary. action`, one line of about 200 characters
    action: str  # what a person does, in a few words; empty when nothing
    detail: str = ""  # where to click and why, for docs/reasons.md only (too long for a condition message)


_ALL = SUMMARY_TYPES + AREA_TYPES
_CONFIGURABLE = AREA_TYPES[:-1]
_REPAIR = f"then request a repair (annotate {REPAIR_ANNOTATION})"
_MIGRATE = "migrate to spec.authentication: SystemAssignedIdentity"
_MIGRATE_PATH = "To migrate in the portal: vault > Site Recovery infrastructure > Extension update settings > Migrate."
_RENEW_PATH = "To renew: automation account > Run As accounts > Renew certificate."
_RUN_AS_RETIRED = f"Run As is retired and cannot be recreated: {_MIGRATE}."


def _summary(*areas: ConditionType) -> tuple[ConditionType, ...]:
    return SUMMARY_TYPES + areas


REASONS: dict[Reason, ReasonInfo] = {
    Reason.CONVERGED: ReasonInfo(Kind.OK, _ALL, "{state}", ""),
    Reason.NOT_REQUIRED: ReasonInfo(
        Kind.OK,
        (ConditionType.AUTOMATION_ACCOUNT_READY, ConditionType.CREDENTIALS_HEALTHY, ConditionType.SCHEDULE_CONFIGURED),
        "updateMode Manual needs no {subject}",
        "",
    ),
    Reason.PROGRESSING: ReasonInfo(
        Kind.PROGRESSING, _summary(*_CONFIGURABLE), "{state}", "None: the operator continues on its own."
    ),
    Reason.WAITING: ReasonInfo(
        Kind.WAITING,
        (ConditionType.CREDENTIALS_HEALTHY, ConditionType.MAPPINGS_CONFIGURED, ConditionType.SCHEDULE_CONFIGURED),
        "Waits for {dependency}",
        "Resolve the condition it waits for.",
    ),
    Reason.AZURE_UNAVAILABLE: ReasonInfo(
        Kind.TRANSIENT,
        _ALL,
        "Azure could not {operation} for now ({code})",
        "None: the operator retries after Azure's Retry-After; if it lasts, check Azure's status page and the "
        "subscription's request budget.",
    ),
    Reason.INSUFFICIENT_PERMISSIONS: ReasonInfo(
        Kind.PERSON,
        _ALL,
        "The operator's identity may not {operation} ({code})",
        f"Grant the operator's identity {{needs}}, {_REPAIR}.",
    ),
    Reason.AUTHENTICATION_FAILED: ReasonInfo(
        Kind.PERSON,
        _ALL,
        "The operator could not sign in to Azure to {operation} ({code})",
        f"Check clientId and clientSecret or clientCertificate in the policy's Secret, {_REPAIR}.",
        "The Secret needs tenantId, clientId and clientSecret or clientCertificate; without a Secret the operator "
        "uses its own identity (workload identity, environment variables).",
    ),
    Reason.CREDENTIALS_SECRET_INVALID: ReasonInfo(
        Kind.PERSON,
        _ALL,
        "Secret {secret} {problem}",
        "Create or fix the Secret in the policy's namespace with the keys tenantId, clientId and clientSecret or "
        "clientCertificate (PEM).",
    ),
    Reason.CREDENTIALS_SECRET_UNREADABLE: ReasonInfo(
        Kind.TRANSIENT,
        _ALL,
        "Secret {secret} could not be read from the Kubernetes API ({problem})",
        "None: the operator tries again shortly; if it persists, check the API server's health.",
    ),
    Reason.POLICY_CONFLICT: ReasonInfo(
        Kind.PERSON,
        _ALL,
        "Vault {vault} is already managed by MobilityUpdatePolicy {owner}",
        "Delete one of the two policies: one vault is managed by one policy.",
    ),
    Reason.VAULT_NOT_FOUND: ReasonInfo(
        Kind.PERSON,
        _ALL,
        "Recovery Services vault {vault} was not found",
        "Check spec.vault (subscription, resource group, name) and that the operator's identity can read the vault.",
    ),
    Reason.INVALID_SPEC: ReasonInfo(
        Kind.INVALID, _ALL, "{problem}", "Fix the spec; the operator tries again when it changes."
    ),
    Reason.INTERNAL_ERROR: ReasonInfo(
        Kind.BUG,
        _ALL,
        "The operator hit an unexpected error",
        "See the operator's log; it retries with backoff. Report a bug if it persists.",
    ),
    Reason.AZURE_REQUEST_FAILED: ReasonInfo(
        Kind.PERSON,
        _ALL,
        "Azure refused to {operation} ({code})",
        f"Check the operator's log for Azure's answer and fix the cause, {_REPAIR}.",
    ),
    Reason.AUTOMATION_ACCOUNT_CONFLICT: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.AUTOMATION_ACCOUNT_READY),
        "Automation account {account} is not usable: {problem}",
        "Set spec.automationAccount to an account in the vault's subscription and region, or remove the "
        "conflicting account.",
    ),
    Reason.IDENTITY_NOT_AUTHORIZED: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.CREDENTIALS_HEALTHY),
        "The identity {principal} of automation account {account} has no Contributor role on the vault",
        "Grant it Contributor on the vault, or set spec.grantVaultAccess: true.",
        "In the portal: vault > Access control (IAM) > Add role assignment > Managed identity.",
    ),
    Reason.RUN_AS_ACCOUNT_NOT_FOUND: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.AUTOMATION_ACCOUNT_READY, ConditionType.CREDENTIALS_HEALTHY),
        "The Run As account's {piece} is missing",
        _RUN_AS_RETIRED,
        _MIGRATE_PATH,
    ),
    Reason.RUN_AS_ACCOUNT_UNAUTHORIZED: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.CREDENTIALS_HEALTHY),
        "Site Recovery reports that the Run As account may not access the vault (mapping {mapping}: {code})",
        _RUN_AS_RETIRED,
        _MIGRATE_PATH,
    ),
    Reason.RUN_AS_THUMBPRINT_MISMATCH: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.CREDENTIALS_HEALTHY),
        "The thumbprint in connection AzureRunAsConnection differs from certificate AzureRunAsCertificate's",
        f"Renew the certificate, or better {_MIGRATE}.",
        f"{_RENEW_PATH} {_MIGRATE_PATH}",
    ),
    Reason.RUN_AS_CERTIFICATE_EXPIRED: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.CREDENTIALS_HEALTHY),
        "Certificate AzureRunAsCertificate expired on {date}, so auto-update has stopped",
        f"Renew the certificate, or better {_MIGRATE}.",
        f"{_RENEW_PATH} {_MIGRATE_PATH}",
    ),
    Reason.RUN_AS_CERTIFICATE_EXPIRING: ReasonInfo(
        Kind.OK,
        (ConditionType.CREDENTIALS_HEALTHY,),
        "Certificate AzureRunAsCertificate expires on {date}",
        f"Renew it before then, or better {_MIGRATE}: Run As is retired.",
        f"{_RENEW_PATH} {_MIGRATE_PATH}",
    ),
    Reason.RUN_AS_ACCOUNT_RETIRED: ReasonInfo(
        Kind.OK,
        (ConditionType.CREDENTIALS_HEALTHY,),
        "The Run As account is healthy, but Azure retired Run As accounts on 30 September 2023",
        f"Plan to {_MIGRATE}.",
        _MIGRATE_PATH,
    ),
    Reason.MAPPING_UPDATE_FAILED: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.MAPPINGS_CONFIGURED),
        "Site Recovery refused to {operation} ({code})",
        f"Check the mapping in the vault and the operator's log, {_REPAIR}.",
        "The setting is under vault > Site Recovery infrastructure > Extension update settings.",
    ),
    Reason.MAPPING_HEALTH_ERROR: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.MAPPINGS_CONFIGURED),
        "Mapping {mapping} reports health error {code}: {recommendation}",
        f"Follow Site Recovery's recommended action, {_REPAIR}.",
        "A repair applies the mapping's setting again once the cause is fixed.",
    ),
    Reason.SCHEDULE_NOT_FOUND: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.SCHEDULE_CONFIGURED),
        "Site Recovery's {piece} for mapping {mapping} is missing from the automation account",
        f"Request a repair (annotate {REPAIR_ANNOTATION}): Site Recovery then recreates it.",
        "Setting the mapping's auto-update again is what makes Site Recovery create its schedule anew.",
    ),
    Reason.UPDATES_PAUSED: ReasonInfo(
        Kind.OK,
        (ConditionType.SCHEDULE_CONFIGURED,),
        "Updates are paused (spec.updatesPaused): Site Recovery's {count} schedule(s) are disabled, {when} when "
        "resumed",
        "Set spec.updatesPaused: false to resume them.",
        "A change freeze: the account, the role and the mappings stay configured; no update job runs.",
    ),
    Reason.SCHEDULE_DISABLED: ReasonInfo(
        Kind.PERSON,
        _summary(ConditionType.SCHEDULE_CONFIGURED),
        "Schedule {schedule} is disabled in the automation account",
        "Enable it in the automation account (Shared resources > Schedules).",
    ),
    Reason.DRIFT_DETECTED: ReasonInfo(
        Kind.DRIFT,
        _summary(*_CONFIGURABLE),
        "Observe mode, Azure differs from the spec: {differences}",
        "Change Azure by hand, or set spec.managementPolicy: Manage to let the operator do it.",
    ),
    Reason.AGENT_UPDATE_REQUIRED: ReasonInfo(
        Kind.INFO,
        (ConditionType.AGENTS_CURRENT,),
        "{count} of {total} protected items need a Mobility Service agent update",
        "Automatic: the next scheduled run updates them; Manual: update them in the vault.",
        "In the portal: vault > Replicated items > Update agent.",
    ),
    Reason.AUTOMATION_ACCOUNT_CREATED: ReasonInfo(
        Kind.EVENT, (), "Created automation account {account} in {location}", ""
    ),
    Reason.IDENTITY_ENABLED: ReasonInfo(
        Kind.EVENT, (), "Turned on the system-assigned identity of automation account {account}", ""
    ),
    Reason.ROLE_ASSIGNED: ReasonInfo(
        Kind.EVENT, (), "Granted Contributor on the vault to the automation account's identity {principal}", ""
    ),
    Reason.MAPPING_UPDATED: ReasonInfo(Kind.EVENT, (), "Set auto-update {status} on mapping {mapping}", ""),
    Reason.SCHEDULE_REWRITTEN: ReasonInfo(Kind.EVENT, (), "Rewrote schedule {schedule} to run at {when}", ""),
    Reason.SCHEDULE_PAUSED: ReasonInfo(
        Kind.EVENT, (), "Paused schedule {schedule} of mapping {mapping} (spec.updatesPaused)", ""
    ),
    Reason.SCHEDULE_RESUMED: ReasonInfo(Kind.EVENT, (), "Resumed schedule {schedule} of mapping {mapping}", ""),
    Reason.ROLE_REVOKED: ReasonInfo(Kind.EVENT, (), "Removed the vault role assignment {assignment}", ""),
    Reason.AUTOMATION_ACCOUNT_DELETED: ReasonInfo(Kind.EVENT, (), "Deleted automation account {account}", ""),
    Reason.MIGRATED_TO_MANAGED_IDENTITY: ReasonInfo(
        Kind.EVENT,
        (),
        "Moved mapping {mapping} from the retired Run As account to the system-assigned identity of automation "
        "account {account}",
        "",
    ),
    Reason.UPDATE_JOB_FAILED: ReasonInfo(
        Kind.EVENT,
        (),
        "Site Recovery's Mobility Service update job that started at {start} failed",
        "See CredentialsHealthy and MappingsConfigured for the cause.",
        "The job's output is in the automation account (Process Automation > Jobs).",
    ),
    Reason.JOB_MINUTES_OVER_FREE_TIER: ReasonInfo(
        Kind.EVENT,
        (),
        "Update jobs are projected to use {projected} job minutes this month, more than the {free} free minutes "
        "(projected cost {cost} {currency})",
        "Run the update less often (spec.schedule).",
        "Or check the job durations in the automation account. spec.costModel sets the free minutes and the price per minute.",
    ),
    Reason.WAVE_HELD: ReasonInfo(
        Kind.PERSON,
        SUMMARY_TYPES,
        "Fleet wave {wave} is held: {vaults} in wave {previous} failed an update job or report a mapping health error",
        "Fix the cause, then annotate the fleet asr.autoupdate.dev/release-wave={wave}.",
        "A MobilityUpdateFleet's condition and a Warning Event: the held wave's children keep their update "
        "schedules paused until a person releases the wave (docs/rollouts.md).",
    ),
    Reason.POLICY_WRITE_FAILED: ReasonInfo(
        Kind.TRANSIENT,
        SUMMARY_TYPES,
        "The fleet could not write a child policy: {problem}",
        "Check the operator's RBAC on mobilityupdatepolicies (create, patch, delete) and the API server's answer.",
    ),
    Reason.WAVE_RELEASED: ReasonInfo(Kind.EVENT, (), "Fleet wave {wave} was released by a person", ""),
    Reason.UNKNOWN_WAVE: ReasonInfo(
        Kind.EVENT,
        (),
        "The release annotation names no wave of this fleet: {wave} (its waves: {waves})",
        "Annotate with one of the fleet's wave names.",
    ),
    Reason.POLICY_CREATED: ReasonInfo(Kind.EVENT, (), "Created policy {policy} for vault {vault} in wave {wave}", ""),
    Reason.POLICY_DELETED: ReasonInfo(
        Kind.EVENT,
        (),
        "Deleted policy {policy}: vault {vault} is gone or no longer matches the fleet",
        "",
        "The child's deletionPolicy applies to the vault.",
    ),
}

# Event reasons posted as Warning (every other Event reason is Normal).
WARNING_EVENTS = frozenset({Reason.UPDATE_JOB_FAILED, Reason.JOB_MINUTES_OVER_FREE_TIER, Reason.UNKNOWN_WAVE})


EXCERPT_LIMIT = 160


def excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """Azure's free text (a health error's recommended action) as a message may carry it: one line, cut at
    `limit` characters, never pasted whole."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def fields_of(reason: Reason) -> frozenset[str]:
    """The names a reason's message is formatted with (its summary's and its action's)."""
    info = REASONS[reason]
    return frozenset(
        name for text in (info.summary, info.action) for _, name, _, _ in string.Formatter().parse(text) if name
    )


def message(reason: Reason, /, **fields: Any) -> str:
    """The one-line message for `reason`: what is wrong, then what to do."""
    info = REASONS[reason]
    text = info.summary.format(**fields) + "."
    if info.action:
        text = f"{text} {info.action.format(**fields)}"
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def render_markdown() -> str:
    """docs/reasons.md: the table users look a reason up in."""
    lines = [
        "# Condition and Event reasons",
        "",
        "Generated from `operator/asr_autoupdate/api/reasons.py` by "
        "`python -m asr_autoupdate.api.reasons > docs/reasons.md`; do not edit by hand.",
        "",
        "Ready, Reconciling and Stalled always share one reason and message: the most pressing one of the "
        "other conditions. To request a repair (one pass that applies every mapping's setting and the vault role "
        f"again, even where they look right), set the annotation `{REPAIR_ANNOTATION}` to a new value; "
        "`status.lastRepair` records the result.",
        "",
        "| Reason | Conditions | Effect | Message | What to do |",
        "| --- | --- | --- | --- | --- |",
    ]
    for reason, info in REASONS.items():
        conditions = ", ".join(info.conditions) or "Event"
        effect = "Warning Event only" if reason in WARNING_EVENTS else EFFECTS[info.kind]
        to_do = " ".join(part for part in (info.action, info.detail) if part) or "Nothing."
        cells = (f"`{reason}`", conditions, effect, info.summary, to_do)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
