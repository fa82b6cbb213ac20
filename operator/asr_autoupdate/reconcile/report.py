"""Turn one pass into status, Events and a retry verdict: pure functions of what was seen and done.

Every condition is written on every pass. Each area condition (account, credentials, mappings, schedule,
agents) is judged from the final observation, the actions that failed and the changes still planned; the
summary conditions Ready, Reconciling and Stalled then share the reason and message of the most pressing
area, with kstatus' meaning: converged is Ready; work under way or a transient Azure error is Reconciling;
something only a person can fix is Stalled. Events are posted for changes made, and for a problem only when
it first appears, so a steady failure does not post an Event on every retry.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from asr_autoupdate.api.conditions import AREA_TYPES, ConditionType, Status, condition, find, timestamp
from asr_autoupdate.api.reasons import REASONS, Kind, Reason, message
from asr_autoupdate.api.spec import PolicySpec
from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import (
    AuthenticationError,
    AzureError,
    NotFoundError,
    PermissionError_,
    TransientError,
)
from asr_autoupdate.reconcile import desired
from asr_autoupdate.reconcile.model import (
    CLEANUP_PARTS,
    Action,
    ActionResult,
    Event,
    Observation,
    Outcome,
    Part,
    PolicyInput,
    Retry,
)
from asr_autoupdate.reconcile.timing import local_clock, month_end, month_start

PERSON_DELAY = 300.0
TRANSIENT_DELAY = 30.0
# A new identity reaches the directory in seconds; waiting the general transient delay only slows convergence.
PROPAGATION_DELAY = 5.0
PROGRESS_DELAY = 15.0
CERTIFICATE_WARNING = timedelta(days=60)  # Site Recovery warns two months before a Run As certificate expires
AGENT_EXPIRY_WARNING = timedelta(days=30)
LISTED_CHANGES = 5

_C = ConditionType
_SUMMARY_STATUS = {  # kind -> (Ready, Reconciling, Stalled)
    Kind.OK: (Status.TRUE, Status.FALSE, Status.FALSE),
    Kind.WAITING: (Status.FALSE, Status.TRUE, Status.FALSE),
    Kind.PROGRESSING: (Status.FALSE, Status.TRUE, Status.FALSE),
    Kind.TRANSIENT: (Status.FALSE, Status.TRUE, Status.FALSE),
    Kind.DRIFT: (Status.FALSE, Status.FALSE, Status.TRUE),
    Kind.PERSON: (Status.FALSE, Status.FALSE, Status.TRUE),
    Kind.INVALID: (Status.FALSE, Status.FALSE, Status.TRUE),
    Kind.BUG: (Status.UNKNOWN, Status.TRUE, Status.FALSE),
}
_WARNING_KINDS = {Kind.DRIFT, Kind.TRANSIENT, Kind.PERSON, Kind.INVALID, Kind.BUG}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One condition's verdict before it becomes a metav1.Condition."""

    condition: ConditionType
    status: Status
    reason: Reason
    message: str

    @property
    def kind(self) -> Kind:
        return REASONS[self.reason].kind


def finding(kind: ConditionType, status: Status, reason: Reason, /, **fields: Any) -> Finding:
    return Finding(kind, status, reason, message(reason, **fields))


def _transient(error: AzureError) -> bool:
    """Worth another try soon: busy, throttled, unreachable, or gone since it was read (the next pass sees why)."""
    return isinstance(error, TransientError | NotFoundError)


def _error_reason(error: AzureError, refusal: Reason) -> Reason:
    """The reason an Azure error is reported with; `refusal` is the one for "Azure said no" on this call."""
    if _transient(error):
        return Reason.AZURE_UNAVAILABLE
    if isinstance(error, AuthenticationError):
        return Reason.AUTHENTICATION_FAILED
    if isinstance(error, PermissionError_):
        return Reason.INSUFFICIENT_PERMISSIONS
    return refusal


