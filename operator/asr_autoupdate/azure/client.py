"""`AzureClient`: the `AzurePort` over the Azure SDK's async clients. The only module that imports the SDK.

Why it is shaped this way:

* **One credential per identity, one set of SDK clients per subscription.** An `AzureClient` is one identity
  (the operator's own, or a policy's Secret); the four management clients (Automation, Recovery Services,
  Site Recovery, Authorization) are made on first use for each subscription and closed by `close()`.
* **One request budget per subscription for the whole process.** Every SDK client gets a pipeline policy
  (`SubscriptionBudgetPolicy`, added through azure-core's `per_retry_policies`, the SDK's extension point)
  that waits on `throttle.BudgetRegistry` before each attempt and tells it about every answer, so a 429
  seen by one policy's call holds every other call to that subscription until the Retry-After passes.
* **Short waits only.** The SDK's own retries are few (`AzureSettings.retry_total`) and never sleep on a
  Retry-After longer than `max_retry_after`; long-running operations are awaited for a bounded time. What
  is left over surfaces as `TransientError`/`ThrottledError` (or `None` for a still-running update) for the
  reconciler to requeue.
* **Errors in our words.** Every SDK exception leaves this module as an `errors.AzureError` subclass via
  `errors.classify`, with a one-line message that never carries a token or a secret.

Environment variables and identity sources are documented in `credentials.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError as SdkAzureError,
)
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy, AsyncRetryPolicy
from azure.identity.aio import (
    CertificateCredential,
    ChainedTokenCredential,
    ClientSecretCredential,
    EnvironmentCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.automation.aio import AutomationClient
from azure.mgmt.recoveryservices.aio import RecoveryServicesClient
from azure.mgmt.recoveryservicessiterecovery.aio import SiteRecoveryManagementClient

from asr_autoupdate.azure import errors, port, throttle
from asr_autoupdate.azure.credentials import AzureSettings, ServicePrincipal

log = logging.getLogger(__name__)

T = TypeVar("T")

PRINCIPAL_TYPE = "ServicePrincipal"
_ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("0f5b7bd6-7a0e-4b4e-9d55-7c2a3a4c2b51")
_EXISTING_ASSIGNMENT = re.compile(r"existing role assignment is ([0-9a-fA-F-]{32,36})")
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MESSAGE_LIMIT = 600


# --------------------------------------------------------------------------------------------------
# Pipeline policies
# --------------------------------------------------------------------------------------------------


class SubscriptionBudgetPolicy(AsyncHTTPPolicy):
    """Charge every attempt to its subscription's budget, and report every answer back to it.

    Placed after the retry policy, so each retry waits on the budget too, and a pause set by another
    client's 429 holds this client's next attempt.
    """

    def __init__(self, budgets: throttle.BudgetRegistry):
        super().__init__()
        self._budgets = budgets

    async def send(self, request: PipelineRequest) -> PipelineResponse:
        http_request = request.http_request
        budget = self._budgets.budget_for_url(http_request.url)
        kind = throttle.request_kind(http_request.method)
        await budget.acquire(kind)
        try:
            response = await self.next.send(request)
        except Exception:
            budget.record(kind, 0, None)
            raise
        http_response = response.http_response
        headers = dict(http_response.headers)
        budget.record(kind, http_response.status_code, throttle.parse_retry_after(headers), headers=headers)
        return response


class BoundedRetryPolicy(AsyncRetryPolicy):
    """The SDK's retry policy, except that it never sleeps on a Retry-After longer than `max_retry_after`.

    Such an answer is returned as it is, so the caller gets a ThrottledError carrying the Retry-After
    (the reconciler requeues) instead of a kopf handler sleeping for minutes.
    """

    def __init__(self, *, max_retry_after: float, **kwargs: Any):
        super().__init__(**kwargs)
        self._max_retry_after = max_retry_after

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after is not None and retry_after > self._max_retry_after:
            return False
        return super().is_retry(settings, response)


# --------------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------------


def _credential_options(settings: AzureSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "authority": settings.authority_host,
        "disable_instance_discovery": settings.instance_discovery_disabled,
    }
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    return options


def make_credential(settings: AzureSettings, identity: ServicePrincipal | None = None) -> AsyncTokenCredential:
    """The credential for `identity`, or for the operator's own identity when it is None.

    The operator's own identity follows azure-identity's DefaultAzureCredential order restricted to
    sources that need no person: environment (secret or certificate), workload identity, managed identity.
    The authority, instance-discovery and CA settings apply to every source that talks to the authority.
    """
    options = _credential_options(settings)
    if identity is not None:
        if identity.client_certificate:
            return CertificateCredential(
                identity.tenant_id,
                identity.client_id,
                certificate_data=identity.client_certificate.encode("utf-8"),
                **options,
            )
        return ClientSecretCredential(identity.tenant_id, identity.client_id, identity.client_secret or "", **options)

    sources: list[Any] = [EnvironmentCredential(**options)]
    if (
        os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
        and os.environ.get("AZURE_CLIENT_ID")
        and os.environ.get("AZURE_TENANT_ID")
    ):
        sources.append(WorkloadIdentityCredential(**options))
    managed_identity_options: dict[str, Any] = {}
    if os.environ.get("AZURE_CLIENT_ID"):
        managed_identity_options["client_id"] = os.environ["AZURE_CLIENT_ID"]
    sources.append(ManagedIdentityCredential(**managed_identity_options))
    return ChainedTokenCredential(*sources)


# --------------------------------------------------------------------------------------------------
# Error conversion
# --------------------------------------------------------------------------------------------------


def _one_line(text: str, secrets: tuple[str, ...] = ()) -> str:
    """A message fit for status and logs: one line, bounded, with tokens and known secrets cut out."""
    text = " ".join((text or "").split())
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _JWT.sub("[redacted]", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return text


def _status_of(exc: HttpResponseError) -> int:
    if exc.status_code:
        return int(exc.status_code)
    response = getattr(exc, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def _retry_after_of(exc: SdkAzureError) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    return throttle.parse_retry_after(dict(headers))


def _arm_error(exc: HttpResponseError) -> tuple[str, str]:
    """ARM's error code and message, from the wrapped (`{"error":{...}}`) or flat body."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or ""
    if not code or not message:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:  # noqa: BLE001 - any unreadable body just means no code
            body = None
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            code = code or str(inner.get("code") or "")
            message = message or str(inner.get("message") or "")
    if not message:
        message = str(getattr(exc, "reason", "") or "")
    return code, message


