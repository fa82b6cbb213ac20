"""The operator's own identity lacks a role: Stalled with InsufficientPermissions, saying what to grant."""

from __future__ import annotations

from tests.e2e.kit import (
    CONTRIBUTOR,
    REPAIR_ANNOTATION,
    TRACEBACK,
    arm_requests,
    assert_kstatus,
    condition,
    events_for,
    get_policy,
    operator_object_id,
    policy,
    role_assignments_on_vault,
    role_guid,
    vault_spec,
    wait_condition,
    wait_event,
)
from tests.support import wait_for


def test_role_assignment_refused_stalls_until_owner_is_restored_and_a_repair_is_asked(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    subscription_scope = f"/subscriptions/{vault['subscriptionId']}"
    operator = operator_object_id(admin)
    admin.delete("role-assignments", {"principalId": operator})
    admin.post("role-assignments", {"principalId": operator, "role": "Contributor", "scope": subscription_scope})
    process = start_operator()
    kubectl.apply(policy("lowered", namespace, vault))

    body = wait_condition(custom, namespace, "lowered", "Stalled", "True", reason="InsufficientPermissions")
    assert_kstatus(body, ready="False", reconciling="False", stalled="True", reason="InsufficientPermissions")
    message = condition(body, "Ready")["message"]
    assert "may not grant Contributor on the vault" in message, message
    assert "Grant the operator's identity Owner or User Access Administrator on the vault" in message, message
    assert "annotate asr.autoupdate.dev/repair" in message
    credentials = condition(body, "CredentialsHealthy")
    assert (credentials["status"], credentials["reason"]) == ("False", "InsufficientPermissions")
    refused = [r for r in arm_requests(admin, operator) if r["method"] == "PUT" and "/roleAssignments/" in r["path"]]
    assert refused and {r["status"] for r in refused} == {403}
    event = wait_event(core, namespace, "lowered", "InsufficientPermissions")
    assert event.type == "Warning" and not TRACEBACK.search(event.message)
    principal = body["status"]["automationAccount"]["principalId"]
    assert role_assignments_on_vault(arm, vault, principal) == []

    admin.post("role-assignments", {"principalId": operator, "role": "Owner", "scope": subscription_scope})
    kubectl("annotate", "mup", "lowered", "-n", namespace, f"{REPAIR_ANNOTATION}=owner-restored")
    kubectl("wait", "--for=condition=Ready", "mup/lowered", "-n", namespace, "--timeout=30s")

    body = wait_for(
        lambda: (
            (b := get_policy(custom, namespace, "lowered"))["status"].get("lastRepair", {}).get("result") == "Converged"
            and b
        ),
        timeout=10,
        what="lastRepair",
    )
    assert body["status"]["lastRepair"]["token"] == "owner-restored"
    assert body["status"]["lastRepair"]["result"] == "Converged"
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    assert [role_guid(a) for a in role_assignments_on_vault(arm, vault, principal)] == [CONTRIBUTOR]
    assert len([e for e in events_for(core, namespace, "lowered") if e.reason == "InsufficientPermissions"]) == 1
    assert not TRACEBACK.search(process.log_text())