def _error_code(error: AzureError) -> str:
    """ARM's error code, never the raw message: stable between retries and free of anything secret."""
    return error.code or (f"HTTP {error.status}" if error.status else "no answer")


def _error(
    kind: ConditionType, status: Status, error: AzureError, operation: str, refusal: Reason, /, **fields: str
) -> Finding:
    code = _error_code(error)
    problem = f"Azure refused to {operation} ({code})"
    reason = _error_reason(error, refusal)
    return finding(kind, status, reason, operation=operation, code=code, problem=problem, **fields)


def _action_failure(result: ActionResult) -> Finding:
    action = result.action
    return _error(action.condition, Status.FALSE, result.error, action.todo, action.refusal, **action.fields)


def _read_failure(kind: ConditionType, observation: Observation, parts: Iterable[Part]) -> Finding | None:
    part = next((part for part in parts if part in observation.failures), None)
    if part is None:
        return None
    return _error(kind, Status.UNKNOWN, observation.failures[part], str(part), Reason.AZURE_REQUEST_FAILED)


@dataclasses.dataclass(frozen=True)
class _Pass:
    spec: PolicySpec
    observation: Observation
    remaining: Sequence[Action]
    results: Sequence[ActionResult]
    now: datetime

    def failed(self, kind: ConditionType) -> Finding | None:
        """The first action for this condition that Azure refused."""
        result = next((r for r in self.results if r.failed and r.action.condition is kind), None)
        return _action_failure(result) if result else None

    def unread(self, kind: ConditionType, *parts: Part) -> Finding | None:
        """The first of `parts` that could not be read: the condition is then Unknown."""
        return _read_failure(kind, self.observation, parts)

    def changing(self, kind: ConditionType) -> Finding | None:
        """Changes still planned for this condition: drift in Observe mode, work under way otherwise."""
        actions = [action for action in self.remaining if action.condition is kind]
        if not actions:
            return None
        if self.spec.observe_only:
            return finding(kind, Status.FALSE, Reason.DRIFT_DETECTED, differences=_listing(actions))
        return finding(kind, Status.FALSE, Reason.PROGRESSING, state=f"Still to do: {_listing(actions)}")


def _listing(actions: Sequence[Action]) -> str:
    listed = "; ".join(action.todo for action in actions[:LISTED_CHANGES])
    hidden = len(actions) - LISTED_CHANGES
    return f"{listed}; and {hidden} more" if hidden > 0 else listed


def report(
    policy: PolicyInput,
    spec: PolicySpec,
    observation: Observation,
    remaining: Sequence[Action],
    results: Sequence[ActionResult],
    now: datetime,
    *,
    repaired: bool = False,
) -> Outcome:
    """Status, Events and retry verdict after a pass; `remaining` is the plan on the final observation."""
    this_pass = _Pass(spec, observation, remaining, results, now)
    findings = _vault_gate(this_pass) or [
        _account(this_pass),
        _credentials(this_pass),
        _mappings(this_pass),
        _schedules(this_pass),
        _agents(this_pass),
    ]
    summary = _summary(this_pass, findings)
    retry = _retry(summary, _errors(observation, results))
    status = {"observedGeneration": policy.generation, **_sections(spec, observation, now)}
    if repaired and (retry is None or retry.kind != "transient"):
        status["lastRepair"] = {"token": policy.repair_token, "time": timestamp(now), "result": str(summary.reason)}
    outcome = _outcome(policy, findings, summary, now, status, retry, results, spec.drift_check_interval_seconds)
    news = _job_events(policy.status.get("jobs"), status.get("jobs"))
    return dataclasses.replace(outcome, events=outcome.events + news) if news else outcome


def blocked(
    policy: PolicyInput, now: datetime, reason: Reason, *, recheck_after: float | None = None, **fields: str
) -> Outcome:
    """A pass that cannot look at Azure at all: every condition says why, and the status sections from
    earlier passes stay as they were. Reconcile uses it for InvalidSpec and PolicyConflict; the handler layer
    for CredentialsSecretInvalid (fields `secret` and `problem`, e.g. "lacks the key clientId") and for
    InternalError (no fields; its retry kind "internal" means: re-raise what was caught)."""
    summary = finding(_C.READY, Status.FALSE, reason, **fields)
    return _blocked(policy, now, summary, (), [], recheck_after)


