"""Microsoft.RecoveryServices: vaults, and Site Recovery's fabrics, containers, mappings, protected items and jobs.

Mapping changes are long-running operations exactly as the SDK's ARM poller expects them: 202 with
Azure-AsyncOperation, Location and Retry-After; the status reads InProgress once, then the final state.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from aiohttp import web

from .arm import ArmCall, ArmError, Router, bad_request, iso, resource_not_found
from .service import AutoUpdateFailure
from .store import (
    AsyncOperation,
    ContainerMapping,
    Fabric,
    ProtectedItem,
    ProtectionContainer,
    ReplicationJob,
    Vault,
    vault_path,
)

VAULT = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}"
FABRIC = VAULT + "/replicationFabrics/{fabric}"
CONTAINER = FABRIC + "/replicationProtectionContainers/{container}"
MAPPING = CONTAINER + "/replicationProtectionContainerMappings/{mapping}"
VAULT_TYPE = "Microsoft.RecoveryServices/vaults"


def register(router: Router) -> None:
    """Vaults, then Site Recovery's vault children, each list also per parent where the SDK has that call."""
    router.add("GET", "/subscriptions/{sub}/providers/Microsoft.RecoveryServices/vaults", _list_vaults)
    router.add(
        "GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults", _list_vaults
    )
    router.add("GET", VAULT, lambda call: web.json_response(vault_body(_vault(call))))
    router.add("PUT", VAULT, _put_vault)
    router.add("GET", VAULT + "/replicationFabrics", _list_fabrics)
    router.add("GET", FABRIC, lambda call: web.json_response(_fabric_body(_vault(call), _fabric(call))))
    router.add("GET", VAULT + "/replicationProtectionContainers", _list_containers)
    router.add("GET", FABRIC + "/replicationProtectionContainers", _list_containers)
    router.add("GET", CONTAINER, _get_container)
    router.add("GET", VAULT + "/replicationProtectionContainerMappings", _list_mappings)
    router.add("GET", CONTAINER + "/replicationProtectionContainerMappings", _list_mappings)
    router.add("GET", MAPPING, _get_mapping)
    router.add("PATCH", MAPPING, _patch_mapping)
    router.add("PUT", MAPPING, _put_mapping)
    router.add("POST", MAPPING + "/remove", _remove_mapping)
    router.add("DELETE", MAPPING, _remove_mapping)
    router.add("GET", VAULT + "/replicationProtectedItems", _list_items)
    router.add("GET", CONTAINER + "/replicationProtectedItems", _list_items)
    router.add("GET", CONTAINER + "/replicationProtectedItems/{item}", _get_item)
    router.add("GET", VAULT + "/replicationJobs", _list_jobs)
    router.add("GET", VAULT + "/replicationJobs/{job}", _get_job)
    router.add("GET", VAULT + "/replicationOperationStatus/{operation}", _operation_status)
    router.add("GET", VAULT + "/replicationOperationResults/{operation}", _operation_result)


# ---- vaults ---------------------------------------------------------------------------------------


def _vault(call: ArmCall) -> Vault:
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


def _fabric(call: ArmCall) -> Fabric:
    fabric = _vault(call).fabrics.get(call.params["fabric"].lower())
    if fabric is None:
        raise _asr_not_found(call, "replicationFabrics", call.params["fabric"])
    return fabric


def _container(call: ArmCall) -> ProtectionContainer:
    container = _fabric(call).containers.get(call.params["container"].lower())
    if container is None:
        raise _asr_not_found(call, "replicationProtectionContainers", call.params["container"])
    return container


def _asr_not_found(call: ArmCall, collection: str, name: str) -> ArmError:
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
    vault = _vault(call)
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
    vault = _vault(call)
    fabrics = [_fabric(call)] if "fabric" in call.params else list(vault.fabrics.values())
    return call.page(
        _container_body(vault, fabric, container) for fabric in fabrics for container in fabric.containers.values()
    )


def _get_container(call: ArmCall) -> web.Response:
    return web.json_response(_container_body(_vault(call), _fabric(call), _container(call)))


# ---- container mappings ---------------------------------------------------------------------------


def mapping_body(
    vault: Vault, fabric: Fabric, container: ProtectionContainer, mapping: ContainerMapping
) -> dict[str, Any]:
    """Health is derived from the health errors, so a failed update run shows on the mapping as in the portal."""
    target = _container_by_id(vault, mapping.target_container_id)
    return {
        "id": mapping.id,
        "name": mapping.name,
        "type": f"{VAULT_TYPE}/replicationFabrics/replicationProtectionContainers/"
        "replicationProtectionContainerMappings",
        "location": vault.location,
        "properties": {
            "targetProtectionContainerId": mapping.target_container_id,
            "targetProtectionContainerFriendlyName": target[1].friendly_name if target else None,
            "providerSpecificDetails": mapping.details,
            "health": mapping.health,
            "healthErrorDetails": mapping.health_errors,
            "policyId": mapping.policy_id,
            "policyFriendlyName": mapping.policy_id.rsplit("/", 1)[-1],
            "state": mapping.state,
            "sourceProtectionContainerFriendlyName": container.friendly_name,
            "sourceFabricFriendlyName": fabric.friendly_name,
            "targetFabricFriendlyName": target[0].friendly_name if target else None,
        },
    }


