"""How seed documents (the default estate, a custom one, or one posted to the admin API) become state.

Seeds stand outside ARM: they grant roles and register principals without RBAC's checks, and merge into what
exists so that a test can add one vault to the default estate. Invalid documents raise ValueError.
"""

from __future__ import annotations

import copy
import datetime
import secrets
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .default_estate import DEFAULT_SEED, LATEST
from .estate import AzureState
from .recovery import (
    ContainerMapping,
    Fabric,
    ProtectedItem,
    ProtectionContainer,
    Vault,
    new_mapping_details,
    vault_path,
)
from .roles import role_by_name_or_id
from .tenant import Principal, ResourceGroup, RoleAssignment, Subscription
from .timestamps import iso, parse_time


def build_state(seed: dict[str, Any] | None, now: datetime.datetime) -> AzureState:
    """A fresh estate from a seed document; keys it leaves out come from the default seed."""
    document = {**copy.deepcopy(DEFAULT_SEED), **copy.deepcopy(seed or {})}
    operator = document["operator"]
    state = AzureState(tenant_id=document["tenantId"], operator_object_id=operator["objectId"])
    add_principal(state, {"kind": "ServicePrincipal", **operator})
    apply_seed(state, document, now)
    return state


def apply_seed(state: AzureState, document: dict[str, Any], now: datetime.datetime) -> None:
    """Add subscriptions, principals, role assignments and vaults (merging into what exists); ValueError if invalid."""
    for spec in document.get("subscriptions", []):
        key = spec["subscriptionId"].lower()
        subscription = state.subscriptions.setdefault(
            key, Subscription(spec["subscriptionId"], spec.get("displayName") or spec["subscriptionId"])
        )
        for group in spec.get("resourceGroups", []):
            subscription.resource_groups.setdefault(
                group["name"].lower(), ResourceGroup(group["name"], group.get("location", "westeurope"))
            )
    for spec in document.get("principals", []):
        add_principal(state, spec)
    for spec in document.get("roleAssignments", []):
        assign_role(state, spec["principalId"], spec["role"], spec["scope"], now)
    for spec in document.get("vaults", []):
        _seed_vault(state, spec, now)


def add_principal(state: AzureState, spec: dict[str, Any]) -> Principal:
    """A directory object from the admin API or a seed; client ids are generated for applications."""
    kind = spec.get("kind", "ServicePrincipal")
    if kind not in ("ServicePrincipal", "User", "ManagedIdentity"):
        raise ValueError("kind must be ServicePrincipal, User or ManagedIdentity")
    object_id = spec.get("objectId") or str(uuid.uuid4())
    client_id = spec.get("clientId", str(uuid.uuid4()) if kind != "User" else None)
    if client_id and (other := state.principal_by_client_id(client_id)) and other.object_id != object_id:
        raise ValueError(f"client id {client_id} already belongs to {other.object_id}")
    principal = Principal(
        object_id=object_id,
        kind=kind,
        display_name=spec.get("displayName") or object_id,
        client_id=client_id,
        client_secret=spec.get("clientSecret"),
    )
    if spec.get("certificateThumbprint"):
        principal.certificate_thumbprints.add(spec["certificateThumbprint"].replace(":", "").upper())
    if spec.get("certificatePem"):
        principal.certificate_thumbprints |= pem_thumbprints(spec["certificatePem"])
    state.principals[object_id.lower()] = principal
    return principal


def pem_thumbprints(pem: str) -> set[str]:
    """SHA-1 and SHA-256: MSAL names the signing certificate by either in the assertion header."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return {certificate.fingerprint(algorithm).hex().upper() for algorithm in (hashes.SHA1(), hashes.SHA256())}


def assign_role(
    state: AzureState,
    principal_id: str,
    role_reference: str,
    scope: str,
    now: datetime.datetime,
) -> RoleAssignment:
    """Grant a role without ARM's checks (seeds and the admin API stand outside RBAC); idempotent."""
    role = role_by_name_or_id(role_reference)
    if role is None:
        raise ValueError(f"unknown role {role_reference!r}")
    principal = state.principals.get(principal_id.lower())
    if principal is None:
        raise ValueError(f"unknown principal {principal_id}")
    scope = scope.rstrip("/")
    for existing in state.role_assignments.values():
        if (existing.principal_id.lower(), existing.role_definition_id, existing.scope.lower()) == (
            principal_id.lower(),
            role.id,
            scope.lower(),
        ):
            return existing
    assignment = RoleAssignment(
        name=str(uuid.uuid4()),
        scope=scope,
        role_definition_id=role.id,
        principal_id=principal.object_id,
        principal_type=principal.assignment_type,
        created_on=now,
    )
    state.role_assignments[assignment.name] = assignment
    return assignment