def convert_error(exc: BaseException, operation: str, *, secrets: tuple[str, ...] = ()) -> errors.AzureError:
    """Any exception from the SDK or the transport, as the project's error class for it."""
    if isinstance(exc, errors.AzureError):
        return exc
    if isinstance(exc, ClientAuthenticationError) and _from_credential(exc):
        # raised by the credential: the authority (or managed identity endpoint) refused, ARM never saw us
        reason = _token_failure_reason(str(getattr(exc, "message", "") or exc))
        return errors.AuthenticationError(
            _one_line(f"{operation}: could not get a token from the authority ({reason})", secrets),
            status=401,
            code="TokenRequestFailed",
        )
    if isinstance(exc, HttpResponseError) and getattr(exc, "response", None) is not None:
        status = _status_of(exc)
        code, message = _arm_error(exc)
        if 200 <= status < 300:
            # a long-running operation that ended Failed/Canceled: the poll itself answered 2xx
            text = f"{operation}: the operation failed: {code or 'Failed'}: {message}"
        elif code:
            text = f"{operation}: {status} {code}: {message}"
        else:
            text = f"{operation}: {status}: {message}"
        return errors.classify(status, code, _one_line(text, secrets), _retry_after_of(exc))
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, OSError, asyncio.TimeoutError)):
        return errors.classify(0, "ConnectionFailed", _one_line(f"{operation}: Azure could not be reached", secrets))
    if isinstance(exc, SdkAzureError):
        return errors.classify(0, type(exc).__name__, _one_line(f"{operation}: {exc}", secrets))
    return errors.AzureError(_one_line(f"{operation}: {type(exc).__name__}", secrets), code=type(exc).__name__)


def _from_credential(exc: ClientAuthenticationError) -> bool:
    """True when the token could not be had, as opposed to ARM answering 401 to a token it was given."""
    response = getattr(exc, "response", None)
    if response is None or "get_token" in str(getattr(exc, "message", "") or ""):
        return True
    request = getattr(response, "request", None)
    url = str(getattr(request, "url", "") or "").lower()
    return "/oauth2/" in url or "openid-configuration" in url or "/metadata/identity/" in url


