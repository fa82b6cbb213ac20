"""Microsoft.Automation on ARM: accounts, and every collection under an account through one generic shape.

Runbooks, certificates, connections, schedules, job schedules and jobs all answer the same way: PUT creates
(201) or replaces (200), GET answers the asset or ARM's ResourceNotFound, DELETE removes it (where the service
has a DELETE), and the collection lists with Automation's `$skip` paging. What differs per kind (how a PUT body is read, what an
answer looks like, which `$filter` fields a list honours) is one `AssetKind` entry; the kinds themselves live
in `automation_assets` and `automation_schedules`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..state.automation import AutomationAccount, account_path
from ..state.errors import NotFound, resource_not_found
from ..state.tenant import Principal
from ..state.timestamps import iso
from .arm import ArmCall, Handler, Router, bad_request
from .odata import parse_filter

ACCOUNT = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Automation/automationAccounts/{account}"
RESOURCE_TYPE = "Microsoft.Automation/AutomationAccounts"


@dataclass(frozen=True)
class AssetKind:
    """One collection under an account (`{ACCOUNT}/{collection}/{name}`), as the generic handlers serve it."""

    collection: str
    # Where the account files assets of this kind (by lowercased name).
    assets: Callable[[AutomationAccount], dict[str, Any]]
    # The answer to GET and PUT.
    body: Callable[[AutomationAccount, Any], dict[str, Any]]
    # Read a PUT body and store the asset (`existing` is the one by that name, or None); return what was stored.
    put: Callable[[ArmCall, AutomationAccount, Any], Any]
    # Remove one by name, returning it (None when there was none); no `remove`, no DELETE.
    remove: Callable[[AutomationAccount, str], Any] | None = None
    # An extra PATCH on one asset, for the kinds whose service has it.
    patch: Handler | None = None
    # A list item, where it is leaner than the GET answer.
    list_body: Callable[[AutomationAccount, Any], dict[str, Any]] | None = None
    # The `$filter` fields a list honours (lowercased path -> value); None: `$filter` is ignored.
    filters: Mapping[str, Callable[[Any], Any]] | None = None
    # Lists come newest first by this key; None: in the order they were created.
    newest_first_by: Callable[[Any], Any] | None = None


def register(router: Router, kinds: Iterable[AssetKind]) -> None:
    """Accounts, then each kind's PUT, GET, DELETE (where the service has it), PATCH (likewise) and list."""
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
    for kind in kinds:
        one = f"{ACCOUNT}/{kind.collection}/{{name}}"
        router.add("PUT", one, _putter(kind))
        router.add("GET", one, _getter(kind))
        if kind.remove is not None:
            router.add("DELETE", one, _remover(kind))
        if kind.patch is not None:
            router.add("PATCH", one, kind.patch)
        router.add("GET", f"{ACCOUNT}/{kind.collection}", _lister(kind))


# ---- the generic handlers -------------------------------------------------------------------------


def _putter(kind: AssetKind) -> Handler:
    def put(call: ArmCall) -> web.Response:
        account = account_of(call)
        existing = kind.assets(account).get(call.params["name"].lower())
        stored = kind.put(call, account, existing)
        return web.json_response(kind.body(account, stored), status=200 if existing else 201)

    return put


def _getter(kind: AssetKind) -> Handler:
    def get(call: ArmCall) -> web.Response:
        account = account_of(call)
        return web.json_response(kind.body(account, asset_of(call, kind, account)))

    return get


def _remover(kind: AssetKind) -> Handler:
    assert kind.remove is not None
    remove = kind.remove

    def delete(call: ArmCall) -> web.Response:
        if remove(account_of(call), call.params["name"]) is None:
            raise child_missing(call, kind.collection)
        return web.Response(status=200)

    return delete


def _lister(kind: AssetKind) -> Handler:
    def list_all(call: ArmCall) -> web.Response:
        account = account_of(call)
        assets = list(kind.assets(account).values())
        if kind.newest_first_by is not None:
            assets.sort(key=kind.newest_first_by, reverse=True)
        if kind.filters is not None:
            assets = _filtered(call, kind.filters, assets)
        render = kind.list_body or kind.body
        return call.page_by_skip(render(account, asset) for asset in assets)

    return list_all


