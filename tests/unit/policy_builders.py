"""Builders for the unit tables: one converged vault that each case bends in one place.

The baseline is a westeurope vault whose account (created by policy dr/vault1) has its identity, Contributor
on the vault, one A2A Paired mapping (from source fabric f1, in westeurope) enabled with Site Recovery's
schedule at 00:00 Europe/Amsterdam, one mapping that is not A2A, and two protected items on a current agent: `plan` finds nothing to do and `report`
says Converged. `NOW` is Monday 2024-06-10 12:00 UTC (14:00 in Amsterdam, summer time).
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

from asr_autoupdate.api import POLICY_TAG
from asr_autoupdate.api.spec import PolicySpec, parse_spec
from asr_autoupdate.azure import port
from asr_autoupdate.reconcile.model import Observation, PolicyInput

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
VAULT = port.VaultRef(SUBSCRIPTION, "rg-dr", "vault1")
ACCOUNT = port.AccountRef(SUBSCRIPTION, "rg-dr", "vault1-asr-automationaccount")
OWNER = "dr/vault1"
PRINCIPAL = "principal-1"
SCHEDULE = "m1_a85ea38f"
JOB_SCHEDULE = "ffd503ec"


def spec_dict(**overrides: Any) -> dict[str, Any]:
    """The smallest valid spec; keyword overrides replace top-level fields (None removes one)."""
    raw: dict[str, Any] = {
        "vault": {"subscriptionId": SUBSCRIPTION, "resourceGroup": VAULT.resource_group, "name": VAULT.name},
        "updateMode": "Automatic",
    }
    for key, value in overrides.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = copy.deepcopy(value)
    return raw


def make_spec(**overrides: Any) -> PolicySpec:
    return parse_spec(spec_dict(**overrides), namespace="dr", name="vault1")


def make_policy(
    generation: int = 1, status: dict | None = None, repair_token: str | None = None, **overrides: Any
) -> PolicyInput:
    return PolicyInput(
        namespace="dr",
        name="vault1",
        generation=generation,
        spec=spec_dict(**overrides),
        status=status or {},
        repair_token=repair_token,
    )


def vault(location: str = "westeurope") -> port.Vault:
    return port.Vault(id=VAULT.id, name=VAULT.name, location=location)


def account(**fields: Any) -> port.AutomationAccount:
    values = dict(id=ACCOUNT.id, name=ACCOUNT.name, location="westeurope", principal_id=PRINCIPAL)
    values["tags"] = {POLICY_TAG: OWNER}
    values.update(fields)
    return port.AutomationAccount(**values)


def role(role_guid: str = port.CONTRIBUTOR_ROLE, scope: str = VAULT.id) -> port.RoleAssignment:
    return port.RoleAssignment(
        id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/ra1",
        scope=scope,
        role_definition_id=f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
        + role_guid,
        principal_id=PRINCIPAL,
    )


def mapping(name: str = "m1", **fields: Any) -> port.Mapping:
    """An A2A Paired mapping configured for the baseline account (Site Recovery's `/Subscriptions/` casing)."""
    values = dict(
        id=f"{VAULT.id}/replicationFabrics/f1/replicationProtectionContainers/c1"
        f"/replicationProtectionContainerMappings/{name}",
        name=name,
        instance_type="A2A",
        state="Paired",
        auto_update="Enabled",
        automation_account_id=ACCOUNT.id.replace("/subscriptions/", "/Subscriptions/"),
        authentication_type="SystemAssignedIdentity",
        schedule_name=SCHEDULE if name == "m1" else f"{name}_schedule",
        job_schedule_name=JOB_SCHEDULE if name == "m1" else f"{name}_job",
    )
    values.update(fields)
    return port.Mapping(**values)


def schedule(name: str = SCHEDULE, **fields: Any) -> port.Schedule:
    """Daily at 00:00 Europe/Amsterdam (22:00 UTC in summer)."""
    values = dict(
        name=name,
        start_time=datetime(2024, 6, 9, 22, 0, tzinfo=UTC),
        frequency="Day",
        interval=1,
        time_zone="Europe/Amsterdam",
        next_run=datetime(2024, 6, 10, 22, 0, tzinfo=UTC),
    )
    values.update(fields)
    return port.Schedule(**values)


def job_schedule(job_schedule_id: str = JOB_SCHEDULE, schedule_name: str = SCHEDULE) -> port.JobSchedule:
    return port.JobSchedule(id=job_schedule_id, schedule_name=schedule_name, runbook_name=port.SITE_RECOVERY_RUNBOOK)


def protected_item(name: str = "vm1", **fields: Any) -> port.ProtectedItem:
    values = dict(id=f"{VAULT.id}/items/{name}", name=name, agent_version="9.62.1.0", update_required=False)
    values["upgrade_in_progress"] = False
    values.update(fields)
    return port.ProtectedItem(**values)


def converged(**changes: Any) -> Observation:
    """The baseline observation with some fields replaced."""
    baseline = Observation(
        vault=vault(),
        automation_account=account(),
        role_assignments=(role(),),
        mappings=(mapping(), mapping("other", instance_type="HyperVReplicaAzure", auto_update=None)),
        schedules=(schedule(),),
        job_schedules=(job_schedule(),),
        protected_items=(protected_item("vm1"), protected_item("vm2")),
        fabrics=(port.Fabric("f1", "westeurope"),),  # the mappings' source region: Site Recovery's zone
    )
    return dataclasses.replace(baseline, **changes)