def _token_failure_reason(text: str) -> str:
    """The authority's error codes (e.g. `invalid_client AADSTS7000215`), never the response text."""
    parts = []
    oauth = re.search(r"\b(invalid_[a-z_]+|unauthorized_client|access_denied|unsupported_[a-z_]+)\b", text)
    if oauth:
        parts.append(oauth.group(1))
    aadsts = re.search(r"AADSTS\d+", text)
    if aadsts:
        parts.append(aadsts.group(0))
    if parts:
        return " ".join(parts)
    if "unavailable" in text.lower():
        return "no identity is configured"
    return "refused"


# --------------------------------------------------------------------------------------------------
# Parsing (wire names -> port dataclasses)
# --------------------------------------------------------------------------------------------------


def _wire(model: Any) -> dict[str, Any]:
    """An SDK model as its JSON (wire names); TypeSpec models are mappings, msrest ones serialize."""
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    as_dict = getattr(model, "as_dict", None)
    if callable(as_dict) and hasattr(model, "keys"):
        return as_dict()
    serialize = getattr(model, "serialize", None)
    if callable(serialize):
        return serialize(keep_readonly=True)
    return dict(model)


def parse_time(value: Any) -> datetime | None:
    """ARM datetimes (ISO 8601, 'Z' or offset, up to 7 fractional digits) as aware UTC datetimes."""
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
    if parsed.year <= 1:
        return None  # .NET's DateTime.MinValue: "never"
    return parsed


