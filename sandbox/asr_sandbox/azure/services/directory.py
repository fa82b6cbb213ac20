"""Entra ID's and ARM's side of identities: managed identities that appear late, role assignments ARM validates.

Two delays of the real directory matter to the operator and are reproduced here: a new system-assigned identity
is unknown to role assignments for a while (replication), and a role assignment for such a principal is refused
with PrincipalNotFound until it is visible. The delay runs on the emulated clock (`EmulatedClock.elapsed`), so a
test that advances the clock sees the identity replicated without waiting.
"""

from __future__ import annotations

import uuid

from ..state.automation import AutomationAccount
from ..state.errors import Conflict, InvalidInput
from ..state.estate import AzureState
from ..state.roles import RoleDefinition
from ..state.tenant import Principal, RoleAssignment
from .clock import EmulatedClock
from .settings import EmulatorSettings


class Directory:
    """Identities and role assignments created through ARM (seeds and the admin API bypass these checks)."""

    def __init__(self, state: AzureState, clock: EmulatedClock, settings: EmulatorSettings):
        self._state = state
        self._clock = clock
        self._settings = settings

    def set_system_identity(self, account: AutomationAccount, identity_type: str | None) -> None:
        """Turning the system identity on creates a directory object that role assignments see only after a delay."""
        account.identity_type = None if not identity_type or identity_type == "None" else identity_type
        if account.has_system_identity and account.principal_id is None:
            principal = Principal(
                object_id=str(uuid.uuid4()),
                kind="ManagedIdentity",
                display_name=account.name,
                client_id=str(uuid.uuid4()),
                visible_after=self._clock.elapsed() + self._settings.principal_propagation_delay_seconds,
            )
            self._state.principals[principal.object_id.lower()] = principal
            account.principal_id = principal.object_id
        elif not account.has_system_identity and account.principal_id is not None:
            self._state.principals.pop(account.principal_id.lower(), None)
            account.principal_id = None

    def replicated(self, principal: Principal) -> bool:
        """Whether role assignments can see the principal yet, by the emulated clock (seeded ones always)."""
        return self._clock.elapsed() >= principal.visible_after

    def forget_identity(self, account: AutomationAccount) -> None:
        """A deleted account's managed identity leaves the directory with it."""
        if account.principal_id:
            self._state.principals.pop(account.principal_id.lower(), None)

    def create_assignment(
        self,
        scope: str,
        name: str,
        role: RoleDefinition,
        principal_id: str,
        principal_type: str,
        created_by: str | None,
        description: str | None = None,
    ) -> RoleAssignment:
        """Create a role assignment the way ARM validates one: the principal must be visible, the grant new."""
        state = self._state
        principal = state.principals.get(principal_id.lower())
        if principal is None or not self.replicated(principal):
            raise InvalidInput(
                "PrincipalNotFound",
                f"Principal {principal_id.replace('-', '')} does not exist in the directory {state.tenant_id}. Check "
                "that you have the correct principal ID. If you are creating this principal and then immediately "
                "assigning a role, this error might be related to a replication delay. In this case, set the role "
                "assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See "
                "https://aka.ms/docs-principaltype",
            )
        for existing in state.role_assignments.values():
            if (
                existing.principal_id.lower() == principal_id.lower()
                and existing.role_definition_id == role.id
                and existing.scope.rstrip("/").lower() == scope.rstrip("/").lower()
            ):
                raise Conflict(
                    "RoleAssignmentExists",
                    f"The role assignment already exists. The ID of the existing role assignment is "
                    f"{existing.name.replace('-', '')}.",
                )
        assignment = RoleAssignment(
            name=name,
            scope=scope.rstrip("/"),
            role_definition_id=role.id,
            principal_id=principal.object_id,
            principal_type=principal_type or principal.assignment_type,
            created_on=self._clock.now(),
            created_by=created_by,
            description=description,
        )
        state.role_assignments[name.lower()] = assignment
        return assignment