def report_cleanup(
    policy: PolicyInput,
    observation: Observation,
    remaining: Sequence[Action],
    results: Sequence[ActionResult],
    now: datetime,
) -> Outcome:
    """After a finalizer pass: no status and no retry when cleanup is done, otherwise the reason it is not."""
    failed = next((result for result in results if result.failed), None)
    problem = (_action_failure(failed) if failed else None) or _read_failure(_C.READY, observation, CLEANUP_PARTS)
    if problem is None and remaining:
        problem = finding(_C.READY, Status.FALSE, Reason.PROGRESSING, state=f"Cleaning up: {_listing(remaining)}")
    if problem is None:
        return Outcome(status={}, events=_change_events(results))
    return _blocked(policy, now, problem, results, _errors(observation, results), None)


def _errors(observation: Observation, results: Sequence[ActionResult]) -> list[AzureError]:
    return [*observation.failures.values(), *(result.error for result in results if result.failed)]


def _blocked(
    policy: PolicyInput,
    now: datetime,
    summary: Finding,
    results: Sequence[ActionResult],
    errors: Sequence[AzureError],
    recheck_after: float | None,
) -> Outcome:
    findings = [Finding(kind, Status.UNKNOWN, summary.reason, summary.message) for kind in AREA_TYPES]
    status = {"observedGeneration": policy.generation}
    return _outcome(policy, findings, summary, now, status, _retry(summary, errors), results, recheck_after)


def _outcome(
    policy: PolicyInput,
    findings: Sequence[Finding],
    summary: Finding,
    now: datetime,
    status: dict[str, Any],
    retry: Retry | None,
    results: Sequence[ActionResult],
    recheck_after: float | None,
) -> Outcome:
    ready, reconciling, stalled = _SUMMARY_STATUS[summary.kind]
    summary_findings = [
        Finding(_C.READY, ready, summary.reason, summary.message),
        Finding(_C.RECONCILING, reconciling, summary.reason, summary.message),
        Finding(_C.STALLED, stalled, summary.reason, summary.message),
    ]
    status["conditions"] = [
        condition(
            entry.condition,
            entry.status,
            entry.reason,
            entry.message,
            generation=policy.generation,
            now=now,
            previous=policy.conditions,
        )
        for entry in (*summary_findings, *findings)
    ]
    events = _events(results, summary, policy.conditions)
    return Outcome(status=status, events=events, retry=retry, recheck_after=recheck_after)


def _summary(this_pass: _Pass, findings: Sequence[Finding]) -> Finding:
    """The most pressing area speaks for Ready (in Observe mode, every difference does); agents are
    informational and never gate it."""
    gating = [entry for entry in findings if entry.condition is not _C.AGENTS_CURRENT]
    worst = max(gating, key=lambda entry: entry.kind)
    if worst.kind <= Kind.INFO:
        state = f"Azure matches the spec for vault {this_pass.spec.vault.name}"
        if this_pass.spec.automatic and not this_pass.spec.uses_identity:
            state += (
                ", but its Run As account is retired by Azure: plan to migrate to spec.authentication: "
                "SystemAssignedIdentity"
            )
        return finding(_C.READY, Status.TRUE, Reason.CONVERGED, state=state)
    if worst.kind is Kind.DRIFT:
        return finding(_C.READY, Status.FALSE, Reason.DRIFT_DETECTED, differences=_listing(this_pass.remaining))
    return worst


def _transient_delay(error: AzureError) -> float:
    if error.retry_after:
        return error.retry_after
    return PROPAGATION_DELAY if error.code == "PrincipalNotFound" else TRANSIENT_DELAY