def format_time(value: datetime) -> str:
    """UTC, second precision, 'Z': the form the SDK itself sends."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _parse_account(data: dict[str, Any]) -> port.AutomationAccount:
    identity = data.get("identity") or {}
    principal = identity.get("principalId") if "systemassigned" in str(identity.get("type") or "").lower() else None
    return port.AutomationAccount(
        id=data.get("id") or "",
        name=data.get("name") or "",
        location=data.get("location") or "",
        principal_id=principal or None,
        tags=dict(data.get("tags") or {}),
    )


def _parse_health_error(data: dict[str, Any]) -> port.HealthError:
    return port.HealthError(
        code=str(data.get("errorCode") or ""),
        message=str(data.get("errorMessage") or data.get("summaryMessage") or ""),
        recommended_action=str(data.get("recommendedAction") or ""),
        level=str(data.get("errorLevel") or "Error"),
        possible_causes=str(data.get("possibleCauses") or ""),
    )


def parse_mapping(data: dict[str, Any]) -> port.Mapping:
    properties = data.get("properties") or {}
    details = properties.get("providerSpecificDetails") or {}
    return port.Mapping(
        id=data.get("id") or "",
        name=data.get("name") or "",
        instance_type=details.get("instanceType"),
        state=properties.get("state"),
        auto_update=details.get("agentAutoUpdateStatus"),
        automation_account_id=details.get("automationAccountArmId") or None,
        authentication_type=details.get("automationAccountAuthenticationType"),
        schedule_name=details.get("scheduleName") or None,
        job_schedule_name=details.get("jobScheduleName") or None,
        health_errors=tuple(_parse_health_error(e) for e in properties.get("healthErrorDetails") or ()),
    )


def parse_schedule(data: dict[str, Any]) -> port.Schedule:
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
        frequency=properties.get("frequency"),
        interval=interval,
        time_zone=properties.get("timeZone"),
        week_days=tuple(advanced.get("weekDays") or ()),
        next_run=parse_time(properties.get("nextRun")),
        is_enabled=True if enabled is None else _bool(enabled),
    )


def parse_protected_item(data: dict[str, Any]) -> port.ProtectedItem:
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
    )


def parse_job(data: dict[str, Any]) -> port.Job:
    properties = data.get("properties") or {}
    return port.Job(
        id=str(properties.get("jobId") or data.get("name") or data.get("id") or ""),
        runbook_name=(properties.get("runbook") or {}).get("name"),
        status=properties.get("status"),
        start_time=parse_time(properties.get("startTime")),
        end_time=parse_time(properties.get("endTime")),
    )


def _parse_role_assignment(model: Any) -> port.RoleAssignment:
    return port.RoleAssignment(
        id=model.id or "",
        scope=model.scope or "",
        role_definition_id=model.role_definition_id or "",
        principal_id=model.principal_id or "",
    )


def parse_arm_id(resource_id: str) -> dict[str, str]:
    """`/a/b/c/d` -> {"a": "b", "c": "d"} with lower-case keys (Site Recovery writes `/Subscriptions/`)."""
    parts = [p for p in resource_id.split("/") if p]
    return {parts[i].lower(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def subscription_of_scope(scope: str) -> str:
    subscription = parse_arm_id(scope).get("subscriptions")
    if not subscription:
        raise errors.InvalidRequestError(f"scope {scope} names no subscription", code="InvalidScope")
    return subscription


def role_assignment_name(scope: str, principal_id: str, role_guid: str) -> str:
    """The same assignment always gets the same name, so a retried create can never make a second one."""
    key = f"{scope.strip('/').lower()}|{principal_id.lower()}|{role_guid.lower()}"
    return str(uuid.uuid5(_ROLE_ASSIGNMENT_NAMESPACE, key))


def _odata_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------


class _SubscriptionClients:
    """The four SDK clients for one subscription, sharing one credential and one budget registry."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        subscription_id: str,
        settings: AzureSettings,
        budgets: throttle.BudgetRegistry,
    ):
        def options() -> dict[str, Any]:
            # policy objects are chained into one pipeline each: every client needs its own instances
            kwargs: dict[str, Any] = {
                "credential_scopes": list(settings.scopes),
                "polling_interval": settings.polling_interval,
                "retry_policy": BoundedRetryPolicy(
                    max_retry_after=settings.max_retry_after,
                    retry_total=settings.retry_total,
                    retry_backoff_factor=settings.retry_backoff_factor,
                    retry_backoff_max=settings.retry_backoff_max,
                ),
                "per_retry_policies": [SubscriptionBudgetPolicy(budgets)],
                "connection_timeout": settings.connection_timeout,
                "read_timeout": settings.read_timeout,
            }
            if settings.ca_bundle:
                kwargs["connection_verify"] = settings.ca_bundle
            return kwargs

        base_url = settings.arm_endpoint
        self.automation = AutomationClient(credential, subscription_id, base_url=base_url, **options())
        self.vaults = RecoveryServicesClient(credential, subscription_id, base_url=base_url, **options())
        self.site_recovery = SiteRecoveryManagementClient(credential, subscription_id, base_url=base_url, **options())
        self.authorization = AuthorizationManagementClient(credential, subscription_id, base_url=base_url, **options())

    async def close(self) -> None:
        for client in (self.automation, self.vaults, self.site_recovery, self.authorization):
            try:
                await client.close()
            except Exception:
                log.debug("closing an SDK client failed", exc_info=True)


