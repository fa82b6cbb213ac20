"""Azure RBAC's built-in roles and how role assignments are inherited down the scope tree.

Who may do what is a fact of the estate: the ARM gate asks it before every call, and Site Recovery's update
runbook asks it before touching a vault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .estate import AzureState


@dataclass(frozen=True)
class RoleDefinition:
    """A built-in role: which actions it grants and which it carves out again."""

    id: str
    name: str
    description: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        """Actions match case-insensitively, with `*` wildcards, as ARM compares them."""
        return any(_wildcard(pattern, action) for pattern in self.actions) and not any(
            _wildcard(pattern, action) for pattern in self.not_actions
        )


CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
SITE_RECOVERY_CONTRIBUTOR = "6670b86e-a3f7-4917-ac9b-5d6ab1be4567"

BUILT_IN_ROLES = {
    role.id: role
    for role in (
        RoleDefinition(
            OWNER,
            "Owner",
            "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
            ("*",),
        ),
        RoleDefinition(
            CONTRIBUTOR,
            "Contributor",
            "Grants full access to manage all resources, but does not allow "
            "you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image "
            "galleries.",
            ("*",),
            (
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
                "Microsoft.Blueprint/blueprintAssignments/write",
                "Microsoft.Blueprint/blueprintAssignments/delete",
                "Microsoft.Compute/galleries/share/action",
                "Microsoft.Purview/consents/write",
                "Microsoft.Purview/consents/delete",
                "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
                "Microsoft.Subscription/cancel/action",
                "Microsoft.Subscription/enable/action",
            ),
        ),
        RoleDefinition(
            READER, "Reader", "View all resources, but does not allow you to make any changes.", ("*/read",)
        ),
        RoleDefinition(
            USER_ACCESS_ADMINISTRATOR,
            "User Access Administrator",
            "Lets you manage user access to Azure resources.",
            ("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"),
        ),
        RoleDefinition(
            SITE_RECOVERY_CONTRIBUTOR,
            "Site Recovery Contributor",
            "Lets you manage Site Recovery service except vault creation and role assignment",
            (
                "Microsoft.Authorization/*/read",
                "Microsoft.Insights/alertRules/*",
                "Microsoft.Network/virtualNetworks/read",
                "Microsoft.RecoveryServices/vaults/read",
                "Microsoft.RecoveryServices/vaults/extendedInformation/*",
                "Microsoft.RecoveryServices/vaults/replicationAlertSettings/*",
                "Microsoft.RecoveryServices/vaults/replicationEvents/read",
                "Microsoft.RecoveryServices/vaults/replicationFabrics/*",
                "Microsoft.RecoveryServices/vaults/replicationJobs/*",
                "Microsoft.RecoveryServices/vaults/replicationPolicies/*",
                "Microsoft.RecoveryServices/vaults/replicationRecoveryPlans/*",
                "Microsoft.RecoveryServices/vaults/replicationVaultSettings/*",
                "Microsoft.RecoveryServices/vaults/replicationProtectedItems/read",
                "Microsoft.RecoveryServices/vaults/replicationProtectionContainerMappings/read",
                "Microsoft.RecoveryServices/vaults/replicationProtectionContainers/read",
                "Microsoft.RecoveryServices/vaults/replicationOperationStatus/read",
                "Microsoft.RecoveryServices/vaults/replicationOperationResults/read",
                "Microsoft.Resources/deployments/*",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Storage/storageAccounts/read",
                "Microsoft.Support/*",
            ),
        ),
    )
}


def role_by_name_or_id(reference: str) -> RoleDefinition | None:
    """A built-in role from its name ("Contributor"), GUID or full roleDefinitionId."""
    tail = reference.rstrip("/").rsplit("/", 1)[-1].lower()
    for role in BUILT_IN_ROLES.values():
        if tail == role.id or reference.lower() == role.name.lower():
            return role
    return None


def scope_covers(assignment_scope: str, resource_path: str) -> bool:
    """Role assignments are inherited by everything below their scope."""
    scope, path = assignment_scope.rstrip("/").lower(), resource_path.rstrip("/").lower()
    return scope == "" or path == scope or path.startswith(scope + "/")


def is_permitted(state: AzureState, principal_id: str, action: str, path: str) -> bool:
    """Any role assigned at or above the path whose actions (minus notActions) cover the action."""
    for assignment in state.role_assignments.values():
        if assignment.principal_id.lower() != principal_id.lower() or not scope_covers(assignment.scope, path):
            continue
        role = BUILT_IN_ROLES.get(assignment.role_definition_id)
        if role is not None and role.allows(action):
            return True
    return False


def holds_role(state: AzureState, principal_id: str, role_ids: set[str], path: str) -> bool:
    """Whether a principal holds one of these roles over a resource (what Site Recovery's runbook checks)."""
    return any(
        assignment.principal_id.lower() == principal_id.lower()
        and assignment.role_definition_id in role_ids
        and scope_covers(assignment.scope, path)
        for assignment in state.role_assignments.values()
    )


def _wildcard(pattern: str, action: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, action, re.IGNORECASE) is not None
