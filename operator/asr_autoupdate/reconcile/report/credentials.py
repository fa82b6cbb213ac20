"""The CredentialsHealthy condition: the managed identity's role, or the Run As account's diagnosis
(application, service principal, role, certificate and connection assets, thumbprints, expiry).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asr_autoupdate.api.conditions import ConditionType, Status
from asr_autoupdate.api.reasons import Reason
from asr_autoupdate.azure import port
from asr_autoupdate.reconcile import desired
from asr_autoupdate.reconcile.model import (
    Observation,
    Part,
)
from asr_autoupdate.reconcile.report.findings import Finding, PassView, finding

_C = ConditionType


CERTIFICATE_WARNING = timedelta(days=60)  # Site Recovery warns two months before a Run As certificate expires


def credentials_condition(this_pass: PassView) -> Finding:
    kind = _C.CREDENTIALS_HEALTHY
    spec, observation = this_pass.spec, this_pass.observation
    if not spec.automatic:
        return finding(kind, Status.TRUE, Reason.NOT_REQUIRED, subject="credentials")
    if not this_pass.assessment.account_usable:
        return finding(kind, Status.UNKNOWN, Reason.WAITING, dependency="the automation account")
    if not spec.uses_identity:
        return _run_as(this_pass)
    return (
        this_pass.failed(kind)
        or this_pass.unread(kind, Part.ROLE_ASSIGNMENTS)
        or this_pass.changing(kind)
        or _identity_state(observation)
    )


def _identity_state(observation: Observation) -> Finding:
    kind = _C.CREDENTIALS_HEALTHY
    account = observation.known_account
    fields = {"principal": str(account.principal_id), "account": account.name}
    if not desired.has_vault_access(observation.role_assignments):
        return finding(kind, Status.FALSE, Reason.IDENTITY_NOT_AUTHORIZED, **fields)
    state = f"The identity {account.principal_id} of automation account {account.name} has Contributor on the vault"
    return finding(kind, Status.TRUE, Reason.CONVERGED, state=state)


def _run_as(this_pass: PassView) -> Finding:
    """Diagnose a legacy Run As account, in the order of Site Recovery's troubleshooting guidance.

    The operator reads the two assets itself (presence, type, thumbprints, the certificate's expiry). The
    application, its service principal and its role on the vault live in Microsoft Entra ID, which ARM does
    not show: for those it takes the verdict Site Recovery's update job left on the mappings, as the portal
    does. A certificate that expired (or nears expiry) on Azure's clock is also told by that verdict.
    """
    kind = _C.CREDENTIALS_HEALTHY
    observation, now = this_pass.observation, this_pass.now
    unread = this_pass.unread(kind, Part.RUN_AS_CERTIFICATE, Part.RUN_AS_CONNECTION)
    if unread:
        return unread
    certificate, connection = observation.run_as_certificate, observation.run_as_connection
    if certificate is None:
        piece = f"certificate asset {port.RUN_AS_CERTIFICATE}"
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=piece)
    if connection is None:
        piece = f"connection asset {port.RUN_AS_CONNECTION}"
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=piece)
    if connection.connection_type != "AzureServicePrincipal":
        piece = f"connection asset {port.RUN_AS_CONNECTION} of type AzureServicePrincipal"
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=piece)
    if _connection_field(connection, "CertificateThumbprint") != (certificate.thumbprint or "").lower():
        return finding(kind, Status.FALSE, Reason.RUN_AS_THUMBPRINT_MISMATCH)
    expiry = certificate.expiry_time
    date = f"{expiry:%Y-%m-%d}" if expiry is not None else "an unknown date"
    if (expiry is not None and expiry <= now) or _site_recovery_says(observation, _says_expired):
        return finding(kind, Status.FALSE, Reason.RUN_AS_CERTIFICATE_EXPIRED, date=date)
    if _site_recovery_says(observation, _says_not_found):
        application = _connection_field(connection, "ApplicationId") or "unknown"
        piece = f"Microsoft Entra application or service principal (ApplicationId {application})"
        return finding(kind, Status.FALSE, Reason.RUN_AS_ACCOUNT_NOT_FOUND, piece=piece)
    if refusal := _run_as_refusal(observation):
        return refusal
    expiring = expiry is not None and expiry - now <= CERTIFICATE_WARNING
    if expiring or _site_recovery_says(observation, _says_expiring):
        return finding(kind, Status.TRUE, Reason.RUN_AS_CERTIFICATE_EXPIRING, date=date)
    return finding(kind, Status.TRUE, Reason.RUN_AS_ACCOUNT_RETIRED)


def _connection_field(connection: port.Connection, name: str) -> str:
    fields = {key.lower(): value for key, value in connection.fields.items()}
    return (fields.get(name.lower()) or "").lower()


# Site Recovery's verdicts on a Run As account, by its error code or by the text of its portal message (the
# codes differ between service versions; the messages are the ones its troubleshooting guidance quotes).
def _says_expired(health: port.HealthError) -> bool:
    text = health.message.lower()
    return health.code == "RunAsCertificateExpired" or ("certificate" in text and "has expired" in text)


def _says_expiring(health: port.HealthError) -> bool:
    return health.code == "RunAsCertificateExpiring" or "about to expire" in health.message.lower()


def _says_not_found(health: port.HealthError) -> bool:
    return health.code == "RunAsAccountNotFound" or "run as account is not found" in health.message.lower()


def _site_recovery_says(observation: Observation, verdict: Any) -> tuple[port.Mapping, port.HealthError] | None:
    for mapping in observation.manageable_mappings:
        for health in mapping.health_errors:
            if verdict(health):
                return mapping, health
    return None


def _run_as_refusal(observation: Observation) -> Finding | None:
    """Site Recovery reports a Run As account without access to the vault as a mapping health error."""
    for mapping in observation.manageable_mappings:
        for health in mapping.health_errors:
            text = health.message.lower()
            if health.code == "RunAsAccountUnauthorized" or (
                "run as" in text and ("permission" in text or "authoriz" in text)
            ):
                return finding(
                    _C.CREDENTIALS_HEALTHY,
                    Status.FALSE,
                    Reason.RUN_AS_ACCOUNT_UNAUTHORIZED,
                    mapping=mapping.name,
                    code=health.code,
                )
    return None
