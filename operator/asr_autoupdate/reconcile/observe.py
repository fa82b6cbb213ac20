"""Read what Azure says is true for one policy. Changes nothing.

A failed read does not end the pass: it is recorded in `Observation.failures` and the rest is still read, so
the report can say precisely what could not be seen while every other condition stays accurate. Reads that
do not depend on each other run concurrently; the port's throttle keeps the subscription's budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from asr_autoupdate.api.spec import PolicySpec
from asr_autoupdate.azure.errors import AzureError
from asr_autoupdate.azure.port import RUN_AS_CERTIFICATE, RUN_AS_CONNECTION, SITE_RECOVERY_RUNBOOK, AzurePort
from asr_autoupdate.reconcile.model import Observation, Part
from asr_autoupdate.reconcile.timing import month_start

_Value = TypeVar("_Value")


async def observe(azure: AzurePort, spec: PolicySpec, now: datetime) -> Observation:
    """One consistent-enough picture of the vault, its automation account and everything hanging off them."""
    failures: dict[Part, AzureError] = {}

    async def read(part: Part, call: Callable[..., Awaitable[_Value]], *args: Any, **kwargs: Any) -> _Value | None:
        try:
            return await call(*args, **kwargs)
        except AzureError as error:
            failures[part] = error
            return None

    async def nothing() -> None:
        return None

    vault, account = await asyncio.gather(
        read(Part.VAULT, azure.get_vault, spec.vault),
        read(Part.AUTOMATION_ACCOUNT, azure.get_automation_account, spec.automation_account),
    )
    if vault is None:
        return Observation(automation_account=account, failures=failures)

    ref = spec.automation_account
    run_as = account is not None and not spec.uses_identity
    reads = await asyncio.gather(
        read(Part.MAPPINGS, azure.list_mappings, spec.vault),
        read(Part.PROTECTED_ITEMS, azure.list_protected_items, spec.vault),
        read(Part.ROLE_ASSIGNMENTS, azure.list_role_assignments, vault.id, account.principal_id)
        if account is not None and account.principal_id
        else nothing(),
        read(Part.SCHEDULES, azure.list_schedules, ref) if account else nothing(),
        read(Part.JOB_SCHEDULES, azure.list_job_schedules, ref) if account else nothing(),
        read(Part.RUN_AS_CERTIFICATE, azure.get_certificate, ref, RUN_AS_CERTIFICATE) if run_as else nothing(),
        read(Part.RUN_AS_CONNECTION, azure.get_connection, ref, RUN_AS_CONNECTION) if run_as else nothing(),
        read(Part.JOBS, azure.list_jobs, ref, runbook_name=SITE_RECOVERY_RUNBOOK, since=month_start(now))
        if account
        else nothing(),
    )
    mappings, protected_items, role_assignments, schedules, job_schedules, certificate, connection, jobs = reads
    return Observation(
        vault=vault,
        automation_account=account,
        role_assignments=tuple(role_assignments or ()),
        mappings=tuple(mappings or ()),
        schedules=tuple(schedules or ()),
        job_schedules=tuple(job_schedules or ()),
        run_as_certificate=certificate,
        run_as_connection=connection,
        protected_items=tuple(protected_items or ()),
        jobs=tuple(jobs or ()),
        failures=failures,
    )
