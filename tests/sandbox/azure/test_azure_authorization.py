"""Azure RBAC through the real async SDK: role definitions, role assignments and ARM's 403/409/400 answers."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.support import async_wait_for

RG, VAULT = "rg-asr-weu", "rsv-weu-prod"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
READER_OBJECT_ID = "9d1e7c3a-2b4f-4d6e-8a1c-3f5b7d9e1a2c"


def vault_scope(sandbox) -> str:
    return (
        f"/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/"
        f"vaults/{VAULT}"
    )


def contributor(sandbox) -> str:
    return f"/subscriptions/{sandbox.subscription_a}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}"


async def account_identity(azure, name: str = "aa-weu-asr") -> str:
    account = await azure.automation.automation_account.create_or_update(
        RG,
        name,
        {"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {"sku": {"name": "Basic"}}},
    )
    return account.identity.principal_id


async def assign(azure, scope: str, principal_id: str, role_definition_id: str, name: str | None = None):
    return await azure.authorization.role_assignments.create(
        scope,
        name or str(uuid.uuid4()),
        {
            "properties": {
                "roleDefinitionId": role_definition_id,
                "principalId": principal_id,
                "principalType": "ServicePrincipal",
            }
        },
    )


async def test_role_definitions_get_and_filter_by_name(sandbox, azure) -> None:
    scope = f"/subscriptions/{sandbox.subscription_a}"
    definition = await azure.authorization.role_definitions.get(scope, CONTRIBUTOR)
    assert definition.role_name == "Contributor" and definition.id == contributor(sandbox)
    assert "Microsoft.Authorization/*/Write" in definition.permissions[0].not_actions
    found = [d async for d in azure.authorization.role_definitions.list(scope, filter="roleName eq 'Owner'")]
    assert [(d.name, d.role_name) for d in found] == [(OWNER, "Owner")]
    names = {d.role_name async for d in azure.authorization.role_definitions.list(scope)}
    assert names == {"Owner", "Contributor", "Reader", "User Access Administrator", "Site Recovery Contributor"}


async def test_new_identity_is_not_found_until_the_directory_replicates(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"principalPropagationDelaySeconds": 0.3})
    principal_id = await account_identity(azure)
    with pytest.raises(HttpResponseError) as raised:
        await assign(azure, vault_scope(sandbox), principal_id, contributor(sandbox))
    assert raised.value.status_code == 400 and raised.value.error.code == "PrincipalNotFound"
    assert "replication delay" in raised.value.error.message

    async def assigned():
        try:
            return await assign(azure, vault_scope(sandbox), principal_id, contributor(sandbox))
        except HttpResponseError as error:
            assert error.error.code == "PrincipalNotFound"
            return None

    created = await async_wait_for(assigned, timeout=5, interval=0.05, what="the identity in the directory")
    assert created.principal_id == principal_id and created.scope == vault_scope(sandbox)
    assert created.role_definition_id == contributor(sandbox)


async def test_assignment_create_get_list_delete_and_exists_conflict(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"principalPropagationDelaySeconds": 0})
    principal_id = await account_identity(azure)
    scope = vault_scope(sandbox)
    name = str(uuid.uuid4())
    created = await assign(azure, scope, principal_id, contributor(sandbox), name)
    assert created.name == name

    with pytest.raises(ResourceExistsError) as raised:
        await assign(azure, scope, principal_id, contributor(sandbox))
    assert raised.value.error.code == "RoleAssignmentExists"
    assert raised.value.error.message == (
        f"The role assignment already exists. The ID of the existing role assignment is {name.replace('-', '')}."
    )

    assert (await azure.authorization.role_assignments.get(scope, name)).principal_id == principal_id
    listings = {
        f"assignedTo('{principal_id}')": [name],
        f"principalId eq '{principal_id}'": [name],
        "atScope()": None,
    }
    for text, expected in listings.items():
        found = [a async for a in azure.authorization.role_assignments.list_for_scope(scope, filter=text)]
        if expected is None:
            assert name in {a.name for a in found} and len(found) == 3  # the vault's and the subscription's
        else:
            assert [a.name for a in found] == expected, text
    at_resource_group = [
        a.name
        async for a in azure.authorization.role_assignments.list_for_scope(
            f"/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}", filter="atScope()"
        )
    ]
    assert name not in at_resource_group
    in_subscription = [a.name async for a in azure.authorization.role_assignments.list_for_subscription()]
    assert name in in_subscription and len(in_subscription) == 3

    await azure.authorization.role_assignments.delete(scope, name)
    with pytest.raises(ResourceNotFoundError):
        await azure.authorization.role_assignments.get(scope, name)


async def test_lowered_operator_gets_authorization_failed(sandbox, azure) -> None:
    operator = sandbox.state()["operatorObjectId"]
    subscription = f"/subscriptions/{sandbox.subscription_a}"
    sandbox.admin("DELETE", "/role-assignments", {"principalId": operator, "scope": subscription})
    sandbox.admin("POST", "/role-assignments", {"principalId": operator, "role": "Reader", "scope": subscription})
    assert (await azure.vaults.vaults.get(RG, VAULT)).name == VAULT
    with pytest.raises(HttpResponseError) as raised:
        await azure.automation.automation_account.create_or_update(
            RG, "aa-denied", {"location": "westeurope", "properties": {"sku": {"name": "Basic"}}}
        )
    assert raised.value.status_code == 403 and raised.value.error.code == "AuthorizationFailed"
    scope = f"{subscription}/resourceGroups/{RG}/providers/Microsoft.Automation/automationAccounts/aa-denied"
    assert raised.value.error.message == (
        f"The client '{sandbox.info['clientId']}' with object id '{operator}' does not have authorization to "
        f"perform action 'Microsoft.Automation/automationAccounts/write' over scope '{scope}' or the scope is "
        "invalid. If access was recently granted, please refresh your credentials."
    )


async def test_contributor_cannot_assign_roles_but_owner_can(sandbox, azure) -> None:
    deployer = sandbox.admin(
        "POST",
        "/principals",
        {"kind": "ServicePrincipal", "displayName": "deployer", "clientSecret": "deployer-secret"},
    )
    group = f"/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}"
    sandbox.admin(
        "POST", "/role-assignments", {"principalId": deployer["objectId"], "role": "Contributor", "scope": group}
    )
    clients = sandbox.clients(sandbox.credential(deployer["clientId"], "deployer-secret"))
    try:
        await clients.vaults.vaults.get(RG, VAULT)
        with pytest.raises(HttpResponseError) as raised:
            await assign(clients, vault_scope(sandbox), READER_OBJECT_ID, contributor(sandbox))
        assert raised.value.error.code == "AuthorizationFailed"
        assert "'Microsoft.Authorization/roleAssignments/write'" in raised.value.error.message
        with pytest.raises(HttpResponseError) as outside:
            await clients.vaults.vaults.get("rg-asr-eus", "rsv-eus-prod")
        assert outside.value.status_code == 403
    finally:
        await clients.close()
    created = await assign(azure, vault_scope(sandbox), READER_OBJECT_ID, contributor(sandbox))
    assert created.principal_type == "ServicePrincipal"
