"""Microsoft.Automation accounts and their assets: runbooks, certificates and connections (the Run As assets).

Schedules, job schedules and jobs live in `automation_schedules`. Site Recovery's global runbook runs jobs in
an account but is never listed among its runbooks.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import time
import uuid
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from .arm import ArmCall, ArmError, Handler, Router, bad_request, iso, resource_not_found
from .store import AutomationAccount, Certificate, Connection, Principal, Runbook, account_path

ACCOUNT = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Automation/automationAccounts/{account}"
RESOURCE_TYPE = "Microsoft.Automation/AutomationAccounts"


def register(router: Router) -> None:
    """Accounts and their asset collections (schedules and jobs register in `automation_schedules`)."""
    router.add("GET", "/subscriptions/{sub}/providers/Microsoft.Automation/automationAccounts", _list_accounts)
    router.add(
        "GET",
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Automation/automationAccounts",
        _list_accounts,
    )
    router.add("PUT", ACCOUNT, _put_account)
    router.add("PATCH", ACCOUNT, _patch_account)
    router.add("GET", ACCOUNT, lambda call: web.json_response(account_body(call, account_of(call))))
    router.add("DELETE", ACCOUNT, _delete_account)
    register_children(
        router,
        {
            "runbooks": (_put_runbook, _get_runbook, _delete_runbook, _list_runbooks),
            "certificates": (_put_certificate, _get_certificate, _delete_certificate, _list_certificates),
            "connections": (_put_connection, _get_connection, _delete_connection, _list_connections),
        },
    )


def register_children(
    router: Router,
    collections: dict[str, tuple[Handler, Handler, Handler | None, Handler]],
) -> None:
    """PUT, GET, DELETE (when the service has it) and list for each child collection of an account."""
    for collection, (put, get, delete, list_all) in collections.items():
        router.add("PUT", f"{ACCOUNT}/{collection}/{{name}}", put)
        router.add("GET", f"{ACCOUNT}/{collection}/{{name}}", get)
        if delete is not None:
            router.add("DELETE", f"{ACCOUNT}/{collection}/{{name}}", delete)
        router.add("GET", f"{ACCOUNT}/{collection}", list_all)


# ---- accounts -------------------------------------------------------------------------------------


def account_of(call: ArmCall) -> AutomationAccount:
    """The account a child call addresses, answering 404 the way ARM does when it or its group is missing."""
    return call.world.state.account(call.params["sub"], call.params["rg"], call.params["account"])


def account_body(call: ArmCall, account: AutomationAccount) -> dict[str, Any]:
    """principalId and tenantId appear only while the system identity is on: the operator reads them from here."""
    identity: dict[str, Any] = {"type": account.identity_type or "None"}
    if account.has_system_identity:
        identity.update(principalId=account.principal_id, tenantId=call.world.state.tenant_id)
    return {
        "id": account.id,
        "name": account.name,
        "type": RESOURCE_TYPE,
        "location": account.location,
        "tags": account.tags,
        "etag": None,
        "identity": identity,
        "properties": {
            "sku": {"name": account.sku},
            "state": "Ok",
            "creationTime": iso(account.created),
            "lastModifiedTime": iso(account.modified),
            "lastModifiedBy": None,
            "description": account.description,
            "publicNetworkAccess": account.public_network_access,
            "disableLocalAuth": account.disable_local_auth,
            "encryption": {"keySource": "Microsoft.Automation", "identity": {}},
            "automationHybridServiceUrl": f"https://{uuid.uuid5(uuid.NAMESPACE_URL, account.id)}.jrds."
            f"{account.location}.azure-automation.net/automationAccounts/{uuid.uuid5(uuid.NAMESPACE_URL, account.id)}",
        },
    }


def _list_accounts(call: ArmCall) -> web.Response:
    state = call.world.state
    state.subscription(call.params["sub"])
    prefix = f"/subscriptions/{call.params['sub']}/resourcegroups/".lower()
    if "rg" in call.params:
        state.resource_group(call.params["sub"], call.params["rg"])
        prefix += call.params["rg"].lower() + "/"
    return call.page(account_body(call, account) for key, account in state.accounts.items() if key.startswith(prefix))


def _put_account(call: ArmCall) -> web.Response:
    state, now = call.world.state, call.now
    sub, rg, name = call.params["sub"], call.params["rg"], call.params["account"]
    group = state.resource_group(sub, rg)
    location = call.required(call.body, "location", where="body")
    properties = call.body.get("properties") or {}
    key = account_path(sub, rg, name).lower()
    account = state.accounts.get(key)
    created = account is None
    if account is None:
        account = AutomationAccount(
            id=account_path(sub, group.name, name),
            subscription_id=sub,
            resource_group=group.name,
            name=name,
            location=location,
            created=now,
            modified=now,
        )
        state.accounts[key] = account
    account.location = location
    account.tags = call.body.get("tags") or {}
    account.sku = (properties.get("sku") or {}).get("name") or account.sku
    account.description = properties.get("description") or account.description
    account.public_network_access = properties.get("publicNetworkAccess", account.public_network_access)
    account.disable_local_auth = properties.get("disableLocalAuth", account.disable_local_auth)
    _set_identity(call, account, (call.body.get("identity") or {}).get("type"))
    account.modified = now
    return web.json_response(account_body(call, account), status=201 if created else 200)


def _patch_account(call: ArmCall) -> web.Response:
    account = account_of(call)
    properties = call.body.get("properties") or {}
    if "tags" in call.body:
        account.tags = call.body["tags"] or {}
    if (properties.get("sku") or {}).get("name"):
        account.sku = properties["sku"]["name"]
    for wire, attribute in (
        ("publicNetworkAccess", "public_network_access"),
        ("disableLocalAuth", "disable_local_auth"),
    ):
        if wire in properties:
            setattr(account, attribute, properties[wire])
    if "identity" in call.body:
        _set_identity(call, account, (call.body.get("identity") or {}).get("type"))
    account.modified = call.now
    return web.json_response(account_body(call, account))


def _set_identity(call: ArmCall, account: AutomationAccount, identity_type: str | None) -> None:
    """Turning the system identity on creates a directory object that role assignments see only after a delay."""
    state = call.world.state
    account.identity_type = None if not identity_type or identity_type == "None" else identity_type
    if account.has_system_identity and account.principal_id is None:
        principal = Principal(
            object_id=str(uuid.uuid4()),
            kind="ManagedIdentity",
            display_name=account.name,
            client_id=str(uuid.uuid4()),
            visible_after=time.monotonic() + call.world.settings.principal_propagation_delay_seconds,
        )
        state.principals[principal.object_id.lower()] = principal
        account.principal_id = principal.object_id
    elif not account.has_system_identity and account.principal_id is not None:
        state.principals.pop(account.principal_id.lower(), None)
        account.principal_id = None


def _delete_account(call: ArmCall) -> web.Response:
    state = call.world.state
    state.resource_group(call.params["sub"], call.params["rg"])
    account = state.accounts.pop(
        account_path(call.params["sub"], call.params["rg"], call.params["account"]).lower(), None
    )
    if account is None:
        return web.Response(status=204)
    if account.principal_id:
        state.principals.pop(account.principal_id.lower(), None)
    return web.Response(status=200)


def child_missing(call: ArmCall, collection: str) -> ArmError:
    """ARM's ResourceNotFound for a child of an existing account."""
    return resource_not_found(
        f"Microsoft.Automation/automationAccounts/{call.params['account']}/{collection}/{call.params['name']}",
        call.params["rg"],
    )


