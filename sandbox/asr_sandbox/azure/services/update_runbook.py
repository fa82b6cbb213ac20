"""Site Recovery's hidden global runbook: what a run of it finds and what it changes.

A run is judged when it starts, on the credentials as they are then: each vault on its own (managed identity,
or the legacy Run As account's assets, certificate and role), so one broken vault fails the job without
holding back the others' upgrades. What it found is applied when the job ends: agents upgraded, and the health
errors the portal would show on each mapping.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from ..state.automation import RUN_AS_CERTIFICATE, RUN_AS_CONNECTION, AutomationAccount, JobOutcome
from ..state.estate import AzureState
from ..state.recovery import ContainerMapping, ProtectionContainer, Vault
from ..state.roles import CONTRIBUTOR, OWNER, holds_role
from ..state.timestamps import iso

# The errorSource of the health errors a run leaves on a mapping (and clears when things are healthy again).
HEALTH_SOURCE = "AgentAutoUpdate"
CERTIFICATE_WARNING_WINDOW = datetime.timedelta(days=60)
AGENT_SUPPORT_PERIOD = datetime.timedelta(days=365)


def clear_health(mapping: ContainerMapping) -> None:
    """Drop the auto-update health errors (others, from replication, stay)."""
    mapping.health_errors = [error for error in mapping.health_errors if error.get("errorSource") != HEALTH_SOURCE]


def begin(outcome: JobOutcome) -> None:
    """While the job runs, the agents it will upgrade show an upgrade in progress."""
    for container in outcome.upgrade_containers:
        for item in container.items.values():
            if item.details.get("isReplicationAgentUpdateRequired"):
                item.details["isAgentUpgradeInProgress"] = True


def finish(outcome: JobOutcome, ended: datetime.datetime, latest_agent_version: str) -> None:
    """When the job ends: the agents that were behind get the latest version, and each mapping its health."""
    for container in outcome.upgrade_containers:
        for item in container.items.values():
            if item.details.get("isReplicationAgentUpdateRequired"):
                item.details.update(
                    agentVersion=latest_agent_version,
                    agentExpiryDate=iso(ended + AGENT_SUPPORT_PERIOD),
                    isReplicationAgentUpdateRequired=False,
                    autoAgentUpgradeRetryCount=0,
                )
            item.details["isAgentUpgradeInProgress"] = False
    for mapping, errors in outcome.mapping_health:
        clear_health(mapping)
        mapping.health_errors.extend(errors)


def judge_run(
    state: AzureState, account: AutomationAccount, schedule_name: str | None, at: datetime.datetime
) -> JobOutcome:
    """Each vault is judged on its own credentials; one broken vault fails the job but not the others' upgrades.

    A vault whose credentials pass can still fail its update when a test has switched that on (admin API): the
    run then signs in, fails to install, and the job ends with that exception, the vault's agents left as they were.
    """
    outcome = JobOutcome()
    failures: list[str] = []
    for vault, targets in _targets(state, account, schedule_name):
        auth_type = targets[0][1].details.get("automationAccountAuthenticationType") or "RunAsAccount"
        problems = _credential_problems(state, account, auth_type, vault, at)
        fatal = [problem for problem in problems if problem["errorLevel"] == "Error"]
        install_failure = _simulated_update_failure(vault, targets, at) if not fatal else None
        if install_failure is not None:
            problems.append(install_failure)
        for _container, mapping in targets:
            outcome.mapping_health.append((mapping, [dict(problem, entityId=mapping.id) for problem in problems]))
        if fatal:
            failures.extend(f"{problem['errorMessage']} Vault: {vault.id}." for problem in fatal)
        elif install_failure is not None:
            failures.append(install_failure["errorMessage"])
        else:
            outcome.upgrade_containers.extend(container for container, _mapping in targets)
    if failures:
        outcome.succeeded = False
        outcome.exception = " ".join(failures)
    return outcome


def _targets(
    state: AzureState,
    account: AutomationAccount,
    schedule_name: str | None,
) -> list[tuple[Vault, list[tuple[ProtectionContainer, ContainerMapping]]]]:
    """Per vault, the enabled A2A mappings that use this account (the runbook covers the whole vault)."""
    found = []
    for vault in state.vaults.values():
        enabled = [
            (container, mapping)
            for _fabric, container, mapping in vault.mappings()
            if mapping.instance_type == "A2A"
            and mapping.details.get("agentAutoUpdateStatus") == "Enabled"
            and state.account_by_id(mapping.details.get("automationAccountArmId") or "") is account
        ]
        if schedule_name is not None and not any(
            (mapping.details.get("scheduleName") or "").lower() == schedule_name.lower() for _c, mapping in enabled
        ):
            continue
        if enabled:
            found.append((vault, enabled))
    return found


def _simulated_update_failure(
    vault: Vault, targets: list[tuple[ProtectionContainer, ContainerMapping]], at: datetime.datetime
) -> dict[str, Any] | None:
    """The health error of a run that a test made fail on this vault; its message is the job's exception."""
    if not vault.fail_update_jobs:
        return None
    message = vault.update_failure_message or _default_failure_message(
        vault, [container for container, _mapping in targets]
    )
    return _health_error(
        "AgentUpdateFailed",
        at,
        message,
        "The next run of the update job retries the update; if it keeps failing, update the Mobility Service on "
        "the virtual machines manually.",
    )