def _retry(summary: Finding, errors: Iterable[AzureError]) -> Retry | None:
    """How soon to come back; a transient read of an informational part also asks for an early pass."""
    transient = [error for error in errors if _transient(error)]
    transient_delay = max((_transient_delay(error) for error in transient), default=None)
    reason = str(summary.reason)
    match summary.kind:
        case Kind.PERSON:
            return Retry("person", reason, PERSON_DELAY)
        case Kind.INVALID:
            return Retry("invalid", reason)
        case Kind.BUG:
            return Retry("internal", reason)
        case Kind.WAITING | Kind.PROGRESSING | Kind.TRANSIENT:
            return Retry("transient", reason, transient_delay or PROGRESS_DELAY)
    return Retry("transient", reason, transient_delay) if transient_delay else None


def _change_events(results: Sequence[ActionResult]) -> tuple[Event, ...]:
    """A Normal Event for every change made in Azure."""
    return tuple(
        Event("Normal", str(result.action.event), message(result.action.event, **result.action.fields))
        for result in results
        if result.changed and not result.failed
    )


def _events(results: Sequence[ActionResult], summary: Finding, previous: Sequence[dict]) -> tuple[Event, ...]:
    events = list(_change_events(results))
    before = find(previous, _C.READY) or {}
    news = (before.get("reason"), before.get("message")) != (summary.reason, summary.message)
    if summary.kind in _WARNING_KINDS and news:
        events.append(Event("Warning", str(summary.reason), summary.message))
    return tuple(events)


def _job_events(before: Any, after: Any) -> tuple[Event, ...]:
    """One Warning when a new update job failed, and one when the month's projection first passes the free
    minutes; `before` is the jobs section the last pass wrote, so neither repeats while nothing changes."""
    if not isinstance(after, dict):
        return ()
    before = before if isinstance(before, dict) else {}
    events = []
    last, last_before = after.get("lastRun") or {}, before.get("lastRun") or {}
    if last.get("status") == "Failed" and (last_before.get("startTime"), last_before.get("status")) != (
        last.get("startTime"),
        "Failed",
    ):
        reason = Reason.UPDATE_JOB_FAILED
        events.append(Event("Warning", str(reason), message(reason, start=last.get("startTime"))))

    def over(section: dict) -> bool:
        projected, free = section.get("projectedMonthMinutes"), section.get("freeMinutesPerMonth")
        return projected is not None and free is not None and projected > free

    if over(after) and not over(before):
        reason = Reason.JOB_MINUTES_OVER_FREE_TIER
        fields = {
            "projected": after["projectedMonthMinutes"],
            "free": after["freeMinutesPerMonth"],
            "cost": after.get("projectedCost"),
            "currency": after.get("currency"),
        }
        events.append(Event("Warning", str(reason), message(reason, **fields)))
    return tuple(events)


# --- the area conditions -------------------------------------------------------------------------------------


def _vault_gate(this_pass: _Pass) -> list[Finding] | None:
    """Without the vault nothing else can be judged: every area says why."""
    observation = this_pass.observation
    if Part.VAULT in observation.failures:
        return [this_pass.unread(kind, Part.VAULT) for kind in AREA_TYPES]
    if observation.vault is None:
        vault = this_pass.spec.vault.name
        return [finding(kind, Status.UNKNOWN, Reason.VAULT_NOT_FOUND, vault=vault) for kind in AREA_TYPES]
    return None


def _account(this_pass: _Pass) -> Finding:
    kind = _C.AUTOMATION_ACCOUNT_READY
    if not this_pass.spec.automatic:
        return finding(kind, Status.TRUE, Reason.NOT_REQUIRED, subject="automation account")
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.AUTOMATION_ACCOUNT)
        or this_pass.changing(kind)
        or _account_state(this_pass)
    )


