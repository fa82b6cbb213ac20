"""Decide what to change in Azure: pure functions of (spec, observation, now), no I/O and no clock.

A change that needs something not there yet (a role needs the identity's principal id, a schedule needs the
mapping enabled so Site Recovery has created it) is simply left out; the next round, after the change it
waits for, plans it. The operator never creates a schedule of its own: it rewrites the one Site Recovery made,
under the same name, so the mapping's reference to it stays valid.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from asr_autoupdate.api import POLICY_TAG
from asr_autoupdate.api.spec import Authentication, DeletionPolicy, PolicySpec
from asr_autoupdate.azure import port
from asr_autoupdate.reconcile import desired
from asr_autoupdate.reconcile.desired import Assessment
from asr_autoupdate.reconcile.model import (
    CLEANUP_PARTS,
    Action,
    CreateAccount,
    DeleteAccount,
    EnableIdentity,
    GrantRole,
    MigrateMapping,
    Observation,
    Part,
    PauseSchedule,
    ResumeSchedule,
    RevokeRole,
    RewriteSchedule,
    UpdateMapping,
)
from asr_autoupdate.reconcile.timing import next_start


def plan(
    assessment: Assessment,
    now: datetime,
    *,
    force: bool = False,
    restore: Collection[str] = (),
) -> list[Action]:
    """The changes that bring Azure to the spec; `force` (a repair pass) re-applies mappings and the role;
    `restore` names mappings to set again so that Site Recovery recreates their missing schedule."""
    spec, observation = assessment.spec, assessment.observation
    if observation.vault is None:
        return []
    if not spec.automatic:
        return _disable_mappings(observation, force=force, updating=assessment.updating)
    account_actions = _account_actions(assessment)
    if account_actions or not assessment.account_usable:
        return account_actions
    return [
        *_role_actions(spec, observation, force=force),
        *_mapping_actions(assessment, force=force, restore=restore),
        *(rewrites := _schedule_actions(assessment, now)),
        *_pause_actions(
            assessment, {action.schedule.name for action in rewrites if isinstance(action, RewriteSchedule)}
        ),
    ]


def cleanup_wanted(spec: PolicySpec) -> bool:
    """Orphan, and anything in Observe mode, leave Azure as it is when the policy goes."""
    return not spec.observe_only and spec.deletion_policy is not DeletionPolicy.ORPHAN


def plan_cleanup(spec: PolicySpec, observation: Observation, updating: Collection[str] = ()) -> list[Action]:
    """What the deletion policy asks before the object goes: mappings back to Manual first, then (Delete)
    the role assignment and the account, but only an account this policy created. Nothing goes while a
    mapping update is still in flight (`updating`): it may yet point a mapping at the account."""
    if not cleanup_wanted(spec) or any(part in observation.failures for part in CLEANUP_PARTS):
        return []
    disabling = _disable_mappings(observation, force=False, updating=updating)
    if disabling or updating or spec.deletion_policy is DeletionPolicy.DISABLE:
        return disabling
    account = observation.automation_account
    if account is None or not desired.created_by(spec, account):
        return []
    revocations: list[Action] = [
        RevokeRole(assignment)
        for assignment in observation.role_assignments
        if assignment.role_guid == port.CONTRIBUTOR_ROLE and port.same_id(assignment.scope, spec.vault.id)
    ]
    # the account goes in a later pass, once no assignment of its identity is left: deleted in the same pass, a
    # revocation that failed (a 5xx, a dropped connection) would leave the role of a deleted identity behind for
    # good, since the next pass finds no account and so nothing to clean up
    return revocations or [DeleteAccount(spec.automation_account)]


def _account_actions(assessment: Assessment) -> list[Action]:
    """Create the account, or turn its identity on; Run As accounts can no longer be created, so not for them."""
    spec, observation = assessment.spec, assessment.observation
    if Part.AUTOMATION_ACCOUNT in observation.failures or not spec.uses_identity:
        return []
    account = observation.automation_account
    if account is None:
        tags = {POLICY_TAG: spec.owner}
        return [CreateAccount(spec.automation_account, location=observation.known_vault.location, tags=tags)]
    if account.principal_id is None and not assessment.region_problem:
        return [EnableIdentity(spec.automation_account, location=account.location, tags=dict(account.tags))]
    return []


def _role_actions(spec: PolicySpec, observation: Observation, *, force: bool) -> list[Action]:
    if not (spec.uses_identity and spec.grant_vault_access) or Part.ROLE_ASSIGNMENTS in observation.failures:
        return []
    if desired.has_vault_access(observation.role_assignments) and not force:
        return []
    principal = observation.known_account.principal_id
    if principal is None:  # account_usable needs one in identity mode
        raise AssertionError("granting a role to an account without an identity")
    return [GrantRole(scope=observation.known_vault.id, principal_id=principal, force=force)]


def _mapping_actions(assessment: Assessment, *, force: bool, restore: Collection[str]) -> list[Action]:
    spec, observation = assessment.spec, assessment.observation
    account = observation.known_account
    return [
        (MigrateMapping if _migrating(spec, mapping) else UpdateMapping)(
            mapping, enabled=True, automation_account_id=account.id, authentication_type=str(spec.authentication)
        )
        for mapping in observation.manageable_mappings
        if not assessment.is_updating(mapping)
        and (
            force
            or not assessment.is_configured(mapping)
            or mapping.name in restore
            or mapping.name in assessment.reapply
        )
    ]


def _migrating(spec: PolicySpec, mapping: port.Mapping) -> bool:
    """An enabled mapping still on the retired Run As account, while the spec asks for the identity."""
    return (
        spec.uses_identity
        and desired.auto_update_enabled(mapping)
        and mapping.authentication_type == Authentication.RUN_AS_ACCOUNT
    )


def _disable_mappings(observation: Observation, *, force: bool, updating: Collection[str]) -> list[Action]:
    """Manual: auto-update off on every A2A Paired mapping; the account link is kept as Site Recovery has it.
    A mapping with an update in flight is left to it (the next pass sees how it ended)."""
    return [
        UpdateMapping(
            mapping,
            enabled=False,
            automation_account_id=mapping.automation_account_id,
            authentication_type=mapping.authentication_type,
        )
        for mapping in observation.manageable_mappings
        if mapping.name not in updating and (force or mapping.auto_update != "Disabled")
    ]


def _pause_actions(assessment: Assessment, rewriting: Collection[str]) -> list[Action]:
    """spec.updatesPaused: every Site Recovery schedule disabled; otherwise enabled (one a person switched the
    other way is drift). Whether or not the spec sets the schedule; a schedule being rewritten is judged after
    the rewrite (a PUT may change isEnabled), one whose mapping is updating after the update."""
    spec, observation = assessment.spec, assessment.observation
    if Part.SCHEDULES in observation.failures:
        return []
    toggles: dict[str, Action] = {}
    for mapping in assessment.configured_mappings:
        schedule = observation.schedule(mapping.schedule_name or "")
        if schedule is None or assessment.is_updating(mapping) or schedule.name in rewriting | toggles.keys():
            continue
        if schedule.is_enabled == spec.updates_paused:
            toggle = PauseSchedule if spec.updates_paused else ResumeSchedule
            toggles[schedule.name] = toggle(spec.automation_account, schedule.name, mapping.name)
    return list(toggles.values())


def _schedule_actions(assessment: Assessment, now: datetime) -> list[Action]:
    """Rewrite each Site Recovery schedule that is not at the spec's time in its mapping's zone; none when
    the spec leaves Site Recovery's schedules alone, or while a mapping's update is in flight (Site Recovery
    may replace its schedule when the update ends)."""
    spec, observation = assessment.spec, assessment.observation
    settings = spec.schedule
    if settings is None or Part.SCHEDULES in observation.failures:
        return []
    rewrites: dict[str, Action] = {}
    for mapping in assessment.configured_mappings:
        time_zone = assessment.time_zones.get(mapping.name)
        if not mapping.schedule_name or time_zone is None or assessment.is_updating(mapping):
            continue
        schedule = observation.schedule(mapping.schedule_name)
        if schedule is None or schedule.name in rewrites or desired.schedule_matches(settings, time_zone, schedule):
            continue
        rewrites[schedule.name] = RewriteSchedule(
            spec.automation_account,
            port.ScheduleSpec(
                name=schedule.name,
                start_time=next_start(settings, time_zone, now),
                frequency=str(settings.frequency),
                interval=settings.interval,
                time_zone=time_zone,
                week_days=settings.week_days,
            ),
            mapping_name=mapping.name,
            when=desired.desired_summary(settings, [time_zone]),
        )
    return list(rewrites.values())
