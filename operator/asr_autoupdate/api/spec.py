"""The policy's spec as the reconciler uses it: every default applied, every value checked.

The API server already refuses most bad input through the CRD's schema and CEL rules, but objects can reach
the operator without them (an older CRD, a hand-written fixture), and some things no schema can judge: whether
a time zone really exists. So parsing checks again and raises `InvalidSpec` with a one-line reason that names
the field, which ends as `Stalled=True, reason InvalidSpec` rather than a crash loop.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from asr_autoupdate.azure.port import AccountRef, VaultRef

ACCOUNT_NAME_SUFFIX = "-asr-automationaccount"
ACCOUNT_NAME_MAX = 50
MIN_DRIFT_CHECK_SECONDS = 300
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_DECIMAL = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6})?$")
_Enum = TypeVar("_Enum", bound=enum.StrEnum)


class InvalidSpec(ValueError):
    """The spec asks for something the operator cannot do; only a change to the spec helps."""


class UpdateMode(enum.StrEnum):
    AUTOMATIC = "Automatic"
    MANUAL = "Manual"


class Authentication(enum.StrEnum):
    SYSTEM_ASSIGNED_IDENTITY = "SystemAssignedIdentity"
    RUN_AS_ACCOUNT = "RunAsAccount"


class ManagementPolicy(enum.StrEnum):
    MANAGE = "Manage"
    OBSERVE = "Observe"


class DeletionPolicy(enum.StrEnum):
    ORPHAN = "Orphan"
    DISABLE = "Disable"
    DELETE = "Delete"


class Frequency(enum.StrEnum):
    DAY = "Day"
    WEEK = "Week"


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
    """When the Site Recovery runbook should run; `time_zone` None means "each mapping's source region's zone"
    (the replicated VMs' geography, as Site Recovery's own default)."""

    time: str
    time_zone: str | None
    frequency: Frequency
    interval: int
    week_days: tuple[str, ...]

    @property
    def hour(self) -> int:
        return int(self.time[:2])

    @property
    def minute(self) -> int:
        return int(self.time[3:])


@dataclasses.dataclass(frozen=True)
class CostModel:
    free_minutes_per_month: int
    price_per_minute: Decimal
    currency: str


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """One vault's auto-update setting; `owner` is `<namespace>/<name>`, the tag value on accounts it creates."""

    owner: str
    vault: VaultRef
    update_mode: UpdateMode
    automation_account: AccountRef
    authentication: Authentication
    grant_vault_access: bool
    updates_paused: bool  # a change freeze: everything configured, the update schedules disabled
    schedule: ScheduleSettings | None  # None: Site Recovery's own schedules are left as it made them
    credentials_secret_name: str | None
    management_policy: ManagementPolicy
    deletion_policy: DeletionPolicy
    drift_check_interval_seconds: float  # whole seconds from the spec; --drift-interval-override may say less
    cost_model: CostModel

    @property
    def automatic(self) -> bool:
        return self.update_mode is UpdateMode.AUTOMATIC

    @property
    def observe_only(self) -> bool:
        return self.management_policy is ManagementPolicy.OBSERVE

    @property
    def uses_identity(self) -> bool:
        return self.authentication is Authentication.SYSTEM_ASSIGNED_IDENTITY


def default_account_name(vault_name: str) -> str:
    """ASR's naming, cut to Azure's 50 characters; an account name may not end with a hyphen."""
    return f"{vault_name}{ACCOUNT_NAME_SUFFIX}"[:ACCOUNT_NAME_MAX].rstrip("-")


def vault_key(spec: Mapping[str, Any]) -> str | None:
    """The key of the vault a policy's spec names: two policies name the same vault when their ARM ids match
    case-insensitively (subscription/resource group/name, lowercased); None while a part is missing."""
    vault = spec.get("vault") or {}
    parts = [str(vault.get(key) or "") for key in ("subscriptionId", "resourceGroup", "name")]
    return "/".join(parts).lower() if all(parts) else None


def parse_spec(raw: Mapping[str, Any], *, namespace: str, name: str) -> PolicySpec:
    """Read a MobilityUpdatePolicy's spec, applying api.md's defaults; raises InvalidSpec."""
    vault = _vault(_object(raw.get("vault"), "spec.vault", required=True))
    account = _object(raw.get("automationAccount"), "spec.automationAccount")
    return PolicySpec(
        owner=f"{namespace}/{name}",
        vault=vault,
        update_mode=_enum(raw, "updateMode", UpdateMode, None),
        automation_account=AccountRef(
            subscription_id=vault.subscription_id,
            resource_group=_text(account, "resourceGroup", "spec.automationAccount", vault.resource_group),
            name=_text(account, "name", "spec.automationAccount", default_account_name(vault.name)),
        ),
        authentication=_enum(raw, "authentication", Authentication, Authentication.SYSTEM_ASSIGNED_IDENTITY),
        grant_vault_access=_flag(raw, "grantVaultAccess", True),
        updates_paused=_flag(raw, "updatesPaused", False),
        schedule=_schedule(raw["schedule"]) if raw.get("schedule") is not None else None,
        credentials_secret_name=_secret_name(raw.get("credentialsSecretRef")),
        management_policy=_enum(raw, "managementPolicy", ManagementPolicy, ManagementPolicy.MANAGE),
        deletion_policy=_enum(raw, "deletionPolicy", DeletionPolicy, DeletionPolicy.ORPHAN),
        drift_check_interval_seconds=_integer(
            raw, "driftCheckIntervalSeconds", "spec", 3600, minimum=MIN_DRIFT_CHECK_SECONDS
        ),
        cost_model=_cost_model(_object(raw.get("costModel"), "spec.costModel")),
    )


