"""Recovery Services vaults and Site Recovery through the real async SDK, including the mapping LROs and what
Site Recovery creates in the automation account when auto-update is switched on and off."""

from __future__ import annotations

import re

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

RG, VAULT = "rg-asr-weu", "rsv-weu-prod"
FABRIC, CONTAINER = "asr-a2a-default-northeurope", "asr-a2a-default-northeurope-container"
MAPPING = "northeurope-westeurope-24-hour-retention-policy"
REVERSE = (
    "asr-a2a-default-westeurope",
    "asr-a2a-default-westeurope-container",
    "westeurope-northeurope-24-hour-retention-policy",
)
ACCOUNT = "aa-weu-asr"
ASR_RUNBOOK = "MS-SR-Update-MobilityServiceForA2AVirtualMachines"


async def create_account(azure, name: str = ACCOUNT, rg: str = RG, location: str = "westeurope") -> str:
    account = await azure.automation.automation_account.create_or_update(
        rg,
        name,
        {"location": location, "identity": {"type": "SystemAssigned"}, "properties": {"sku": {"name": "Basic"}}},
    )
    return account.id


def auto_update(status: str, account_id: str | None = None, auth: str = "SystemAssignedIdentity") -> dict:
    provider_input = {"instanceType": "A2A", "agentAutoUpdateStatus": status}
    if account_id:
        provider_input.update(automationAccountArmId=account_id, automationAccountAuthenticationType=auth)
    return {"properties": {"providerSpecificInput": provider_input}}


async def patch_mapping(azure, body: dict, mapping: tuple[str, str, str] = (FABRIC, CONTAINER, MAPPING)):
    poller = await azure.site_recovery.replication_protection_container_mappings.begin_update(RG, VAULT, *mapping, body)
    return await poller.result()


async def test_vaults_get_list_and_create(sandbox, azure) -> None:
    vault = await azure.vaults.vaults.get(RG, VAULT)
    assert (vault.location, vault.properties.provisioning_state) == ("westeurope", "Succeeded")
    in_subscription = sorted([v.name async for v in azure.vaults.vaults.list_by_subscription_id()])
    assert in_subscription == ["rsv-eus-prod", "rsv-weu-prod"]
    assert [v.name async for v in azure.vaults.vaults.list_by_resource_group("rg-asr-eus")] == ["rsv-eus-prod"]
    poller = await azure.vaults.vaults.begin_create_or_update(
        RG, "rsv-weu-test", {"location": "westeurope", "sku": {"name": "RS0", "tier": "Standard"}, "properties": {}}
    )
    created = await poller.result()
    assert created.name == "rsv-weu-test"
    assert "rsv-weu-test" in {v["name"] for v in sandbox.state()["vaults"]}


async def test_fabrics_containers_and_mappings_read(azure) -> None:
    asr = azure.site_recovery
    fabrics = [f.name async for f in asr.replication_fabrics.list(RG, VAULT)]
    assert fabrics == [FABRIC, REVERSE[0]]
    fabric = await asr.replication_fabrics.get(RG, VAULT, FABRIC)
    assert fabric.properties.custom_details.instance_type == "Azure"
    assert [
        c.name async for c in asr.replication_protection_containers.list_by_replication_fabrics(RG, VAULT, FABRIC)
    ] == [CONTAINER]
    assert len([c async for c in asr.replication_protection_containers.list(RG, VAULT)]) == 2
    container = await asr.replication_protection_containers.get(RG, VAULT, FABRIC, CONTAINER)
    assert container.properties.protected_item_count == 4

    vault_wide = [m async for m in asr.replication_protection_container_mappings.list(RG, VAULT)]
    assert [m.name for m in vault_wide] == [MAPPING, REVERSE[2]]
    per_container = [
        m.name
        async for m in asr.replication_protection_container_mappings.list_by_replication_protection_containers(
            RG, VAULT, FABRIC, CONTAINER
        )
    ]
    assert per_container == [MAPPING]
    mapping = await asr.replication_protection_container_mappings.get(RG, VAULT, FABRIC, CONTAINER, MAPPING)
    assert mapping.properties.state == "Paired" and mapping.properties.health == "Normal"
    assert mapping.properties.provider_specific_details.agent_auto_update_status == "Disabled"
    assert mapping.properties.target_protection_container_id.endswith(REVERSE[1])


async def test_seed_has_mappings_to_skip(sandbox) -> None:
    """Not A2A (a VMware site) or not Paired: what the operator must count as skipped."""
    mappings = [m for vault in sandbox.state()["vaults"] for m in vault["mappings"]]
    kinds = {(m["properties"]["providerSpecificDetails"]["instanceType"], m["properties"]["state"]) for m in mappings}
    assert ("InMageRcm", "Paired") in kinds and ("A2A", "Pairing") in kinds
    assert (
        sum(
            1
            for m in mappings
            if m["properties"]["state"] == "Paired"
            and m["properties"]["providerSpecificDetails"]["instanceType"] == "A2A"
        )
        == 6
    )


