"""Parsing the spec: every default of api.md, and InvalidSpec for what only the operator can judge."""

from decimal import Decimal

import pytest

from asr_autoupdate.api.spec import (
    Authentication,
    DeletionPolicy,
    Frequency,
    InvalidSpec,
    ManagementPolicy,
    UpdateMode,
    default_account_name,
    parse_spec,
)
from tests.unit.policy_builders import SUBSCRIPTION, make_spec, spec_dict


def test_defaults_follow_the_contract():
    spec = make_spec()
    assert spec.owner == "dr/vault1"
    assert spec.update_mode is UpdateMode.AUTOMATIC
    assert spec.automation_account.name == "vault1-asr-automationaccount"
    assert spec.automation_account.resource_group == "rg-dr"
    assert spec.automation_account.subscription_id == SUBSCRIPTION
    assert spec.authentication is Authentication.SYSTEM_ASSIGNED_IDENTITY
    assert spec.grant_vault_access is True
    assert spec.management_policy is ManagementPolicy.MANAGE
    assert spec.deletion_policy is DeletionPolicy.ORPHAN
    assert spec.drift_check_interval_seconds == 3600
    assert spec.credentials_secret_name is None
    assert spec.schedule is None, "omitted: Site Recovery's own schedules are left as it made them"
    given = make_spec(schedule={}).schedule
    assert given is not None
    assert (given.time, given.time_zone, given.frequency) == ("00:00", None, Frequency.DAY), "zone: the source region's"
    assert (given.interval, given.week_days) == (1, ())
    assert spec.cost_model.free_minutes_per_month == 500
    assert spec.cost_model.price_per_minute == Decimal("0.14")
    assert spec.cost_model.currency == "INR"


def test_explicit_values_win():
    spec = make_spec(
        updateMode="Manual",
        automationAccount={"name": "shared-account", "resourceGroup": "rg-automation"},
        authentication="RunAsAccount",
        grantVaultAccess=False,
        schedule={
            "time": "06:30",
            "timeZone": "Asia/Kolkata",
            "frequency": "Week",
            "interval": 2,
            "weekDays": ["Sunday", "Monday"],
        },
        credentialsSecretRef={"name": "azure-sp"},
        managementPolicy="Observe",
        deletionPolicy="Delete",
        driftCheckIntervalSeconds=300,
        costModel={"freeMinutesPerMonth": 0, "pricePerMinute": "0.002", "currency": "EUR"},
    )
    assert spec.update_mode is UpdateMode.MANUAL and not spec.automatic
    assert (spec.automation_account.name, spec.automation_account.resource_group) == ("shared-account", "rg-automation")
    assert not spec.uses_identity and not spec.grant_vault_access
    assert spec.schedule.week_days == ("Monday", "Sunday"), "week days come back in calendar order"
    assert (spec.schedule.hour, spec.schedule.minute, spec.schedule.interval) == (6, 30, 2)
    assert spec.credentials_secret_name == "azure-sp"
    assert spec.observe_only and spec.deletion_policy is DeletionPolicy.DELETE
    assert spec.cost_model.price_per_minute == Decimal("0.002")


@pytest.mark.parametrize(
    "vault_name, expected",
    [
        pytest.param("vault1", "vault1-asr-automationaccount", id="short-name-gets-the-suffix"),
        pytest.param("v" * 28, "v" * 28 + "-asr-automationaccount", id="exactly-50"),
        pytest.param("v" * 29, "v" * 29 + "-asr-automationaccoun", id="cut-to-50"),
        pytest.param("v" * 45, "v" * 45 + "-asr", id="cut-after-a-hyphen-drops-it"),
        pytest.param("v" * 49, "v" * 49, id="cut-at-the-first-hyphen"),
        pytest.param("v" * 50, "v" * 50, id="fifty-character-vault"),
    ],
)
def test_default_account_name_respects_azures_limit(vault_name, expected):
    name = default_account_name(vault_name)
    assert name == expected
    assert len(name) <= 50 and not name.endswith("-")


@pytest.mark.parametrize(
    "overrides, problem",
    [
        pytest.param({"vault": None}, "spec.vault: required", id="vault-missing"),
        pytest.param(
            {"vault": {"subscriptionId": SUBSCRIPTION, "name": "v"}},
            "spec.vault.resourceGroup: required",
            id="vault-rg-missing",
        ),
        pytest.param({"updateMode": None}, "spec.updateMode: required", id="mode-missing"),
        pytest.param({"updateMode": "Sometimes"}, "'Sometimes' is not one of Automatic | Manual", id="mode-unknown"),
        pytest.param(
            {"schedule": {"timeZone": "Mars/Olympus_Mons"}}, "not a known IANA time zone", id="time-zone-unknown"
        ),
        pytest.param({"schedule": {"timeZone": "../etc/passwd"}}, "not a known IANA time zone", id="time-zone-path"),
        pytest.param({"schedule": {"timeZone": "Europe"}}, "not a known IANA time zone", id="time-zone-directory"),
        pytest.param(
            {"schedule": {"timeZone": "America/Argentina"}}, "not a known IANA time zone", id="time-zone-subdirectory"
        ),
        pytest.param({"schedule": {"timeZone": "leapseconds"}}, "not a known IANA time zone", id="time-zone-not-tzif"),
        pytest.param({"schedule": {"time": "24:00"}}, "spec.schedule.time", id="time-out-of-range"),
        pytest.param(
            {"schedule": {"frequency": "Week"}}, "weekDays: required when frequency is Week", id="week-without-days"
        ),
        pytest.param(
            {"schedule": {"weekDays": ["Sunday"]}}, "only allowed when frequency is Week", id="days-with-day-frequency"
        ),
        pytest.param(
            {"schedule": {"frequency": "Week", "weekDays": ["Caturday"]}},
            "'Caturday' is not one of",
            id="unknown-week-day",
        ),
        pytest.param({"schedule": {"interval": 101}}, "between 1 and 100", id="interval-too-large"),
        pytest.param({"schedule": {"interval": "2"}}, "must be an integer", id="interval-not-integer"),
        pytest.param({"driftCheckIntervalSeconds": 299}, "at least 300", id="drift-check-too-often"),
        pytest.param({"grantVaultAccess": "yes"}, "must be true or false", id="grant-not-boolean"),
        pytest.param({"costModel": {"pricePerMinute": "1e3"}}, "not a decimal number", id="price-not-decimal"),
        pytest.param({"credentialsSecretRef": {}}, "spec.credentialsSecretRef.name: required", id="secret-unnamed"),
        pytest.param({"automationAccount": "acct"}, "must be an object", id="account-not-object"),
    ],
)
def test_invalid_spec_names_the_field(overrides, problem):
    with pytest.raises(InvalidSpec, match=problem.replace("|", r"\|").replace(".", r"\.")):
        parse_spec(spec_dict(**overrides), namespace="dr", name="vault1")
