"""Microsoft.Authorization on ARM: role assignments and definitions at any scope, and RBAC's check before
every call.

Each call is turned into the action Azure would check (`Microsoft.Automation/automationAccounts/write`) over
the request's scope, and matched against the caller's roles at that scope or any scope above it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web

from ..state.estate import AzureState
from ..state.roles import BUILT_IN_ROLES, RoleDefinition, is_permitted, role_by_name_or_id, scope_covers
from ..state.tenant import Principal, RoleAssignment
from ..state.timestamps import iso
from .arm import ArmCall, ArmError, Router, bad_request
from .odata import parse_filter

PROVIDER = "/providers/Microsoft.Authorization"


def required_action(method: str, path: str) -> str:
    """The RBAC action ARM checks for a call, derived from the path as ARM does it."""
    segments = [segment for segment in path.split("/") if segment]
    lowered = [segment.lower() for segment in segments]
    if "providers" in lowered:
        start = len(lowered) - 1 - lowered[::-1].index("providers")
        namespace, rest = segments[start + 1], segments[start + 2 :]
    elif len(segments) > 2:
        namespace, rest = "Microsoft.Resources", ["subscriptions", segments[1], *segments[2:]]
    else:
        namespace, rest = "Microsoft.Resources", ["subscriptions", *segments[1:]]
    if method == "POST" and len(rest) % 2 == 1 and len(rest) > 1:
        types, verb = rest[:-1:2], f"{rest[-1]}/action"
    else:
        types, verb = rest[::2], {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(method, "write")
    return "/".join([namespace, *types, verb])


def authorize(state: AzureState, principal: Principal, method: str, path: str) -> None:
    """Raise ARM's 403 AuthorizationFailed unless the caller's roles allow the call."""
    action = required_action(method, path)
    if path.lower().startswith("/providers/microsoft.authorization/roledefinitions") or is_permitted(
        state, principal.object_id, action, path
    ):
        return
    raise ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{principal.client_id or principal.object_id}' with object id '{principal.object_id}' does not "
        f"have authorization to perform action '{action}' over scope '{path}' or the scope is invalid. If access "
        "was recently granted, please refresh your credentials.",
    )


def assignment_body(assignment: RoleAssignment) -> dict[str, Any]:
    """The 2022-04-01 shape; roleDefinitionId is written under the scope's subscription, as ARM does."""
    return {
        "id": f"{assignment.scope}{PROVIDER}/roleAssignments/{assignment.name}",
        "name": assignment.name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": _definition_id(assignment.scope, assignment.role_definition_id),
            "principalId": assignment.principal_id,
            "principalType": assignment.principal_type,
            "scope": assignment.scope or "/",
            "condition": None,
            "conditionVersion": None,
            "createdOn": iso(assignment.created_on),
            "updatedOn": iso(assignment.created_on),
            "createdBy": assignment.created_by,
            "updatedBy": assignment.created_by,
            "delegatedManagedIdentityResourceId": None,
            "description": assignment.description,
        },
    }


def register(router: Router) -> None:
    """Role assignments and definitions at any scope: subscription, resource group or resource."""
    assignment = "{scope*}/providers/Microsoft.Authorization/roleAssignments/{name}"
    router.add("PUT", assignment, _create_assignment)
    router.add("GET", assignment, _get_assignment)
    router.add("DELETE", assignment, _delete_assignment)
    router.add("GET", "{scope*}/providers/Microsoft.Authorization/roleAssignments", _list_assignments)
    router.add("GET", "{scope*}/providers/Microsoft.Authorization/roleDefinitions/{role_id}", _get_definition)
    router.add("GET", "{scope*}/providers/Microsoft.Authorization/roleDefinitions", _list_definitions)


