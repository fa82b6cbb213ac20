"""plan() and plan_cleanup() as tables: one row per situation, the reason in its id."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from asr_autoupdate.api import POLICY_TAG
from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import PermissionError_, TransientError
from asr_autoupdate.reconcile.desired import assess
from asr_autoupdate.reconcile.model import CreateAccount, Part, RewriteSchedule, UpdateMapping
from asr_autoupdate.reconcile.plan import plan, plan_cleanup
from asr_autoupdate.reconcile.timing import next_start
from tests.unit.policy_builders import (
    ACCOUNT,
    NOW,
    SUBSCRIPTION,
    account,
    converged,
    make_spec,
    mapping,
    role,
    schedule,
    vault,
)

CREATE = "create automation account vault1-asr-automationaccount in westeurope"
ENABLE_IDENTITY = "turn on the system-assigned identity of automation account vault1-asr-automationaccount"
GRANT = "grant Contributor on the vault to the automation account's identity principal-1"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
SUBSCRIPTION_SCOPE = f"/subscriptions/{SUBSCRIPTION}"
OTHER_ACCOUNT = ACCOUNT.id.replace("vault1-asr-automationaccount", "someone-elses-account")
WEEKLY_SUNDAY = {"frequency": "Week", "weekDays": ["Sunday"]}


def enable(name):
    return f"set auto-update Enabled on mapping {name}"


def disable(name):
    return f"set auto-update Disabled on mapping {name}"


def rewrite(when, name="m1_a85ea38f"):
    return f"rewrite schedule {name} to run at {when}"


def failed(part, error=None):
    return {part: error or TransientError("busy", status=503)}


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


PLAN_CASES = [
    # id, spec overrides, observation, force, expected
    ("converged-nothing-to-do", {}, converged(), False, []),
    ("vault-missing-nothing-to-do", {}, converged(vault=None), False, []),
    ("account-missing-create-it", {}, converged(automation_account=None), False, [CREATE]),
    (
        "account-missing-run-as-cannot-be-created",
        {"authentication": "RunAsAccount"},
        converged(automation_account=None),
        False,
        [],
    ),
    (
        "account-unreadable-wait",
        {},
        converged(automation_account=None, failures=failed(Part.AUTOMATION_ACCOUNT)),
        False,
        [],
    ),
    ("identity-off-enable-it", {}, converged(automation_account=account(principal_id=None)), False, [ENABLE_IDENTITY]),
    (
        "account-in-other-region-touch-nothing",
        {},
        converged(automation_account=account(location="northeurope")),
        False,
        [],
    ),
    (
        "account-in-other-region-no-identity-touch-nothing",
        {},
        converged(automation_account=account(location="northeurope", principal_id=None)),
        False,
        [],
    ),
    (
        "account-region-display-name-is-same-region",
        {},
        converged(automation_account=account(location="West Europe")),
        False,
        [],
    ),
    ("no-role-grant-contributor", {}, converged(role_assignments=()), False, [GRANT]),
    ("no-role-grant-disabled", {"grantVaultAccess": False}, converged(role_assignments=()), False, []),
    (
        "owner-on-subscription-is-enough",
        {},
        converged(role_assignments=(role(port.OWNER_ROLE, SUBSCRIPTION_SCOPE),)),
        False,
        [],
    ),
    ("reader-is-not-enough", {}, converged(role_assignments=(role(READER),)), False, [GRANT]),
    ("roles-unreadable-wait", {}, converged(role_assignments=(), failures=failed(Part.ROLE_ASSIGNMENTS)), False, []),
    ("mapping-disabled-enable-it", {}, converged(mappings=(mapping(auto_update="Disabled"),)), False, [enable("m1")]),
    (
        "mapping-on-other-account-move-it",
        {},
        converged(mappings=(mapping(automation_account_id=OTHER_ACCOUNT),)),
        False,
        [enable("m1")],
    ),
    (
        "mapping-account-id-case-differs-is-same",
        {},
        converged(mappings=(mapping(automation_account_id=ACCOUNT.id.upper()),)),
        False,
        [],
    ),
    (
        "mapping-run-as-auth-switch-to-identity",
        {},
        converged(mappings=(mapping(authentication_type="RunAsAccount"),)),
        False,
        [enable("m1")],
    ),
    (
        "mapping-not-paired-skipped",
        {},
        converged(mappings=(mapping(), mapping("m2", state="Unpaired", auto_update="Disabled"))),
        False,
        [],
    ),
    (
        "mapping-not-a2a-skipped",
        {},
        converged(mappings=(mapping(), mapping("m2", instance_type="InMageRcm", auto_update="Disabled"))),
        False,
        [],
    ),
    (
        "new-mapping-appears-enable-it",
        {},
        converged(
            mappings=(mapping(), mapping("m2", auto_update="Disabled", schedule_name=None, job_schedule_name=None))
        ),
        False,
        [enable("m2")],
    ),
    ("mappings-unreadable-wait", {}, converged(mappings=(), failures=failed(Part.MAPPINGS)), False, []),
    (
        "schedule-time-differs-rewrite",
        {"schedule": {"time": "06:30"}},
        converged(),
        False,
        [rewrite("06:30 Europe/Amsterdam")],
    ),
    (
        "schedule-zone-differs-rewrite",
        {"schedule": {}},
        converged(schedules=(schedule(time_zone="UTC", start_time=utc(2024, 6, 9)),)),
        False,
        [rewrite("00:00 Europe/Amsterdam")],
    ),
    (
        "schedule-frequency-differs-rewrite",
        {"schedule": {}},
        converged(schedules=(schedule(frequency="Hour"),)),
        False,
        [rewrite("00:00 Europe/Amsterdam")],
    ),
    (
        "schedule-interval-differs-rewrite",
        {"schedule": {}},
        converged(schedules=(schedule(interval=2),)),
        False,
        [rewrite("00:00 Europe/Amsterdam")],
    ),
    (
        "schedule-omitted-site-recovery-schedules-left-as-made",
        {},
        converged(schedules=(schedule(time_zone="UTC", start_time=utc(2024, 6, 9, 3), interval=2),)),
        False,
        [],
    ),
    (
        "schedule-without-zone-takes-the-source-regions-zone",
        {"schedule": {"time": "00:00"}},
        converged(fabrics=(port.Fabric("f1", "uksouth"),)),
        False,
        [rewrite("00:00 Europe/London")],
    ),
    (
        "schedule-without-zone-source-region-unread-no-rewrite",
        {"schedule": {"time": "06:30"}},
        converged(fabrics=()),
        False,
        [],
    ),
    (
        "schedule-week-days-differ-rewrite",
        {"schedule": WEEKLY_SUNDAY},
        converged(schedules=(schedule(frequency="Week", week_days=("Saturday",)),)),
        False,
        [rewrite("00:00 Europe/Amsterdam on Sunday")],
    ),
    (
        "schedule-week-days-match",
        {"schedule": WEEKLY_SUNDAY},
        # Azure's "sunday" arrives as "Sunday": the wire parser canonicalizes (tests/adapter/test_client_parsing.py)
        converged(schedules=(schedule(frequency="Week", week_days=("Sunday",)),)),
        False,
        [],
    ),
    (
        "schedule-explicit-zone-rewrite",
        {"schedule": {"timeZone": "Asia/Kolkata"}},
        converged(),
        False,
        [rewrite("00:00 Asia/Kolkata")],
    ),
    (
        "schedule-of-unconfigured-mapping-waits",
        {"schedule": {"time": "06:30"}},
        converged(mappings=(mapping(auto_update="Disabled"),)),
        False,
        [enable("m1")],
    ),
    ("schedule-missing-never-created", {"schedule": {"time": "06:30"}}, converged(schedules=()), False, []),
    (
        "schedules-unreadable-wait",
        {"schedule": {"time": "06:30"}},
        converged(schedules=(), failures=failed(Part.SCHEDULES)),
        False,
        [],
    ),
    (
        "region-unknown-no-zone-no-rewrite",
        {"schedule": {"time": "06:30"}},
        converged(fabrics=(port.Fabric("f1", "moon"),)),
        False,
        [],
    ),
    (
        "region-unknown-explicit-zone-rewrite",
        {"schedule": {"time": "06:30", "timeZone": "UTC"}},
        converged(vault=vault("moon"), automation_account=account(location="moon")),
        False,
        [rewrite("06:30 UTC")],
    ),
    (
        "shared-schedule-rewritten-once",
        {"schedule": {"time": "06:30"}},
        converged(mappings=(mapping(), mapping("m2", schedule_name="m1_a85ea38f"))),
        False,
        [rewrite("06:30 Europe/Amsterdam")],
    ),
    ("manual-disables-enabled-mapping", {"updateMode": "Manual"}, converged(), False, [disable("m1")]),
    (
        "manual-leaves-disabled-mapping",
        {"updateMode": "Manual"},
        converged(mappings=(mapping(auto_update="Disabled"),)),
        False,
        [],
    ),
    (
        "manual-disables-unknown-status",
        {"updateMode": "Manual"},
        converged(mappings=(mapping(auto_update=None),)),
        False,
        [disable("m1")],
    ),
    (
        "manual-never-creates-an-account",
        {"updateMode": "Manual"},
        converged(automation_account=None),
        False,
        [disable("m1")],
    ),
    (
        "manual-ignores-schedule",
        {"updateMode": "Manual", "schedule": {"time": "06:30"}},
        converged(mappings=(mapping(auto_update="Disabled"),)),
        False,
        [],
    ),
    ("repair-reapplies-role-and-mappings", {}, converged(), True, [GRANT, enable("m1")]),
    (
        "repair-manual-reapplies-disable",
        {"updateMode": "Manual"},
        converged(mappings=(mapping(auto_update="Disabled"),)),
        True,
        [disable("m1")],
    ),
    (
        "health-error-reapplied-as-microsofts-script-does",
        {},
        converged(mappings=(mapping(health_errors=(port.HealthError("E1", "broken", "Fix it"),)),)),
        False,
        [enable("m1")],
    ),
    (
        "health-warning-left-alone",
        {},
        converged(mappings=(mapping(health_errors=(port.HealthError("W1", "expiring", "", level="Warning"),)),)),
        False,
        [],
    ),
    (
        "health-error-repatched-on-repair",
        {},
        converged(mappings=(mapping(health_errors=(port.HealthError("E1", "broken", "Fix it"),)),)),
        True,
        [GRANT, enable("m1")],
    ),
    (
        "observe-mode-plans-the-same",
        {"managementPolicy": "Observe"},
        converged(automation_account=None),
        False,
        [CREATE],
    ),
    (
        "run-as-keeps-mappings-without-identity-or-role",
        {"authentication": "RunAsAccount"},
        converged(automation_account=account(principal_id=None), role_assignments=()),
        False,
        [enable("m1")],
    ),
]


@pytest.mark.parametrize(
    "overrides, observation, force, expected",
    [pytest.param(*case[1:], id=case[0]) for case in PLAN_CASES],
)
def test_plan(overrides, observation, force, expected):
    actions = plan(assess(make_spec(**overrides), observation), NOW, force=force)
    assert [action.todo for action in actions] == expected


def test_a_mapping_with_an_update_in_flight_is_neither_updated_nor_its_schedule_rewritten():
    observation = converged(
        mappings=(mapping(auto_update="Disabled", name="m0"), mapping()), schedules=(schedule(time_zone="UTC"),)
    )
    spec = make_spec(schedule={})
    assert [a.todo for a in plan(assess(spec, observation), NOW)] == [enable("m0"), rewrite("00:00 Europe/Amsterdam")]
    assert plan(assess(spec, observation, updating={"m0", "m1"}), NOW) == []
    manual = make_spec(updateMode="Manual")
    assert plan(assess(manual, observation, updating={"m1"}), NOW) == []


def test_a_health_error_is_reapplied_once_per_drift_interval_after_the_last_update():
    observation = converged(mappings=(mapping(health_errors=(port.HealthError("E1", "broken", "Fix it"),)),))
    spec = make_spec()
    just_now = {"m1": NOW - timedelta(minutes=5)}
    assert plan(assess(spec, observation, last_updates=just_now, now=NOW), NOW) == []
    an_interval_ago = {"m1": NOW - timedelta(seconds=spec.drift_check_interval_seconds)}
    assert [a.todo for a in plan(assess(spec, observation, last_updates=an_interval_ago, now=NOW), NOW)] == [
        enable("m1")
    ]


def pause(name="m1_a85ea38f"):
    return f"pause schedule {name}"


def resume(name="m1_a85ea38f"):
    return f"resume schedule {name}"


@pytest.mark.parametrize(
    "overrides, observation, expected",
    [
        pytest.param({"updatesPaused": True}, converged(), [pause()], id="a-pause-disables-the-schedules"),
        pytest.param(
            {"updatesPaused": True},
            converged(schedules=(schedule(is_enabled=False),)),
            [],
            id="paused-and-disabled-nothing-to-do",
        ),
        pytest.param(
            {}, converged(schedules=(schedule(is_enabled=False),)), [resume()], id="unpaused-a-disabled-one-resumes"
        ),
        pytest.param(
            {"updatesPaused": True, "schedule": {"time": "06:30"}},
            converged(),
            [rewrite("06:30 Europe/Amsterdam")],
            id="a-schedule-being-rewritten-is-paused-after-the-rewrite",
        ),
        pytest.param(
            {"updatesPaused": True},
            converged(failures=failed(Part.SCHEDULES)),
            [],
            id="schedules-unread-nothing-toggled",
        ),
        pytest.param(
            {"updatesPaused": True, "updateMode": "Manual"},
            converged(schedules=(schedule(),)),
            ["set auto-update Disabled on mapping m1"],
            id="manual-needs-no-pause",
        ),
    ],
)
def test_pausing_updates(overrides, observation, expected):
    assert [a.todo for a in plan(assess(make_spec(**overrides), observation), NOW)] == expected


def test_a_mapping_being_updated_keeps_its_schedule_untouched_until_it_ends():
    observation = converged()
    assert plan(assess(make_spec(updatesPaused=True), observation, updating={"m1"}), NOW) == []


def test_created_account_is_tagged_for_its_policy():
    [create] = plan(assess(make_spec(), converged(automation_account=None)), NOW)
    assert create == CreateAccount(ACCOUNT, location="westeurope", tags={POLICY_TAG: "dr/vault1"})


def test_mapping_update_names_the_account_and_authentication():
    [update] = plan(assess(make_spec(), converged(mappings=(mapping(auto_update="Disabled"),))), NOW)
    assert isinstance(update, UpdateMapping)
    assert (update.enabled, update.automation_account_id, update.authentication_type) == (
        True,
        ACCOUNT.id,
        "SystemAssignedIdentity",
    )


def test_manual_keeps_the_account_link():
    [update] = plan(assess(make_spec(updateMode="Manual"), converged()), NOW)
    assert (update.enabled, update.automation_account_id, update.authentication_type) == (
        False,
        mapping().automation_account_id,
        "SystemAssignedIdentity",
    )


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"time": "06:30"}, id="daily"),
        pytest.param({"time": "14:04", "interval": 3}, id="inside-lead-time"),
        pytest.param(
            {"time": "23:15", "timeZone": "America/New_York", "frequency": "Week", "weekDays": ["Friday", "Tuesday"]},
            id="weekly-elsewhere",
        ),
    ],
)
def test_rewrite_keeps_the_name_and_starts_at_the_next_local_time(settings):
    spec = make_spec(schedule=settings)
    [action] = plan(assess(spec, converged()), NOW)
    assert isinstance(action, RewriteSchedule)
    zone = settings.get("timeZone", "Europe/Amsterdam")
    assert action.schedule == port.ScheduleSpec(
        name="m1_a85ea38f",
        start_time=next_start(spec.schedule, zone, NOW),
        frequency=settings.get("frequency", "Day"),
        interval=settings.get("interval", 1),
        time_zone=zone,
        week_days=spec.schedule.week_days,
    )
    assert action.schedule.start_time >= NOW + timedelta(minutes=5)


def test_plan_is_pure():
    observation = converged(automation_account=None)
    before = dataclasses.replace(observation)
    plan(assess(make_spec(), observation), NOW)
    assert observation == before


OURS = account()
NOT_OURS = account(tags={POLICY_TAG: "other/policy"})
VAULT_ROLE = role()
REVOKE = f"remove role assignment {VAULT_ROLE.id}"
DELETE = "delete automation account vault1-asr-automationaccount"
ALL_DISABLED = (mapping(auto_update="Disabled"),)

CLEANUP_CASES = [
    ("orphan-leaves-azure", {"deletionPolicy": "Orphan"}, converged(), []),
    ("observe-never-writes", {"deletionPolicy": "Delete", "managementPolicy": "Observe"}, converged(), []),
    ("disable-turns-mappings-off", {"deletionPolicy": "Disable"}, converged(), [disable("m1")]),
    ("disable-done", {"deletionPolicy": "Disable"}, converged(mappings=ALL_DISABLED), []),
    ("delete-disables-first", {"deletionPolicy": "Delete"}, converged(), [disable("m1")]),
    (
        "delete-then-removes-the-role-first",
        {"deletionPolicy": "Delete"},
        converged(mappings=ALL_DISABLED),
        [REVOKE],
    ),
    (
        # a revocation that failed leaves the account, so the next pass still knows whose role to remove
        "delete-removes-the-account-once-its-role-is-gone",
        {"deletionPolicy": "Delete"},
        converged(mappings=ALL_DISABLED, role_assignments=()),
        [DELETE],
    ),
    (
        "delete-keeps-an-account-it-did-not-create",
        {"deletionPolicy": "Delete"},
        converged(mappings=ALL_DISABLED, automation_account=NOT_OURS),
        [],
    ),
    (
        "delete-keeps-inherited-and-owner-roles",
        {"deletionPolicy": "Delete"},
        converged(
            mappings=ALL_DISABLED,
            role_assignments=(role(port.CONTRIBUTOR_ROLE, SUBSCRIPTION_SCOPE), role(port.OWNER_ROLE)),
        ),
        [DELETE],
    ),
    (
        "delete-account-already-gone",
        {"deletionPolicy": "Delete"},
        converged(mappings=ALL_DISABLED, automation_account=None),
        [],
    ),
    (
        "delete-vault-gone-still-removes-account",
        {"deletionPolicy": "Delete"},
        converged(vault=None, mappings=(), role_assignments=()),
        [DELETE],
    ),
]


@pytest.mark.parametrize(
    "overrides, observation, expected", [pytest.param(*case[1:], id=case[0]) for case in CLEANUP_CASES]
)
def test_plan_cleanup(overrides, observation, expected):
    assert [action.todo for action in plan_cleanup(make_spec(**overrides), observation)] == expected


@pytest.mark.parametrize("part", [Part.VAULT, Part.AUTOMATION_ACCOUNT, Part.MAPPINGS, Part.ROLE_ASSIGNMENTS])
def test_cleanup_changes_nothing_it_could_not_read(part):
    """A mapping that could not be read may still point at the account: nothing is deleted blind."""
    observation = converged(mappings=ALL_DISABLED, failures=failed(part, PermissionError_("no", status=403)))
    assert plan_cleanup(make_spec(deletionPolicy="Delete"), observation) == []
