"""Microsoft.RecoveryServices on ARM: vaults, and the parts of Site Recovery the operator only reads (fabrics,
protection containers, protected items and the vault's jobs).

Site Recovery writes its child ids with a capital `/Subscriptions/`; lookups below a vault answer ARM's
ResourceNotFound naming the vault-relative type. The write path (container mappings) is in `site_recovery`.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from ..state.errors import NotFound, resource_not_found
from ..state.recovery import Fabric, ProtectedItem, ProtectionContainer, ReplicationJob, Vault, vault_path
from ..state.timestamps import iso
from .arm import ArmCall, Router

VAULT = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}"
FABRIC = VAULT + "/replicationFabrics/{fabric}"
CONTAINER = FABRIC + "/replicationProtectionContainers/{container}"
VAULT_TYPE = "Microsoft.RecoveryServices/vaults"
# Site Recovery's "never" (SQL's smallest datetime, at 01:01:01): what it answers for a time it has not set.
UNSET_TIME = "1753-01-01T01:01:01Z"
# The A2AReplicationDetails times answered as UNSET_TIME while the estate holds none.
_A2A_TIMES = ("lastHeartbeat", "agentExpiryDate", "agentCertificateExpiryDate", "lastRpoCalculatedTime")


def register(router: Router) -> None:
    """Vaults and the read-only children, each list also per parent where the SDK has that call."""
    router.add("GET", "/subscriptions/{sub}/providers/Microsoft.RecoveryServices/vaults", _list_vaults)
    router.add(
        "GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults", _list_vaults
    )
    router.add("GET", VAULT, lambda call: web.json_response(vault_body(vault_of(call))))
    router.add("PUT", VAULT, _put_vault)
    router.add("GET", VAULT + "/replicationFabrics", _list_fabrics)
    router.add("GET", FABRIC, lambda call: web.json_response(_fabric_body(vault_of(call), fabric_of(call))))
    router.add("GET", VAULT + "/replicationProtectionContainers", _list_containers)
    router.add("GET", FABRIC + "/replicationProtectionContainers", _list_containers)
    router.add("GET", CONTAINER, _get_container)
    router.add("GET", VAULT + "/replicationProtectedItems", _list_items)
    router.add("GET", CONTAINER + "/replicationProtectedItems", _list_items)
    router.add("GET", CONTAINER + "/replicationProtectedItems/{item}", _get_item)
    router.add("GET", VAULT + "/replicationJobs", _list_jobs)
    router.add("GET", VAULT + "/replicationJobs/{job}", _get_job)


# ---- vaults ---------------------------------------------------------------------------------------


def vault_of(call: ArmCall) -> Vault:
    """The vault a call addresses, answering 404 the way ARM does when it or its group is missing."""
    return call.world.state.vault(call.params["sub"], call.params["rg"], call.params["vault"])


def vault_body(vault: Vault) -> dict[str, Any]:
    """Always provisioned: a PUT answers Succeeded at once, so the SDK's poller stops on the first answer."""
    return {
        "id": vault.id,
        "name": vault.name,
        "type": VAULT_TYPE,
        "location": vault.location,
        "tags": vault.tags,
        "etag": f"W/\"datetime'{vault.created.strftime('%Y-%m-%dT%H%%3A%M%%3A%S')}'\"",
        "sku": {"name": vault.sku, "tier": "Standard"},
        "identity": {"type": "None"},
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpointStateForBackup": "None",
            "privateEndpointStateForSiteRecovery": "None",
            "publicNetworkAccess": "Enabled",
            "redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant", "crossRegionRestore": "Disabled"},
        },
    }


def _list_vaults(call: ArmCall) -> web.Response:
    state = call.world.state
    state.subscription(call.params["sub"])
    prefix = f"/subscriptions/{call.params['sub']}/resourcegroups/".lower()
    if "rg" in call.params:
        state.resource_group(call.params["sub"], call.params["rg"])
        prefix += call.params["rg"].lower() + "/"
    return call.page(vault_body(vault) for key, vault in state.vaults.items() if key.startswith(prefix))


