"""What "matches the spec" means, decided once for both `plan` (what to change) and `report` (what to say).

`assess` works it out once per observation into a frozen `Assessment` that both read: the schedules' time zone,
how the desired schedule reads, which mappings are already set as the spec says, and which of those lost a
schedule Site Recovery made for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import datetime

from asr_autoupdate.api import POLICY_TAG
from asr_autoupdate.api.regions import normalize_region, region_time_zone
from asr_autoupdate.api.spec import Frequency, PolicySpec, ScheduleSettings
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


def mapping_time_zone(spec: PolicySpec, observation: Observation, mapping: port.Mapping) -> str | None:
    """The zone the spec wants the mapping's schedule in: the spec's, else the zone of the mapping's source
    region (the replicated VMs' geography, as Site Recovery's own default); None when neither is known or
    when the spec leaves Site Recovery's schedules alone."""
    if spec.schedule is None:
        return None
    return spec.schedule.time_zone or region_time_zone(observation.source_region(mapping) or "")


def needs_source_regions(spec: PolicySpec) -> bool:
    """Only a schedule without a time zone needs to know where each mapping's VMs are."""
    return spec.automatic and spec.schedule is not None and spec.schedule.time_zone is None


def schedule_matches(settings: ScheduleSettings, time_zone: str, schedule: port.Schedule) -> bool:
    """Same local time, zone, frequency, interval and (for Week) week days as the spec asks for."""
    same_days = settings.frequency is Frequency.DAY or set(schedule.week_days) == set(settings.week_days)
    return (
        schedule.time_zone == time_zone
        and local_clock(schedule) == settings.time
        and schedule.frequency == settings.frequency
        and schedule.interval == settings.interval
        and same_days
    )


def has_health_error(mapping: port.Mapping) -> bool:
    return any(not health.is_warning for health in mapping.health_errors)


def desired_summary(settings: ScheduleSettings, time_zones: Collection[str]) -> str:
    """The spec's schedule as the Schedule column shows it; several zones (mappings from several source
    regions) are listed side by side: `00:00 Europe/London, Asia/Tokyo`."""
    zones = ", ".join(sorted(set(time_zones))) or "in each source region's zone"
    return summarize(settings.time, zones, settings.frequency, settings.interval, settings.week_days)


def observed_summary(schedules: Collection[port.Schedule]) -> str | None:
    """Site Recovery's own schedules as the Schedule column shows them, when the spec leaves them alone: the
    same run in several zones reads `00:00 Europe/Amsterdam, Europe/Dublin`."""
    zones: dict[tuple[str, str, int, tuple[str, ...]], set[str]] = {}
    for schedule in schedules:
        clock = local_clock(schedule)
        if clock is not None:
            key = (clock, schedule.frequency or "Day", schedule.interval or 1, tuple(schedule.week_days))
            zones.setdefault(key, set()).add(schedule.time_zone or "")
    readings = sorted(
        summarize(clock, ", ".join(sorted(names)), frequency, interval, days)
        for (clock, frequency, interval, days), names in zones.items()
    )
    if not readings:
        return None
    return readings[0] if len(readings) == 1 else f"{readings[0]} and {len(readings) - 1} more"


@dataclasses.dataclass(frozen=True)
class Assessment:
    """Does Azure match the spec, for one observation?"""

    spec: PolicySpec
    observation: Observation
    time_zones: Mapping[str, str | None]  # configured mapping -> the zone its schedule should be in (see
    # mapping_time_zone); None: not known, or the spec leaves Site Recovery's schedules as they are
    schedule_summary: str | None  # the schedule as the Schedule column shows it
    configured: frozenset[str]  # A2A mappings already set as the spec says
    missing_pieces: Mapping[str, str]  # configured mapping -> "schedule X" or "job schedule Y" gone from the account
    region_problem: str | None  # why an existing account is not where Site Recovery wants it
    account_usable: bool  # the account exists where it must, with the identity the spec needs
    updating: frozenset[str] = frozenset()  # mappings with a Site Recovery operation in flight: never touched
    reapply: frozenset[str] = frozenset()  # configured mappings with a health error, due to be set again

    def is_configured(self, mapping: port.Mapping) -> bool:
        return mapping.name in self.configured

    def is_updating(self, mapping: port.Mapping) -> bool:
        return mapping.name in self.updating

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


def assess(
    spec: PolicySpec,
    observation: Observation,
    *,
    updating: Collection[str] = (),
    last_updates: Mapping[str, datetime] | None = None,
    now: datetime | None = None,
) -> Assessment:
    """Work out, once, what plan and report both need to know about `observation` against `spec`.

    `updating` names the mappings with an operation in flight; `last_updates` says when each mapping's last
    update the operator sent ended: a configured mapping with a health error is set again (as Microsoft's
    enable script does, and the portal's Repair) at most once per drift interval after that, once the
    identity holds its role (before, CredentialsHealthy says what to fix)."""
    configured = frozenset(
        mapping.name for mapping in observation.manageable_mappings if mapping_configured(spec, mapping)
    )
    time_zones = {
        mapping.name: mapping_time_zone(spec, observation, mapping)
        for mapping in observation.manageable_mappings
        if mapping.name in configured
    }
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
        time_zones=time_zones,
        schedule_summary=_summary(spec, observation, configured, time_zones),
        configured=configured,
        missing_pieces=missing,
        region_problem=account_region_problem(observation),
        account_usable=account_usable(spec, observation),
        updating=frozenset(updating),
        reapply=_reapply_due(spec, observation, configured, last_updates or {}, now),
    )


def _summary(
    spec: PolicySpec, observation: Observation, configured: frozenset[str], time_zones: Mapping[str, str | None]
) -> str | None:
    if not spec.automatic:
        return None
    if spec.schedule is None:
        names = {
            (mapping.schedule_name or "").lower()
            for mapping in observation.manageable_mappings
            if mapping.name in configured
        }
        return observed_summary([schedule for schedule in observation.schedules if schedule.name.lower() in names])
    if spec.schedule.time_zone:
        return desired_summary(spec.schedule, [spec.schedule.time_zone])
    return desired_summary(spec.schedule, [zone for zone in time_zones.values() if zone])


def _reapply_due(
    spec: PolicySpec,
    observation: Observation,
    configured: frozenset[str],
    last_updates: Mapping[str, datetime],
    now: datetime | None,
) -> frozenset[str]:
    if not (spec.uses_identity and has_vault_access(observation.role_assignments)):
        return frozenset()  # the credentials are the problem: setting the mapping again would not mend them
    due = set()
    for mapping in observation.manageable_mappings:
        if mapping.name not in configured or not has_health_error(mapping):
            continue
        last = last_updates.get(mapping.name)
        if last is None or now is None or (now - last).total_seconds() >= spec.drift_check_interval_seconds:
            due.add(mapping.name)
    return frozenset(due)
