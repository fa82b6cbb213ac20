"""ARM's JSON in the port's words: answers parsed into `port` dataclasses, plus the time, id and name helpers.

It exists apart from `client.py` so the wire format can be read, and tested, without any SDK or network:
every function here takes plain values (the JSON with ARM's camelCase names, as `to_wire` makes it from an
SDK model), and nothing here imports the SDK. What Azure sends is loose (missing keys, `null`s, booleans as
strings, .NET's `DateTime.MinValue` for "never"), so the parsers tolerate what they cannot use rather than
fail a whole reconcile over one odd field; only what we are about to send (an id we must split, a body that
would be refused) raises `errors.InvalidRequestError`, before any request is made.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import KeysView, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from asr_autoupdate.azure import errors, port, throttle

Json = Mapping[str, Any]

# The Site Recovery API version the installed SDK (azure-mgmt-recoveryservicessiterecovery 2.0.0) sends; the
# mapping update goes through the SDK client's pipeline by hand (client.py says why), so it is named here.
SITE_RECOVERY_API_VERSION = "2025-08-01"

_ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("0f5b7bd6-7a0e-4b4e-9d55-7c2a3a4c2b51")
_EXISTING_ASSIGNMENT = re.compile(r"existing role assignment is ([0-9a-fA-F-]{32,36})")


# --- SDK models as JSON ---------------------------------------------------------------------------------


@runtime_checkable
class _TypeSpecModel(Protocol):
    """The newer SDKs' models (Automation, Recovery Services, Site Recovery): mappings of wire names."""

    def keys(self) -> KeysView[str]: ...

    def as_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class _MsrestModel(Protocol):
    """The older SDKs' models (Authorization): attribute objects that serialize to wire names."""

    def serialize(self, keep_readonly: bool = False) -> MutableMapping[str, Any]: ...


class RoleAssignmentModel(Protocol):
    """What `parse_role_assignment` reads of the Authorization SDK's model (its attribute names)."""

    @property
    def id(self) -> str | None: ...

    @property
    def scope(self) -> str | None: ...

    @property
    def role_definition_id(self) -> str | None: ...

    @property
    def principal_id(self) -> str | None: ...


def to_wire(model: object) -> Json:
    """One JSON shape for every SDK's models, so the parsers below need not know which SDK answered."""
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    if isinstance(model, _TypeSpecModel):
        return model.as_dict()
    if isinstance(model, _MsrestModel):
        return model.serialize(keep_readonly=True)
    if isinstance(model, Mapping):
        return dict(model)
    raise TypeError(f"{type(model).__name__} is not an SDK model")


# --- times ----------------------------------------------------------------------------------------------


# Site Recovery writes 1753-01-01T01:01:01Z (SQL's smallest datetime) where a time is unset.
SITE_RECOVERY_NEVER_YEAR = 1753


def parse_time(value: object) -> datetime | None:
    """ARM datetimes (ISO 8601, 'Z' or offset, up to 7 fractional digits) as aware UTC datetimes.

    `datetime.fromisoformat` takes at most 6 fractional digits, and .NET writes 7; `None` for "never".
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        match = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
        if match:
            text = f"{match.group(1)}.{match.group(2)[:6]}{match.group(3)}"
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if parsed.year <= SITE_RECOVERY_NEVER_YEAR:
        return None  # .NET's DateTime.MinValue, or Site Recovery's 1753-01-01T01:01:01Z: "never"
    return parsed


def format_time(value: datetime) -> str:
    """UTC, second precision, 'Z': the form the SDK itself sends, so our filters and bodies match its own."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bool(value: object) -> bool:
    """Site Recovery sends some flags as the strings "True"/"False", where `bool("False")` would be true."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


# --- answers -> port ------------------------------------------------------------------------------------


def parse_vault(data: Json, vault: port.VaultRef) -> port.Vault:
    """The vault as found; what the answer leaves out is what we asked for."""
    return port.Vault(
        id=data.get("id") or vault.id, name=data.get("name") or vault.name, location=data.get("location") or ""
    )


def parse_discovered_vault(data: Json, subscription_id: str) -> port.DiscoveredVault:
    """A vault from a subscription's list; its resource group is read from its ARM id (`resourceGroups/<rg>`)."""
    vault_id = str(data.get("id") or "")
    parts = vault_id.strip("/").split("/")
    lowered = [part.lower() for part in parts]
    group = parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered[:-1] else ""
    tags = data.get("tags") or {}
    return port.DiscoveredVault(
        id=vault_id,
        name=str(data.get("name") or (parts[-1] if parts else "")),
        resource_group=group,
        subscription_id=subscription_id,
        location=str(data.get("location") or ""),
        tags={str(key): str(value) for key, value in tags.items()} if isinstance(tags, dict) else {},
    )