def _account_state(this_pass: _Pass) -> Finding:
    kind = _C.AUTOMATION_ACCOUNT_READY
    account = this_pass.observation.automation_account
    name = this_pass.spec.automation_account.name
    if account is None:  # only Run As gets here: identity mode plans the account's creation
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=f"automation account {name}")
    if problem := desired.account_region_problem(this_pass.observation):
        return finding(kind, Status.FALSE, Reason.AUTOMATION_ACCOUNT_CONFLICT, account=name, problem=problem)
    identity = " with a system-assigned identity" if account.principal_id else ""
    state = f"Automation account {name} is in {account.location}{identity}"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)


def _credentials(this_pass: _Pass) -> Finding:
    kind = _C.CREDENTIALS_HEALTHY
    spec, observation = this_pass.spec, this_pass.observation
    if not spec.automatic:
        return finding(kind, Status.TRUE, Reason.NOT_REQUIRED, subject="credentials")
    if not desired.account_usable(spec, observation):
        return finding(kind, Status.UNKNOWN, Reason.WAITING, dependency="the automation account")
    if not spec.uses_identity:
        return _run_as(this_pass)
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.ROLE_ASSIGNMENTS)
        or this_pass.changing(kind)
        or _identity_state(observation)
    )


def _identity_state(observation: Observation) -> Finding:
    kind = _C.CREDENTIALS_HEALTHY
    account = observation.automation_account
    fields = {"principal": account.principal_id, "account": account.name}
    if not desired.has_vault_access(observation.role_assignments):
        return finding(kind, Status.FALSE, Reason.IDENTITY_NOT_AUTHORIZED, **fields)
    state = f"The identity {account.principal_id} of automation account {account.name} has Contributor on the vault"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)


def _run_as(this_pass: _Pass) -> Finding:
    """Diagnose a legacy Run As account, in the order of Site Recovery's troubleshooting guidance.

    The operator reads the two assets itself (presence, type, thumbprints, the certificate's expiry). The
    application, its service principal and its role on the vault live in Microsoft Entra ID, which ARM does
    not show: for those it takes the verdict Site Recovery's update job left on the mappings, as the portal
    does. A certificate that expired (or nears expiry) on Azure's clock is also told by that verdict.
    """
    kind = _C.CREDENTIALS_HEALTHY
    observation, now = this_pass.observation, this_pass.now
    unread = this_pass.unread(kind, Part.RUN_AS_CERTIFICATE, Part.RUN_AS_CONNECTION)
    if unread:
        return unread
    certificate, connection = observation.run_as_certificate, observation.run_as_connection
    if certificate is None:
        piece = f"certificate asset {port.RUN_AS_CERTIFICATE}"
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=piece)
    if connection is None:
        piece = f"connection asset {port.RUN_AS_CONNECTION}"
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=piece)
    if (connection.connection_type or "").lower() != "azureserviceprincipal":
        piece = f"connection asset {port.RUN_AS_CONNECTION} of type AzureServicePrincipal"
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=piece)
    if _connection_field(connection, "CertificateThumbprint") != (certificate.thumbprint or "").lower():
        return finding(kind, Status.FALSE, Reason.RUN_AS_THUMBPRINT_MISMATCH)
    expiry = certificate.expiry_time
    date = f"{expiry:%Y-%m-%d}" if expiry is not None else "an unknown date"
    if (expiry is not None and expiry <= now) or _site_recovery_says(observation, _says_expired):
        return finding(kind, Status.FALSE, Reason.RUN_AS_CERTIFICATE_EXPIRED, date=date)
    if _site_recovery_says(observation, _says_not_found):
        application = _connection_field(connection, "ApplicationId") or "unknown"
        piece = f"Microsoft Entra application or service principal (ApplicationId {application})"
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=piece)
    if refusal := _run_as_refusal(observation):
        return refusal
    expiring = expiry is not None and expiry - now <= CERTIFICATE_WARNING
    if expiring or _site_recovery_says(observation, _says_expiring):
        return finding(kind, Status.TRUE, Reason.RUN_AS_CERTIFICATE_EXPIRING, date=date)
    return finding(kind, Status.TRUE, Reason.RUN_AS_ACCOUNT_RETIRED)


