"""deletionPolicy: what `kubectl delete` of a policy does to Azure before the finalizer lets the object go."""

from __future__ import annotations

import kubernetes
import pytest

from tests.e2e.kit import (
    CONTRIBUTOR,
    GROUP,
    PLURAL,
    VERSION,
    a2a_mappings,
    arm_requests,
    automation_accounts,
    default_account_name,
    describe_requests,
    events_for,
    operator_object_id,
    policy,
    role_assignments_on_vault,
    role_guid,
    vault_spec,
    wait_event,
    wait_ready,
    writes,
)


def _snapshot(arm, vault: dict, principal: str) -> dict:
    """What the policy manages in Azure, in a form that compares."""
    return {
        "accounts": sorted(a.id.lower() for a in automation_accounts(arm, vault["subscriptionId"])),
        "roles": sorted((a.name, role_guid(a)) for a in role_assignments_on_vault(arm, vault, principal)),
        "mappings": sorted(
            (m.name, d.agent_auto_update_status, (d.automation_account_arm_id or "").lower(), d.schedule_name)
            for m in a2a_mappings(arm, vault)
            for d in [m.properties.provider_specific_details]
        ),
    }


def _gone(custom, namespace: str, name: str) -> None:
    with pytest.raises(kubernetes.client.ApiException) as missing:
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    assert missing.value.status == 404


def _converge_then_delete(description, namespace, kubectl, custom, arm, start_operator, **spec) -> tuple[dict, dict]:
    vault = vault_spec(description, 0)
    start_operator()
    kubectl.apply(policy("doomed", namespace, vault, **spec))
    body = wait_ready(custom, namespace, "doomed")
    account = body["status"]["automationAccount"]
    before = _snapshot(arm, vault, account["principalId"])
    kubectl("delete", "mup", "doomed", "-n", namespace, "--timeout=60s")
    _gone(custom, namespace, "doomed")
    return vault, {"before": before, "account": account}


def test_orphan_leaves_azure_as_it_is(description, namespace, kubectl, custom, admin, arm, start_operator):
    vault, seen = _converge_then_delete(description, namespace, kubectl, custom, arm, start_operator)
    operator = operator_object_id(admin)
    writes_when_ready = [r for r in writes(arm_requests(admin, operator))]

    assert _snapshot(arm, vault, seen["account"]["principalId"]) == seen["before"]
    assert all(status == "Enabled" for _, status, _, _ in seen["before"]["mappings"])
    # every write the operator made was part of converging; the delete added none
    assert all(
        "/roleAssignments/" in r["path"] or "/automationAccounts/" in r["path"] or "Mappings/" in r["path"]
        for r in writes_when_ready
    ), describe_requests(writes_when_ready)
    assert not [r for r in writes_when_ready if r["method"] == "DELETE"]
    assert sum("Mappings/" in r["path"] for r in writes_when_ready) == 2


def test_disable_turns_every_mapping_off_and_keeps_the_account(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault, seen = _converge_then_delete(
        description, namespace, kubectl, custom, arm, start_operator, deletionPolicy="Disable"
    )
    after = _snapshot(arm, vault, seen["account"]["principalId"])
    assert {status for _, status, _, _ in after["mappings"]} == {"Disabled"}
    assert all(schedule is None for _, _, _, schedule in after["mappings"])
    assert after["accounts"] == seen["before"]["accounts"] == [seen["account"]["id"].lower()]
    assert after["roles"] == seen["before"]["roles"]
    automation = arm.automation(vault["subscriptionId"])
    account = default_account_name(vault)
    assert list(automation.schedule.list_by_automation_account(vault["resourceGroup"], account)) == []


def test_delete_removes_what_the_policy_created(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault, seen = _converge_then_delete(
        description, namespace, kubectl, custom, arm, start_operator, deletionPolicy="Delete"
    )
    assert seen["account"]["createdByPolicy"] is True
    assert [guid for _, guid in seen["before"]["roles"]] == [CONTRIBUTOR]
    after = _snapshot(arm, vault, seen["account"]["principalId"])
    assert {status for _, status, _, _ in after["mappings"]} == {"Disabled"}
    assert after["accounts"] == [], "the account this policy created must be deleted"
    assert after["roles"] == [], "the vault role of its identity must be removed"
    deletes = [r for r in writes(arm_requests(admin, operator_object_id(admin))) if r["method"] == "DELETE"]
    assert sorted(r["path"].split("/providers/")[-1].split("/")[1] for r in deletes) == [
        "automationAccounts",
        "roleAssignments",
    ], describe_requests(deletes)
    wait_event(core, namespace, "doomed", "RoleRevoked")
    deleted = wait_event(core, namespace, "doomed", "AutomationAccountDeleted")
    assert default_account_name(vault) in deleted.message


def test_delete_keeps_an_account_the_policy_did_not_create(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    automation = arm.automation(vault["subscriptionId"])
    shared = automation.automation_account.create_or_update(
        vault["resourceGroup"],
        "aa-shared-updates",
        {
            "location": "westeurope",
            "identity": {"type": "SystemAssigned"},
            "properties": {"sku": {"name": "Basic"}},
            "tags": {"owner": "platform-team"},
        },
    )
    start_operator()
    kubectl.apply(
        policy("borrower", namespace, vault, deletionPolicy="Delete", automationAccount={"name": "aa-shared-updates"})
    )
    body = wait_ready(custom, namespace, "borrower")
    assert body["status"]["automationAccount"]["createdByPolicy"] is False
    assert "AutomationAccountCreated" not in {e.reason for e in events_for(core, namespace, "borrower")}

    kubectl("delete", "mup", "borrower", "-n", namespace, "--timeout=60s")
    _gone(custom, namespace, "borrower")
    assert {m.properties.provider_specific_details.agent_auto_update_status for m in a2a_mappings(arm, vault)} == {
        "Disabled"
    }
    kept = automation.automation_account.get(vault["resourceGroup"], "aa-shared-updates")
    assert kept.id.lower() == shared.id.lower() and kept.tags == {"owner": "platform-team"}
    assert kept.identity.principal_id == shared.identity.principal_id
    operator_deletes = [
        r
        for r in writes(arm_requests(admin, operator_object_id(admin)))
        if r["method"] == "DELETE" and "/automationAccounts/" in r["path"]
    ]
    assert operator_deletes == []
