"""Site Recovery operations the operator started, followed from pass to pass (and process to process)
through the policy's `status.operations`.

A mapping update runs for minutes in Site Recovery. Like Azure Service Operator's resume token, the address
Azure gave for it (`Azure-AsyncOperation`), the mapping, what was asked and when are written to status by
the pass that sent it; every later pass, in this process or in a successor after a crash, polls that address
instead of sending the update again, and no pass waits for it. So there is never a second update in flight
for one mapping, and a pass takes milliseconds however long Site Recovery takes.

Once an operation ended its record stays (one per mapping, replaced by that mapping's next update, dropped
with the mapping) as the mapping's last update: `desired.assess` reads from it when a mapping with a health
error may be set again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from asr_autoupdate.api.conditions import timestamp
from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import AzureError, NotFoundError, OperationFailedError, TransientError
from asr_autoupdate.azure.wire import parse_time
from asr_autoupdate.reconcile.model import ActionResult, MappingOperation, UpdateMapping

log = logging.getLogger(__name__)

STATUS_KEY = "operations"
DEFAULT_POLL = 30.0  # Site Recovery's own Retry-After, when an answer carries none
# An operation that still reads as running after this long is no longer waited on: the mapping is judged
# afresh (and, if Site Recovery is in truth still busy, a new update is refused with a 409 and waited on).
GIVE_UP_AFTER = timedelta(hours=1)
POLL_SLACK = 1.0  # a pass this close to a poll's time polls now rather than coming back for it
ABANDONED = "NotFollowed"  # the result recorded for an operation given up on, or that Azure no longer knows


@dataclasses.dataclass(frozen=True)
class Followed:
    """The records after one round of polls: `ended` are the operations that ended in this pass, `failed`
    the refusals among them (as results of the update they were), `poll_after` the soonest next poll."""

    records: tuple[MappingOperation, ...]
    ended: tuple[MappingOperation, ...] = ()
    failed: tuple[ActionResult, ...] = ()
    poll_after: float | None = None

    @property
    def in_flight(self) -> frozenset[str]:
        return frozenset(record.mapping for record in self.records if record.in_flight)

    @property
    def last_updates(self) -> dict[str, datetime]:
        """Mapping -> when its last update ended."""
        return {record.mapping: record.finished for record in self.records if record.finished is not None}


def load(status: Mapping[str, Any]) -> list[MappingOperation]:
    """The records a previous pass wrote; an entry that does not read as one is dropped (and logged), never
    allowed to fail the pass: status is written by the operator but others may edit it."""
    records = []
    for entry in status.get(STATUS_KEY) or ():
        record = _record(entry)
        if record is None:
            log.warning("ignoring an unreadable entry in status.%s", STATUS_KEY)
            continue
        records.append(record)
    return records


def dump(records: Iterable[MappingOperation]) -> list[dict[str, Any]] | None:
    """The records as status shows them; None (the key removed) when there are none."""
    entries = [_entry(record) for record in sorted(records, key=lambda r: r.mapping)]
    return entries or None


def started(action: UpdateMapping, update: port.MappingUpdate, now: datetime) -> MappingOperation | None:
    """The record of an update Azure accepted; None when Azure finished it in its answer."""
    if update.status_url is None:
        return None
    return MappingOperation(
        mapping=action.mapping.name,
        mapping_id=action.mapping.id,
        status_url=update.status_url,
        requested=requested(action),
        started=now,
        retry_after=update.retry_after,
    )


def requested(action: UpdateMapping) -> dict[str, str]:
    asked = {"agentAutoUpdateStatus": action.status}
    if action.automation_account_id:
        asked["automationAccountArmId"] = action.automation_account_id
    if action.authentication_type:
        asked["automationAccountAuthenticationType"] = action.authentication_type
    return asked


def merge(records: Iterable[MappingOperation], results: Sequence[ActionResult]) -> list[MappingOperation]:
    """The records after this pass's actions: a mapping's new operation replaces its last one."""
    by_mapping = {record.mapping: record for record in records}
    for result in results:
        if result.operation is not None:
            by_mapping[result.operation.mapping] = result.operation
    return list(by_mapping.values())


def keep_known(records: Iterable[MappingOperation], mappings: Iterable[port.Mapping] | None) -> list[MappingOperation]:
    """Ended records of mappings that are gone are dropped; `mappings` None (not read) keeps them all."""
    if mappings is None:
        return list(records)
    names = {mapping.name for mapping in mappings}
    return [record for record in records if record.in_flight or record.mapping in names]


async def follow(
    azure: port.AzurePort, vault: port.VaultRef, records: Sequence[MappingOperation], now: datetime
) -> Followed:
    """Poll each operation still in flight whose Retry-After has passed (one GET each; none waits); a pass that
    comes sooner (a role still waiting for its identity, say) leaves the others unasked."""
    kept: list[MappingOperation] = []
    ended: list[MappingOperation] = []
    failed: list[ActionResult] = []
    polls: list[float] = []
    for record in records:
        if not record.in_flight:
            kept.append(record)
            continue
        if (due := record.poll_due(now)) > POLL_SLACK:
            kept.append(record)
            polls.append(due)
            continue
        outcome = await _poll(azure, vault, record, now)
        if outcome.in_flight:
            polls.append(outcome.retry_after or DEFAULT_POLL)
        else:
            ended.append(outcome)
            if outcome.error_code is not None:
                failed.append(_refusal(outcome))
        kept.append(outcome)
    return Followed(tuple(kept), tuple(ended), tuple(failed), min(polls, default=None))


async def _poll(
    azure: port.AzurePort, vault: port.VaultRef, record: MappingOperation, now: datetime
) -> MappingOperation:
    try:
        answer = await azure.get_operation_status(vault, record.status_url)
    except NotFoundError:
        log.info("Site Recovery no longer knows the update of mapping %s; judging the mapping afresh", record.mapping)
        return dataclasses.replace(record, finished=now, result=ABANDONED)
    except TransientError as error:
        log.info("could not poll the update of mapping %s (%s); polling again later", record.mapping, error.code)
        return dataclasses.replace(record, retry_after=error.delay, polled=now)
    except AzureError as error:
        log.warning("not following the update of mapping %s any more: %s", record.mapping, error.code or error)
        return dataclasses.replace(record, finished=now, result=ABANDONED)
    if answer.succeeded:
        return dataclasses.replace(record, finished=now, result=answer.status)
    if answer.failed:
        code = answer.error_code or answer.status
        return dataclasses.replace(record, finished=now, result=answer.status, error_code=code)
    if now - record.started >= GIVE_UP_AFTER:
        log.warning(
            "the update of mapping %s still reads %s after %s; no longer waiting on it",
            record.mapping,
            answer.status,
            GIVE_UP_AFTER,
        )
        return dataclasses.replace(record, finished=now, result=ABANDONED)
    return dataclasses.replace(record, retry_after=answer.retry_after, polled=now)


def _refusal(record: MappingOperation) -> ActionResult:
    """An operation that ended Failed, as the result of the update it was (so it reports MappingUpdateFailed)."""
    asked = record.requested
    action = UpdateMapping(
        port.Mapping(
            id=record.mapping_id,
            name=record.mapping,
            instance_type="A2A",
            state=None,
            auto_update=None,
            automation_account_id=None,
            authentication_type=None,
            schedule_name=None,
            job_schedule_name=None,
        ),
        enabled=asked.get("agentAutoUpdateStatus") == "Enabled",
        automation_account_id=asked.get("automationAccountArmId"),
        authentication_type=asked.get("automationAccountAuthenticationType"),
    )
    error = OperationFailedError(f"the Site Recovery operation ended {record.result}", code=record.error_code or "")
    return ActionResult(action, changed=False, error=error)


def _record(entry: object) -> MappingOperation | None:
    if not isinstance(entry, Mapping):
        return None
    mapping, mapping_id, url = entry.get("mapping"), entry.get("mappingId"), entry.get("statusUrl")
    began = parse_time(entry.get("started"))
    asked = entry.get("requested") or {}
    if not (isinstance(mapping, str) and isinstance(mapping_id, str) and isinstance(url, str) and began):
        return None
    if not isinstance(asked, Mapping):
        return None
    retry_after = entry.get("retryAfterSeconds")
    return MappingOperation(
        mapping=mapping,
        mapping_id=mapping_id,
        status_url=url,
        requested={str(key): str(value) for key, value in asked.items()},
        started=began,
        retry_after=float(retry_after) if isinstance(retry_after, (int, float)) else None,
        polled=parse_time(entry.get("polled")),
        finished=parse_time(entry.get("finished")),
        result=str(entry["result"]) if entry.get("result") else None,
        error_code=str(entry["errorCode"]) if entry.get("errorCode") else None,
    )


def _entry(record: MappingOperation) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "mapping": record.mapping,
        "mappingId": record.mapping_id,
        "statusUrl": record.status_url,
        "requested": dict(record.requested),
        "started": timestamp(record.started),
        "retryAfterSeconds": int(record.retry_after) if record.retry_after is not None else None,
        "polled": timestamp(record.polled) if record.polled and record.in_flight else None,
        "finished": timestamp(record.finished) if record.finished else None,
        "result": record.result,
        "errorCode": record.error_code,
    }
    return {key: value for key, value in entry.items() if value is not None}
