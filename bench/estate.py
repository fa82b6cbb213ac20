"""The estates the benches seed in the Azure emulator, and the policies they apply to them: shared by
bench/fleet_discovery.py and bench/scale.py (and e2e_figures.py's one policy).

`a2a_vaults` builds the vault documents (the emulator's default estate's `a2a_vault`: a forward and a failback
A2A mapping, West Europe protected to North Europe), spread round-robin over the subscriptions given;
`seed_vaults` posts them in batches; `add_subscriptions` adds subscriptions with a principal Owner on each;
`policy_manifest` is one Automatic policy for a vault.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.azure.state.default_estate import LATEST, a2a_vault

GROUP, VERSION = "asr.autoupdate.dev", "v1alpha1"
SEED_BATCH = 250  # vaults per admin `POST /seed`


def a2a_vaults(
    subscriptions: Sequence[str],
    count: int,
    *,
    resource_group: str,
    prefix: str,
    machines: Callable[[int], int] = lambda index: 2,
) -> list[dict]:
    """`count` vaults `<prefix>-0000`, `<prefix>-0001`, … in `resource_group`, round-robin over
    `subscriptions`; vault `index` protects `machines(index)` VMs `vm-<index>-1`, … with current agents."""
    vaults = []
    for index in range(count):
        items = [
            {"friendlyName": f"vm-{index:04d}-{n}", "agentVersion": LATEST, "agentExpiresInDays": 300}
            for n in range(1, machines(index) + 1)
        ]
        subscription = subscriptions[index % len(subscriptions)]
        vaults.append(
            a2a_vault(subscription, resource_group, f"{prefix}-{index:04d}", "westeurope", "northeurope", items)
        )
    return vaults


def seed_vaults(admin: AdminClient, vaults: Sequence[dict]) -> None:
    for start in range(0, len(vaults), SEED_BATCH):
        admin.post("seed", {"vaults": list(vaults[start : start + SEED_BATCH])})


def add_subscriptions(admin: AdminClient, count: int, owner: str, label: str) -> list[str]:
    """`count` new subscriptions (ids fixed by `label` and their number), `owner` Owner on each."""
    added = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{label}/{n}")) for n in range(count)]
    if added:
        admin.post(
            "seed",
            {
                "subscriptions": [{"subscriptionId": s, "displayName": f"{label} {s[:8]}"} for s in added],
                "roleAssignments": [
                    {"principalId": owner, "role": "Owner", "scope": f"/subscriptions/{s}"} for s in added
                ],
            },
        )
    return added


def policy_manifest(namespace: str, vault: dict, *, name: str | None = None, **spec: object) -> dict:
    """An Automatic policy for `vault` (a seeded vault document or the sandbox's description of one), its
    schedule daily at 02:30; `spec` adds or replaces fields."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MobilityUpdatePolicy",
        "metadata": {"name": name or vault["name"], "namespace": namespace},
        "spec": {
            "vault": {k: vault[k] for k in ("subscriptionId", "resourceGroup", "name")},
            "updateMode": "Automatic",
            "schedule": {"time": "02:30"},
            **spec,
        },
    }
