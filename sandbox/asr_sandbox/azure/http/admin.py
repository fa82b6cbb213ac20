"""The `/_sandbox` admin API: inspect and shape the emulated estate from tests, the demo and outside checks.

JSON in and out, no authentication, never a secret in an answer. Documented in docs/sandbox-azure-admin.md.
"""

from __future__ import annotations

import datetime
import json
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..services.faults import Fault
from ..services.world import World
from ..state.automation import RUN_AS_CERTIFICATE, RUN_AS_CONNECTION, AutomationAccount, Certificate, Connection
from ..state.errors import ServiceError
from ..state.recovery import AsyncOperation, Vault
from ..state.roles import BUILT_IN_ROLES
from ..state.seed import add_principal, apply_seed, assign_role
from ..state.tenant import RoleAssignment
from ..state.timestamps import iso, parse_time
from .authorization import assignment_body
from .automation_assets import certificate_body, connection_body
from .automation_schedules import job_schedule_body, schedule_body
from .recovery_services import item_body
from .site_recovery import mapping_body


class AdminError(Exception):
    """An admin-API refusal: `{"error": message}` with this status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def register(app: web.Application, world: World) -> None:
    """Every endpoint answers JSON; input it cannot use is a 400 whose `error` says what is wrong."""

    def route(method: str, path: str, action: Callable[[World, web.Request, dict[str, Any]], Any]) -> None:
        async def handle(request: web.Request) -> web.Response:
            try:
                body = await _body(request)
                answer = action(world, request, body)
            except AdminError as error:
                return web.json_response({"error": error.message}, status=error.status)
            except (ServiceError, ValueError, KeyError, TypeError) as error:
                message = error.message if isinstance(error, ServiceError) else f"{type(error).__name__}: {error}"
                return web.json_response({"error": message}, status=400)
            return web.json_response(
                answer,
                status=201
                if method == "POST" and path.endswith(("/principals", "/role-assignments", "/faults", "/runas"))
                else 200,
            )

        app.router.add_route(method, f"/_sandbox{path}", handle)

    route("GET", "/state", _state)
    route("POST", "/reset", _reset)
    route("POST", "/seed", _seed)
    route("POST", "/principals", _add_principal)
    route("DELETE", "/principals/{object_id}", _delete_principal)
    route("POST", "/role-assignments", _add_role_assignment)
    route("DELETE", "/role-assignments", _delete_role_assignments)
    route("DELETE", "/role-assignments/{name}", _delete_role_assignments)
    route("POST", "/runas", _run_as)
    route("POST", "/vaults/update-job-failure", _update_job_failure)
    route("POST", "/operations/end", _end_operations)
    route("GET", "/faults", lambda world, _r, _b: {"faults": world.faults.public()})
    route("POST", "/faults", _add_fault)
    route("DELETE", "/faults", _delete_faults)
    route("DELETE", "/faults/{fault_id}", _delete_faults)
    route("GET", "/clock", lambda world, _r, _b: _clock(world))
    route("POST", "/clock", _move_clock)
    route("GET", "/requests", lambda world, _r, _b: {"requests": world.requests.public()})
    route("DELETE", "/requests", _clear_requests)
    route("GET", "/config", lambda world, _r, _b: world.settings.as_api())
    route("POST", "/config", _configure)

    async def unknown(request: web.Request) -> web.Response:
        return web.json_response({"error": f"no admin endpoint {request.method} {request.path}"}, status=404)

    app.router.add_route("*", "/_sandbox{tail:.*}", unknown)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise AdminError(400, f"the body is not JSON: {error.msg}") from None
    if not isinstance(body, dict):
        raise AdminError(400, "the body must be a JSON object")
    return body


# ---- state ----------------------------------------------------------------------------------------


def _state(world: World, _request: web.Request, _body: dict[str, Any]) -> dict[str, Any]:
    world.tick()
    state = world.state
    return {
        "clock": _clock(world),
        "tenantId": state.tenant_id,
        "operatorObjectId": state.operator_object_id,
        "subscriptions": [
            {
                "subscriptionId": s.subscription_id,
                "displayName": s.display_name,
                "resourceGroups": [{"name": g.name, "location": g.location} for g in s.resource_groups.values()],
            }
            for s in state.subscriptions.values()
        ],
        "principals": [
            {**principal.public(), "replicated": world.directory.replicated(principal)}
            for principal in state.principals.values()
        ],
        "roleAssignments": [_assignment(a) for a in state.role_assignments.values()],
        "automationAccounts": [_account(account) for account in state.accounts.values()],
        "vaults": [_vault(vault) for vault in state.vaults.values()],
        "operations": [_operation(op) for op in state.operations.values()],
        "operationsInFlight": [
            {
                "name": op.name,
                "mapping": op.mapping_id,
                "started": iso(op.start),
                "ends": iso(op.due),
                "outcome": op.outcome,
            }
            for op in sorted(world.site_recovery.in_flight(), key=lambda op: op.start)
        ],
        "faults": world.faults.public(),
        "settings": world.settings.as_api(),
    }


def _operation(operation: AsyncOperation) -> dict[str, Any]:
    """A Site Recovery operation: `ends` is when it is due (null: never), `endTime` when it did end."""
    return {
        "name": operation.name,
        "vaultId": operation.vault_id,
        "mappingId": operation.mapping_id,
        "status": operation.status,
        "outcome": operation.outcome,
        "started": iso(operation.start),
        "ends": iso(operation.due),
        "endTime": iso(operation.end),
        "error": operation.error,
    }


def _assignment(assignment: RoleAssignment) -> dict[str, Any]:
    body = assignment_body(assignment)["properties"]
    return {"name": assignment.name, "roleName": BUILT_IN_ROLES[assignment.role_definition_id].name, **body}


def _account(account: AutomationAccount) -> dict[str, Any]:
    jobs = sorted(account.jobs.values(), key=lambda job: job.created)
    return {
        "id": account.id,
        "name": account.name,
        "location": account.location,
        "identity": {"type": account.identity_type or "None", "principalId": account.principal_id},
        "runbooks": [runbook.name for runbook in account.runbooks.values()],
        "schedules": [schedule_body(account, schedule) for schedule in account.schedules.values()],
        "jobSchedules": [job_schedule_body(account, link) for link in account.job_schedules.values()],
        "certificates": [certificate_body(account, c) for c in account.certificates.values()],
        "connections": [connection_body(account, c) for c in account.connections.values()],
        "jobs": [
            {
                "jobId": job.job_id,
                "runbook": job.runbook_name,
                "status": job.status,
                "startTime": iso(job.start) if job.started else None,
                "endTime": iso(job.end) if job.finished else None,
                "exception": job.outcome.exception if job.finished else None,
                "startedBy": job.started_by,
            }
            for job in jobs
        ],
        "jobMinutes": round(sum(job.minutes for job in jobs if job.finished), 4),
    }


def _vault(vault: Vault) -> dict[str, Any]:
    return {
        "id": vault.id,
        "subscriptionId": vault.subscription_id,
        "resourceGroup": vault.resource_group,
        "name": vault.name,
        "location": vault.location,
        "tags": vault.tags,
        "mappings": [mapping_body(vault, *entry) for entry in vault.mappings()],
        "protectedItems": [item_body(vault, *entry) for entry in vault.items()],
        "updateJobFailure": _failure_switch(vault),
    }


def _failure_switch(vault: Vault) -> dict[str, Any] | None:
    """Null while update runs may succeed; a null message means the emulator's default wording."""
    return {"message": vault.update_failure_message} if vault.fail_update_jobs else None


