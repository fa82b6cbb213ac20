"""Read what Azure says is true for one policy. Changes nothing.

A failed read does not end the pass: it is recorded in `Observation.failures` and the rest is still read, so
the report can say precisely what could not be seen while every other condition stays accurate. Reads that
do not depend on each other run concurrently; the port's throttle keeps the subscription's budget.

Reads are economical. `observe` can take an `earlier` observation and read again only the parts named in
`fresh`, taking the others over as they were (with their read time and any failure):

* between the rounds of one pass, `fresh` is what the actions just changed (`Action.touches`), so fixing
  one mapping does not read the protected items, the jobs or the vault again;
* between passes, `fresh` is every part that decides what to change (`FAST_PARTS`), while the informational
  `SLOW_PARTS` are read again only when they are `max_age` seconds old (the drift interval): the protected
  items then, and the jobs only if something could have added one, that is a job was still running at the
  last read, or one of the account's schedules has run since (its next run moved), or a month began.

So a steady-state drift check of a vault in identity mode costs seven reads (vault, account, mappings,
protected items, the identity's role assignments, schedules, job schedules), plus the jobs list once after
each scheduled run, plus the two Run As assets for a Run As account. The vault's fabrics (each mapping's
source region) are read only for a schedule without a time zone, and then once: they never change.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from asr_autoupdate.api.spec import PolicySpec
from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import AzureError
from asr_autoupdate.azure.port import RUN_AS_CERTIFICATE, RUN_AS_CONNECTION, SITE_RECOVERY_RUNBOOK, AzurePort
from asr_autoupdate.reconcile.desired import needs_source_regions
from asr_autoupdate.reconcile.model import ACCOUNT_PARTS, FAST_PARTS, Observation, Part
from asr_autoupdate.reconcile.timing import month_start

_Value = TypeVar("_Value")

_FIELDS = {
    Part.VAULT: "vault",
    Part.AUTOMATION_ACCOUNT: "automation_account",
    Part.ROLE_ASSIGNMENTS: "role_assignments",
    Part.MAPPINGS: "mappings",
    Part.SCHEDULES: "schedules",
    Part.JOB_SCHEDULES: "job_schedules",
    Part.RUN_AS_CERTIFICATE: "run_as_certificate",
    Part.RUN_AS_CONNECTION: "run_as_connection",
    Part.PROTECTED_ITEMS: "protected_items",
    Part.JOBS: "jobs",
    Part.FABRICS: "fabrics",
}


async def observe(
    azure: AzurePort,
    spec: PolicySpec,
    now: datetime,
    *,
    earlier: Observation | None = None,
    fresh: Collection[Part] = FAST_PARTS,
    max_age: float | None = None,
) -> Observation:
    """One consistent-enough picture of the vault, its automation account and everything hanging off them.

    Without `earlier` every part is read. With it, a part is read again when it is in `fresh` (a part of the
    account is also read again when the account is), and a slow part when it is `max_age` seconds old
    (default: the spec's drift interval) and may have changed; every other part is taken over.
    """
    reuse = _Reuse(
        spec, now, earlier, frozenset(fresh), spec.drift_check_interval_seconds if max_age is None else max_age
    )
    failures: dict[Part, AzureError] = {}
    read_at: dict[Part, datetime] = {}

    async def read(part: Part, call: Callable[..., Awaitable[_Value]], *args: Any, **kwargs: Any) -> _Value | None:
        if reuse.keeps(part):
            taken: _Value | None = reuse.take(part, failures, read_at)
            return taken
        try:
            value = await call(*args, **kwargs)
        except AzureError as error:
            failures[part] = error
            return None
        read_at[part] = now
        return value

    async def nothing() -> None:
        return None

    vault, account = await asyncio.gather(
        read(Part.VAULT, azure.get_vault, spec.vault),
        read(Part.AUTOMATION_ACCOUNT, azure.get_automation_account, spec.automation_account),
    )
    if vault is None:
        return Observation(automation_account=account, failures=failures, read_at=read_at)
    reuse.seen(vault, account)

    ref = spec.automation_account
    run_as = account is not None and not spec.uses_identity

    async def mappings_then_schedules() -> tuple[
        list[port.Mapping] | None, list[port.Schedule] | None, list[port.JobSchedule] | None
    ]:
        """The schedules are read once the mappings are in: a mapping that names a schedule Site Recovery made
        when its operation ended was read before the schedules were, so that schedule is in the list. Read side
        by side, an operation ending between the two reads showed up as a missing schedule (ScheduleNotFound)."""
        found = await read(Part.MAPPINGS, azure.list_mappings, spec.vault)
        if not account:
            return found, None, None
        listed, linked = await asyncio.gather(
            read(Part.SCHEDULES, azure.list_schedules, ref), read(Part.JOB_SCHEDULES, azure.list_job_schedules, ref)
        )
        return found, listed, linked

    (
        (mappings, schedules, job_schedules),
        protected_items,
        role_assignments,
        certificate,
        connection,
    ) = await asyncio.gather(
        mappings_then_schedules(),
        read(Part.PROTECTED_ITEMS, azure.list_protected_items, spec.vault),
        read(Part.ROLE_ASSIGNMENTS, azure.list_role_assignments, vault.id, account.principal_id)
        if account is not None and account.principal_id
        else nothing(),
        read(Part.RUN_AS_CERTIFICATE, azure.get_certificate, ref, RUN_AS_CERTIFICATE) if run_as else nothing(),
        read(Part.RUN_AS_CONNECTION, azure.get_connection, ref, RUN_AS_CONNECTION) if run_as else nothing(),
    )
    fabrics = (
        await read(Part.FABRICS, azure.list_fabrics, spec.vault)
        if needs_source_regions(spec) and not reuse.knows_fabrics_of(mappings)
        else reuse.fabrics
    )
    # the jobs come last: whether they can have changed is judged on the schedules just read
    reuse.schedules_now(None if Part.SCHEDULES in failures else schedules)
    marks = reuse.jobs_schedule_marks if reuse.keeps(Part.JOBS) else _marks(schedules, Part.SCHEDULES in failures)
    jobs = (
        await read(Part.JOBS, azure.list_jobs, ref, runbook_name=SITE_RECOVERY_RUNBOOK, since=month_start(now))
        if account
        else None
    )
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
        fabrics=tuple(fabrics or ()),
        failures=failures,
        read_at=read_at,
        jobs_schedule_marks=marks if account and Part.JOBS not in failures else None,
    )


def touched(actions: Collection[Any]) -> frozenset[Part]:
    """The parts to read again after `actions` (objects with `touches`, or results with an `action`) ran."""
    parts: set[Part] = set()
    for entry in actions:
        action = getattr(entry, "action", entry)
        parts |= action.touches
    return frozenset(parts)


def _marks(schedules: Collection[port.Schedule] | None, unread: bool) -> tuple[tuple[str, datetime | None], ...] | None:
    if unread:
        return None
    return tuple(sorted((schedule.name.lower(), schedule.next_run) for schedule in schedules or ()))


@dataclasses.dataclass
class _Reuse:
    """Decides, part by part, whether `earlier` still answers for it."""

    spec: PolicySpec
    now: datetime
    earlier: Observation | None
    fresh: frozenset[Part]
    max_age: float
    vault: port.Vault | None = None
    account: port.AutomationAccount | None = None
    schedule_marks: tuple[tuple[str, datetime | None], ...] | None = None

    def seen(self, vault: port.Vault, account: port.AutomationAccount | None) -> None:
        self.vault, self.account = vault, account

    def schedules_now(self, schedules: Collection[port.Schedule] | None) -> None:
        self.schedule_marks = _marks(schedules, schedules is None)

    @property
    def jobs_schedule_marks(self) -> tuple[tuple[str, datetime | None], ...] | None:
        return self.earlier.jobs_schedule_marks if self.earlier else None

    @property
    def fabrics(self) -> tuple[port.Fabric, ...]:
        return self.earlier.fabrics if self.earlier and self._same_vault() else ()

    def knows_fabrics_of(self, mappings: Collection[port.Mapping] | None) -> bool:
        """Fabrics never change: the earlier list serves while it names every mapping's source fabric."""
        known = {fabric.name.lower() for fabric in self.fabrics}
        return bool(known) and all((m.fabric_name or "").lower() in known for m in mappings or ())

    def _same_vault(self) -> bool:
        earlier = self.earlier
        return (
            earlier is not None
            and earlier.vault is not None
            and self.vault is not None
            and port.same_id(earlier.vault.id, self.vault.id)
        )

    def keeps(self, part: Part) -> bool:
        earlier = self.earlier
        if earlier is None or part is Part.FABRICS:  # fabrics: `knows_fabrics_of` decides before the read
            return False
        if part in FAST_PARTS:
            if part in self.fresh:
                return False
            if part in ACCOUNT_PARTS and Part.AUTOMATION_ACCOUNT in self.fresh:
                return False
            return part is Part.VAULT or earlier.vault is not None
        if part not in earlier.read_at or not self._same_subject(part):
            return False  # never read, failed last time, or read for another vault or account
        age = (self.now - earlier.read_at[part]).total_seconds()
        if age < self.max_age:
            return True
        return part is Part.JOBS and not self._jobs_may_have_changed()

    @property
    def _kept(self) -> Observation:
        """The earlier observation, where `keeps` has already found there is one."""
        if self.earlier is None:
            raise AssertionError("asked about an earlier observation that does not exist")
        return self.earlier

    def _same_subject(self, part: Part) -> bool:
        earlier = self._kept
        if part in (Part.PROTECTED_ITEMS, Part.FABRICS):
            return self._same_vault()
        return (
            earlier.automation_account is not None
            and self.account is not None
            and port.same_id(earlier.automation_account.id, self.account.id)
        )

    def _jobs_may_have_changed(self) -> bool:
        earlier = self._kept
        if month_start(earlier.read_at[Part.JOBS]) != month_start(self.now):
            return True
        if any(job.end_time is None for job in earlier.jobs):
            return True
        return earlier.jobs_schedule_marks is None or earlier.jobs_schedule_marks != self.schedule_marks

    def take(self, part: Part, failures: dict[Part, AzureError], read_at: dict[Part, datetime]) -> Any:
        earlier = self._kept
        if part in earlier.failures:
            failures[part] = earlier.failures[part]
        if part in earlier.read_at:
            read_at[part] = earlier.read_at[part]
        return getattr(earlier, _FIELDS[part])
