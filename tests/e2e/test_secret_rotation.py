"""A credentials Secret rotated while the operator runs (issue 12, Kubernetes-side faults).

A policy signs in with a service principal from its `credentialsSecretRef`. The Secret is rewritten to a second
principal's credentials while the operator runs, and the first principal is then deleted from the directory, as
a rotation that revokes the old credentials does. The next passes use the new principal only: a drift made after
the revocation is corrected by it, no request of the old principal reaches Azure once the new one is in use,
no request is refused for its token, and the policy never leaves Ready.
"""

from __future__ import annotations

from tests.e2e.conftest import PERSON
from tests.e2e.kit import (
    a2a_mappings,
    arm_requests,
    condition,
    get_policy,
    policy,
    secret_manifest,
    set_mapping,
    vault_spec,
    wait_ready,
)
from tests.support import wait_for


def principal_with_owner(admin, description: dict, name: str, secret: str) -> dict:
    principal = admin.post("principals", {"kind": "ServicePrincipal", "displayName": name, "clientSecret": secret})
    for subscription in {vault["subscriptionId"] for vault in description["vaults"]}:
        admin.post(
            "role-assignments",
            {"principalId": principal["objectId"], "role": "Owner", "scope": f"/subscriptions/{subscription}"},
        )
    return principal


def credentials(description: dict, principal: dict, secret: str) -> dict[str, str]:
    return {"tenantId": description["tenantId"], "clientId": principal["clientId"], "clientSecret": secret}


def test_a_rotated_secret_is_used_on_the_next_pass_and_the_old_principal_never_again(
    description, namespace, kubectl, custom, admin, arm, start_operator
):
    vault = vault_spec(description, 0)
    old = principal_with_owner(admin, description, "deployer-2026-11", "old-secret-value")
    new = principal_with_owner(admin, description, "deployer-2026-12", "new-secret-value")
    kubectl.apply(secret_manifest(namespace, "azure-sp", **credentials(description, old, "old-secret-value")))
    process = start_operator("--drift-interval-override", "1")
    kubectl.apply(policy("rotated", namespace, vault, credentialsSecretRef={"name": "azure-sp"}))
    wait_ready(custom, namespace, "rotated")

    def operator_requests() -> list[dict]:
        """The operator's calls on the vault (the person's checks and changes left out)."""
        return [r for r in arm_requests(admin) if vault["name"] in r["path"] and r["principal"] != PERSON["objectId"]]

    def principals_on_vault() -> set:
        return {r["principal"] for r in operator_requests()}

    assert principals_on_vault() == {old["objectId"]}, "the Secret's principal did the work"

    # the rotation: the Secret names the new principal; the next drift checks sign in with it
    kubectl.apply(secret_manifest(namespace, "azure-sp", **credentials(description, new, "new-secret-value")))
    wait_for(lambda: new["objectId"] in principals_on_vault(), timeout=30, what="a request of the new principal")

    # the old credentials are revoked, and someone disables auto-update on a mapping: the new principal mends it
    admin.delete(f"principals/{old['objectId']}")
    admin.delete("requests")
    mapping = a2a_mappings(arm, vault)[0]
    set_mapping(arm, vault, mapping, enabled=False)

    def mended() -> bool:
        [now] = [m for m in a2a_mappings(arm, vault) if m.id == mapping.id]
        return now.properties.provider_specific_details.agent_auto_update_status == "Enabled"

    wait_for(mended, timeout=30, what="the disabled mapping enabled again")
    wait_for(lambda: len(operator_requests()) >= 20, timeout=30, what="more drift checks after the mend")

    since = operator_requests()
    assert {r["principal"] for r in since} == {new["objectId"]}, "only the new principal after the revocation"
    assert not [r for r in since if r["status"] == 401], since
    body = wait_ready(custom, namespace, "rotated")
    assert condition(body, "Ready")["reason"] == "Converged"
    assert condition(get_policy(custom, namespace, "rotated"), "Stalled")["status"] == "False"
    # the Secret's values never reach the log, and no client was left unclosed
    log = process.log_text()
    assert "old-secret-value" not in log and "new-secret-value" not in log
    assert "Unclosed client session" not in log