def _container_by_id(vault: Vault, container_id: str) -> tuple[Fabric, ProtectionContainer] | None:
    for fabric, container in vault.containers():
        if container.id.lower() == container_id.lower():
            return fabric, container
    return None


def _mapping(call: ArmCall) -> ContainerMapping:
    mapping = _container(call).mappings.get(call.params["mapping"].lower())
    if mapping is None:
        raise _asr_not_found(call, "replicationProtectionContainerMappings", call.params["mapping"])
    return mapping


def _list_mappings(call: ArmCall) -> web.Response:
    vault = _vault(call)
    if "container" in call.params:
        fabric, container = _fabric(call), _container(call)
        found = [(fabric, container, mapping) for mapping in container.mappings.values()]
    else:
        found = list(vault.mappings())
    return call.page(mapping_body(vault, *entry) for entry in found)


def _get_mapping(call: ArmCall) -> web.Response:
    return web.json_response(mapping_body(_vault(call), _fabric(call), _container(call), _mapping(call)))


def _provider_input(call: ArmCall, mapping_type: str | None) -> dict[str, Any]:
    provider_input = (call.body.get("properties") or {}).get("providerSpecificInput") or {}
    if mapping_type and provider_input.get("instanceType") and provider_input["instanceType"] != mapping_type:
        raise bad_request(
            f"The provider specific input of type '{provider_input['instanceType']}' is not valid for "
            f"a protection container mapping of type '{mapping_type}'.",
            "InvalidProviderInput",
        )
    return provider_input


def _patch_mapping(call: ArmCall) -> web.Response:
    vault, mapping = _vault(call), _mapping(call)
    provider_input = _provider_input(call, mapping.instance_type)
    return _run_operation(
        call,
        vault,
        mapping,
        "UpdateProtectionContainerMapping",
        "Update protection container mapping",
        lambda: call.world.service.configure_auto_update(vault, mapping, provider_input),
    )


def _put_mapping(call: ArmCall) -> web.Response:
    """Create a mapping, or (as `az site-recovery ... mapping update` does with GET+PUT) update an existing one."""
    vault, container = _vault(call), _container(call)
    existing = container.mappings.get(call.params["mapping"].lower())
    if existing is not None:
        provider_input = _provider_input(call, existing.instance_type)
        return _run_operation(
            call,
            vault,
            existing,
            "UpdateProtectionContainerMapping",
            "Update protection container mapping",
            lambda: call.world.service.configure_auto_update(vault, existing, provider_input),
        )
    properties = call.body.get("properties") or {}
    target_id = call.required(properties, "targetProtectionContainerId")
    if _container_by_id(vault, target_id) is None:
        raise bad_request(
            f"The target protection container '{target_id}' was not found in the vault.",
            "InvalidTargetProtectionContainer",
        )
    provider_input = _provider_input(call, None)
    instance_type = provider_input.get("instanceType") or "A2A"
    mapping = ContainerMapping(
        id=f"{container.id}/replicationProtectionContainerMappings/{call.params['mapping']}",
        name=call.params["mapping"],
        instance_type=instance_type,
        state="Paired",
        target_container_id=target_id,
        policy_id=properties.get("policyId") or "",
        details=new_mapping_details(instance_type),
    )

    def create() -> None:
        call.world.service.configure_auto_update(vault, mapping, provider_input)
        container.mappings[mapping.name.lower()] = mapping

    return _run_operation(
        call, vault, mapping, "CreateProtectionContainerMapping", "Create protection container mapping", create
    )


def new_mapping_details(instance_type: str) -> dict[str, Any]:
    """A2A mappings start with auto-update off and the swagger's default authentication type."""
    if instance_type != "A2A":
        return {"instanceType": instance_type}
    return {
        "instanceType": "A2A",
        "agentAutoUpdateStatus": "Disabled",
        "automationAccountArmId": None,
        "automationAccountAuthenticationType": "RunAsAccount",
        "scheduleName": None,
        "jobScheduleName": None,
    }


def _remove_mapping(call: ArmCall) -> web.Response:
    """Remove (POST .../remove) and purge (DELETE) both unpair; Site Recovery drops its schedule with the mapping."""
    vault, container, mapping = _vault(call), _container(call), _mapping(call)

    def remove() -> None:
        if mapping.instance_type == "A2A":
            call.world.service.configure_auto_update(vault, mapping, {"agentAutoUpdateStatus": "Disabled"})
        del container.mappings[mapping.name.lower()]

    return _run_operation(
        call,
        vault,
        mapping,
        "RemoveProtectionContainerMapping",
        "Remove protection container mapping",
        remove,
        removes=True,
    )