def child_id(account: AutomationAccount, collection: str, name: str) -> str:
    """Child ids keep the account's creation casing."""
    return f"{account.id}/{collection}/{name}"


# ---- runbooks -------------------------------------------------------------------------------------


def _runbook_body(account: AutomationAccount, runbook: Runbook) -> dict[str, Any]:
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


def _put_runbook(call: ArmCall) -> web.Response:
    account, now = account_of(call), call.now
    properties = call.body.get("properties") or {}
    runbook_type = call.required(properties, "runbookType")
    existing = account.runbooks.get(call.params["name"].lower())
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
    return web.json_response(_runbook_body(account, runbook), status=200 if existing else 201)


def _get_runbook(call: ArmCall) -> web.Response:
    account = account_of(call)
    runbook = account.runbooks.get(call.params["name"].lower())
    if runbook is None:
        raise child_missing(call, "runbooks")
    return web.json_response(_runbook_body(account, runbook))


def _delete_runbook(call: ArmCall) -> web.Response:
    account = account_of(call)
    if account.runbooks.pop(call.params["name"].lower(), None) is None:
        raise child_missing(call, "runbooks")
    for key, link in list(account.job_schedules.items()):
        if link.runbook_name.lower() == call.params["name"].lower():
            del account.job_schedules[key]
    return web.Response(status=200)


def _list_runbooks(call: ArmCall) -> web.Response:
    account = account_of(call)
    return call.page(_runbook_body(account, runbook) for runbook in account.runbooks.values())


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


def _put_certificate(call: ArmCall) -> web.Response:
    """The service reads thumbprint and expiry from the uploaded certificate, so the emulator does too."""
    account, now = account_of(call), call.now
    properties = call.body.get("properties") or {}
    thumbprint, expiry = _certificate_facts(call.required(properties, "base64Value"))
    existing = account.certificates.get(call.params["name"].lower())
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
    return web.json_response(certificate_body(account, certificate), status=200 if existing else 201)


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


def _get_certificate(call: ArmCall) -> web.Response:
    account = account_of(call)
    certificate = account.certificates.get(call.params["name"].lower())
    if certificate is None:
        raise child_missing(call, "certificates")
    return web.json_response(certificate_body(account, certificate))


def _delete_certificate(call: ArmCall) -> web.Response:
    account = account_of(call)
    if account.certificates.pop(call.params["name"].lower(), None) is None:
        raise child_missing(call, "certificates")
    return web.Response(status=200)


def _list_certificates(call: ArmCall) -> web.Response:
    account = account_of(call)
    return call.page(certificate_body(account, certificate) for certificate in account.certificates.values())


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


def _put_connection(call: ArmCall) -> web.Response:
    account, now = account_of(call), call.now
    properties = call.body.get("properties") or {}
    connection_type = call.required(properties.get("connectionType") or {}, "name", "properties.connectionType")
    existing = account.connections.get(call.params["name"].lower())
    connection = Connection(
        name=existing.name if existing else call.params["name"],
        connection_type=connection_type,
        field_values={str(k): str(v) for k, v in (properties.get("fieldDefinitionValues") or {}).items()},
        created=existing.created if existing else now,
        modified=now,
        description=properties.get("description") or "",
    )
    account.connections[connection.name.lower()] = connection
    return web.json_response(connection_body(account, connection), status=200 if existing else 201)


def _get_connection(call: ArmCall) -> web.Response:
    account = account_of(call)
    connection = account.connections.get(call.params["name"].lower())
    if connection is None:
        raise child_missing(call, "connections")
    return web.json_response(connection_body(account, connection))


def _delete_connection(call: ArmCall) -> web.Response:
    account = account_of(call)
    if account.connections.pop(call.params["name"].lower(), None) is None:
        raise child_missing(call, "connections")
    return web.Response(status=200)


def _list_connections(call: ArmCall) -> web.Response:
    account = account_of(call)
    return call.page(connection_body(account, connection) for connection in account.connections.values())
