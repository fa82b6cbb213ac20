"""`AzureClient`: the `AzurePort` over the Azure SDK's async clients, and the process's pool of them.

It exists to be the one place that knows which SDK operation answers which port method. The rest of the
adapter lives beside it: `credentials.py` (settings, identities, the azure-identity credential),
`pipeline.py` (each subscription's SDK clients, sharing one request budget and retrying only briefly),
`transport.py` (one TLS context per CA source and pools of kept-alive connections),
`sdk_errors.py` (SDK exceptions as `errors.AzureError` classes, in one line without secrets) and `wire.py`
(ARM's JSON parsed into `port` dataclasses, with no SDK involved).

Why the client is shaped this way:

* **One credential per identity, one set of SDK clients per subscription.** An `AzureClient` is one identity
  (the operator's own, or a policy's Secret); the four management clients (Automation, Recovery Services,
  Site Recovery, Authorization) are made on first use for each subscription and closed by `close()`.
* **No waits on Site Recovery.** A mapping update is sent once and answered with where to follow it
  (`begin_mapping_update`); the reconciler remembers that address in the policy's status and polls it
  (`get_operation_status`) on later passes, so no pass holds a policy for the minutes an operation runs.

Environment variables and identity sources are documented in `credentials.py`. At a little over 400 lines it
stays one module on purpose: one method per port method, each a few lines, reads best side by side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.rest import AsyncHttpResponse, HttpRequest
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.automation import models as automation_models
from azure.mgmt.automation import types as automation_types
from azure.mgmt.core.exceptions import ARMErrorFormat

from asr_autoupdate.azure import errors, port, throttle, transport, wire
from asr_autoupdate.azure.clock import azure_clock
from asr_autoupdate.azure.credentials import AzureSettings, ServicePrincipal, make_credential
from asr_autoupdate.azure.pipeline import SubscriptionClients
from asr_autoupdate.azure.sdk_errors import conflict_in_body, convert_error
from asr_autoupdate.azure.wire import (
    format_time,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

PRINCIPAL_TYPE = "ServicePrincipal"
_StatusAndSchedule = tuple[int, automation_models.Schedule | None]


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
        # the credential's own connections to the authority (the SDK clients' are per subscription)
        self._credential_connections = transport.ConnectionPool(self.settings.ca_bundle)
        self._credential = credential or make_credential(
            self.settings, identity, connections=self._credential_connections
        )
        self._owns_credential = credential is None
        self._clients: dict[str, SubscriptionClients] = {}
        self._secrets = tuple(
            s for s in (identity.client_secret if identity else None, os.environ.get("AZURE_CLIENT_SECRET")) if s
        )

    async def __aenter__(self) -> AzureClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every SDK client and the credential, then the connections they used."""
        clients, self._clients = list(self._clients.values()), {}
        for bundle in clients:
            await bundle.close()
        if self._owns_credential:
            try:
                await self._credential.close()
            except Exception:
                log.debug("closing the credential failed", exc_info=True)
        await self._credential_connections.close()

    def _for(self, subscription_id: str) -> SubscriptionClients:
        """The subscription's clients, made on first use: a policy may span subscriptions it never calls."""
        key = subscription_id.lower()
        bundle = self._clients.get(key)
        if bundle is None:
            bundle = SubscriptionClients(self._credential, subscription_id, self.settings, self._budgets)
            self._clients[key] = bundle
        return bundle

    @asynccontextmanager
    async def _errors(self, operation: str) -> AsyncIterator[None]:
        """Whatever the SDK raises leaves as our error class, named by `operation` and without our secrets."""
        try:
            yield
        except errors.AzureError:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - every SDK failure leaves as our error class
            raise convert_error(exc, operation, secrets=self._secrets) from None

    async def _get_or_none(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """A 404 on a read is an answer (the resource is not there), not a failure."""
        try:
            async with self._errors(operation):
                return await call()
        except errors.NotFoundError:
            return None

    async def _list(
        self,
        subscription_id: str,
        operation: str,
        pager: Callable[[SubscriptionClients], AsyncIterable[object]],
        parse: Callable[[wire.Json], T],
    ) -> list[T]:
        """Every page is read under one error context before anything is parsed, so a page that fails midway
        fails the whole list instead of returning part of it as if it were all."""
        clients = self._for(subscription_id)
        async with self._errors(operation):
            items = [wire.to_wire(item) async for item in pager(clients)]
        return [parse(item) for item in items]

    # --- vault -------------------------------------------------------------------------------------

    async def get_vault(self, vault: port.VaultRef) -> port.Vault | None:
        clients = self._for(vault.subscription_id)
        model = await self._get_or_none(
            f"get vault {vault.resource_group}/{vault.name}",
            lambda: clients.vaults.vaults.get(vault.resource_group, vault.name),
        )
        return None if model is None else wire.parse_vault(wire.to_wire(model), vault)

    async def list_vaults(self, subscription_id: str) -> list[port.DiscoveredVault]:
        return await self._list(
            subscription_id,
            f"list vaults of subscription {subscription_id}",
            lambda clients: clients.vaults.vaults.list_by_subscription_id(),
            lambda item: wire.parse_discovered_vault(item, subscription_id),
        )

    def azure_now(self) -> datetime:
        return azure_clock().now()

    # --- automation account ------------------------------------------------------------------------

    async def get_automation_account(self, account: port.AccountRef) -> port.AutomationAccount | None:
        clients = self._for(account.subscription_id)
        model = await self._get_or_none(
            f"get automation account {account.resource_group}/{account.name}",
            lambda: clients.automation.automation_account.get(account.resource_group, account.name),
        )
        return None if model is None else wire.parse_account(wire.to_wire(model))

    async def put_automation_account(
        self, account: port.AccountRef, *, location: str, tags: dict[str, str]
    ) -> port.AutomationAccount:
        clients = self._for(account.subscription_id)
        body: automation_types.AutomationAccountCreateOrUpdateParameters = {
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
        return wire.parse_account(wire.to_wire(model))

    async def delete_automation_account(self, account: port.AccountRef) -> None:
        clients = self._for(account.subscription_id)
        try:
            async with self._errors(f"delete automation account {account.resource_group}/{account.name}"):
                await clients.automation.automation_account.delete(account.resource_group, account.name)
        except errors.NotFoundError:
            return

    # --- role assignments ----------------------------------------------------------------------------

    async def list_role_assignments(self, scope: str, principal_id: str) -> list[port.RoleAssignment]:
        clients = self._for(wire.subscription_of_scope(scope))
        async with self._errors(f"list role assignments at {scope}"):
            pager = clients.authorization.role_assignments.list_for_scope(
                scope, filter=f"assignedTo({wire.odata_literal(principal_id)})"
            )
            return [wire.parse_role_assignment(item) async for item in pager]

    async def create_role_assignment(self, scope: str, principal_id: str, role_guid: str) -> port.RoleAssignment:
        subscription = wire.subscription_of_scope(scope)
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
                    scope, wire.role_assignment_name(scope, principal_id, role_guid), parameters
                )
            return wire.parse_role_assignment(model)
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
        clients = self._for(wire.subscription_of_scope(scope))
        name = wire.existing_assignment_name(conflict.message)
        if name:
            model = await self._get_or_none(
                f"get role assignment {name} at {scope}",
                lambda: clients.authorization.role_assignments.get(scope, name),
            )
            if model is not None:
                return wire.parse_role_assignment(model)
        for assignment in await self.list_role_assignments(scope, principal_id):
            if (
                assignment.role_guid == role_guid.lower()
                and port.same_id(assignment.scope, scope)
                and assignment.principal_id.lower() == principal_id.lower()
            ):
                return assignment
        return None

    async def delete_role_assignment(self, assignment_id: str) -> None:
        clients = self._for(wire.subscription_of_scope(assignment_id))
        try:
            async with self._errors(f"delete role assignment {assignment_id}"):
                await clients.authorization.role_assignments.delete_by_id(assignment_id)
        except errors.NotFoundError:
            return

    # --- Site Recovery -----------------------------------------------------------------------------

    async def list_mappings(self, vault: port.VaultRef) -> list[port.Mapping]:
        return await self._list(
            vault.subscription_id,
            f"list container mappings of vault {vault.resource_group}/{vault.name}",
            lambda c: c.site_recovery.replication_protection_container_mappings.list(vault.resource_group, vault.name),
            wire.parse_mapping,
        )

    async def list_fabrics(self, vault: port.VaultRef) -> list[port.Fabric]:
        return await self._list(
            vault.subscription_id,
            f"list replication fabrics of vault {vault.resource_group}/{vault.name}",
            lambda c: c.site_recovery.replication_fabrics.list(vault.resource_group, vault.name),
            wire.parse_fabric,
        )

    async def begin_mapping_update(
        self,
        mapping: port.Mapping,
        *,
        enabled: bool,
        automation_account_id: str | None,
        authentication_type: str | None,
    ) -> port.MappingUpdate:
        """PATCH the mapping once and return Azure's answer: where to follow the operation, never its end.

        The SDK's `begin_update` would poll until a status azure-core calls terminal, and Site Recovery's
        PartiallySucceeded/CompletedWithInformation are not; its resume token is a pickle of the first
        response, request headers (the bearer token) included, unfit for a policy's status. So the PATCH goes
        through the SDK client's own pipeline (`send_request`: token, retries, the request budget) and the
        operation is followed by `get_operation_status`, from whichever pass or process comes next.
        """
        subscription, names = wire.mapping_names(mapping.id)
        body = wire.mapping_update_body(
            enabled=enabled, automation_account_id=automation_account_id, authentication_type=authentication_type
        )
        clients = self._for(subscription)
        request = HttpRequest("PATCH", f"{mapping.id}?api-version={wire.SITE_RECOVERY_API_VERSION}", json=body)
        async with self._errors(f"update container mapping {names[-1]}"):
            response = await clients.site_recovery.send_request(request)
            _raise_for_status(response)
        update = wire.parse_mapping_update(response.status_code, dict(response.headers), _json_or_none(response))
        if update.status_url and update.retry_after is None:  # the SDK's own poller would wait this long
            update = dataclasses.replace(update, retry_after=self.settings.polling_interval)
        return update

    async def get_operation_status(self, vault: port.VaultRef, status_url: str) -> port.OperationStatus:
        wire.check_operation_address(status_url, self.settings.arm_endpoint, vault.id)
        clients = self._for(vault.subscription_id)
        async with self._errors(f"read the status of a Site Recovery operation of vault {vault.name}"):
            response = await clients.site_recovery.send_request(HttpRequest("GET", status_url))
            _raise_for_status(response)
        answer = wire.parse_operation_status(dict(response.headers), _json_or_none(response))
        if answer.retry_after is None:
            answer = dataclasses.replace(answer, retry_after=self.settings.polling_interval)
        return answer

    async def list_protected_items(self, vault: port.VaultRef) -> list[port.ProtectedItem]:
        return await self._list(
            vault.subscription_id,
            f"list protected items of vault {vault.resource_group}/{vault.name}",
            lambda c: c.site_recovery.replication_protected_items.list(vault.resource_group, vault.name),
            wire.parse_protected_item,
        )

    # --- Automation: schedules, job schedules, Run As assets, jobs -----------------------------------

    async def list_schedules(self, account: port.AccountRef) -> list[port.Schedule]:
        return await self._list(
            account.subscription_id,
            f"list schedules of {account.name}",
            lambda c: c.automation.schedule.list_by_automation_account(account.resource_group, account.name),
            wire.parse_schedule,
        )

    async def put_schedule(self, account: port.AccountRef, schedule: port.ScheduleSpec) -> port.Schedule:
        clients = self._for(account.subscription_id)
        properties: automation_types.ScheduleCreateOrUpdateProperties = {
            "startTime": format_time(schedule.start_time),
            "frequency": schedule.frequency,
            "interval": schedule.interval,
            "timeZone": schedule.time_zone,
        }
        if schedule.frequency.lower() == "week" and schedule.week_days:
            properties["advancedSchedule"] = {"weekDays": list(schedule.week_days)}
        body: automation_types.ScheduleCreateOrUpdateParameters = {"name": schedule.name, "properties": properties}
        operation = f"put schedule {schedule.name} in {account.name}"

        def keep_status(
            pipeline_response: PipelineResponse[HttpRequest, AsyncHttpResponse],
            deserialized: automation_models.Schedule | None,
            _headers: dict[str, Any],
        ) -> tuple[int, automation_models.Schedule | None]:
            return pipeline_response.http_response.status_code, deserialized

        async with self._errors(operation):
            # `cls` makes the SDK return what `cls` returns; its stubs always say `Schedule | None`
            answer: _StatusAndSchedule = await clients.automation.schedule.create_or_update(  # type: ignore[assignment]
                account.resource_group, account.name, schedule.name, body, cls=keep_status
            )
        status, model = answer
        data = wire.to_wire(model)
        if status == 409 or not isinstance(data.get("properties"), dict):
            # the SDK accepts 409 on this PUT and hands back the error body as if it were a Schedule
            raise conflict_in_body(data, operation, self._secrets)
        return wire.parse_schedule(data)

    async def set_schedule_enabled(self, account: port.AccountRef, name: str, *, enabled: bool) -> port.Schedule:
        clients = self._for(account.subscription_id)
        body: automation_types.ScheduleUpdateParameters = {"name": name, "properties": {"isEnabled": enabled}}
        verb = "resume" if enabled else "pause"
        async with self._errors(f"{verb} schedule {name} in {account.name}"):
            model = await clients.automation.schedule.update(account.resource_group, account.name, name, body)
        return wire.parse_schedule(wire.to_wire(model))

    async def list_job_schedules(self, account: port.AccountRef) -> list[port.JobSchedule]:
        return await self._list(
            account.subscription_id,
            f"list job schedules of {account.name}",
            lambda c: c.automation.job_schedule.list_by_automation_account(account.resource_group, account.name),
            wire.parse_job_schedule,
        )

    async def get_certificate(self, account: port.AccountRef, name: str) -> port.Certificate | None:
        clients = self._for(account.subscription_id)
        model = await self._get_or_none(
            f"get certificate {name} in {account.name}",
            lambda: clients.automation.certificate.get(account.resource_group, account.name, name),
        )
        return None if model is None else wire.parse_certificate(wire.to_wire(model), name)

    async def get_connection(self, account: port.AccountRef, name: str) -> port.Connection | None:
        clients = self._for(account.subscription_id)
        model = await self._get_or_none(
            f"get connection {name} in {account.name}",
            lambda: clients.automation.connection.get(account.resource_group, account.name, name),
        )
        return None if model is None else wire.parse_connection(wire.to_wire(model), name)

    async def list_jobs(self, account: port.AccountRef, *, runbook_name: str, since: datetime) -> list[port.Job]:
        query = (
            f"properties/runbook/name eq {wire.odata_literal(runbook_name)}"
            f" and properties/creationTime ge {format_time(since)}"  # one still New has no startTime yet
        )
        return await self._list(
            account.subscription_id,
            f"list jobs of {runbook_name} in {account.name}",
            lambda c: c.automation.job.list_by_automation_account(account.resource_group, account.name, filter=query),
            wire.parse_job,
        )


def _raise_for_status(response: AsyncHttpResponse) -> None:
    """What the SDK's own operations do with an answer they did not expect: ARM's error, as azure-core raises it."""
    if response.status_code >= 400:
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)


