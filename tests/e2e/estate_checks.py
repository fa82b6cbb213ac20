"""One checker for "nothing doubled, nothing missing" in a vault's Azure estate after a policy converged, shared
by the crash trials (crash_kit.py), the restart and failover tests and the fault matrix.

`vault_problems` reads Azure back through the SDK (as a person would) and answers what is wrong, as short
sentences (empty: all well), so a caller can assert on it or collect it into a report:

* exactly one automation account of the expected name beside the vault;
* with a managed identity (the default): exactly one role assignment of that identity at the vault's own scope,
  Contributor; with Run As (`identity=False`): the account's identity, if any, holds nothing on the vault;
* the expected number of A2A mappings, each Enabled with that account and the expected authentication type;
* one schedule and one job schedule (of Site Recovery's runbook) per mapping, and no others;
* when the policy's body is given: its status names the account's identity, every mapping shows what its last recorded operation asked, and the
  schedule times in status are `schedule_time` (when given).
"""

from __future__ import annotations

from tests.e2e.kit import (
    CONTRIBUTOR,
    SITE_RECOVERY_RUNBOOK,
    a2a_mappings,
    automation_accounts,
    default_account_name,
    role_assignments_on_vault,
    role_guid,
)


def vault_problems(
    arm,
    vault: dict,
    *,
    mappings: int = 2,
    account_name: str | None = None,
    identity: bool = True,
    policy: dict | None = None,
    schedule_time: str | None = None,
) -> list[str]:
    """What is wrong with `vault`'s estate (subscriptionId, resourceGroup, name); [] when nothing is."""
    problems: list[str] = []
    name = vault["name"]
    account_name = account_name or default_account_name(vault)
    accounts = [a for a in automation_accounts(arm, vault["subscriptionId"]) if a.name == account_name]
    if len(accounts) != 1:
        return [f"{name}: {len(accounts)} accounts named {account_name}"]
    [account] = accounts
    principal = account.identity.principal_id if account.identity else None
    roles = [role_guid(a) for a in role_assignments_on_vault(arm, vault, principal)] if principal else []
    shown_principal = (((policy or {}).get("status") or {}).get("automationAccount") or {}).get("principalId")
    if identity and policy is not None and shown_principal != principal:
        problems.append(f"{name}: status.automationAccount.principalId {shown_principal}, Azure's {principal}")
    if identity and roles != [CONTRIBUTOR]:
        problems.append(f"{name}: role assignments of the account's identity on the vault: {roles}")
    if not identity and roles:
        problems.append(f"{name}: a Run As account's identity holds roles on the vault: {roles}")
    automation = arm.automation(vault["subscriptionId"])
    schedules = list(automation.schedule.list_by_automation_account(vault["resourceGroup"], account.name))
    job_schedules = list(automation.job_schedule.list_by_automation_account(vault["resourceGroup"], account.name))
    found = a2a_mappings(arm, vault)
    if not len(schedules) == len(job_schedules) == len(found) == mappings:
        problems.append(
            f"{name}: {len(found)} A2A mappings, {len(schedules)} schedules, {len(job_schedules)} job schedules"
            f" (want {mappings} each)"
        )
    records = {e["mapping"].lower(): e for e in ((policy or {}).get("status") or {}).get("operations") or []}
    for mapping in found:
        details = mapping.properties.provider_specific_details
        shown = {
            "agentAutoUpdateStatus": details.agent_auto_update_status,
            "automationAccountArmId": (details.automation_account_arm_id or "").lower(),
            "automationAccountAuthenticationType": details.automation_account_authentication_type,
        }
        wanted = {
            "agentAutoUpdateStatus": "Enabled",
            "automationAccountArmId": account.id.lower(),
            "automationAccountAuthenticationType": "SystemAssignedIdentity" if identity else "RunAsAccount",
        }
        if shown != wanted:
            problems.append(f"{name}/{mapping.name}: {shown}")
        record = records.get(mapping.name.lower())
        if record is not None:
            asked = {k: v.lower() if k == "automationAccountArmId" else v for k, v in record["requested"].items()}
            if any(shown.get(k) != v for k, v in asked.items()):
                problems.append(f"{name}/{mapping.name}: asked {asked}, shows {shown}")
        if [s.name for s in schedules if s.name == details.schedule_name] != [details.schedule_name]:
            problems.append(f"{name}/{mapping.name}: its schedule {details.schedule_name} is not there once")
        linked = [js for js in job_schedules if js.schedule.name == details.schedule_name]
        if len(linked) != 1 or linked[0].runbook.name != SITE_RECOVERY_RUNBOOK:
            problems.append(f"{name}/{mapping.name}: {len(linked)} job schedules for its schedule")
    if policy is not None and schedule_time is not None:
        times = {s["time"] for s in (policy.get("status") or {}).get("schedules") or []}
        if times != {schedule_time}:
            problems.append(f"{name}: schedule times {sorted(times)} in status, not {schedule_time}")
    return problems


def assert_estate(arm, vault: dict, **expected) -> None:
    """`vault_problems` as an assertion, for a test about one vault."""
    problems = vault_problems(arm, vault, **expected)
    assert not problems, "\n".join(problems)
