"""Carry out planned actions, each safe to repeat after a crash at any point.

Creating looks first (no second account or role assignment when a pass died between the call and the
status write), updates are idempotent puts, and deletes treat "already gone" as done. A mapping update is a
long-running operation in Site Recovery: it is sent and not waited on; its record (`operations.started`)
goes to status, and later passes follow it. A mapping Site Recovery is still busy with (a 409, say from an
update someone started in the portal) is waited on the same way, without a record. Errors are recorded per
action; a throttled or unauthenticated call ends the batch, because every following call would meet the
same answer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from asr_autoupdate.api.reasons import RetryKind
from asr_autoupdate.azure.errors import AzureError, ConflictError, NotFoundError
from asr_autoupdate.azure.port import AzurePort
from asr_autoupdate.reconcile import desired, operations
from asr_autoupdate.reconcile.model import (
    Action,
    ActionResult,
    CreateAccount,
    DeleteAccount,
    EnableIdentity,
    GrantRole,
    PauseSchedule,
    RevokeRole,
    RewriteSchedule,
    UpdateMapping,
)


async def act(azure: AzurePort, actions: Sequence[Action], now: datetime) -> list[ActionResult]:
    """Run `actions` in order and say how each went."""
    results = []
    for action in actions:
        try:
            result = await _perform(action, azure, now)
        except AzureError as error:
            result = ActionResult(action, changed=False, error=error)
        results.append(result)
        if result.error is not None and result.error.halts_batch:
            break
    return results


@functools.singledispatch
async def _perform(action: Action, azure: AzurePort, now: datetime) -> ActionResult:
    raise TypeError(f"no way to perform {type(action).__name__}")


@_perform.register
async def _create_account(action: CreateAccount, azure: AzurePort, now: datetime) -> ActionResult:
    if await azure.get_automation_account(action.account) is not None:
        return ActionResult(action, changed=False)
    await azure.put_automation_account(action.account, location=action.location, tags=dict(action.tags))
    return ActionResult(action, changed=True)


@_perform.register
async def _enable_identity(action: EnableIdentity, azure: AzurePort, now: datetime) -> ActionResult:
    await azure.put_automation_account(action.account, location=action.location, tags=dict(action.tags))
    return ActionResult(action, changed=True)


@_perform.register
async def _grant_role(action: GrantRole, azure: AzurePort, now: datetime) -> ActionResult:
    """Look first; a forced grant (repair) puts the assignment anyway, which Azure answers idempotently."""
    held = desired.has_vault_access(tuple(await azure.list_role_assignments(action.scope, action.principal_id)))
    if held and not action.force:
        return ActionResult(action, changed=False)
    await azure.create_role_assignment(action.scope, action.principal_id, action.role_guid)
    return ActionResult(action, changed=not held)


@_perform.register
async def _update_mapping(action: UpdateMapping, azure: AzurePort, now: datetime) -> ActionResult:
    try:
        update = await azure.begin_mapping_update(
            action.mapping,
            enabled=action.enabled,
            automation_account_id=action.automation_account_id,
            authentication_type=action.authentication_type,
        )
    except AzureError as error:
        if isinstance(error, ConflictError) or error.kind is RetryKind.WAIT:
            return ActionResult(action, changed=False, pending=True, error=None)  # busy: wait, do not fail
        raise
    operation = operations.started(action, update, now)
    return ActionResult(action, changed=True, pending=operation is not None, operation=operation)


@_perform.register
async def _rewrite_schedule(action: RewriteSchedule, azure: AzurePort, now: datetime) -> ActionResult:
    await azure.put_schedule(action.account, action.schedule)
    return ActionResult(action, changed=True)


@_perform.register
async def _set_schedule_enabled(action: PauseSchedule, azure: AzurePort, now: datetime) -> ActionResult:
    """PauseSchedule and ResumeSchedule (its subclass) alike: PATCH isEnabled, idempotent."""
    await azure.set_schedule_enabled(action.account, action.schedule_name, enabled=action.enabled)
    return ActionResult(action, changed=True)


@_perform.register
async def _delete_account(action: DeleteAccount, azure: AzurePort, now: datetime) -> ActionResult:
    try:
        await azure.delete_automation_account(action.account)
    except NotFoundError:
        return ActionResult(action, changed=False)
    return ActionResult(action, changed=True)


@_perform.register
async def _revoke_role(action: RevokeRole, azure: AzurePort, now: datetime) -> ActionResult:
    try:
        await azure.delete_role_assignment(action.assignment.id)
    except NotFoundError:
        return ActionResult(action, changed=False)
    return ActionResult(action, changed=True)
