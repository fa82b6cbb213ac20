"""The tenant: directory objects that hold roles, their role assignments, subscriptions and resource groups."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Principal:
    """A directory object that can hold roles: a service principal, a user or a managed identity."""

    object_id: str
    kind: str
    display_name: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    # Upper-case hex SHA-1 and SHA-256 thumbprints of registered certificates (client assertions).
    certificate_thumbprints: set[str] = field(default_factory=set)
    # The emulated clock's elapsed seconds after which role assignments can see it (directory replication
    # delay); `services.directory.Directory.replicated` is the one judge of it.
    visible_after: float = 0.0

    @property
    def assignment_type(self) -> str:
        """The principalType a role assignment records when the caller names none."""
        return "User" if self.kind == "User" else "ServicePrincipal"

    def public(self) -> dict[str, Any]:
        """What the admin API shows: never the secret itself."""
        return {
            "objectId": self.object_id,
            "kind": self.kind,
            "displayName": self.display_name,
            "clientId": self.client_id,
            "hasClientSecret": self.client_secret is not None,
            "certificateThumbprints": sorted(self.certificate_thumbprints),
        }


@dataclass(eq=False)
class RoleAssignment:
    """A role granted to a principal at a scope (and everything below it)."""

    name: str
    scope: str
    role_definition_id: str
    principal_id: str
    principal_type: str
    created_on: datetime.datetime
    created_by: str | None = None
    description: str | None = None


@dataclass(eq=False)
class ResourceGroup:
    """A resource group: the parent ARM checks before any resource in it."""

    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Subscription:
    """A subscription and its resource groups."""

    subscription_id: str
    display_name: str
    resource_groups: dict[str, ResourceGroup] = field(default_factory=dict)
