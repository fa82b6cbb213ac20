"""updateMode Manual ("Manage manually"): every A2A Paired mapping ends Disabled, and nothing else is touched."""

from __future__ import annotations

from tests.e2e.kit import (
    arm_requests,
    assert_kstatus,
    automation_accounts,
    condition,
    describe_requests,
    events_for,
    operator_object_id,
    policy,
    set_mapping,
    vault_spec,
    wait_ready,
    writes,
)


def test_manual_disables_every_paired_a2a_mapping_and_writes_nothing_else(
    description, namespace, kubectl, custom, core, admin, arm, start_operator
):
    vault = vault_spec(description, 1)  # rsv-eus-prod: 2 A2A Paired mappings and 1 InMageRcm (not A2A)
    subscription = vault["subscriptionId"]
    automation = arm.automation(subscription)
    existing = automation.automation_account.create_or_update(
        vault["resourceGroup"],
        "aa-enabled-by-hand",
        {"location": "eastus", "identity": {"type": "SystemAssigned"}, "properties": {"sku": {"name": "Basic"}}},
    )
    site_recovery = arm.site_recovery(subscription).replication_protection_container_mappings
    everything = list(site_recovery.list(vault["resourceGroup"], vault["name"]))
    a2a = [m for m in everything if m.properties.provider_specific_details.instance_type == "A2A"]
    others = {m.name: m.as_dict() for m in everything if m not in a2a}
    assert len(a2a) == 2 and others
    for mapping in a2a:  # as a person would have done it in the portal
        set_mapping(arm, vault, mapping, enabled=True, account_id=existing.id)
    operator = operator_object_id(admin)

    start_operator()
    kubectl.apply(policy("manual", namespace, vault, updateMode="Manual"))
    body = wait_ready(custom, namespace, "manual")

    after = list(site_recovery.list(vault["resourceGroup"], vault["name"]))
    for mapping in after:
        details = mapping.properties.provider_specific_details
        if mapping.name in others:
            assert mapping.as_dict() == others[mapping.name], "a mapping that is not A2A must not be touched"
        else:
            assert details.agent_auto_update_status == "Disabled", mapping.name
            assert details.schedule_name is None and details.job_schedule_name is None
    assert [a.name for a in automation_accounts(arm, subscription)] == ["aa-enabled-by-hand"]

    changed = writes(arm_requests(admin, operator))
    assert changed, "the operator must have disabled the mappings"
    assert all(
        r["method"] in ("PATCH", "PUT") and "/replicationProtectionContainerMappings/" in r["path"] for r in changed
    ), describe_requests(changed)
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in changed) == sorted(m.name for m in a2a)

    status = body["status"]
    assert status["mappings"] == {"total": 3, "configured": 2, "skipped": 1}
    assert (
        "automationAccount" not in status
        or status["automationAccount"] is None
        or status["automationAccount"]["createdByPolicy"] is False
    )
    assert_kstatus(body, ready="True", reconciling="False", stalled="False", reason="Converged")
    for kind in ("AutomationAccountReady", "CredentialsHealthy", "ScheduleConfigured"):
        assert (condition(body, kind)["status"], condition(body, kind)["reason"]) == ("True", "NotRequired"), kind
    assert condition(body, "MappingsConfigured")["status"] == "True"
    updated = sorted(e.message for e in events_for(core, namespace, "manual") if e.reason == "MappingUpdated")
    assert len(updated) == 2 and all(
        message.startswith(f"Set auto-update Disabled on mapping {mapping.name}.")
        for message, mapping in zip(updated, sorted(a2a, key=lambda m: m.name), strict=False)
    ), updated
    assert "Manual" in kubectl("get", "mup", "manual", "-n", namespace).stdout
