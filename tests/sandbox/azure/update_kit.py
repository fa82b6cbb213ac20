"""What the update-job tests of the emulator share (test_azure_update_jobs.py, test_azure_update_failures.py):
a vault's forward mapping (`Protected`, the default estate's `WEU` and `EUS`), its auto-update enabled as the
operator enables it (`enable`), the emulated clock moved, and the jobs and agents read back through the SDK."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

ASR_RUNBOOK = "MS-SR-Update-MobilityServiceForA2AVirtualMachines"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
LATEST = "9.63.7187.1"


@dataclasses.dataclass(frozen=True)
class Protected:
    """One vault's forward mapping, and the automation account that will update it."""

    rg: str
    vault: str
    location: str
    source: str
    account: str

    @property
    def fabric(self) -> str:
        return f"asr-a2a-default-{self.source}"

    @property
    def container(self) -> str:
        return f"asr-a2a-default-{self.source}-container"

    @property
    def mapping(self) -> str:
        return f"{self.source}-{self.location}-24-hour-retention-policy"


WEU = Protected("rg-asr-weu", "rsv-weu-prod", "westeurope", "northeurope", "aa-weu-asr")
EUS = Protected("rg-asr-eus", "rsv-eus-prod", "eastus", "westus2", "aa-eus-asr")


@dataclasses.dataclass(frozen=True)
class Enabled:
    """What `enable` made: the account, the vault's id and the schedule Site Recovery created."""

    account: object
    vault_id: str
    schedule: object


async def enable(
    sandbox, azure, target: Protected = WEU, auth: str = "SystemAssignedIdentity", *, grant: bool = True
) -> Enabled:
    """An account with a managed identity, optionally Contributor for it on the vault, and auto-update on the
    forward mapping with `auth`; identities are usable at once."""
    sandbox.admin("POST", "/config", {"principalPropagationDelaySeconds": 0})
    account = await azure.automation.automation_account.create_or_update(
        target.rg,
        target.account,
        {"location": target.location, "identity": {"type": "SystemAssigned"}, "properties": {"sku": {"name": "Basic"}}},
    )
    vault_id = (await azure.vaults.vaults.get(target.rg, target.vault)).id
    if grant:
        await azure.authorization.role_assignments.create(
            vault_id,
            str(uuid.uuid4()),
            {
                "properties": {
                    "roleDefinitionId": f"/subscriptions/{sandbox.subscription_a}/providers/Microsoft.Authorization/"
                    f"roleDefinitions/{CONTRIBUTOR}",
                    "principalId": account.identity.principal_id,
                    "principalType": "ServicePrincipal",
                }
            },
        )
    poller = await azure.site_recovery.replication_protection_container_mappings.begin_update(
        target.rg,
        target.vault,
        target.fabric,
        target.container,
        target.mapping,
        {
            "properties": {
                "providerSpecificInput": {
                    "instanceType": "A2A",
                    "agentAutoUpdateStatus": "Enabled",
                    "automationAccountArmId": account.id,
                    "automationAccountAuthenticationType": auth,
                }
            }
        },
    )
    mapping = await poller.result()
    schedule_name = mapping.properties.provider_specific_details.schedule_name
    return Enabled(account, vault_id, await azure.automation.schedule.get(target.rg, target.account, schedule_name))


def move_clock_to(sandbox, moment: datetime.datetime) -> None:
    sandbox.admin("POST", "/clock", {"to": moment.astimezone(datetime.UTC).isoformat()})


async def forward_mapping(azure, target: Protected = WEU):
    return await azure.site_recovery.replication_protection_container_mappings.get(
        target.rg, target.vault, target.fabric, target.container, target.mapping
    )
