"""Helpers for end-to-end tests: policy manifests, waiting on status conditions, reading Azure back through the
SDK, and reading the emulator's request log."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from tests.support import wait_for

GROUP, VERSION, PLURAL = "asr.autoupdate.dev", "v1alpha1", "mobilityupdatepolicies"
REPAIR_ANNOTATION = f"{GROUP}/repair"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
SITE_RECOVERY_RUNBOOK = "MS-SR-Update-MobilityServiceForA2AVirtualMachines"
WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})
CONDITION_TYPES = (
    "Ready",
    "Reconciling",
    "Stalled",
    "AutomationAccountReady",
    "CredentialsHealthy",
    "MappingsConfigured",
    "ScheduleConfigured",
    "AgentsCurrent",
)


def vault_spec(description: dict, index: int = 0) -> dict:
    vault = description["vaults"][index]
    return {"subscriptionId": vault["subscriptionId"], "resourceGroup": vault["resourceGroup"], "name": vault["name"]}


def vault_id(vault: dict) -> str:
    return (
        f"/subscriptions/{vault['subscriptionId']}/resourceGroups/{vault['resourceGroup']}"
        f"/providers/Microsoft.RecoveryServices/vaults/{vault['name']}"
    )


def default_account_name(vault: dict) -> str:
    return f"{vault['name']}-asr-automationaccount"


def secret_manifest(namespace: str, name: str, **data: str) -> dict:
    """An Opaque Secret manifest holding `data` (base64-encoded as the API wants it)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def policy(name: str, namespace: str, vault: dict, **spec) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MobilityUpdatePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"vault": vault, "updateMode": "Automatic", **spec},
    }