def _json_or_none(response: AsyncHttpResponse) -> wire.Json | None:
    """The body as JSON, or None for an empty or non-JSON body (a 202 usually has none)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class AzureClientPool:
    """One `AzureClient` per identity for the whole process (the operator's own one under key None).

    The handler layer asks for the client of a policy's identity, naming the policy (`user`); equal Secrets
    share a credential and its token cache. When no policy uses an identity any more (its Secret was rotated,
    the policy moved to another Secret or went away), that identity's client is closed and dropped, so a
    rotated secret does not live on in memory. The operator's own identity stays until `close()` at shutdown.
    """

    def __init__(self, settings: AzureSettings, *, budgets: throttle.BudgetRegistry | None = None):
        self.settings = settings
        self._budgets = budgets
        self._clients: dict[ServicePrincipal | None, AzureClient] = {}
        self._identity_of: dict[str, ServicePrincipal | None] = {}

    async def get(self, identity: ServicePrincipal | None = None, *, user: str | None = None) -> AzureClient:
        """The identity's client, made once, so its token cache outlives any one reconcile."""
        if user is not None:
            previous = self._identity_of.get(user)
            self._identity_of[user] = identity
            if previous != identity:
                await self._close_if_unused(previous)
        client = self._clients.get(identity)
        if client is None:
            client = AzureClient(self.settings, identity, budgets=self._budgets)
            self._clients[identity] = client
        return client

    async def release(self, user: str) -> None:
        """`user` (a policy that is gone) needs no client any more."""
        if user in self._identity_of:
            await self._close_if_unused(self._identity_of.pop(user))

    async def _close_if_unused(self, identity: ServicePrincipal | None) -> None:
        if identity is None or identity in self._identity_of.values():
            return
        client = self._clients.pop(identity, None)
        if client is not None:
            await client.close()

    @property
    def identities(self) -> int:
        """How many identities have a client (the operator's own included): for tests and metrics."""
        return len(self._clients)

    async def close(self) -> None:
        """Close every client once at shutdown; a pool emptied first cannot hand out a closed one."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