def _reset(world: World, _request: web.Request, _body: dict[str, Any]) -> dict[str, Any]:
    world.reset()
    return {"reset": True, "clock": _clock(world)}


def _seed(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    unknown = set(body) - {"subscriptions", "principals", "roleAssignments", "vaults"}
    if unknown:
        raise AdminError(400, f"unknown seed sections {sorted(unknown)}")
    apply_seed(world.state, body, world.clock.now())
    return {"vaults": [{"id": v.id, "name": v.name} for v in world.state.vaults.values()]}


# ---- principals and role assignments ------------------------------------------------------------------


def _add_principal(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    principal = add_principal(world.state, body)
    return {**principal.public(), "replicated": world.directory.replicated(principal)}


def _delete_principal(world: World, request: web.Request, _body: dict[str, Any]) -> dict[str, Any]:
    object_id = request.match_info["object_id"]
    if world.state.principals.pop(object_id.lower(), None) is None:
        raise AdminError(404, f"no principal {object_id}")
    return {"deleted": object_id}


def _add_role_assignment(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    assignment = assign_role(world.state, body["principalId"], body["role"], body["scope"], world.clock.now())
    return _assignment(assignment)


def _delete_role_assignments(world: World, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """By name, or every assignment matching principalId and optionally role and scope (to lower a principal)."""
    state = world.state
    name = request.match_info.get("name")
    if name:
        doomed = [a for a in state.role_assignments.values() if a.name.lower() == name.lower()]
    else:
        if not body.get("principalId"):
            raise AdminError(400, "give principalId (and optionally role and scope), or DELETE .../{name}")
        wanted_role = body.get("role")
        doomed = [
            a
            for a in state.role_assignments.values()
            if a.principal_id.lower() == body["principalId"].lower()
            and (
                not wanted_role
                or wanted_role.lower() in (a.role_definition_id, BUILT_IN_ROLES[a.role_definition_id].name.lower())
            )
            and (not body.get("scope") or a.scope.lower() == body["scope"].rstrip("/").lower())
        ]
    for assignment in doomed:
        del state.role_assignments[assignment.name.lower()]
    return {"deleted": [assignment.name for assignment in doomed]}


def _end_operations(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """End every never-ending Site Recovery operation now (with `outcome`, Succeeded unless told)."""
    outcome = str(body.get("outcome") or "Succeeded")
    return {"ended": world.site_recovery.end_never_ending(outcome)}


def _run_as(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """A legacy Run As setup on an account, each piece optional or deliberately wrong for fault seeding."""
    state, now = world.state, world.clock.now()
    account = state.account_by_id(body.get("automationAccountId") or "")
    if account is None:
        raise AdminError(404, f"no automation account {body.get('automationAccountId')!r}")
    thumbprint = secrets.token_hex(20).upper()
    application_id = str(uuid.uuid4())
    answer: dict[str, Any] = {"applicationId": application_id, "principalId": None, "roleAssignment": None}
    if body.get("servicePrincipal", True):
        principal = add_principal(
            state,
            {
                "kind": "ServicePrincipal",
                "clientId": application_id,
                "displayName": f"{account.name}_{secrets.token_hex(8)}",
                "certificateThumbprint": thumbprint,
            },
        )
        answer["principalId"] = principal.object_id
        role_scope = body.get("roleScope", f"/subscriptions/{account.subscription_id}")
        if role_scope:
            answer["roleAssignment"] = assign_role(
                state, principal.object_id, body.get("role", "Contributor"), role_scope, now
            ).name
    certificate_spec = body.get("certificate", {})
    if certificate_spec is not None:
        expiry = (
            parse_time(certificate_spec["expiryTime"], "certificate.expiryTime")
            if certificate_spec.get("expiryTime")
            else now + datetime.timedelta(days=float(certificate_spec.get("expiresInDays", 365)))
        )
        certificate = Certificate(
            name=RUN_AS_CERTIFICATE,
            thumbprint=certificate_spec.get("thumbprint", thumbprint),
            expiry=expiry,
            created=now,
            modified=now,
            description="This certificate is used to authenticate with the service principal "
            "that was automatically created for this account.",
        )
        account.certificates[RUN_AS_CERTIFICATE.lower()] = certificate
        answer["certificate"] = certificate_body(account, certificate)["properties"]
    connection_spec = body.get("connection", {})
    if connection_spec is not None:
        connection = Connection(
            name=RUN_AS_CONNECTION,
            connection_type="AzureServicePrincipal",
            created=now,
            modified=now,
            field_values={
                "ApplicationId": connection_spec.get("applicationId", application_id),
                "TenantId": connection_spec.get("tenantId", state.tenant_id),
                "CertificateThumbprint": connection_spec.get("thumbprint", thumbprint),
                "SubscriptionId": connection_spec.get("subscriptionId", account.subscription_id),
            },
            description="This connection contains information about the service principal that was automatically "
            "created for this automation account.",
        )
        account.connections[RUN_AS_CONNECTION.lower()] = connection
        answer["connection"] = connection_body(account, connection)["properties"]
    return answer


def _update_job_failure(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """Make every update run covering one vault fail (or stop that); judged, like credentials, when a job starts."""
    unknown = set(body) - {"vaultId", "fail", "message"}
    if unknown:
        raise AdminError(400, f"unknown keys {sorted(unknown)}; give vaultId, fail and optionally message")
    vault_id, fail, message = body.get("vaultId"), body.get("fail"), body.get("message")
    if not isinstance(vault_id, str) or not vault_id.strip():
        raise AdminError(400, "vaultId must be a vault's ARM id")
    if not isinstance(fail, bool):
        raise AdminError(400, f"fail must be true or false, got {fail!r}")
    if message is not None and (not isinstance(message, str) or not message.strip()):
        raise AdminError(400, "message must be a non-empty string (or omitted for the default)")
    vault = world.state.vaults.get(vault_id.strip().rstrip("/").lower())
    if vault is None:
        raise AdminError(404, f"no vault {vault_id!r} in the estate (vaultId is the vault's full ARM id)")
    vault.fail_update_jobs = fail
    vault.update_failure_message = message if fail else None
    return {"vaultId": vault.id, "updateJobFailure": _failure_switch(vault)}


# ---- faults, clock, request log, settings ---------------------------------------------------------------


def _add_fault(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    return world.faults.add(Fault.from_api(body)).public()


def _delete_faults(world: World, request: web.Request, _body: dict[str, Any]) -> dict[str, Any]:
    fault_id = request.match_info.get("fault_id")
    if fault_id is None:
        world.faults.clear()
    elif not world.faults.remove(fault_id):
        raise AdminError(404, f"no fault {fault_id}")
    return {"faults": world.faults.public()}


def _clock(world: World) -> dict[str, Any]:
    return {"now": iso(world.clock.now()), "offsetSeconds": world.clock.offset_seconds}


def _move_clock(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """Advance the clock, then run what became due before answering (so the caller sees the jobs)."""
    if "advanceSeconds" in body:
        world.clock.advance(float(body["advanceSeconds"]))
    elif "to" in body:
        world.clock.move_to(parse_time(body["to"], "to"))
    else:
        raise AdminError(400, "give advanceSeconds or to")
    world.tick()
    return _clock(world)


def _clear_requests(world: World, _request: web.Request, _body: dict[str, Any]) -> dict[str, Any]:
    world.requests.clear()
    return {"requests": []}


def _configure(world: World, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    world.configure(body)
    return world.settings.as_api()