def parse_account(data: Json) -> port.AutomationAccount:
    """An account's principal is only the system-assigned identity's: a user-assigned one is not ours to grant."""
    identity = data.get("identity") or {}
    principal = identity.get("principalId") if "systemassigned" in str(identity.get("type") or "").lower() else None
    return port.AutomationAccount(
        id=data.get("id") or "",
        name=data.get("name") or "",
        location=data.get("location") or "",
        principal_id=principal or None,
        tags=dict(data.get("tags") or {}),
    )


def _parse_health_error(data: Json) -> port.HealthError:
    """Site Recovery fills either errorMessage or summaryMessage; the report needs one of them."""
    return port.HealthError(
        code=str(data.get("errorCode") or ""),
        message=str(data.get("errorMessage") or data.get("summaryMessage") or ""),
        recommended_action=str(data.get("recommendedAction") or ""),
        level=str(data.get("errorLevel") or "Error"),
        possible_causes=str(data.get("possibleCauses") or ""),
    )


def _canonical(value: Any, spellings: tuple[str, ...]) -> str | None:
    """Azure's enums arrive in varying case (the portal, the SDKs and old API versions disagree): one spelling
    here, so the reconciler compares exactly. An unknown value is kept as it came."""
    if value is None or value == "":
        return None
    text = str(value)
    return next((spelling for spelling in spellings if spelling.lower() == text.lower()), text)


def parse_mapping(data: Json) -> port.Mapping:
    """The auto-update setting lives in the provider-specific details (A2A's), not in the mapping's own fields."""
    properties = data.get("properties") or {}
    details = properties.get("providerSpecificDetails") or {}
    return port.Mapping(
        id=data.get("id") or "",
        name=data.get("name") or "",
        instance_type=_canonical(details.get("instanceType"), port.INSTANCE_TYPES),
        state=_canonical(properties.get("state"), port.MAPPING_STATES),
        auto_update=_canonical(details.get("agentAutoUpdateStatus"), port.AUTO_UPDATE_STATES),
        automation_account_id=details.get("automationAccountArmId") or None,
        authentication_type=_canonical(details.get("automationAccountAuthenticationType"), port.AUTHENTICATION_TYPES),
        schedule_name=details.get("scheduleName") or None,
        job_schedule_name=details.get("jobScheduleName") or None,
        health_errors=tuple(_parse_health_error(e) for e in properties.get("healthErrorDetails") or ()),
    )


def parse_fabric(data: Json) -> port.Fabric:
    """An A2A fabric's region is in its custom details (`customDetails.location`)."""
    details = (data.get("properties") or {}).get("customDetails") or {}
    return port.Fabric(name=data.get("name") or "", location=details.get("location") or None)


def parse_mapping_update(status: int, headers: Mapping[str, str], body: Json | None) -> port.MappingUpdate:
    """Azure's answer to a mapping PATCH: 202 with the operation's addresses (Azure-AsyncOperation first, as
    azure-core's poller picks it, then Location), or 200 with the mapping already updated."""
    lowered = {key.lower(): value for key, value in headers.items()}
    address = lowered.get("azure-asyncoperation") or lowered.get("location")
    if address:
        return port.MappingUpdate(status_url=address, retry_after=throttle.parse_retry_after(lowered))
    if status == 200 and body:
        return port.MappingUpdate(status_url=None, mapping=parse_mapping(body))
    raise errors.TransientError(
        f"Site Recovery accepted the mapping update (HTTP {status}) without saying where to follow it",
        status=status,
        code="NoOperationAddress",
    )


