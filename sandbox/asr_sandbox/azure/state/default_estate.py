"""The estate the sandbox starts with: small but believable.

Two subscriptions, three vaults in three regions protecting VMs from a paired region, A2A mappings in both
directions, one mapping still pairing and one VMware (non-A2A) mapping, and Mobility agents at mixed versions,
one of them close to expiry. Written as a seed document, the same form a test or the admin API posts.
"""

from __future__ import annotations

from typing import Any

TENANT_ID = "5a3f2c1e-8b7d-4e69-a0c4-2d9e6f1b7a35"
SUBSCRIPTION_A = "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17"
SUBSCRIPTION_B = "a6b2e8d4-1c3f-4e5a-8b7d-9f0e1d2c3b4a"
OPERATOR_OBJECT_ID = "0c8e4b1f-6a2d-4f7e-9b3c-5d1a8e2f4c60"
READER_OBJECT_ID = "9d1e7c3a-2b4f-4d6e-8a1c-3f5b7d9e1a2c"
LATEST = "9.63.7187.1"


def a2a_vault(
    subscription_id: str,
    resource_group: str,
    name: str,
    location: str,
    source: str,
    items: list[dict[str, Any]],
    extra_mappings: list[dict[str, Any]] = (),
    *,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A vault protecting `source` region VMs into `location`, with the forward and the failback mapping.

    `tags` are the vault's ARM tags (what a fleet selects vaults by); the default estate's vaults have none.
    """
    source_container = f"asr-a2a-default-{source}-container"
    target_container = f"asr-a2a-default-{location}-container"
    return {
        "subscriptionId": subscription_id,
        "resourceGroup": resource_group,
        "name": name,
        "location": location,
        **({"tags": dict(tags)} if tags is not None else {}),
        "fabrics": [
            {
                "name": f"asr-a2a-default-{source}",
                "location": source,
                "containers": [
                    {
                        "name": source_container,
                        "mappings": [
                            {
                                "name": f"{source}-{location}-24-hour-retention-policy",
                                "target": f"asr-a2a-default-{location}/{target_container}",
                            },
                            *extra_mappings,
                        ],
                        "protectedItems": items,
                    }
                ],
            },
            {
                "name": f"asr-a2a-default-{location}",
                "location": location,
                "containers": [
                    {
                        "name": target_container,
                        "mappings": [
                            {
                                "name": f"{location}-{source}-24-hour-retention-policy",
                                "target": f"asr-a2a-default-{source}/{source_container}",
                            }
                        ],
                    }
                ],
            },
        ],
    }


DEFAULT_SEED: dict[str, Any] = {
    "tenantId": TENANT_ID,
    "operator": {
        "objectId": OPERATOR_OBJECT_ID,
        "clientId": "e4d7a1c9-3b5f-4a28-8c6e-1f9b2d7a4e53",
        "clientSecret": "sandbox-operator-secret-not-for-production",
        "displayName": "asr-autoupdate-operator",
    },
    "subscriptions": [
        {"subscriptionId": SUBSCRIPTION_A, "displayName": "Contoso Production"},
        {"subscriptionId": SUBSCRIPTION_B, "displayName": "Contoso APAC Disaster Recovery"},
    ],
    "principals": [
        {"objectId": READER_OBJECT_ID, "kind": "User", "displayName": "Dana Reader", "clientId": None},
    ],
    "roleAssignments": [
        {"principalId": OPERATOR_OBJECT_ID, "role": "Owner", "scope": f"/subscriptions/{SUBSCRIPTION_A}"},
        {"principalId": OPERATOR_OBJECT_ID, "role": "Owner", "scope": f"/subscriptions/{SUBSCRIPTION_B}"},
        {"principalId": READER_OBJECT_ID, "role": "Reader", "scope": f"/subscriptions/{SUBSCRIPTION_A}"},
    ],
    "vaults": [
        a2a_vault(
            SUBSCRIPTION_A,
            "rg-asr-weu",
            "rsv-weu-prod",
            "westeurope",
            "northeurope",
            [
                {"friendlyName": "vm-web-01", "agentVersion": LATEST, "agentExpiresInDays": 330},
                {
                    "friendlyName": "vm-web-02",
                    "agentVersion": "9.62.7172.1",
                    "isReplicationAgentUpdateRequired": True,
                    "agentExpiresInDays": 150,
                },
                {
                    "friendlyName": "vm-sql-01",
                    "agentVersion": "9.60.6956.1",
                    "isReplicationAgentUpdateRequired": True,
                    "agentExpiresInDays": 20,
                    "osType": "Windows",
                },
                {"friendlyName": "vm-app-01", "agentVersion": LATEST, "agentExpiresInDays": 330},
            ],
        ),
        a2a_vault(
            SUBSCRIPTION_A,
            "rg-asr-eus",
            "rsv-eus-prod",
            "eastus",
            "westus2",
            [
                {
                    "friendlyName": "vm-api-01",
                    "agentVersion": "9.62.7172.1",
                    "isReplicationAgentUpdateRequired": True,
                    "agentExpiresInDays": 150,
                },
                {"friendlyName": "vm-api-02", "agentVersion": LATEST, "agentExpiresInDays": 330},
                {
                    "friendlyName": "vm-batch-01",
                    "agentVersion": "9.61.7016.1",
                    "isReplicationAgentUpdateRequired": True,
                    "agentExpiresInDays": 90,
                    "osType": "Windows",
                },
            ],
        ),
        a2a_vault(
            SUBSCRIPTION_B,
            "rg-asr-sea",
            "rsv-sea-dr",
            "southeastasia",
            "eastasia",
            [
                {
                    "friendlyName": "vm-erp-01",
                    "agentVersion": "9.61.7016.1",
                    "isReplicationAgentUpdateRequired": True,
                    "agentExpiresInDays": 45,
                    "osType": "Windows",
                },
                {"friendlyName": "vm-erp-02", "agentVersion": LATEST, "agentExpiresInDays": 330},
            ],
            extra_mappings=[
                {
                    "name": "eastasia-southeastasia-72-hour-retention-policy",
                    "target": "asr-a2a-default-southeastasia/asr-a2a-default-southeastasia-container",
                    "policy": "72-hour-retention-policy",
                    "state": "Pairing",
                },
            ],
        ),
    ],
}
# The VMware site replicating into East US: a mapping Site Recovery's A2A auto-update must skip.
DEFAULT_SEED["vaults"][1]["fabrics"].append(
    {
        "name": "vmware-site-dallas",
        "location": "eastus",
        "instanceType": "InMageRcm",
        "friendlyName": "Dallas DC",
        "containers": [
            {
                "name": "cloud_dallas",
                "fabricType": "InMageRcm",
                "mappings": [
                    {
                        "name": "dallas-eastus-replication-policy",
                        "instanceType": "InMageRcm",
                        "policy": "vmware-replication-policy",
                        "target": "asr-a2a-default-eastus/asr-a2a-default-eastus-container",
                    }
                ],
            }
        ],
    }
)