def _seed_vault(state: AzureState, spec: dict[str, Any], now: datetime.datetime) -> None:
    subscription = state.subscription(spec["subscriptionId"])
    group = subscription.resource_groups.setdefault(
        spec["resourceGroup"].lower(), ResourceGroup(spec["resourceGroup"], spec["location"])
    )
    key = vault_path(subscription.subscription_id, group.name, spec["name"]).lower()
    vault = state.vaults.get(key)
    if vault is None:
        vault = Vault(
            id=vault_path(subscription.subscription_id, group.name, spec["name"]),
            subscription_id=subscription.subscription_id,
            resource_group=group.name,
            name=spec["name"],
            location=spec["location"],
            created=now,
        )
        state.vaults[key] = vault
    if spec.get("tags") is not None:
        # A seed that names tags sets them, on a vault it merges into too (a test re-tagging a vault mid-run).
        vault.tags = _tags(spec["tags"])
    for fabric_spec in spec.get("fabrics", []):
        fabric = vault.fabrics.get(fabric_spec["name"].lower())
        if fabric is None:
            fabric = Fabric(
                id=f"{vault.asr_prefix}/replicationFabrics/{fabric_spec['name']}",
                name=fabric_spec["name"],
                friendly_name=fabric_spec.get("friendlyName") or fabric_spec["location"],
                location=fabric_spec["location"],
                instance_type=fabric_spec.get("instanceType", "Azure"),
            )
            vault.fabrics[fabric.name.lower()] = fabric
        for container_spec in fabric_spec.get("containers", []):
            container = fabric.containers.get(container_spec["name"].lower())
            if container is None:
                container = ProtectionContainer(
                    id=f"{fabric.id}/replicationProtectionContainers/{container_spec['name']}",
                    name=container_spec["name"],
                    friendly_name=container_spec.get("friendlyName") or container_spec["name"],
                    fabric_type=container_spec.get("fabricType", fabric.instance_type),
                )
                fabric.containers[container.name.lower()] = container
            for mapping_spec in container_spec.get("mappings", []):
                _seed_mapping(vault, container, mapping_spec)
            for item_spec in container_spec.get("protectedItems", []):
                _seed_item(vault, fabric, container, item_spec, now)


def _tags(value: Any) -> dict[str, str]:
    """ARM tags are string to string; anything else would only fail later, in a client's deserializer."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("a vault's tags must be an object of strings")
    return dict(value)


def _seed_mapping(vault: Vault, container: ProtectionContainer, spec: dict[str, Any]) -> None:
    target_fabric, _, target_container = spec["target"].partition("/")
    instance_type = spec.get("instanceType", "A2A")
    details = new_mapping_details(instance_type)
    if instance_type == "A2A":
        details.update(
            {
                key: spec[key]
                for key in ("agentAutoUpdateStatus", "automationAccountArmId", "automationAccountAuthenticationType")
                if key in spec
            }
        )
    mapping = ContainerMapping(
        id=f"{container.id}/replicationProtectionContainerMappings/{spec['name']}",
        name=spec["name"],
        instance_type=instance_type,
        state=spec.get("state", "Paired"),
        target_container_id=f"{vault.asr_prefix}/replicationFabrics/{target_fabric}/replicationProtectionContainers/"
        f"{target_container}",
        policy_id=f"{vault.asr_prefix}/replicationPolicies/{spec.get('policy', '24-hour-retention-policy')}",
        details=details,
        health_errors=list(spec.get("healthErrorDetails", [])),
    )
    container.mappings[mapping.name.lower()] = mapping


def _seed_item(
    vault: Vault, fabric: Fabric, container: ProtectionContainer, spec: dict[str, Any], now: datetime.datetime
) -> None:
    vm = spec["friendlyName"]
    name = spec.get("name") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{vault.id}/{vm}".lower()))
    if "agentExpiryDate" in spec:
        expiry = parse_time(spec["agentExpiryDate"], "agentExpiryDate")
    else:
        expiry = now + datetime.timedelta(days=float(spec.get("agentExpiresInDays", 330)))
    update_required = bool(spec.get("isReplicationAgentUpdateRequired", False))
    mapping = next(iter(container.mappings.values()), None)
    vm_group = spec.get("vmResourceGroup") or f"rg-app-{fabric.location}"
    details = {
        "instanceType": "A2A",
        "fabricObjectId": f"/subscriptions/{vault.subscription_id}/resourceGroups/{vm_group}/providers/"
        f"Microsoft.Compute/virtualMachines/{vm}",
        "primaryFabricLocation": fabric.location,
        "recoveryFabricLocation": vault.location,
        "osType": spec.get("osType", "Linux"),
        "recoveryAzureVMName": vm,
        "recoveryAzureVMSize": spec.get("vmSize", "Standard_D2s_v5"),
        "vmProtectionState": "Protected",
        "vmProtectionStateDescription": "Protected",
        "agentVersion": spec.get("agentVersion", LATEST),
        "agentExpiryDate": iso(expiry),
        "isReplicationAgentUpdateRequired": update_required,
        "agentCertificateExpiryDate": iso(now + datetime.timedelta(days=400)),
        "isReplicationAgentCertificateUpdateRequired": False,
        "isAgentUpgradeable": update_required,
        "isAgentUpgradeInProgress": False,
        "autoAgentUpgradeRetryCount": 0,
        "isAgentUpgradeRetryThresholdExhausted": False,
        "lastHeartbeat": iso(now - datetime.timedelta(minutes=3)),
        "lastRpoCalculatedTime": iso(now - datetime.timedelta(minutes=1)),
        "rpoInSeconds": 42,
        "managementId": secrets.token_hex(16),
        "multiVmGroupName": None,
        "monitoringJobType": None,
        "monitoringPercentageCompletion": None,
    }
    details.update(spec.get("details") or {})
    health = spec.get("replicationHealth", "Normal")
    if health not in ("Normal", "Warning", "Critical"):
        raise ValueError(f"replicationHealth must be Normal, Warning or Critical, not {health!r}")
    container.items[name.lower()] = ProtectedItem(
        id=f"{container.id}/replicationProtectedItems/{name}",
        name=name,
        friendly_name=vm,
        details=details,
        replication_health=health,
        policy_friendly_name=mapping.policy_id.rsplit("/", 1)[-1] if mapping else "",
        recovery_container_id=mapping.target_container_id if mapping else "",
    )