def _filtered(call: ArmCall, fields: Mapping[str, Callable[[Any], Any]], assets: list[Any]) -> list[Any]:
    """Only the assets every `$filter` clause holds for; a field the service does not filter on is refused."""
    clauses = parse_filter(call.query.get("$filter", ""))
    for clause in clauses:
        if clause.path not in fields:
            raise bad_request(f"The filter field '{clause.path or clause.function}' is not supported.", "InvalidFilter")
    return [asset for asset in assets if all(clause.holds(fields[clause.path or ""](asset)) for clause in clauses)]


def asset_of(call: ArmCall, kind: AssetKind, account: AutomationAccount) -> Any:
    """The asset a call names, or ARM's ResourceNotFound for a child of an existing account."""
    asset = kind.assets(account).get(call.params["name"].lower())
    if asset is None:
        raise child_missing(call, kind.collection)
    return asset


def child_missing(call: ArmCall, collection: str) -> NotFound:
    """ARM's ResourceNotFound for a child of an existing account."""
    return resource_not_found(
        f"Microsoft.Automation/automationAccounts/{call.params['account']}/{collection}/{call.params['name']}",
        call.params["rg"],
    )


def child_id(account: AutomationAccount, collection: str, name: str) -> str:
    """Child ids keep the account's creation casing."""
    return f"{account.id}/{collection}/{name}"


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
            "lastModifiedBy": account.last_modified_by,
            "description": account.description,
            "publicNetworkAccess": account.public_network_access,
            "disableLocalAuth": account.disable_local_auth,
            "encryption": {"keySource": "Microsoft.Automation", "identity": {}},
            "automationHybridServiceUrl": f"https://{uuid.uuid5(uuid.NAMESPACE_URL, account.id)}.jrds."
            f"{account.location}.azure-automation.net/automationAccounts/{uuid.uuid5(uuid.NAMESPACE_URL, account.id)}",
        },
    }


def modified_by(principal: Principal) -> str:
    """`lastModifiedBy` as Automation records it: Microsoft's examples show a user's sign-in name
    (`myEmailId@microsoft.com`); the emulator's users have none, so a user is named by object id, and an
    application or managed identity by its client id (as ARM's systemData names applications)."""
    if principal.kind != "User" and principal.client_id:
        return principal.client_id
    return principal.object_id


def _list_accounts(call: ArmCall) -> web.Response:
    state = call.world.state
    state.subscription(call.params["sub"])
    prefix = f"/subscriptions/{call.params['sub']}/resourcegroups/".lower()
    if "rg" in call.params:
        state.resource_group(call.params["sub"], call.params["rg"])
        prefix += call.params["rg"].lower() + "/"
    return call.page_by_skip(
        account_body(call, account) for key, account in state.accounts.items() if key.startswith(prefix)
    )


def _put_account(call: ArmCall) -> web.Response:
    state, now = call.world.state, call.now
    sub, rg, name = call.params["sub"], call.params["rg"], call.params["account"]
    group = state.resource_group(sub, rg)
    location = call.required(call.body, "location", where="body")
    properties = call.properties
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
    call.world.directory.set_system_identity(account, (call.body.get("identity") or {}).get("type"))
    account.modified = now
    account.last_modified_by = modified_by(call.principal)
    return web.json_response(account_body(call, account), status=201 if created else 200)


def _patch_account(call: ArmCall) -> web.Response:
    account = account_of(call)
    properties = call.properties
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
        call.world.directory.set_system_identity(account, (call.body.get("identity") or {}).get("type"))
    account.modified = call.now
    account.last_modified_by = modified_by(call.principal)
    return web.json_response(account_body(call, account))


def _delete_account(call: ArmCall) -> web.Response:
    """Deleting what is not there is a 204, as ARM answers; the account's managed identity goes with it."""
    state = call.world.state
    state.resource_group(call.params["sub"], call.params["rg"])
    account = state.accounts.pop(
        account_path(call.params["sub"], call.params["rg"], call.params["account"]).lower(), None
    )
    if account is None:
        return web.Response(status=204)
    call.world.directory.forget_identity(account)
    return web.Response(status=200)
