"""The Automation kinds a Run As setup consists of: runbooks, certificates and connections.

Each is an `AssetKind` for the generic handlers of `automation`: how its PUT body is read and what its answer
looks like. Site Recovery's global runbook runs jobs in an account but is never listed among its runbooks.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from ..state.automation import AutomationAccount, Certificate, Connection, Runbook
from ..state.timestamps import iso
from .arm import ArmCall, bad_request
from .automation import RESOURCE_TYPE, AssetKind, child_id

# ---- runbooks -------------------------------------------------------------------------------------


def runbook_body(account: AutomationAccount, runbook: Runbook) -> dict[str, Any]:
    """Runbooks are never run here, so counts and traces are constant."""
    return {
        "id": child_id(account, "runbooks", runbook.name),
        "name": runbook.name,
        "type": f"{RESOURCE_TYPE}/Runbooks",
        "location": runbook.location,
        "tags": runbook.tags,
        "etag": None,
        "properties": {
            "runbookType": runbook.runbook_type,
            "state": runbook.state,
            "logVerbose": runbook.log_verbose,
            "logProgress": runbook.log_progress,
            "logActivityTrace": 0,
            "jobCount": 0,
            "description": runbook.description,
            "creationTime": iso(runbook.created),
            "lastModifiedTime": iso(runbook.modified),
            "provisioningState": "Succeeded",
        },
    }


def _put_runbook(call: ArmCall, account: AutomationAccount, existing: Runbook | None) -> Runbook:
    """A runbook with published content is Published at once; the emulator never runs its code."""
    now, properties = call.now, call.properties
    runbook_type = call.required(properties, "runbookType")
    runbook = Runbook(
        name=existing.name if existing else call.params["name"],
        location=call.body.get("location") or account.location,
        runbook_type=runbook_type,
        state="Published" if properties.get("publishContentLink") else "New",
        created=existing.created if existing else now,
        modified=now,
        description=properties.get("description") or "",
        log_progress=bool(properties.get("logProgress")),
        log_verbose=bool(properties.get("logVerbose")),
        tags=call.body.get("tags") or {},
    )
    account.runbooks[runbook.name.lower()] = runbook
    return runbook


# ---- certificates and connections (the Run As assets) -----------------------------------------------


def certificate_body(account: AutomationAccount, certificate: Certificate) -> dict[str, Any]:
    """Only the facts the service exposes (thumbprint, expiry), never the certificate itself."""
    return {
        "id": child_id(account, "certificates", certificate.name),
        "name": certificate.name,
        "type": f"{RESOURCE_TYPE}/Certificates",
        "properties": {
            "thumbprint": certificate.thumbprint,
            "expiryTime": iso(certificate.expiry),
            "isExportable": certificate.is_exportable,
            "creationTime": iso(certificate.created),
            "lastModifiedTime": iso(certificate.modified),
            "description": certificate.description,
        },
    }


def _put_certificate(call: ArmCall, account: AutomationAccount, existing: Certificate | None) -> Certificate:
    """The service reads thumbprint and expiry from the uploaded certificate, so the emulator does too."""
    now, properties = call.now, call.properties
    thumbprint, expiry = _certificate_facts(call.required(properties, "base64Value"))
    certificate = Certificate(
        name=existing.name if existing else call.params["name"],
        thumbprint=thumbprint,
        expiry=expiry,
        created=existing.created if existing else now,
        modified=now,
        is_exportable=bool(properties.get("isExportable")),
        description=properties.get("description") or "",
    )
    account.certificates[certificate.name.lower()] = certificate
    return certificate


def _certificate_facts(base64_value: str) -> tuple[str, datetime.datetime]:
    try:
        raw = base64.b64decode(base64_value, validate=False)
    except (binascii.Error, ValueError):
        raise bad_request("The certificate's base64Value is not valid base64.") from None
    loaders = (
        lambda data: pkcs12.load_key_and_certificates(data, None)[1],
        x509.load_der_x509_certificate,
        x509.load_pem_x509_certificate,
    )
    for load in loaders:
        try:
            certificate = load(raw)
        except (ValueError, TypeError):
            continue
        if certificate is not None:
            return certificate.fingerprint(hashes.SHA1()).hex().upper(), certificate.not_valid_after_utc
    raise bad_request(
        "The certificate is not valid: base64Value must hold a PFX (no password), DER or PEM certificate."
    )


def connection_body(account: AutomationAccount, connection: Connection) -> dict[str, Any]:
    """Field values are returned as stored: Run As health checks compare them with the certificate."""
    return {
        "id": child_id(account, "connections", connection.name),
        "name": connection.name,
        "type": f"{RESOURCE_TYPE}/Connections",
        "properties": {
            "connectionType": {"name": connection.connection_type},
            "fieldDefinitionValues": connection.field_values,
            "creationTime": iso(connection.created),
            "lastModifiedTime": iso(connection.modified),
            "description": connection.description,
        },
    }


def _put_connection(call: ArmCall, account: AutomationAccount, existing: Connection | None) -> Connection:
    now, properties = call.now, call.properties
    connection_type = call.required(properties.get("connectionType") or {}, "name", "properties.connectionType")
    connection = Connection(
        name=existing.name if existing else call.params["name"],
        connection_type=connection_type,
        field_values={str(k): str(v) for k, v in (properties.get("fieldDefinitionValues") or {}).items()},
        created=existing.created if existing else now,
        modified=now,
        description=properties.get("description") or "",
    )
    account.connections[connection.name.lower()] = connection
    return connection


KINDS = (
    AssetKind(
        collection="runbooks",
        assets=lambda account: account.runbooks,
        body=runbook_body,
        put=_put_runbook,
        remove=lambda account, name: account.remove_runbook(name),
    ),
    AssetKind(
        collection="certificates",
        assets=lambda account: account.certificates,
        body=certificate_body,
        put=_put_certificate,
        remove=lambda account, name: account.certificates.pop(name.lower(), None),
    ),
    AssetKind(
        collection="connections",
        assets=lambda account: account.connections,
        body=connection_body,
        put=_put_connection,
        remove=lambda account, name: account.connections.pop(name.lower(), None),
    ),
)