def _put_vault(call: ArmCall) -> web.Response:
    state = call.world.state
    sub, rg, name = call.params["sub"], call.params["rg"], call.params["vault"]
    group = state.resource_group(sub, rg)
    location = call.required(call.body, "location", where="body")
    key = vault_path(sub, rg, name).lower()
    vault = state.vaults.get(key)
    created = vault is None
    if vault is None:
        vault = Vault(
            id=vault_path(sub, group.name, name),
            subscription_id=sub,
            resource_group=group.name,
            name=name,
            location=location,
            created=call.now,
        )
        state.vaults[key] = vault
    vault.tags = call.body.get("tags") or {}
    vault.sku = (call.body.get("sku") or {}).get("name") or vault.sku
    return web.json_response(vault_body(vault), status=201 if created else 200)


# ---- fabrics and containers -----------------------------------------------------------------------


def fabric_of(call: ArmCall) -> Fabric:
    """The fabric a call addresses, after its vault (ARM reports the first missing parent)."""
    fabric = vault_of(call).fabrics.get(call.params["fabric"].lower())
    if fabric is None:
        raise asr_not_found(call, "replicationFabrics", call.params["fabric"])
    return fabric


def container_of(call: ArmCall) -> ProtectionContainer:
    """The protection container a call addresses, after its fabric."""
    container = fabric_of(call).containers.get(call.params["container"].lower())
    if container is None:
        raise asr_not_found(call, "replicationProtectionContainers", call.params["container"])
    return container


def asr_not_found(call: ArmCall, collection: str, name: str) -> NotFound:
    """ARM's ResourceNotFound for a Site Recovery child of an existing vault."""
    return resource_not_found(f"{VAULT_TYPE}/{call.params['vault']}/{collection}/{name}", call.params["rg"])


def _fabric_body(vault: Vault, fabric: Fabric) -> dict[str, Any]:
    return {
        "id": fabric.id,
        "name": fabric.name,
        "type": f"{VAULT_TYPE}/replicationFabrics",
        "location": vault.location,
        "properties": {
            "friendlyName": fabric.friendly_name,
            "internalIdentifier": str(uuid.uuid5(uuid.NAMESPACE_URL, fabric.id.lower())),
            "bcdrState": "Valid",
            "health": "Normal",
            "healthErrorDetails": [],
            "customDetails": {
                "instanceType": fabric.instance_type,
                "location": fabric.location,
                "containerIds": [container.id for container in fabric.containers.values()],
            },
        },
    }


def _list_fabrics(call: ArmCall) -> web.Response:
    vault = vault_of(call)
    return call.page(_fabric_body(vault, fabric) for fabric in vault.fabrics.values())


def _container_body(vault: Vault, fabric: Fabric, container: ProtectionContainer) -> dict[str, Any]:
    return {
        "id": container.id,
        "name": container.name,
        "type": f"{VAULT_TYPE}/replicationFabrics/replicationProtectionContainers",
        "location": vault.location,
        "properties": {
            "fabricFriendlyName": fabric.friendly_name,
            "friendlyName": container.friendly_name,
            "fabricType": container.fabric_type,
            "protectedItemCount": len(container.items),
            "pairingStatus": "Paired" if container.mappings else "NotPaired",
            "role": "Primary" if container.items else "Recovery",
            "fabricSpecificDetails": {"instanceType": container.fabric_type},
        },
    }


def _list_containers(call: ArmCall) -> web.Response:
    vault = vault_of(call)
    fabrics = [fabric_of(call)] if "fabric" in call.params else list(vault.fabrics.values())
    return call.page(
        _container_body(vault, fabric, container) for fabric in fabrics for container in fabric.containers.values()
    )


def _get_container(call: ArmCall) -> web.Response:
    return web.json_response(_container_body(vault_of(call), fabric_of(call), container_of(call)))


# ---- protected items and Site Recovery jobs --------------------------------------------------------