def fleet(name: str, namespace: str, subscriptions: list[str], vault_selector: dict, template: dict, **spec) -> dict:
    """A MobilityUpdateFleet manifest: where its vaults are discovered, which match, and their policies' spec."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MobilityUpdateFleet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"subscriptions": subscriptions, "vaultSelector": vault_selector, "template": template, **spec},
    }


def get_policy(custom, namespace: str, name: str) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def condition(body: dict, kind: str) -> dict:
    return next((c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def wait_condition(
    custom,
    namespace: str,
    name: str,
    kind: str,
    status: str = "True",
    *,
    reason: str | None = None,
    timeout: float = 60,
) -> dict:
    """Wait until the condition has the status (and reason); answer the whole object."""

    def check():
        body = get_policy(custom, namespace, name)
        found = condition(body, kind)
        if (
            found.get("status") == status
            and (reason is None or found.get("reason") == reason)
            and body["status"].get("observedGeneration") == body["metadata"]["generation"]
        ):
            return body
        return None

    return wait_for(check, timeout=timeout, what=f"{namespace}/{name} {kind}={status} {reason or ''}")


def wait_ready(custom, namespace: str, name: str, *, timeout: float = 60) -> dict:
    return wait_condition(custom, namespace, name, "Ready", "True", reason="Converged", timeout=timeout)


def assert_kstatus(body: dict, *, ready: str, reconciling: str, stalled: str, reason: str | None = None) -> None:
    """The three summary conditions at once, with the one reason and message they share."""
    seen = {kind: condition(body, kind) for kind in ("Ready", "Reconciling", "Stalled")}
    assert (seen["Ready"].get("status"), seen["Reconciling"].get("status"), seen["Stalled"].get("status")) == (
        ready,
        reconciling,
        stalled,
    ), pretty(seen)
    assert len({(c.get("reason"), c.get("message")) for c in seen.values()}) == 1, pretty(seen)
    if reason is not None:
        assert seen["Ready"]["reason"] == reason, pretty(seen)


def events_for(core, namespace: str, name: str) -> list:
    return core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items


def wait_event(
    core,
    namespace: str,
    name: str,
    reason: str,
    *,
    since: set | None = None,
    timeout: float = 30,
    message: str | None = None,
):
    """The first Event with `reason` (whose uid is not in `since`, and whose message contains `message`)."""

    def check():
        for event in events_for(core, namespace, name):
            if (
                event.reason == reason
                and event.metadata.uid not in (since or set())
                and (message is None or message in (event.message or ""))
            ):
                return event
        return None

    return wait_for(check, timeout=timeout, what=f"an Event {reason} on {namespace}/{name}")


def event_uids(core, namespace: str, name: str) -> set:
    return {event.metadata.uid for event in events_for(core, namespace, name)}


def pretty(value) -> str:
    return json.dumps(value, indent=2, default=str)


# --- Azure read back through the SDK ---------------------------------------------------------------------------


def a2a_mappings(arm, vault: dict) -> list:
    """Every A2A mapping of the vault, as the SDK returns them."""
    mappings = arm.site_recovery(vault["subscriptionId"]).replication_protection_container_mappings.list(
        vault["resourceGroup"], vault["name"]
    )
    return [m for m in mappings if m.properties.provider_specific_details.instance_type == "A2A"]


def paired_a2a_mappings(arm, vault: dict) -> list:
    return [m for m in a2a_mappings(arm, vault) if m.properties.state == "Paired"]


def mapping_parts(mapping) -> tuple[str, str, str, str, str]:
    """(resource group, vault, fabric, container, mapping) of a mapping id, for the SDK's operations."""
    parts = [p for p in mapping.id.split("/") if p]
    keyed = {parts[i].lower(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}
    return (
        keyed["resourcegroups"],
        keyed["vaults"],
        keyed["replicationfabrics"],
        keyed["replicationprotectioncontainers"],
        keyed["replicationprotectioncontainermappings"],
    )


def set_mapping(arm, vault: dict, mapping, *, enabled: bool, account_id: str | None = None) -> None:
    """What a person does in the portal: turn auto-update on (with an account) or off on one mapping."""
    details = {"instanceType": "A2A", "agentAutoUpdateStatus": "Enabled" if enabled else "Disabled"}
    if account_id:
        details["automationAccountArmId"] = account_id
        details["automationAccountAuthenticationType"] = "SystemAssignedIdentity"
    client = arm.site_recovery(vault["subscriptionId"]).replication_protection_container_mappings
    client.begin_update(*mapping_parts(mapping), {"properties": {"providerSpecificInput": details}}).result()


def role_assignments_on_vault(arm, vault: dict, principal_id: str) -> list:
    """Assignments of `principal_id` at the vault's own scope (not inherited ones)."""
    scope = vault_id(vault)
    found = arm.authorization(vault["subscriptionId"]).role_assignments.list_for_scope(
        scope, filter=f"assignedTo('{principal_id}')"
    )
    return [a for a in found if a.scope.lower() == scope.lower()]


def role_guid(assignment) -> str:
    return assignment.role_definition_id.rsplit("/", 1)[-1].lower()


def automation_accounts(arm, subscription_id: str) -> list:
    return list(arm.automation(subscription_id).automation_account.list())


# --- a fresh estate ---------------------------------------------------------------------------------------------


def fresh_estate(admin, kubectl, azure_config: dict, person: dict) -> str:
    """A test's own Azure estate and namespace, as the e2e `namespace` fixture and the benches make them: the
    estate reset, the emulator configured with `azure_config`, `person` (Owner on every subscription) added, and
    a new namespace, whose name is answered."""
    admin.reset()
    admin.post("config", azure_config)
    admin.post("principals", person)
    for subscription in admin.state()["subscriptions"]:
        admin.post(
            "role-assignments",
            {
                "principalId": person["objectId"],
                "role": "Owner",
                "scope": f"/subscriptions/{subscription['subscriptionId']}",
            },
        )
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


# --- the emulator's request log ---------------------------------------------------------------------------------


def operator_object_id(admin) -> str:
    return admin.state()["operatorObjectId"]


def arm_requests(admin, principal: str | None = None) -> list[dict]:
    """ARM calls in the request log (token requests left out), optionally only those of one principal."""
    return [
        request
        for request in admin.requests()
        if "/oauth2/" not in request["path"]
        and "openid-configuration" not in request["path"]
        and (principal is None or (request.get("principal") or "").lower() == principal.lower())
    ]


def writes(requests: list[dict]) -> list[dict]:
    return [request for request in requests if request["method"] in WRITE_METHODS]


def describe_requests(requests: list[dict]) -> str:
    return "\n".join(f"{r['method']} {r['status']} {r['path']}" for r in requests)


TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


def parse_time(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def move_clock_past_first_runs(admin, body: dict, seconds: float) -> None:
    """Land `seconds` after the latest first run of the policy's schedules, before any of them runs again.

    Moving the clock by a fixed amount crosses one midnight or two depending on the time of day the suite runs
    at; the schedules' own next runs do not."""

    runs = [parse_time(schedule["nextRun"]) for schedule in body["status"]["schedules"]]
    to = max(runs) + timedelta(seconds=seconds)
    assert to < min(runs) + timedelta(days=1), f"the first runs {runs} are too far apart for one run each"
    admin.post("clock", {"to": iso_time(to)})