def parse_operation_status(headers: Mapping[str, str], body: Json | None) -> port.OperationStatus:
    """An async-operation status body (`{"status", "error": {"code", "message"}}`); no status reads as
    still running, so a half-written answer never ends an operation early."""
    body = body or {}
    error = body.get("error") or {}
    return port.OperationStatus(
        status=str(body.get("status") or "InProgress"),
        retry_after=throttle.parse_retry_after(headers),
        error_code=str(error.get("code") or "") if isinstance(error, dict) else "",
        error_message=str(error.get("message") or "") if isinstance(error, dict) else "",
    )


def check_operation_address(address: str, arm_endpoint: str, vault_id: str) -> None:
    """Refuse to send the operator's token anywhere but the ARM endpoint's operation status of `vault_id`:
    the address may come from a policy's status, which anyone allowed to write status could have changed."""
    parsed = urllib.parse.urlsplit(address)
    endpoint = urllib.parse.urlsplit(arm_endpoint)
    path = urllib.parse.unquote(parsed.path).lower().rstrip("/")
    expected = f"/{vault_id.strip('/').lower()}/replicationoperationstatus/"
    if (
        parsed.scheme != "https"
        or parsed.netloc.lower() != endpoint.netloc.lower()
        or not path.startswith(expected)
        or "/" in path[len(expected) :]
        or ".." in path
    ):
        raise errors.InvalidRequestError(
            "the operation address is not a Site Recovery operation of this vault on the ARM endpoint",
            code="UntrustedOperationAddress",
        )


def parse_schedule(data: Json) -> port.Schedule:
    """A schedule Azure sends without `isEnabled` is enabled; an interval it sends as text is still a number."""
    properties = data.get("properties") or {}
    advanced = properties.get("advancedSchedule") or {}
    interval = properties.get("interval")
    try:
        interval = int(interval) if interval is not None else None
    except (TypeError, ValueError):
        interval = None
    enabled = properties.get("isEnabled")
    return port.Schedule(
        name=data.get("name") or "",
        start_time=parse_time(properties.get("startTime")),
        frequency=_canonical(properties.get("frequency"), port.FREQUENCIES),
        interval=interval,
        time_zone=properties.get("timeZone"),
        week_days=tuple(_canonical(day, port.WEEK_DAYS) or "" for day in advanced.get("weekDays") or ()),
        next_run=parse_time(properties.get("nextRun")),
        is_enabled=True if enabled is None else _bool(enabled),
    )


def parse_job_schedule(data: Json) -> port.JobSchedule:
    """A job schedule is known by its GUID (`jobScheduleId`); older answers carry it only as the name."""
    properties = data.get("properties") or {}
    return port.JobSchedule(
        id=str(properties.get("jobScheduleId") or data.get("name") or ""),
        schedule_name=(properties.get("schedule") or {}).get("name"),
        runbook_name=(properties.get("runbook") or {}).get("name"),
    )


def parse_protected_item(data: Json) -> port.ProtectedItem:
    """The Mobility Service agent's state, which only the A2A provider-specific details carry."""
    properties = data.get("properties") or {}
    details = properties.get("providerSpecificDetails") or {}
    return port.ProtectedItem(
        id=data.get("id") or "",
        name=data.get("name") or "",
        agent_version=details.get("agentVersion") or None,
        update_required=_bool(details.get("isReplicationAgentUpdateRequired")),
        upgrade_in_progress=_bool(details.get("isAgentUpgradeInProgress")),
        agent_expiry=parse_time(details.get("agentExpiryDate")),
        certificate_expiry=parse_time(details.get("agentCertificateExpiryDate")),
        replication_health=properties.get("replicationHealth") or None,
    )


def parse_job(data: Json) -> port.Job:
    """A job's id is its `jobId` GUID when Azure sends one; the resource name or id stand in otherwise."""
    properties = data.get("properties") or {}
    return port.Job(
        id=str(properties.get("jobId") or data.get("name") or data.get("id") or ""),
        runbook_name=(properties.get("runbook") or {}).get("name"),
        status=properties.get("status"),
        start_time=parse_time(properties.get("startTime")),
        end_time=parse_time(properties.get("endTime")),
    )


def parse_certificate(data: Json, name: str) -> port.Certificate:
    """A Run As certificate's thumbprint and expiry: what the report warns about, never the key."""
    properties = data.get("properties") or {}
    return port.Certificate(
        name=data.get("name") or name,
        thumbprint=properties.get("thumbprint") or None,
        expiry_time=parse_time(properties.get("expiryTime")),
    )


