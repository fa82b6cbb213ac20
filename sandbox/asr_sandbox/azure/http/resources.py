"""Microsoft.Resources: resource groups, the parents every other resource is looked up under.

The seeded estate brings its resource groups along; a PUT may add one, for tests that need a fresh group.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..state.tenant import ResourceGroup
from .arm import ArmCall, Router

RESOURCE_GROUP = "/subscriptions/{sub}/resourcegroups/{rg}"


def register(router: Router) -> None:
    """Only what the operator and the tests touch: get a group, add one."""
    router.add("GET", RESOURCE_GROUP, _get_resource_group)
    router.add("PUT", RESOURCE_GROUP, _put_resource_group)


def _resource_group_body(subscription_id: str, name: str, location: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{subscription_id}/resourceGroups/{name}",
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "tags": tags,
        "properties": {"provisioningState": "Succeeded"},
    }


def _get_resource_group(call: ArmCall) -> web.Response:
    group = call.world.state.resource_group(call.params["sub"], call.params["rg"])
    return web.json_response(_resource_group_body(call.params["sub"], group.name, group.location, group.tags))


def _put_resource_group(call: ArmCall) -> web.Response:
    """An existing group keeps its location; only its tags change."""
    subscription = call.world.state.subscription(call.params["sub"])
    location = call.required(call.body, "location", where="body")
    existing = subscription.resource_groups.get(call.params["rg"].lower())
    group = existing or ResourceGroup(call.params["rg"], location)
    group.tags = call.body.get("tags") or group.tags
    subscription.resource_groups[group.name.lower()] = group
    return web.json_response(
        _resource_group_body(subscription.subscription_id, group.name, group.location, group.tags),
        status=200 if existing else 201,
    )