async def test_enable_by_patch_creates_schedule_and_job_schedule(sandbox, azure) -> None:
    account_id = await create_account(azure)
    sandbox.admin("DELETE", "/requests")
    mapping = await patch_mapping(azure, auto_update("Enabled", account_id))

    details = mapping.properties.provider_specific_details
    assert details.agent_auto_update_status == "Enabled"
    assert details.automation_account_arm_id == account_id
    assert details.automation_account_authentication_type == "SystemAssignedIdentity"
    assert re.fullmatch(rf"{MAPPING}_[0-9a-f-]{{36}}", details.schedule_name)
    schedule = await azure.automation.schedule.get(RG, ACCOUNT, details.schedule_name)
    assert (schedule.properties.frequency, schedule.properties.interval) == ("Day", 1)
    # the zone of the replicated VMs' region (the mapping's source, North Europe), not the vault's West Europe
    assert schedule.properties.time_zone == "Europe/Dublin"
    local_start = schedule.properties.start_time
    assert (local_start.hour, local_start.minute) == (0, 0)
    link = await azure.automation.job_schedule.get(RG, ACCOUNT, details.job_schedule_name)
    assert (link.properties.runbook.name, link.properties.schedule.name) == (ASR_RUNBOOK, details.schedule_name)
    assert [r async for r in azure.automation.runbook.list_by_automation_account(RG, ACCOUNT)] == []

    # the operation ends as it starts here (operationDurationSeconds 0): one poll, then the mapping itself
    calls = [(r["method"], r["path"].rsplit("/", 2)[-2], r["status"]) for r in sandbox.requests()[:3]]
    assert calls == [
        ("PATCH", "replicationProtectionContainerMappings", 202),
        ("GET", "replicationOperationStatus", 200),
        ("GET", "replicationProtectionContainerMappings", 200),
    ]
    operation = sandbox.state()["operations"][0]
    assert (operation["status"], operation["outcome"]) == ("Succeeded", "Succeeded")


async def test_put_on_an_existing_mapping_is_an_update(sandbox, azure) -> None:
    """`az site-recovery protection-container mapping update` does GET + PUT."""
    account_id = await create_account(azure)
    current = await azure.site_recovery.replication_protection_container_mappings.get(
        RG, VAULT, FABRIC, CONTAINER, MAPPING
    )
    poller = await azure.site_recovery.replication_protection_container_mappings.begin_create(
        RG,
        VAULT,
        FABRIC,
        CONTAINER,
        MAPPING,
        {
            "properties": {
                "targetProtectionContainerId": current.properties.target_protection_container_id,
                "policyId": current.properties.policy_id,
                **auto_update("Enabled", account_id)["properties"],
            }
        },
    )
    mapping = await poller.result()
    assert mapping.properties.provider_specific_details.agent_auto_update_status == "Enabled"
    assert mapping.properties.provider_specific_details.schedule_name.startswith(MAPPING + "_")
    assert len(sandbox.state()["automationAccounts"][0]["schedules"]) == 1


async def test_reenabling_keeps_the_schedule_and_disabling_removes_it(sandbox, azure) -> None:
    account_id = await create_account(azure)
    first = (await patch_mapping(azure, auto_update("Enabled", account_id))).properties.provider_specific_details
    again = (await patch_mapping(azure, auto_update("Enabled", account_id))).properties.provider_specific_details
    assert (again.schedule_name, again.job_schedule_name) == (first.schedule_name, first.job_schedule_name)

    disabled = (await patch_mapping(azure, auto_update("Disabled"))).properties.provider_specific_details
    assert disabled.agent_auto_update_status == "Disabled"
    assert disabled.schedule_name is None and disabled.job_schedule_name is None
    with pytest.raises(ResourceNotFoundError):
        await azure.automation.schedule.get(RG, ACCOUNT, first.schedule_name)
    assert [j async for j in azure.automation.job_schedule.list_by_automation_account(RG, ACCOUNT)] == []


async def test_each_mapping_gets_its_own_schedule_in_its_source_region_zone(sandbox, azure) -> None:
    account_id = await create_account(azure, "aa-eus-asr", "rg-asr-eus", "eastus")
    poller = await azure.site_recovery.replication_protection_container_mappings.begin_update(
        "rg-asr-eus",
        "rsv-eus-prod",
        "asr-a2a-default-westus2",
        "asr-a2a-default-westus2-container",
        "westus2-eastus-24-hour-retention-policy",
        auto_update("Enabled", account_id),
    )
    details = (await poller.result()).properties.provider_specific_details
    schedule = await azure.automation.schedule.get("rg-asr-eus", "aa-eus-asr", details.schedule_name)
    # West US 2's VMs, protected into the East US vault
    assert schedule.properties.time_zone == "America/Los_Angeles"
    assert schedule.properties.start_time.hour == 0