def _default_failure_message(vault: Vault, containers: list[ProtectionContainer]) -> str:
    """The emulator's own wording (the service's is not known): the vault, and how many items the run covered."""
    covered = len({item.id.lower() for container in containers for item in container.items.values()})
    return (
        f"Failed to update Mobility Service on 1 of {max(covered, 1)} protected items in vault '{vault.name}': "
        "the extension installation timed out (simulated)."
    )


def _credential_problems(
    state: AzureState, account: AutomationAccount, auth_type: str, vault: Vault, at: datetime.datetime
) -> list[dict[str, Any]]:
    if auth_type.lower() == "systemassignedidentity":
        if not account.has_system_identity or not account.principal_id:
            return [
                _health_error(
                    "ManagedIdentityNotEnabled",
                    at,
                    f"The system-assigned managed identity of automation account '{account.name}' is not enabled.",
                    "Enable the system-assigned managed identity on the automation account, then assign it the "
                    "Contributor role on the Recovery Services vault.",
                )
            ]
        if not holds_role(state, account.principal_id, {CONTRIBUTOR, OWNER}, vault.id):
            return [
                _health_error(
                    "ManagedIdentityUnauthorized",
                    at,
                    "The managed identity of the automation account does not have the permission to access the "
                    "recovery services resource.",
                    f"Assign the Contributor role on the Recovery Services vault '{vault.name}' to the system-assigned "
                    f"managed identity of automation account '{account.name}'.",
                )
            ]
        return []
    return _run_as_problems(state, account, vault, at)


def _run_as_problems(
    state: AzureState, account: AutomationAccount, vault: Vault, at: datetime.datetime
) -> list[dict[str, Any]]:
    """Application, service principal, both assets and equal thumbprints, then expiry, then the role."""
    connection = account.connections.get(RUN_AS_CONNECTION.lower())
    certificate = account.certificates.get(RUN_AS_CERTIFICATE.lower())
    fields = connection.field_values if connection else {}
    principal = state.principal_by_client_id(fields.get("ApplicationId", ""))
    missing = [
        piece
        for piece, absent in (
            (
                "Automation Connection asset of type AzureServicePrincipal",
                connection is None or connection.connection_type != "AzureServicePrincipal",
            ),
            (
                "Azure Active Directory Application / Service Principal",
                connection is not None and principal is None,
            ),
            ("Automation Certificate asset", certificate is None),
            (
                "the Thumbprint is not identical between Certificate and Connection",
                connection is not None
                and certificate is not None
                and fields.get("CertificateThumbprint", "").upper() != certificate.thumbprint.upper(),
            ),
        )
        if absent
    ]
    retire = (
        "Run As accounts are retired: migrate the automation account to a system-assigned managed "
        "identity with the Contributor role on the vault."
    )
    renew = "Renew the certificate with Repair/Renew Certificate, or migrate to a managed identity."
    if missing or certificate is None or principal is None:
        return [
            _health_error(
                "RunAsAccountNotFound",
                at,
                "Run As account is not found. Either one of these was deleted or not created - Azure Active "
                "Directory Application, Service Principal, Role, Automation Certificate asset, Automation Connection "
                "asset - or the Thumbprint is not identical between Certificate and Connection.",
                retire,
                possible_causes="; ".join(missing),
            )
        ]
    if certificate.expiry <= at:
        return [
            _health_error(
                "RunAsCertificateExpired",
                at,
                "The Azure Run as Certificate used by the automation account has expired.",
                renew,
            )
        ]
    if not holds_role(state, principal.object_id, {CONTRIBUTOR, OWNER}, vault.id):
        return [
            _health_error(
                "RunAsAccountUnauthorized",
                at,
                "The Run As account does not have the permission to access the recovery services resource.",
                retire,
            )
        ]
    if certificate.expiry - at <= CERTIFICATE_WARNING_WINDOW:
        return [
            _health_error(
                "RunAsCertificateExpiring",
                at,
                "The Azure Run as Certificate used by the automation account is about to expire.",
                renew,
                level="Warning",
            )
        ]
    return []


def _health_error(
    code: str, at: datetime.datetime, message: str, recommended: str, *, possible_causes: str = "", level: str = "Error"
) -> dict[str, Any]:
    """A HealthError as Site Recovery reports it on a mapping (codes are the emulator's own names)."""
    return {
        "errorCode": code,
        "errorMessage": message,
        "summaryMessage": message,
        "possibleCauses": possible_causes or message,
        "recommendedAction": recommended,
        "errorSource": HEALTH_SOURCE,
        "errorType": "AutomationAccount",
        "errorLevel": level,
        "errorCategory": "Configuration",
        "errorId": str(uuid.uuid4()),
        "creationTimeUtc": iso(at),
        "recoveryProviderErrorMessage": "",
        "customerResolvability": "Allowed",
        "innerHealthErrors": [],
    }
