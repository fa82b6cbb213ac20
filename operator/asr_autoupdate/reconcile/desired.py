"""What "matches the spec" means, decided once for both `plan` (what to change) and `report` (what to say)."""

from __future__ import annotations

from asr_autoupdate.api import POLICY_TAG
from asr_autoupdate.api.regions import normalize_region, region_time_zone
from asr_autoupdate.api.spec import Frequency, PolicySpec
from asr_autoupdate.azure import port
from asr_autoupdate.reconcile.model import Observation, Part
from asr_autoupdate.reconcile.timing import local_clock, summarize

VAULT_ACCESS_ROLES = frozenset({port.CONTRIBUTOR_ROLE, port.OWNER_ROLE})


def account_region_problem(observation: Observation) -> str | None:
    """Site Recovery wants the account in the vault's region; say why an existing one is elsewhere."""
    account, vault = observation.automation_account, observation.vault
    if account is None or vault is None or normalize_region(account.location) == normalize_region(vault.location):
        return None
    return f"it is in {account.location}, not in the vault's region {vault.location}"


def account_usable(spec: PolicySpec, observation: Observation) -> bool:
    """The account exists where it must, with the identity the spec's authentication needs."""
    account = observation.automation_account
    if account is None or account_region_problem(observation):
        return False
    return account.principal_id is not None or not spec.uses_identity


def created_by(spec: PolicySpec, account: port.AutomationAccount) -> bool:
    """Whether this policy created the account: only then may deletionPolicy Delete remove it."""
    tags = {key.lower(): value for key, value in account.tags.items()}
    return tags.get(POLICY_TAG.lower()) == spec.owner


def has_vault_access(assignments: tuple[port.RoleAssignment, ...]) -> bool:
    """Contributor or Owner at the vault or above (the port lists inherited assignments too)."""
    return any(assignment.role_guid in VAULT_ACCESS_ROLES for assignment in assignments)


def auto_update_enabled(mapping: port.Mapping) -> bool:
    return (mapping.auto_update or "").lower() == "enabled"


def mapping_configured(spec: PolicySpec, mapping: port.Mapping) -> bool:
    """Automatic: enabled, with the spec's account and authentication. Manual: disabled."""
    if not spec.automatic:
        return (mapping.auto_update or "").lower() == "disabled"
    return (
        auto_update_enabled(mapping)
        and port.same_id(mapping.automation_account_id, spec.automation_account.id)
        and (mapping.authentication_type or "").lower() == spec.authentication.lower()
    )


def schedules_missing(spec: PolicySpec, observation: Observation) -> frozenset[str]:
    """Configured mappings whose Site Recovery schedule or job schedule is gone from the account (deleted by
    hand, or with the account itself). Setting the mapping again is what makes Site Recovery recreate them;
    nothing is said while the account's schedules could not be read."""
    if observation.automation_account is None or {Part.SCHEDULES, Part.JOB_SCHEDULES} & observation.failures.keys():
        return frozenset()
    job_schedules = {job_schedule.id.lower() for job_schedule in observation.job_schedules}
    return frozenset(
        mapping.name
        for mapping in observation.manageable_mappings
        if mapping_configured(spec, mapping)
        and mapping.schedule_name
        and (
            observation.schedule(mapping.schedule_name) is None
            or (mapping.job_schedule_name is not None and mapping.job_schedule_name.lower() not in job_schedules)
        )
    )


def schedule_time_zone(spec: PolicySpec, vault: port.Vault) -> str | None:
    """The spec's zone, or the vault region's; None when neither is known."""
    return spec.schedule.time_zone or region_time_zone(vault.location)


def schedule_matches(spec: PolicySpec, time_zone: str, schedule: port.Schedule) -> bool:
    """Same local time, zone, frequency, interval and (for Week) week days as the spec asks for."""
    settings = spec.schedule
    same_days = settings.frequency is Frequency.DAY or {day.lower() for day in schedule.week_days} == {
        day.lower() for day in settings.week_days
    }
    return (
        schedule.time_zone == time_zone
        and local_clock(schedule) == settings.time
        and (schedule.frequency or "").lower() == settings.frequency.lower()
        and schedule.interval == settings.interval
        and same_days
    )


def desired_summary(spec: PolicySpec, time_zone: str) -> str:
    settings = spec.schedule
    return summarize(settings.time, time_zone, settings.frequency, settings.interval, settings.week_days)