async def test_missing_account_fails_the_operation(sandbox, azure) -> None:
    missing = (
        f"/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}/providers/Microsoft.Automation/"
        "automationAccounts/aa-gone"
    )
    with pytest.raises(HttpResponseError) as raised:
        await patch_mapping(azure, auto_update("Enabled", missing))
    assert "AutomationAccountNotFound" in str(raised.value)
    mapping = sandbox.mapping(MAPPING)
    assert mapping["properties"]["providerSpecificDetails"]["agentAutoUpdateStatus"] == "Disabled"
    jobs = [j async for j in azure.site_recovery.replication_jobs.list(RG, VAULT)]
    assert [(j.properties.state, j.properties.target_object_name) for j in jobs] == [("Failed", MAPPING)]
    assert (await azure.site_recovery.replication_jobs.get(RG, VAULT, jobs[0].name)).properties.errors


async def test_create_and_remove_a_mapping(sandbox, azure) -> None:
    account_id = await create_account(azure)
    target = (await azure.site_recovery.replication_protection_containers.get(RG, VAULT, *REVERSE[:2])).id
    poller = await azure.site_recovery.replication_protection_container_mappings.begin_create(
        RG,
        VAULT,
        FABRIC,
        CONTAINER,
        "northeurope-westeurope-72-hour-retention-policy",
        {
            "properties": {
                "targetProtectionContainerId": target,
                "policyId": "72-hour-retention-policy",
                **auto_update("Enabled", account_id)["properties"],
            }
        },
    )
    created = await poller.result()
    assert created.properties.state == "Paired"
    schedule_name = created.properties.provider_specific_details.schedule_name
    assert schedule_name.startswith("northeurope-westeurope-72-hour-retention-policy_")

    poller = await azure.site_recovery.replication_protection_container_mappings.begin_delete(
        RG, VAULT, FABRIC, CONTAINER, created.name, {"properties": {"providerSpecificInput": {"instanceType": "A2A"}}}
    )
    await poller.result()
    with pytest.raises(ResourceNotFoundError):
        await azure.site_recovery.replication_protection_container_mappings.get(
            RG, VAULT, FABRIC, CONTAINER, created.name
        )
    with pytest.raises(ResourceNotFoundError):
        await azure.automation.schedule.get(RG, ACCOUNT, schedule_name)


async def test_protected_items_page_through_next_links(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"pageSize": 3})
    sandbox.admin(
        "POST",
        "/seed",
        {
            "vaults": [
                {
                    "subscriptionId": sandbox.subscription_a,
                    "resourceGroup": RG,
                    "name": VAULT,
                    "location": "westeurope",
                    "fabrics": [
                        {
                            "name": FABRIC,
                            "location": "northeurope",
                            "containers": [
                                {
                                    "name": CONTAINER,
                                    "protectedItems": [
                                        {
                                            "friendlyName": f"vm-batch-{n:02}",
                                            "agentVersion": "9.62.7172.1",
                                            "isReplicationAgentUpdateRequired": True,
                                        }
                                        for n in range(1, 5)
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    )
    sandbox.admin("DELETE", "/requests")
    items = [i async for i in azure.site_recovery.replication_protected_items.list(RG, VAULT)]
    assert len(items) == 8
    pages = [r for r in sandbox.requests() if r["path"].endswith("/replicationProtectedItems")]
    assert len(pages) == 3 and all(page["status"] == 200 for page in pages)

    by_container = [
        i
        async for i in azure.site_recovery.replication_protected_items.list_by_replication_protection_containers(
            RG, VAULT, FABRIC, CONTAINER
        )
    ]
    assert len(by_container) == 8
    sql = next(i for i in items if i.properties.friendly_name == "vm-sql-01")
    fetched = await azure.site_recovery.replication_protected_items.get(RG, VAULT, FABRIC, CONTAINER, sql.name)
    details = fetched.properties.provider_specific_details
    assert details.instance_type == "A2A"
    assert details.agent_version == "9.60.6956.1" and details.is_replication_agent_update_required is True
    assert details.agent_expiry_date is not None


async def test_next_link_points_back_at_the_emulator(sandbox, azure) -> None:
    sandbox.admin("POST", "/config", {"pageSize": 1})
    fabrics = [f.name async for f in azure.site_recovery.replication_fabrics.list(RG, VAULT)]
    assert len(fabrics) == 2
    second_page = [r for r in sandbox.requests() if r["path"].endswith("/replicationFabrics")][1]
    assert second_page["apiVersion"] == "2025-08-01"