class AzureClient:
    """`AzurePort` for one identity, over the async Azure SDK (see the module docstring)."""

    def __init__(
        self,
        settings: AzureSettings | None = None,
        identity: ServicePrincipal | None = None,
        *,
        budgets: throttle.BudgetRegistry | None = None,
        credential: AsyncTokenCredential | None = None,
    ):
        self.settings = settings or AzureSettings.from_env()
        self.identity = identity
        self._budgets = budgets or throttle.registry()
        self._credential = credential or make_credential(self.settings, identity)
        self._owns_credential = credential is None
        self._clients: dict[str, _SubscriptionClients] = {}
        self._secrets = tuple(
            s for s in (identity.client_secret if identity else None, os.environ.get("AZURE_CLIENT_SECRET")) if s
        )

    async def __aenter__(self) -> AzureClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every SDK client and the credential (their aiohttp sessions)."""
        clients, self._clients = list(self._clients.values()), {}
        for bundle in clients:
            await bundle.close()
        if self._owns_credential:
            try:
                await self._credential.close()
            except Exception:
                log.debug("closing the credential failed", exc_info=True)

    def _for(self, subscription_id: str) -> _SubscriptionClients:
        key = subscription_id.lower()
        bundle = self._clients.get(key)
        if bundle is None:
            bundle = _SubscriptionClients(self._credential, subscription_id, self.settings, self._budgets)
            self._clients[key] = bundle
        return bundle

    @asynccontextmanager
    async def _errors(self, operation: str) -> AsyncIterator[None]:
        try:
            yield
        except errors.AzureError:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - every SDK failure leaves as our error class
            raise convert_error(exc, operation, secrets=self._secrets) from None

    async def _get_or_none(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        try:
            async with self._errors(operation):
                return await call()
        except errors.NotFoundError:
            return None

    @staticmethod
    async def _collect(pager: Any) -> list[dict[str, Any]]:
        return [_wire(item) async for item in pager]

    # --- vault -------------------------------------------------------------------------------------

    async def get_vault(self, vault: port.VaultRef) -> port.Vault | None:
        clients = self._for(vault.subscription_id)
        model = await self._get_or_none(
            f"get vault {vault.resource_group}/{vault.name}",
            lambda: clients.vaults.vaults.get(vault.resource_group, vault.name),
        )
        if model is None:
            return None
        data = _wire(model)
        return port.Vault(
            id=data.get("id") or vault.id, name=data.get("name") or vault.name, location=data.get("location") or ""
        )

    # --- automation account ------------------------------------------------------------------------

    async def get_automation_account(self, account: port.AccountRef) -> port.AutomationAccount | None:
        clients = self._for(account.subscription_id)
        model = await self._get_or_none(
            f"get automation account {account.resource_group}/{account.name}",
            lambda: clients.automation.automation_account.get(account.resource_group, account.name),
        )
        return None if model is None else _parse_account(_wire(model))

    async def put_automation_account(
        self, account: port.AccountRef, *, location: str, tags: dict[str, str]
    ) -> port.AutomationAccount:
        clients = self._for(account.subscription_id)
        body = {
            "name": account.name,
            "location": location,
            "identity": {"type": "SystemAssigned"},
            "properties": {"sku": {"name": "Basic"}},
            "tags": dict(tags),
        }
        async with self._errors(f"put automation account {account.resource_group}/{account.name}"):
            model = await clients.automation.automation_account.create_or_update(
                account.resource_group, account.name, body
            )
        return _parse_account(_wire(model))

    async def delete_automation_account(self, account: port.AccountRef) -> None:
        clients = self._for(account.subscription_id)
        try:
            async with self._errors(f"delete automation account {account.resource_group}/{account.name}"):
                await clients.automation.automation_account.delete(account.resource_group, account.name)
        except errors.NotFoundError:
            return

    # --- role assignments ----------------------------------------------------------------------------

    async def list_role_assignments(self, scope: str, principal_id: str) -> list[port.RoleAssignment]:
        clients = self._for(subscription_of_scope(scope))
        async with self._errors(f"list role assignments at {scope}"):
            pager = clients.authorization.role_assignments.list_for_scope(
                scope, filter=f"assignedTo({_odata_literal(principal_id)})"
            )
            return [_parse_role_assignment(item) async for item in pager]

    async def create_role_assignment(self, scope: str, principal_id: str, role_guid: str) -> port.RoleAssignment:
        subscription = subscription_of_scope(scope)
        clients = self._for(subscription)
        role_definition_id = (
            f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"
        )
        parameters = RoleAssignmentCreateParameters(
            role_definition_id=role_definition_id, principal_id=principal_id, principal_type=PRINCIPAL_TYPE
        )
        operation = f"assign role {role_guid} at {scope}"
        try:
            async with self._errors(operation):
                model = await clients.authorization.role_assignments.create(
                    scope, role_assignment_name(scope, principal_id, role_guid), parameters
                )
            return _parse_role_assignment(model)
        except errors.ConflictError as conflict:
            if conflict.code != "RoleAssignmentExists":
                raise
            existing = await self._existing_role_assignment(scope, principal_id, role_guid, conflict)
            if existing is None:
                raise
            return existing

    async def _existing_role_assignment(
        self, scope: str, principal_id: str, role_guid: str, conflict: errors.ConflictError
    ) -> port.RoleAssignment | None:
        """The assignment a 409 RoleAssignmentExists refers to (it may carry a name we did not choose)."""
        clients = self._for(subscription_of_scope(scope))
        match = _EXISTING_ASSIGNMENT.search(conflict.message)
        name = None
        if match:
            try:
                name = str(uuid.UUID(match.group(1)))
            except ValueError:
                name = None
        if name:
            model = await self._get_or_none(
                f"get role assignment {name} at {scope}",
                lambda: clients.authorization.role_assignments.get(scope, name),
            )
            if model is not None:
                return _parse_role_assignment(model)
        for assignment in await self.list_role_assignments(scope, principal_id):
            if (
                assignment.role_guid == role_guid.lower()
                and port.same_id(assignment.scope, scope)
                and assignment.principal_id.lower() == principal_id.lower()
            ):
                return assignment
        return None

    async def delete_role_assignment(self, assignment_id: str) -> None:
        clients = self._for(subscription_of_scope(assignment_id))
        try:
            async with self._errors(f"delete role assignment {assignment_id}"):
                await clients.authorization.role_assignments.delete_by_id(assignment_id)
        except errors.NotFoundError:
            return

    # --- Site Recovery -----------------------------------------------------------------------------

    async def list_mappings(self, vault: port.VaultRef) -> list[port.Mapping]:
        clients = self._for(vault.subscription_id)
        async with self._errors(f"list container mappings of vault {vault.resource_group}/{vault.name}"):
            items = await self._collect(
                clients.site_recovery.replication_protection_container_mappings.list(vault.resource_group, vault.name)
            )
        return [parse_mapping(item) for item in items]

    async def update_mapping(
        self,
        mapping: port.Mapping,
        *,
        enabled: bool,
        automation_account_id: str | None,
        authentication_type: str | None,
        timeout: float,
    ) -> port.Mapping | None:
        """PATCH the mapping and wait at most `timeout` seconds for Site Recovery to finish.

        On timeout only our wait stops: the operation goes on in Azure, and the next reconcile reads the
        mapping again. That matters because Site Recovery's PartiallySucceeded/CompletedWithInformation
        statuses are not terminal for azure-core, whose poller would otherwise wait forever.
        """
        parts = parse_arm_id(mapping.id)
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
                f"{mapping.id} is not a protection container mapping id", code="InvalidMappingId"
            ) from None
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
        body = {"properties": {"providerSpecificInput": provider_input}}
        clients = self._for(subscription)
        operation = f"update container mapping {names[-1]}"

        async def run() -> port.Mapping:
            async with self._errors(operation):
                poller = await clients.site_recovery.replication_protection_container_mappings.begin_update(
                    *names, body
                )
                result = await poller.result()
            return parse_mapping(_wire(result))

        deadline = asyncio.timeout(max(0.0, timeout))
        try:
            async with deadline:
                return await run()
        except TimeoutError:
            if deadline.expired():
                log.info("container mapping %s still updating after %.0f s; will look again", names[-1], timeout)
                return None
            raise

    async def list_protected_items(self, vault: port.VaultRef) -> list[port.ProtectedItem]:
        clients = self._for(vault.subscription_id)
        async with self._errors(f"list protected items of vault {vault.resource_group}/{vault.name}"):
            items = await self._collect(
                clients.site_recovery.replication_protected_items.list(vault.resource_group, vault.name)
            )
        return [parse_protected_item(item) for item in items]

    # --- Automation: schedules, job schedules, Run As assets, jobs -----------------------------------

    async def list_schedules(self, account: port.AccountRef) -> list[port.Schedule]:
        clients = self._for(account.subscription_id)
        async with self._errors(f"list schedules of {account.name}"):
            items = await self._collect(
                clients.automation.schedule.list_by_automation_account(account.resource_group, account.name)
            )
        return [parse_schedule(item) for item in items]

    async def put_schedule(self, account: port.AccountRef, schedule: port.ScheduleSpec) -> port.Schedule:
        clients = self._for(account.subscription_id)
        properties: dict[str, Any] = {
            "startTime": format_time(schedule.start_time),
            "frequency": schedule.frequency,
            "interval": schedule.interval,
            "timeZone": schedule.time_zone,
        }
        if schedule.frequency.lower() == "week" and schedule.week_days:
            properties["advancedSchedule"] = {"weekDays": list(schedule.week_days)}
        body = {"name": schedule.name, "properties": properties}
        operation = f"put schedule {schedule.name} in {account.name}"

        def keep_status(pipeline_response: Any, deserialized: Any, _headers: Any) -> tuple[int, Any]:
            return pipeline_response.http_response.status_code, deserialized

        async with self._errors(operation):
            status, model = await clients.automation.schedule.create_or_update(
                account.resource_group, account.name, schedule.name, body, cls=keep_status
            )
        data = _wire(model)
        if status == 409 or not isinstance(data.get("properties"), dict):
            # the SDK accepts 409 on this PUT and hands back the error body as if it were a Schedule
            error = data.get("error") if isinstance(data.get("error"), dict) else data
            code = str(error.get("code") or "Conflict")
            message = str(error.get("message") or "the schedule conflicts with an existing one")
            raise errors.ConflictError(
                _one_line(f"{operation}: 409 {code}: {message}", self._secrets), status=409, code=code
            )
        return parse_schedule(data)

    async def list_job_schedules(self, account: port.AccountRef) -> list[port.JobSchedule]:
        clients = self._for(account.subscription_id)
        async with self._errors(f"list job schedules of {account.name}"):
            items = await self._collect(
                clients.automation.job_schedule.list_by_automation_account(account.resource_group, account.name)
            )
        result = []
        for item in items:
            properties = item.get("properties") or {}
            result.append(
                port.JobSchedule(
                    id=str(properties.get("jobScheduleId") or item.get("name") or ""),
                    schedule_name=(properties.get("schedule") or {}).get("name"),
                    runbook_name=(properties.get("runbook") or {}).get("name"),
                )
            )
        return result

    async def get_certificate(self, account: port.AccountRef, name: str) -> port.Certificate | None:
        clients = self._for(account.subscription_id)
        model = await self._get_or_none(
            f"get certificate {name} in {account.name}",
            lambda: clients.automation.certificate.get(account.resource_group, account.name, name),
        )
        if model is None:
            return None
        data = _wire(model)
        properties = data.get("properties") or {}
        return port.Certificate(
            name=data.get("name") or name,
            thumbprint=properties.get("thumbprint") or None,
            expiry_time=parse_time(properties.get("expiryTime")),
        )

    async def get_connection(self, account: port.AccountRef, name: str) -> port.Connection | None:
        clients = self._for(account.subscription_id)
        model = await self._get_or_none(
            f"get connection {name} in {account.name}",
            lambda: clients.automation.connection.get(account.resource_group, account.name, name),
        )
        if model is None:
            return None
        data = _wire(model)
        properties = data.get("properties") or {}
        fields = properties.get("fieldDefinitionValues") or {}
        return port.Connection(
            name=data.get("name") or name,
            connection_type=(properties.get("connectionType") or {}).get("name"),
            fields={str(k): str(v) for k, v in fields.items()},
        )

    async def list_jobs(self, account: port.AccountRef, *, runbook_name: str, since: datetime) -> list[port.Job]:
        clients = self._for(account.subscription_id)
        query = (
            f"properties/runbook/name eq {_odata_literal(runbook_name)}"
            f" and properties/startTime ge {format_time(since)}"
        )
        async with self._errors(f"list jobs of {runbook_name} in {account.name}"):
            items = await self._collect(
                clients.automation.job.list_by_automation_account(account.resource_group, account.name, filter=query)
            )
        return [parse_job(item) for item in items]


class AzureClientPool:
    """One `AzureClient` per identity for the whole process (the operator's own one under key None).

    The handler layer asks for the client of a policy's identity; equal Secrets share a credential and
    its token cache, and `close()` at shutdown closes them all.
    """

    def __init__(self, settings: AzureSettings, *, budgets: throttle.BudgetRegistry | None = None):
        self.settings = settings
        self._budgets = budgets
        self._clients: dict[ServicePrincipal | None, AzureClient] = {}

    def get(self, identity: ServicePrincipal | None = None) -> AzureClient:
        client = self._clients.get(identity)
        if client is None:
            client = AzureClient(self.settings, identity, budgets=self._budgets)
            self._clients[identity] = client
        return client

    async def forget(self, identity: ServicePrincipal | None) -> None:
        """Drop and close the client of an identity whose Secret changed or went away."""
        client = self._clients.pop(identity, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