def _connection_field(connection: port.Connection, name: str) -> str:
    fields = {key.lower(): value for key, value in connection.fields.items()}
    return (fields.get(name.lower()) or "").lower()


# Site Recovery's verdicts on a Run As account, by its error code or by the text of its portal message (the
# codes differ between service versions; the messages are the ones its troubleshooting guidance quotes).
def _says_expired(health: port.HealthError) -> bool:
    text = health.message.lower()
    return health.code == "RunAsCertificateExpired" or ("certificate" in text and "has expired" in text)


def _says_expiring(health: port.HealthError) -> bool:
    return health.code == "RunAsCertificateExpiring" or "about to expire" in health.message.lower()


def _says_not_found(health: port.HealthError) -> bool:
    return health.code == "RunAsAccountNotFound" or "run as account is not found" in health.message.lower()


def _site_recovery_says(observation: Observation, verdict: Any) -> tuple[port.Mapping, port.HealthError] | None:
    for mapping in observation.manageable_mappings:
        for health in mapping.health_errors:
            if verdict(health):
                return mapping, health
    return None


def _run_as_refusal(observation: Observation) -> Finding | None:
    """Site Recovery reports a Run As account without access to the vault as a mapping health error."""
    for mapping in observation.manageable_mappings:
        for health in mapping.health_errors:
            text = health.message.lower()
            if health.code == "RunAsAccountUnauthorized" or (
                "run as" in text and ("permission" in text or "authoriz" in text)
            ):
                return finding(
                    _C.CREDENTIALS_HEALTHY,
                    Status.FALSE,
                    Reason.RUN_AS_ACCOUNT_UNAUTHORIZED,
                    mapping=mapping.name,
                    code=health.code,
                )
    return None


def _mappings(this_pass: _Pass) -> Finding:
    kind = _C.MAPPINGS_CONFIGURED
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.MAPPINGS)
        or _health_problem(this_pass.observation)
        or this_pass.changing(kind)
        or _mapping_state(this_pass)
    )


def _health_problem(observation: Observation) -> Finding | None:
    """The first health error Site Recovery lists on a mapping (what the portal shows as a configuration
    issue), with its recommended action. Warnings (a certificate nearing expiry) do not count: they stop
    nothing, and CredentialsHealthy tells them."""
    for mapping in observation.manageable_mappings:
        for health in mapping.health_errors:
            if health.is_warning:
                continue
            return finding(
                _C.MAPPINGS_CONFIGURED,
                Status.FALSE,
                Reason.MAPPING_HEALTH_ERROR,
                mapping=mapping.name,
                code=health.code,
                recommendation=health.recommended_action or health.message,
            )
    return None


def _mapping_state(this_pass: _Pass) -> Finding:
    kind = _C.MAPPINGS_CONFIGURED
    spec = this_pass.spec
    manageable = this_pass.observation.manageable_mappings
    if not all(desired.mapping_configured(spec, mapping) for mapping in manageable):
        return finding(kind, Status.FALSE, Reason.WAITING, dependency="the automation account")
    if not manageable:
        state = "No A2A Paired mapping yet; new ones get the setting when they appear"
    elif spec.automatic:
        state = (
            f"Every A2A Paired mapping ({len(manageable)}) has auto-update Enabled with automation account "
            f"{spec.automation_account.name}"
        )
    else:
        state = f"Every A2A Paired mapping ({len(manageable)}) has auto-update Disabled"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)


def _schedules(this_pass: _Pass) -> Finding:
    kind = _C.SCHEDULE_CONFIGURED
    spec, observation = this_pass.spec, this_pass.observation
    if not spec.automatic:
        return finding(kind, Status.TRUE, Reason.NOT_REQUIRED, subject="schedule")
    if not desired.account_usable(spec, observation):
        return finding(kind, Status.UNKNOWN, Reason.WAITING, dependency="the automation account")
    time_zone = desired.schedule_time_zone(spec, observation.vault)
    if time_zone is None:
        problem = (
            f"spec.schedule.timeZone is required: the vault's region {observation.vault.location} "
            "has no known time zone"
        )
        return finding(kind, Status.FALSE, Reason.INVALID_SPEC, problem=problem)
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.SCHEDULES, Part.JOB_SCHEDULES)
        or this_pass.changing(kind)
        or _schedule_state(this_pass, time_zone)
    )


