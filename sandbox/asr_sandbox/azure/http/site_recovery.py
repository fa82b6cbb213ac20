"""Site Recovery's container mappings on ARM: where auto-update is switched on and off.

Mapping changes are long-running operations exactly as the SDK's ARM poller expects them: 202 with
Azure-AsyncOperation, Location and Retry-After; the status reads InProgress (with Retry-After) until the
operation's end on the emulated clock, then its final state. While one runs, another change of the same mapping
is refused with 409. What the change does behind the API (schedules, job schedules, the vault job) is the Site
Recovery service's business.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from aiohttp import web

from ..services.site_recovery import Change
from ..state.recovery import AsyncOperation, ContainerMapping, Fabric, ProtectionContainer, Vault, new_mapping_details
from ..state.timestamps import iso
from .arm import ArmCall, ArmError, Router, bad_request
from .recovery_services import CONTAINER, VAULT, VAULT_TYPE, asr_not_found, container_of, fabric_of, vault_of

MAPPING = CONTAINER + "/replicationProtectionContainerMappings/{mapping}"


class SiteRecoveryError(ArmError):
    """Site Recovery's own error body: ARM's code and message plus its possibleCauses, recommendedAction and
    activityId (what the portal shows under a failed request)."""

    def __init__(self, status: int, code: str, message: str, *, possible_causes: str, recommended_action: str):
        super().__init__(status, code, message)
        self.possible_causes = possible_causes
        self.recommended_action = recommended_action

    def response(self) -> web.Response:
        error = {
            "code": self.code,
            "message": self.message,
            "possibleCauses": self.possible_causes,
            "recommendedAction": self.recommended_action,
            "activityId": str(uuid.uuid4()),
        }
        return web.json_response({"error": error}, status=self.status, headers=self.headers)


def register(router: Router) -> None:
    """Mappings (listed per vault and per container), their changes, and the operations those changes start."""
    router.add("GET", VAULT + "/replicationProtectionContainerMappings", _list_mappings)
    router.add("GET", CONTAINER + "/replicationProtectionContainerMappings", _list_mappings)
    router.add("GET", MAPPING, _get_mapping)
    router.add("PATCH", MAPPING, _patch_mapping)
    router.add("PUT", MAPPING, _put_mapping)
    router.add("POST", MAPPING + "/remove", _remove_mapping)
    router.add("DELETE", MAPPING, _remove_mapping)
    router.add("GET", VAULT + "/replicationOperationStatus/{operation}", _operation_status)
    router.add("GET", VAULT + "/replicationOperationResults/{operation}", _operation_result)


# ---- container mappings ---------------------------------------------------------------------------


def mapping_body(
    vault: Vault, fabric: Fabric, container: ProtectionContainer, mapping: ContainerMapping
) -> dict[str, Any]:
    """Health is derived from the health errors, so a failed update run shows on the mapping as in the portal."""
    target = vault.container_by_id(mapping.target_container_id)
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


def _mapping(call: ArmCall) -> ContainerMapping:
    mapping = container_of(call).mappings.get(call.params["mapping"].lower())
    if mapping is None:
        raise asr_not_found(call, "replicationProtectionContainerMappings", call.params["mapping"])
    return mapping


def _list_mappings(call: ArmCall) -> web.Response:
    vault = vault_of(call)
    if "container" in call.params:
        fabric, container = fabric_of(call), container_of(call)
        found = [(fabric, container, mapping) for mapping in container.mappings.values()]
    else:
        found = list(vault.mappings())
    return call.page(mapping_body(vault, *entry) for entry in found)


def _get_mapping(call: ArmCall) -> web.Response:
    return web.json_response(mapping_body(vault_of(call), fabric_of(call), container_of(call), _mapping(call)))


def _provider_input(call: ArmCall, mapping_type: str | None) -> dict[str, Any]:
    provider_input = call.properties.get("providerSpecificInput") or {}
    if mapping_type and provider_input.get("instanceType") and provider_input["instanceType"] != mapping_type:
        raise bad_request(
            f"The provider specific input of type '{provider_input['instanceType']}' is not valid for "
            f"a protection container mapping of type '{mapping_type}'.",
            "InvalidProviderInput",
        )
    return provider_input


def _refuse_while_running(call: ArmCall) -> None:
    """One operation per mapping at a time; checked first, so a mapping still being created is busy too.

    The code is the emulator's choice: the one real Site Recovery answers here is not confirmed.
    """
    name = call.params["mapping"]
    mapping_id = f"{container_of(call).id}/replicationProtectionContainerMappings/{name}"
    if call.world.site_recovery.running_on(mapping_id) is not None:
        raise SiteRecoveryError(
            409,
            "AnotherOperationInProgress",
            f"Another operation is in progress on the protection container mapping '{name}'. "
            "Wait for it to finish and retry.",
            possible_causes="An earlier create, update or remove of the protection container mapping has not "
            "completed yet.",
            recommended_action="Track the earlier operation in the vault's Site Recovery jobs and retry when it "
            "has completed.",
        )


def _patch_mapping(call: ArmCall) -> web.Response:
    vault, fabric = vault_of(call), fabric_of(call)
    _refuse_while_running(call)
    mapping = _mapping(call)
    provider_input = _provider_input(call, mapping.instance_type)
    return _start_operation(
        call,
        vault,
        mapping,
        "UpdateProtectionContainerMapping",
        "Update protection container mapping",
        lambda moment: call.world.site_recovery.configure_auto_update(vault, fabric, mapping, provider_input, moment),
    )


def _put_mapping(call: ArmCall) -> web.Response:
    """Create a mapping, or (as `az site-recovery ... mapping update` does with GET+PUT) update an existing one."""
    vault, fabric, container = vault_of(call), fabric_of(call), container_of(call)
    _refuse_while_running(call)
    existing = container.mappings.get(call.params["mapping"].lower())
    if existing is not None:
        provider_input = _provider_input(call, existing.instance_type)
        return _start_operation(
            call,
            vault,
            existing,
            "UpdateProtectionContainerMapping",
            "Update protection container mapping",
            lambda moment: call.world.site_recovery.configure_auto_update(
                vault, fabric, existing, provider_input, moment
            ),
        )
    properties = call.properties
    target_id = call.required(properties, "targetProtectionContainerId")
    if vault.container_by_id(target_id) is None:
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

    def create(moment: datetime.datetime) -> None:
        call.world.site_recovery.configure_auto_update(vault, fabric, mapping, provider_input, moment)
        container.mappings[mapping.name.lower()] = mapping

    return _start_operation(
        call, vault, mapping, "CreateProtectionContainerMapping", "Create protection container mapping", create
    )


def _remove_mapping(call: ArmCall) -> web.Response:
    """Remove (POST .../remove) and purge (DELETE) both unpair; Site Recovery drops its schedule with the mapping."""
    vault, fabric, container = vault_of(call), fabric_of(call), container_of(call)
    _refuse_while_running(call)
    mapping = _mapping(call)

    def remove(moment: datetime.datetime) -> None:
        if mapping.instance_type == "A2A":
            call.world.site_recovery.configure_auto_update(
                vault, fabric, mapping, {"agentAutoUpdateStatus": "Disabled"}, moment
            )
        container.mappings.pop(mapping.name.lower(), None)

    return _start_operation(
        call,
        vault,
        mapping,
        "RemoveProtectionContainerMapping",
        "Remove protection container mapping",
        remove,
    )


def _start_operation(
    call: ArmCall,
    vault: Vault,
    mapping: ContainerMapping,
    scenario: str,
    friendly: str,
    change: Change,
) -> web.Response:
    """Start the operation (the change happens at its end) and point the poller at its status and result."""
    operation = call.world.site_recovery.start_operation(vault, mapping, scenario, friendly, change)
    return web.Response(
        status=202,
        headers={
            "Azure-AsyncOperation": call.url(f"{vault.id}/replicationOperationStatus/{operation.name}"),
            "Location": call.url(f"{vault.id}/replicationOperationResults/{operation.name}"),
            "Retry-After": _retry_after(call),
        },
    )


def _retry_after(call: ArmCall) -> str:
    return str(call.world.settings.lro_retry_after_seconds)


def _operation(call: ArmCall) -> AsyncOperation:
    vault = vault_of(call)
    operation = call.world.state.operations.get(call.params["operation"].lower())
    if operation is None or operation.vault_id.lower() != vault.id.lower():
        raise asr_not_found(call, "replicationOperationStatus", call.params["operation"])
    return operation


def _operation_status(call: ArmCall) -> web.Response:
    operation = _operation(call)
    body: dict[str, Any] = {
        "id": f"{operation.vault_id}/replicationOperationStatus/{operation.name}",
        "name": operation.name,
        "status": operation.status,
        "startTime": iso(operation.start),
        "endTime": iso(operation.end),
    }
    if operation.error:
        body["error"] = operation.error
    # Site Recovery keeps telling pollers when to come back while the operation runs; without it azure-core
    # would fall back to its 30 s polling interval.
    headers = {"Retry-After": _retry_after(call)} if operation.running else {}
    return web.json_response(body, headers=headers)


def _operation_result(call: ArmCall) -> web.Response:
    """202 while it runs; then ARM's error for a failure, else the mapping as it now is (204 once it is gone)."""
    operation = _operation(call)
    if operation.running:
        return web.Response(status=202, headers={"Location": call.url(call.path), "Retry-After": _retry_after(call)})
    if operation.status == "Failed":
        raise ArmError(
            400,
            operation.error["code"] if operation.error else "OperationFailed",
            operation.error["message"] if operation.error else "The operation failed.",
        )
    vault = vault_of(call)
    for fabric, container, mapping in vault.mappings():
        if mapping.id.lower() == operation.mapping_id.lower():
            return web.json_response(mapping_body(vault, fabric, container, mapping))
    return web.Response(status=204)