def parse_connection(data: Json, name: str) -> port.Connection:
    """A connection's fields as text, the form the report compares them in."""
    properties = data.get("properties") or {}
    fields = properties.get("fieldDefinitionValues") or {}
    return port.Connection(
        name=data.get("name") or name,
        connection_type=_canonical((properties.get("connectionType") or {}).get("name"), port.CONNECTION_TYPES),
        fields={str(k): str(v) for k, v in fields.items()},
    )


def parse_role_assignment(model: RoleAssignmentModel) -> port.RoleAssignment:
    """Read from the Authorization SDK's model, whose attribute names differ from the wire's."""
    return port.RoleAssignment(
        id=model.id or "",
        scope=model.scope or "",
        role_definition_id=model.role_definition_id or "",
        principal_id=model.principal_id or "",
    )


# --- port -> requests ------------------------------------------------------------------------------------


def mapping_update_body(
    *, enabled: bool, automation_account_id: str | None, authentication_type: str | None
) -> dict[str, Any]:
    """The A2A PATCH that switches auto-update; refused here when enabling it names no account to run it."""
    provider_input: dict[str, Any] = {
        "instanceType": "A2A",
        "agentAutoUpdateStatus": "Enabled" if enabled else "Disabled",
    }
    if enabled:
        if not automation_account_id:
            raise errors.InvalidRequestError(
                "enabling auto-update needs an automation account", code="MissingAutomationAccount"
            )
        provider_input["automationAccountArmId"] = automation_account_id
        # the service's default is the retired RunAsAccount: always say which one we mean
        provider_input["automationAccountAuthenticationType"] = authentication_type or "SystemAssignedIdentity"
    else:
        if automation_account_id:
            provider_input["automationAccountArmId"] = automation_account_id
        if authentication_type:
            provider_input["automationAccountAuthenticationType"] = authentication_type
    return {"properties": {"providerSpecificInput": provider_input}}


# --- ids, names and filters -----------------------------------------------------------------------------


def parse_arm_id(resource_id: str) -> dict[str, str]:
    """`/a/b/c/d` -> {"a": "b", "c": "d"} with lower-case keys (Site Recovery writes `/Subscriptions/`)."""
    parts = [p for p in resource_id.split("/") if p]
    return {parts[i].lower(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def subscription_of_scope(scope: str) -> str:
    """Every call is charged to, and made with the clients of, the subscription its scope names."""
    subscription = parse_arm_id(scope).get("subscriptions")
    if not subscription:
        raise errors.InvalidRequestError(f"scope {scope} names no subscription", code="InvalidScope")
    return subscription


def mapping_names(mapping_id: str) -> tuple[str, tuple[str, str, str, str, str]]:
    """A mapping's subscription and the five names the SDK's mapping operations take, from its id."""
    parts = parse_arm_id(mapping_id)
    try:
        subscription = parts["subscriptions"]
        names = (
            parts["resourcegroups"],
            parts["vaults"],
            parts["replicationfabrics"],
            parts["replicationprotectioncontainers"],
            parts["replicationprotectioncontainermappings"],
        )
    except KeyError:
        raise errors.InvalidRequestError(
            f"{mapping_id} is not a protection container mapping id", code="InvalidMappingId"
        ) from None
    return subscription, names


def role_assignment_name(scope: str, principal_id: str, role_guid: str) -> str:
    """The same assignment always gets the same name, so a retried create can never make a second one."""
    key = f"{scope.strip('/').lower()}|{principal_id.lower()}|{role_guid.lower()}"
    return str(uuid.uuid5(_ROLE_ASSIGNMENT_NAMESPACE, key))


def existing_assignment_name(message: str) -> str | None:
    """A 409 RoleAssignmentExists names the assignment in its text only; it may be one we did not name."""
    match = _EXISTING_ASSIGNMENT.search(message)
    if not match:
        return None
    try:
        return str(uuid.UUID(match.group(1)))
    except ValueError:
        return None


def odata_literal(value: str) -> str:
    """A value quoted for an OData `$filter`, so a quote in a name cannot change the query."""
    return "'" + value.replace("'", "''") + "'"