def _schedule_state(this_pass: _Pass, time_zone: str) -> Finding:
    kind = _C.SCHEDULE_CONFIGURED
    spec, observation = this_pass.spec, this_pass.observation
    manageable = observation.manageable_mappings
    configured = [mapping for mapping in manageable if desired.mapping_configured(spec, mapping)]
    job_schedules = {job_schedule.id.lower() for job_schedule in observation.job_schedules}
    for mapping in configured:
        if not mapping.schedule_name:
            state = f"Waiting for Site Recovery to create the schedule of mapping {mapping.name}"
            return finding(kind, Status.FALSE, Reason.PROGRESSING, state=state)
        schedule = observation.schedule(mapping.schedule_name)
        if schedule is None:
            piece = f"schedule {mapping.schedule_name}"
            return finding(kind, Status.FALSE, Reason.SCHEDULE_NOT_FOUND, piece=piece, mapping=mapping.name)
        if mapping.job_schedule_name and mapping.job_schedule_name.lower() not in job_schedules:
            piece = f"job schedule {mapping.job_schedule_name}"
            return finding(kind, Status.FALSE, Reason.SCHEDULE_NOT_FOUND, piece=piece, mapping=mapping.name)
        if not schedule.is_enabled:
            return finding(kind, Status.FALSE, Reason.SCHEDULE_DISABLED, schedule=schedule.name)
    if len(configured) < len(manageable):
        return finding(kind, Status.UNKNOWN, Reason.WAITING, dependency="the mappings")
    when = desired.desired_summary(spec, time_zone)
    if configured:
        state = f"Every Site Recovery schedule runs at {when}"
    else:
        state = f"No schedule yet: Site Recovery creates one per enabled mapping, then it is set to {when}"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)


def _agents(this_pass: _Pass) -> Finding:
    kind = _C.AGENTS_CURRENT
    unread = this_pass.unread(kind, Part.PROTECTED_ITEMS)
    if unread:
        return unread
    items = this_pass.observation.protected_items
    behind = sum(item.update_required for item in items)
    if behind:
        return finding(kind, Status.FALSE, Reason.AGENT_UPDATE_REQUIRED, count=behind, total=len(items))
    state = "No protected item yet"
    if items:
        state = f"Every protected item ({len(items)}) runs a current Mobility Service agent"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)


# --- the status sections -------------------------------------------------------------------------------------


def _sections(spec: PolicySpec, observation: Observation, now: datetime) -> dict[str, Any]:
    """Status sections: a value when read, None (removes the key) when known absent, left out when unread
    so that the last good value stays."""
    failures = observation.failures
    if Part.VAULT in failures:
        return {}
    vault, account = observation.vault, observation.automation_account
    sections: dict[str, Any] = {}
    if Part.AUTOMATION_ACCOUNT not in failures:
        sections["automationAccount"] = _account_status(spec, account) if account else None
        if account is None:
            sections["jobs"] = None
        elif vault is not None and Part.JOBS not in failures:
            sections["jobs"] = _jobs_status(spec, observation.jobs, now)
    if vault is None:
        sections.update(mappings=None, agents=None, schedules=None, scheduleSummary=None)
        return sections
    if Part.MAPPINGS not in failures:
        sections["mappings"] = _mappings_status(spec, observation)
    if Part.PROTECTED_ITEMS not in failures:
        sections["agents"] = _agents_status(observation.protected_items, now)
    time_zone = desired.schedule_time_zone(spec, vault) if spec.automatic else None
    sections["scheduleSummary"] = desired.desired_summary(spec, time_zone) if time_zone else None
    if not {Part.AUTOMATION_ACCOUNT, Part.SCHEDULES, Part.MAPPINGS} & failures.keys():
        sections["schedules"] = _schedules_status(spec, observation) if spec.automatic and account else None
    return sections