def _create_assignment(call: ArmCall) -> web.Response:
    scope, name = call.params["scope"], call.params["name"]
    _check_scope(call.world.state, scope)
    try:
        uuid.UUID(name)
    except ValueError:
        raise bad_request(
            f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
            "InvalidRoleAssignmentId",
        ) from None
    properties = call.properties
    role_reference = call.required(properties, "roleDefinitionId")
    principal_id = call.required(properties, "principalId")
    role = role_by_name_or_id(role_reference)
    if role is None:
        raise bad_request(
            f"The specified role definition with ID '{role_reference.rsplit('/', 1)[-1]}' does not exist.",
            "RoleDefinitionDoesNotExist",
        )
    existing = call.world.state.role_assignments.get(name.lower())
    if existing is not None:
        if (existing.principal_id.lower(), existing.role_definition_id, existing.scope.lower()) != (
            principal_id.lower(),
            role.id,
            scope.rstrip("/").lower(),
        ):
            raise ArmError(
                409,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            )
        return web.json_response(assignment_body(existing), status=201)
    created = call.world.directory.create_assignment(
        scope,
        name,
        role,
        principal_id,
        properties.get("principalType", ""),
        call.principal.object_id,
        properties.get("description"),
    )
    return web.json_response(assignment_body(created), status=201)


def _get_assignment(call: ArmCall) -> web.Response:
    found = _assignment_at(call)
    if found is None:
        raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{call.params['name']}' is not found.")
    return web.json_response(assignment_body(found))


def _delete_assignment(call: ArmCall) -> web.Response:
    found = _assignment_at(call)
    if found is None:
        return web.Response(status=204)
    del call.world.state.role_assignments[found.name.lower()]
    return web.json_response(assignment_body(found))


def _assignment_at(call: ArmCall) -> RoleAssignment | None:
    found = call.world.state.role_assignments.get(call.params["name"].lower())
    if found is None or found.scope.lower() != call.params["scope"].rstrip("/").lower():
        return None
    return found


def _list_assignments(call: ArmCall) -> web.Response:
    scope = call.params["scope"]
    _check_scope(call.world.state, scope)
    at_scope_only, principal_ids = False, set()
    for clause in parse_filter(call.query.get("$filter", "")):
        if clause.function == "atscope":
            at_scope_only = True
        elif clause.function == "assignedto" or (clause.path == "principalid" and clause.operator == "eq"):
            principal_ids.add(str(clause.value).lower())
        else:
            raise bad_request(f"The filter '{call.query.get('$filter')}' is not supported.", "UnsupportedQuery")
    matches = []
    for assignment in call.world.state.role_assignments.values():
        above = scope_covers(assignment.scope, scope)
        below = scope_covers(scope, assignment.scope)
        if not (above or (below and not at_scope_only)):
            continue
        if principal_ids and assignment.principal_id.lower() not in principal_ids:
            continue
        matches.append(assignment_body(assignment))
    return call.page(matches)


def _get_definition(call: ArmCall) -> web.Response:
    role = BUILT_IN_ROLES.get(call.params["role_id"].lower())
    if role is None:
        raise ArmError(
            404,
            "RoleDefinitionDoesNotExist",
            f"The specified role definition with ID '{call.params['role_id']}' does not exist.",
        )
    return web.json_response(_definition_body(call.params["scope"], role))


def _list_definitions(call: ArmCall) -> web.Response:
    wanted: str | None = None
    for clause in parse_filter(call.query.get("$filter", "")):
        if clause.path == "rolename" and clause.operator == "eq":
            wanted = str(clause.value).lower()
        elif clause.path != "type":
            raise bad_request(f"The filter '{call.query.get('$filter')}' is not supported.", "UnsupportedQuery")
    roles = [role for role in BUILT_IN_ROLES.values() if wanted is None or role.name.lower() == wanted]
    return call.page(_definition_body(call.params["scope"], role) for role in roles)


def _definition_body(scope: str, role: RoleDefinition) -> dict[str, Any]:
    return {
        "id": _definition_id(scope, role.id),
        "name": role.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": role.name,
            "type": "BuiltInRole",
            "description": role.description,
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": list(role.actions),
                    "notActions": list(role.not_actions),
                    "dataActions": [],
                    "notDataActions": [],
                }
            ],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-01-01T00:00:00.0000000Z",
            "createdBy": None,
            "updatedBy": None,
        },
    }


def _definition_id(scope: str, role_id: str) -> str:
    found = re.match(r"^/subscriptions/([^/]+)", scope, re.IGNORECASE)
    prefix = f"/subscriptions/{found.group(1)}" if found else ""
    return f"{prefix}{PROVIDER}/roleDefinitions/{role_id}"


def _check_scope(state: AzureState, scope: str) -> None:
    found = re.match(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?", scope, re.IGNORECASE)
    if found is None:
        return
    if found.group(2):
        state.resource_group(found.group(1), found.group(2))
    else:
        state.subscription(found.group(1))