def _run_operation(
    call: ArmCall,
    vault: Vault,
    mapping: ContainerMapping,
    scenario: str,
    friendly: str,
    change: Any,
    *,
    removes: bool = False,
) -> web.Response:
    """Apply the change now, and report it as an operation that reads InProgress on its first poll."""
    now = call.now
    operation = AsyncOperation(
        name=str(uuid.uuid4()),
        vault_id=vault.id,
        mapping_id=mapping.id,
        status="Succeeded",
        start=now,
        end=now + datetime.timedelta(seconds=2),
        removes=removes,
    )
    try:
        change()
    except AutoUpdateFailure as failure:
        operation.status = "Failed"
        operation.error = {"code": failure.code, "message": failure.message}
    vault.replication_jobs[operation.name] = ReplicationJob(
        id=f"{vault.asr_prefix}/replicationJobs/{operation.name}",
        name=operation.name,
        scenario_name=scenario,
        friendly_name=friendly,
        state=operation.status,
        start=now,
        end=operation.end,
        target_id=mapping.id,
        target_name=mapping.name,
        errors=[
            {
                "serviceErrorDetails": {**operation.error, "activityId": operation.name},
                "errorLevel": "Error",
                "creationTime": iso(now),
            }
        ]
        if operation.error
        else [],
    )
    call.world.state.operations[operation.name] = operation
    retry_after = str(call.world.settings.lro_retry_after_seconds)
    return web.Response(
        status=202,
        headers={
            "Azure-AsyncOperation": call.url(f"{vault.id}/replicationOperationStatus/{operation.name}"),
            "Location": call.url(f"{vault.id}/replicationOperationResults/{operation.name}"),
            "Retry-After": retry_after,
        },
    )


def _operation(call: ArmCall) -> AsyncOperation:
    vault = _vault(call)
    operation = call.world.state.operations.get(call.params["operation"].lower())
    if operation is None or operation.vault_id.lower() != vault.id.lower():
        raise _asr_not_found(call, "replicationOperationStatus", call.params["operation"])
    operation.polls += 1
    return operation


def _operation_status(call: ArmCall) -> web.Response:
    operation = _operation(call)
    finished = operation.polls > 1
    body: dict[str, Any] = {
        "id": f"{operation.vault_id}/replicationOperationStatus/{operation.name}",
        "name": operation.name,
        "status": operation.status if finished else "InProgress",
        "startTime": iso(operation.start),
        "endTime": iso(operation.end) if finished else None,
    }
    if finished and operation.error:
        body["error"] = operation.error
    # Site Recovery keeps telling pollers when to come back while the operation runs; without it azure-core
    # would fall back to its 30 s polling interval.
    headers = {} if finished else {"Retry-After": str(call.world.settings.lro_retry_after_seconds)}
    return web.json_response(body, headers=headers)


def _operation_result(call: ArmCall) -> web.Response:
    operation = _operation(call)
    if operation.polls <= 1:
        return web.Response(
            status=202,
            headers={"Location": call.url(call.path), "Retry-After": str(call.world.settings.lro_retry_after_seconds)},
        )
    if operation.status == "Failed":
        raise ArmError(
            400,
            operation.error["code"] if operation.error else "OperationFailed",
            operation.error["message"] if operation.error else "The operation failed.",
        )
    if operation.removes:
        return web.Response(status=204)
    vault = _vault(call)
    for fabric, container, mapping in vault.mappings():
        if mapping.id.lower() == operation.mapping_id.lower():
            return web.json_response(mapping_body(vault, fabric, container, mapping))
    return web.Response(status=204)


# ---- protected items and Site Recovery jobs --------------------------------------------------------


def item_body(vault: Vault, fabric: Fabric, container: ProtectionContainer, item: ProtectedItem) -> dict[str, Any]:
    """The agent fields the operator reports on live in providerSpecificDetails (A2AReplicationDetails)."""
    recovery = _container_by_id(vault, item.recovery_container_id)
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
            "currentScenario": {"scenarioName": "None", "jobId": None, "startTime": None},
            "providerSpecificDetails": item.details,
        },
    }


def _list_items(call: ArmCall) -> web.Response:
    vault = _vault(call)
    if "container" in call.params:
        fabric, container = _fabric(call), _container(call)
        found = [(fabric, container, item) for item in container.items.values()]
    else:
        found = list(vault.items())
    return call.page(item_body(vault, *entry) for entry in found)


def _get_item(call: ArmCall) -> web.Response:
    vault, fabric, container = _vault(call), _fabric(call), _container(call)
    item = container.items.get(call.params["item"].lower())
    if item is None:
        raise _asr_not_found(call, "replicationProtectedItems", call.params["item"])
    return web.json_response(item_body(vault, fabric, container, item))


def _job_body(vault: Vault, job: ReplicationJob) -> dict[str, Any]:
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
    vault = _vault(call)
    jobs = sorted(vault.replication_jobs.values(), key=lambda job: job.start, reverse=True)
    return call.page(_job_body(vault, job) for job in jobs)


def _get_job(call: ArmCall) -> web.Response:
    vault = _vault(call)
    job = vault.replication_jobs.get(call.params["job"].lower())
    if job is None:
        raise _asr_not_found(call, "replicationJobs", call.params["job"])
    return web.json_response(_job_body(vault, job))