def _account_status(spec: PolicySpec, account: port.AutomationAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "principalId": account.principal_id,
        "createdByPolicy": desired.created_by(spec, account),
    }


def _mappings_status(spec: PolicySpec, observation: Observation) -> dict[str, int]:
    manageable = observation.manageable_mappings
    return {
        "total": len(observation.mappings),
        "configured": sum(desired.mapping_configured(spec, mapping) for mapping in manageable),
        "skipped": len(observation.mappings) - len(manageable),
    }


def _schedules_status(spec: PolicySpec, observation: Observation) -> list[dict[str, Any]]:
    entries = []
    for mapping in observation.manageable_mappings:
        schedule = observation.schedule(mapping.schedule_name or "")
        if schedule is None or not desired.mapping_configured(spec, mapping):
            continue
        entry = {
            "name": schedule.name,
            "mapping": mapping.name,
            "time": local_clock(schedule),
            "timeZone": schedule.time_zone,
            "frequency": schedule.frequency,
            "interval": schedule.interval,
            "weekDays": list(schedule.week_days) or None,
            "nextRun": timestamp(schedule.next_run) if schedule.next_run else None,
        }
        entries.append({key: value for key, value in entry.items() if value is not None})
    return entries


def _agents_status(items: Sequence[port.ProtectedItem], now: datetime) -> dict[str, Any]:
    horizon = now + AGENT_EXPIRY_WARNING
    versions = Counter(item.agent_version or "unknown" for item in items)
    return {
        "total": len(items),
        "current": sum(not item.update_required for item in items),
        "updateRequired": sum(item.update_required for item in items),
        "upgradeInProgress": sum(item.upgrade_in_progress for item in items),
        "expiringSoon": sum(_expires_before(item, horizon) for item in items),
        "versions": [
            {"version": version, "count": count} for version, count in sorted(versions.items(), key=_newest_first)
        ],
    }


def _expires_before(item: port.ProtectedItem, horizon: datetime) -> bool:
    return any(moment is not None and moment <= horizon for moment in (item.agent_expiry, item.certificate_expiry))


def _newest_first(entry: tuple[str, int]) -> tuple[bool, tuple[int, ...]]:
    version = entry[0]
    return version == "unknown", tuple(-int(part) if part.isdigit() else 0 for part in version.split("."))


def _jobs_status(spec: PolicySpec, jobs: Sequence[port.Job], now: datetime) -> dict[str, Any]:
    """Job minutes of the Site Recovery runbook this month, projected to the month's end and priced."""
    start, end = month_start(now), month_end(now)
    seconds = sum(
        max(0.0, ((job.end_time or now) - max(job.start_time, start)).total_seconds())
        for job in jobs
        if job.start_time is not None
    )
    elapsed = (now - start) / (end - start)
    projected_minutes = math.ceil(seconds / 60 / elapsed) if elapsed > 0 else math.ceil(seconds / 60)
    cost = spec.cost_model
    billable = max(0, projected_minutes - cost.free_minutes_per_month)
    last = max((job for job in jobs if job.start_time is not None), key=lambda job: job.start_time, default=None)
    return {
        "monthToDateMinutes": math.ceil(seconds / 60),
        "projectedMonthMinutes": projected_minutes,
        "freeMinutesPerMonth": cost.free_minutes_per_month,
        "projectedCost": str((billable * cost.price_per_minute).quantize(Decimal("0.01"), ROUND_HALF_UP)),
        "currency": cost.currency,
        "lastRun": _last_run(last) if last else None,
    }


def _last_run(job: port.Job) -> dict[str, str]:
    run = {
        "status": job.status,
        "startTime": timestamp(job.start_time),
        "endTime": timestamp(job.end_time) if job.end_time else None,
    }
    return {key: value for key, value in run.items() if value is not None}