def item_body(vault: Vault, fabric: Fabric, container: ProtectionContainer, item: ProtectedItem) -> dict[str, Any]:
    """The agent fields the operator reports on live in providerSpecificDetails (A2AReplicationDetails).

    No scenario is running and the item never failed over: Site Recovery answers its placeholders for those
    (scenario `None`, job `…/replicationJobs/None`, time 1753-01-01T01:01:01Z), never null.
    """
    recovery = vault.container_by_id(item.recovery_container_id)
    return {
        "id": item.id,
        "name": item.name,
        "type": f"{VAULT_TYPE}/replicationFabrics/replicationProtectionContainers/replicationProtectedItems",
        "location": vault.location,
        "properties": {
            "friendlyName": item.friendly_name,
            "protectedItemType": "ProtectedItem",
            "primaryFabricFriendlyName": fabric.friendly_name,
            "primaryFabricProvider": fabric.instance_type,
            "recoveryFabricFriendlyName": recovery[0].friendly_name if recovery else None,
            "recoveryFabricId": recovery[0].id if recovery else None,
            "primaryProtectionContainerFriendlyName": container.friendly_name,
            "recoveryProtectionContainerFriendlyName": recovery[1].friendly_name if recovery else None,
            "recoveryContainerId": item.recovery_container_id,
            "protectionState": item.protection_state,
            "protectionStateDescription": item.protection_state,
            "activeLocation": "Primary",
            "testFailoverState": "None",
            "testFailoverStateDescription": "None",
            "allowedOperations": ["PlannedFailover", "UnplannedFailover", "TestFailover", "DisableProtection"],
            "replicationHealth": item.replication_health,
            "failoverHealth": "Normal",
            "healthErrors": [],
            "policyFriendlyName": item.policy_friendly_name,
            "currentScenario": {
                "scenarioName": "None",
                "jobId": f"{vault.asr_prefix}/replicationJobs/None",
                "startTime": UNSET_TIME,
            },
            "lastSuccessfulFailoverTime": UNSET_TIME,
            "lastSuccessfulTestFailoverTime": UNSET_TIME,
            "providerSpecificDetails": _provider_details(item.details),
        },
    }


def _provider_details(details: dict[str, Any]) -> dict[str, Any]:
    """A2A details with Site Recovery's placeholder for each time the estate leaves unset (other providers as kept)."""
    if details.get("instanceType") != "A2A":
        return details
    return {**details, **{name: UNSET_TIME for name in _A2A_TIMES if not details.get(name)}}


def _list_items(call: ArmCall) -> web.Response:
    vault = vault_of(call)
    if "container" in call.params:
        fabric, container = fabric_of(call), container_of(call)
        found = [(fabric, container, item) for item in container.items.values()]
    else:
        found = list(vault.items())
    return call.page(item_body(vault, *entry) for entry in found)


def _get_item(call: ArmCall) -> web.Response:
    vault, fabric, container = vault_of(call), fabric_of(call), container_of(call)
    item = container.items.get(call.params["item"].lower())
    if item is None:
        raise asr_not_found(call, "replicationProtectedItems", call.params["item"])
    return web.json_response(item_body(vault, fabric, container, item))


def _job_body(vault: Vault, job: ReplicationJob) -> dict[str, Any]:
    """A job not yet ended answers endTime null (what Site Recovery answers there is not confirmed)."""
    return {
        "id": job.id,
        "name": job.name,
        "type": f"{VAULT_TYPE}/replicationJobs",
        "location": vault.location,
        "properties": {
            "activityId": f"{job.name} ActivityId: {job.name}",
            "scenarioName": job.scenario_name,
            "friendlyName": job.friendly_name,
            "state": job.state,
            "stateDescription": "Completed" if job.state == "Succeeded" else job.state,
            "tasks": [],
            "errors": job.errors,
            "startTime": iso(job.start),
            "endTime": iso(job.end),
            "allowedActions": ["Restart"] if job.state == "Failed" else [],
            "targetObjectId": job.target_id,
            "targetObjectName": job.target_name,
            "targetInstanceType": "ProtectionContainerMapping",
            "customDetails": {"instanceType": "AsrJobDetails", "affectedObjectDetails": {}},
        },
    }


def _list_jobs(call: ArmCall) -> web.Response:
    vault = vault_of(call)
    jobs = sorted(vault.replication_jobs.values(), key=lambda job: job.start, reverse=True)
    return call.page(_job_body(vault, job) for job in jobs)


def _get_job(call: ArmCall) -> web.Response:
    vault = vault_of(call)
    job = vault.replication_jobs.get(call.params["job"].lower())
    if job is None:
        raise asr_not_found(call, "replicationJobs", call.params["job"])
    return web.json_response(_job_body(vault, job))
