"""The whole emulated estate, and the lookups every provider shares.

Every resource keeps the id it was created with (ARM returns that casing) and is filed under the lowercased
id or name, because ARM compares ids case-insensitively. A missing parent is reported before a missing child,
as ARM does: no subscription, then no resource group, then no resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .automation import AutomationAccount, account_path
from .errors import NotFound, resource_not_found
from .recovery import AsyncOperation, Vault, vault_path
from .tenant import Principal, ResourceGroup, RoleAssignment, Subscription


@dataclass(eq=False)
class AzureState:
    """Everything a reset rebuilds from the seed."""

    tenant_id: str
    operator_object_id: str
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)
    role_assignments: dict[str, RoleAssignment] = field(default_factory=dict)
    accounts: dict[str, AutomationAccount] = field(default_factory=dict)
    vaults: dict[str, Vault] = field(default_factory=dict)
    operations: dict[str, AsyncOperation] = field(default_factory=dict)

    def subscription(self, subscription_id: str) -> Subscription:
        """NotFound as SubscriptionNotFound."""
        found = self.subscriptions.get(subscription_id.lower())
        if found is None:
            raise NotFound("SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
        return found

    def resource_group(self, subscription_id: str, name: str) -> ResourceGroup:
        """NotFound as ResourceGroupNotFound (or for its subscription)."""
        found = self.subscription(subscription_id).resource_groups.get(name.lower())
        if found is None:
            raise NotFound("ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return found

    def account(self, subscription_id: str, resource_group: str, name: str) -> AutomationAccount:
        """NotFound as ResourceNotFound (or for its resource group)."""
        self.resource_group(subscription_id, resource_group)
        found = self.accounts.get(account_path(subscription_id, resource_group, name).lower())
        if found is None:
            raise resource_not_found(f"Microsoft.Automation/automationAccounts/{name}", resource_group)
        return found

    def account_by_id(self, arm_id: str) -> AutomationAccount | None:
        """Mappings name their automation account by ARM id; None when it is gone."""
        return self.accounts.get(arm_id.rstrip("/").lower())

    def vault(self, subscription_id: str, resource_group: str, name: str) -> Vault:
        """NotFound as ResourceNotFound (or for its resource group)."""
        self.resource_group(subscription_id, resource_group)
        found = self.vaults.get(vault_path(subscription_id, resource_group, name).lower())
        if found is None:
            raise resource_not_found(f"Microsoft.RecoveryServices/vaults/{name}", resource_group)
        return found

    def principal_by_client_id(self, client_id: str) -> Principal | None:
        """The token endpoint knows a caller by its client (application) id."""
        for principal in self.principals.values():
            if principal.client_id and principal.client_id.lower() == client_id.lower():
                return principal
        return None
