"""What "matches the spec" means, decided once for both `plan` (what to change) and `report` (what to say).

`assess` works it out once per observation into a frozen `Assessment` that both read: the schedules' time zone,
how the desired schedule reads, which mappings are already set as the spec says, and which of those lost a
schedule Site Recovery made for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

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
    return mapping.auto_update == "Enabled"


def mapping_configured(spec: PolicySpec, mapping: port.Mapping) -> bool:
    """Automatic: enabled, with the spec's account and authentication. Manual: disabled."""
    if not spec.automatic:
        return mapping.auto_update == "Disabled"
    return (
        auto_update_enabled(mapping)
        and port.same_id(mapping.automation_account_id, spec.automation_account.id)
        and mapping.authentication_type == spec.authentication
    )


def schedule_time_zone(spec: PolicySpec, vault: port.Vault) -> str | None:
    """The spec's zone, or the vault region's; None when neither is known."""
    return spec.schedule.time_zone or region_time_zone(vault.location)


def schedule_matches(spec: PolicySpec, time_zone: str, schedule: port.Schedule) -> bool:
    """Same local time, zone, frequency, interval and (for Week) week days as the spec asks for."""
    settings = spec.schedule
    same_days = settings.frequency is Frequency.DAY or set(schedule.week_days) == set(settings.week_days)
    return (
        schedule.time_zone == time_zone
        and local_clock(schedule) == settings.time
        and schedule.frequency == settings.frequency
        and schedule.interval == settings.interval
        and same_days
    )


def desired_summary(spec: PolicySpec, time_zone: str) -> str:
    settings = spec.schedule
    return summarize(settings.time, time_zone, settings.frequency, settings.interval, settings.week_days)


@dataclasses.dataclass(frozen=True)
class Assessment:
    """Does Azure match the spec, for one observation?"""

    spec: PolicySpec
    observation: Observation
    time_zone: str | None  # the schedules' zone: the spec's, else the vault region's; None: neither is known
    schedule_summary: str | None  # the desired schedule as status shows it (None without a zone)
    configured: frozenset[str]  # A2A mappings already set as the spec says
    missing_pieces: Mapping[str, str]  # configured mapping -> "schedule X" or "job schedule Y" gone from the account
    region_problem: str | None  # why an existing account is not where Site Recovery wants it
    account_usable: bool  # the account exists where it must, with the identity the spec needs

    def is_configured(self, mapping: port.Mapping) -> bool:
        return mapping.name in self.configured

    @property
    def configured_mappings(self) -> list[port.Mapping]:
        return [mapping for mapping in self.observation.manageable_mappings if self.is_configured(mapping)]

    @property
    def schedules_missing(self) -> frozenset[str]:
        """Configured mappings whose Site Recovery schedule or job schedule is gone (deleted by hand, or with the
        account). Setting the mapping again is what makes Site Recovery recreate them; nothing is said while
        the account's schedules could not be read."""
        failures = self.observation.failures.keys()
        if self.observation.automation_account is None or {Part.SCHEDULES, Part.JOB_SCHEDULES} & failures:
            return frozenset()
        return frozenset(self.missing_pieces)


def assess(spec: PolicySpec, observation: Observation) -> Assessment:
    """Work out, once, what plan and report both need to know about `observation` against `spec`."""
    vault = observation.vault
    time_zone = schedule_time_zone(spec, vault) if vault is not None else spec.schedule.time_zone
    configured = frozenset(
        mapping.name for mapping in observation.manageable_mappings if mapping_configured(spec, mapping)
    )
    job_schedules = {job_schedule.id.lower() for job_schedule in observation.job_schedules}
    missing: dict[str, str] = {}
    for mapping in observation.manageable_mappings:
        if mapping.name not in configured or not mapping.schedule_name:
            continue
        if observation.schedule(mapping.schedule_name) is None:
            missing[mapping.name] = f"schedule {mapping.schedule_name}"
        elif mapping.job_schedule_name and mapping.job_schedule_name.lower() not in job_schedules:
            missing[mapping.name] = f"job schedule {mapping.job_schedule_name}"
    return Assessment(
        spec=spec,
        observation=observation,
        time_zone=time_zone,
        schedule_summary=desired_summary(spec, time_zone) if time_zone else None,
        configured=configured,
        missing_pieces=missing,
        region_problem=account_region_problem(observation),
        account_usable=account_usable(spec, observation),
    )
