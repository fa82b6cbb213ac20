"""kstatus semantics of Ready/Reconciling/Stalled, as kubectl wait, Flux and Argo CD read them."""

from __future__ import annotations

from tests.e2e.kit import (
    CONTRIBUTOR,
    REPAIR_ANNOTATION,
    assert_kstatus,
    condition,
    get_policy,
    policy,
    role_assignments_on_vault,
    vault_id,
    vault_spec,
    wait_event,
)


def test_reconciling_while_azure_is_unavailable_then_kubectl_wait_sees_ready(
    description, namespace, kubectl, custom, core, admin, start_operator
):
    vault = vault_spec(description, 0)
    busy_mapping = "northeurope-westeurope-24-hour-retention-policy"
    admin.post(
        "faults",
        {
            "method": "PATCH",
            "pathPattern": f"/replicationProtectionContainerMappings/{busy_mapping}$",
            "status": 503,
            "retryAfter": 1,
        },
    )
    start_operator()
    kubectl.apply(policy("busy", namespace, vault))

    kubectl("wait", "--for=condition=Reconciling", "mup/busy", "-n", namespace, "--timeout=60s")
    body = get_policy(custom, namespace, "busy")
    assert_kstatus(body, ready="False", reconciling="True", stalled="False", reason="AzureUnavailable")
    assert f"could not set auto-update Enabled on mapping {busy_mapping}" in condition(body, "Ready")["message"]
    assert condition(body, "MappingsConfigured")["reason"] == "AzureUnavailable"
    waited = kubectl("wait", "--for=condition=Ready", "mup/busy", "-n", namespace, "--timeout=1s", check=False)
    assert waited.returncode != 0, "kubectl wait must not see Ready while work is under way"

    admin.delete("faults")
    kubectl("wait", "--for=condition=Ready", "mup/busy", "-n", namespace, "--timeout=60s")
    kubectl("wait", "--for=condition=Reconciling=False", "mup/busy", "-n", namespace, "--timeout=5s")
    body = get_policy(custom, namespace, "busy")
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]


def test_stalled_until_a_person_acts_then_repair_makes_it_ready(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    start_operator()
    kubectl.apply(policy("noaccess", namespace, vault, grantVaultAccess=False))

    kubectl("wait", "--for=condition=Stalled", "mup/noaccess", "-n", namespace, "--timeout=60s")
    body = get_policy(custom, namespace, "noaccess")
    assert_kstatus(body, ready="False", reconciling="False", stalled="True", reason="IdentityNotAuthorized")
    principal = body["status"]["automationAccount"]["principalId"]
    assert principal in condition(body, "Ready")["message"]
    assert "Grant it Contributor on the vault" in condition(body, "Ready")["message"]
    assert role_assignments_on_vault(arm, vault, principal) == []
    wait_event(core, namespace, "noaccess", "IdentityNotAuthorized")

    # the person grants the role, then asks for a repair instead of waiting for the slow retry
    admin.post("role-assignments", {"principalId": principal, "role": "Contributor", "scope": vault_id(vault)})
    kubectl("annotate", "mup", "noaccess", "-n", namespace, f"{REPAIR_ANNOTATION}=granted-by-hand")
    kubectl("wait", "--for=condition=Ready", "mup/noaccess", "-n", namespace, "--timeout=60s")
    body = get_policy(custom, namespace, "noaccess")
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    assert body["status"]["lastRepair"]["token"] == "granted-by-hand"
    assert [a.role_definition_id.rsplit("/", 1)[-1] for a in role_assignments_on_vault(arm, vault, principal)] == [
        CONTRIBUTOR
    ]