def _vault(vault: Mapping[str, Any]) -> VaultRef:
    return VaultRef(
        subscription_id=_text(vault, "subscriptionId", "spec.vault", None),
        resource_group=_text(vault, "resourceGroup", "spec.vault", None),
        name=_text(vault, "name", "spec.vault", None),
    )


def _schedule(raw: object) -> ScheduleSettings:
    schedule = _object(raw, "spec.schedule")
    time = _text(schedule, "time", "spec.schedule", "00:00")
    if not _TIME.match(time):
        raise InvalidSpec(f"spec.schedule.time: {time!r} is not HH:MM between 00:00 and 23:59")
    time_zone = schedule.get("timeZone")
    if time_zone is not None:
        _check_time_zone(time_zone)
    frequency = _enum(schedule, "frequency", Frequency, Frequency.DAY, path="spec.schedule")
    week_days = _week_days(schedule.get("weekDays"), frequency)
    return ScheduleSettings(
        time=time,
        time_zone=time_zone,
        frequency=frequency,
        interval=_integer(schedule, "interval", "spec.schedule", 1, minimum=1, maximum=100),
        week_days=week_days,
    )


def _check_time_zone(time_zone: object) -> None:
    try:
        if not isinstance(time_zone, str):
            raise ValueError(time_zone)
        zoneinfo.ZoneInfo(time_zone)
    # OSError: a directory of the zone database ("Europe", "America/Argentina") is opened as a file when the zone
    # comes from the tzdata package, and IsADirectoryError is neither of the other two
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidSpec(f"spec.schedule.timeZone: {time_zone!r} is not a known IANA time zone") from None


def _week_days(week_days: object, frequency: Frequency) -> tuple[str, ...]:
    if frequency is Frequency.DAY:
        if week_days:
            raise InvalidSpec("spec.schedule.weekDays: only allowed when frequency is Week")
        return ()
    if not isinstance(week_days, list) or not week_days:
        raise InvalidSpec("spec.schedule.weekDays: required when frequency is Week")
    unknown = [day for day in week_days if day not in WEEK_DAYS]
    if unknown:
        raise InvalidSpec(f"spec.schedule.weekDays: {unknown[0]!r} is not one of {', '.join(WEEK_DAYS)}")
    return tuple(day for day in WEEK_DAYS if day in week_days)


def _cost_model(cost_model: Mapping[str, Any]) -> CostModel:
    price = _text(cost_model, "pricePerMinute", "spec.costModel", "0.14")
    if not _DECIMAL.match(price):
        raise InvalidSpec(f'spec.costModel.pricePerMinute: {price!r} is not a decimal number such as "0.14"')
    return CostModel(
        free_minutes_per_month=_integer(cost_model, "freeMinutesPerMonth", "spec.costModel", 500, minimum=0),
        price_per_minute=Decimal(price),
        currency=_text(cost_model, "currency", "spec.costModel", "INR"),
    )


def _secret_name(reference: object) -> str | None:
    if reference is None:
        return None
    return _text(_object(reference, "spec.credentialsSecretRef"), "name", "spec.credentialsSecretRef", None)


def _object(value: object, path: str, *, required: bool = False) -> Mapping[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSpec(f"{path}: {'required' if value is None else 'must be an object'}")
    return value


def _text(fields: Mapping[str, Any], key: str, path: str, default: str | None) -> str:
    value = fields.get(key, default)
    if not isinstance(value, str) or not value:
        raise InvalidSpec(f"{path}.{key}: {'required' if value is None else 'must be a non-empty string'}")
    return value


def _enum(
    fields: Mapping[str, Any], key: str, kind: type[_Enum], default: _Enum | None, *, path: str = "spec"
) -> _Enum:
    value = fields.get(key, default)
    try:
        return kind(value)
    except ValueError:
        allowed = " | ".join(member.value for member in kind)
        problem = "required" if value is None else f"{value!r} is not one of {allowed}"
        raise InvalidSpec(f"{path}.{key}: {problem}") from None


def _flag(fields: Mapping[str, Any], key: str, default: bool) -> bool:
    value = fields.get(key, default)
    if not isinstance(value, bool):
        raise InvalidSpec(f"spec.{key}: must be true or false")
    return value


def _integer(
    fields: Mapping[str, Any], key: str, path: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    value = fields.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(f"{path}.{key}: must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise InvalidSpec(f"{path}.{key}: {value} is not {bounds}")
    return value
