"""One reconcile for every cause (create, update, resume, drift timer, repair): observe -> plan -> act -> report.

The handler layer builds a `PolicyInput` from the object, calls `reconcile` (or `finalize` for the finalizer)
with an `AzurePort`, writes `Outcome.status` through `patch.status`, posts `Outcome.events` and then follows
`Outcome.retry`. Nothing here imports kopf or the Azure SDK.

A pass first polls the Site Recovery operations earlier passes started (`operations`, kept in
`status.operations`), then runs rounds of observe, plan and act until nothing is left to change, an action
fails or is still running in Azure, or `max_rounds` is reached; a fresh observation after the last round is
what the status describes. A mapping update is sent once and followed by later passes, never waited on, so a
new policy converges over a few short passes (create the account and grant the role; enable the mappings;
once Site Recovery has finished, rewrite the schedules it made), and a pass that dies half-way is simply
repeated: every action looks before it creates, and an update in flight is found in status, not sent again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime

from asr_autoupdate.api.reasons import Reason
from asr_autoupdate.api.spec import InvalidSpec, PolicySpec, parse_spec
from asr_autoupdate.azure.port import AzurePort
from asr_autoupdate.reconcile import desired, operations
from asr_autoupdate.reconcile.act import act
from asr_autoupdate.reconcile.model import (
    Action,
    ActionResult,
    Event,
    Observation,
    Outcome,
    Part,
    PolicyInput,
    Retry,
    UpdateMapping,
    Waiting,
)
from asr_autoupdate.reconcile.observe import observe, touched
from asr_autoupdate.reconcile.plan import cleanup_wanted, plan, plan_cleanup
from asr_autoupdate.reconcile.report import blocked, report, report_cleanup

__all__ = ["Event", "Outcome", "PolicyInput", "Retry", "blocked", "finalize", "reconcile"]

MAX_ROUNDS = 5

# (observation, first round?, the pass's results so far) -> actions
Planner = Callable[[Observation, bool, Sequence[ActionResult]], list[Action]]


async def reconcile(
    azure: AzurePort,
    policy: PolicyInput,
    now: datetime,
    *,
    max_rounds: int = MAX_ROUNDS,
    conflict: str | None = None,
    earlier: Observation | None = None,
    drift_interval_override: float | None = None,
) -> Outcome:
    """Bring Azure to the policy's spec (or, in Observe mode, only look) and say how it went.

    `conflict` is `<namespace>/<name>` of another policy that already owns the vault: then Azure is not
    touched at all. A new repair token makes the first round re-apply mappings and the role (a repair pass).
    `earlier` is the previous pass's `Outcome.observation`: its protected items and jobs are used again until
    they are a drift interval old; a repair pass reads everything. `drift_interval_override` (the operator's
    `--drift-interval-override`) replaces the spec's drift interval, here once, for everything downstream.
    """
    try:
        spec = parse_spec(policy.spec, namespace=policy.namespace, name=policy.name)
    except InvalidSpec as problem:
        return blocked(policy, now, Reason.INVALID_SPEC, problem=str(problem))
    if drift_interval_override:
        spec = dataclasses.replace(spec, drift_check_interval_seconds=drift_interval_override)
    if conflict is not None:
        return blocked(
            policy,
            now,
            Reason.POLICY_CONFLICT,
            recheck_after=spec.drift_check_interval_seconds,
            vault=spec.vault.name,
            owner=conflict,
        )
    repairing = policy.repair_requested and not spec.observe_only
    restored: set[str] = set()  # each mapping is set again at most once a pass for a missing schedule
    followed = await operations.follow(azure, spec.vault, operations.load(policy.status), now)

    latest: list[desired.Assessment] = []  # one assessment per observation: plan's last one serves report

    def assess(observation: Observation, results: Sequence[ActionResult]) -> desired.Assessment:
        return desired.assess(
            spec,
            observation,
            updating=followed.in_flight | _waiting_on(results),
            last_updates=followed.last_updates,
            now=now,
        )

    def planner(observation: Observation, first: bool, results: Sequence[ActionResult]) -> list[Action]:
        assessment = assess(observation, results)
        latest[:] = [assessment]
        restore = assessment.schedules_missing - restored
        actions = plan(assessment, now, force=repairing and first, restore=restore)
        restored.update(a.mapping.name for a in actions if isinstance(a, UpdateMapping) and a.mapping.name in restore)
        return actions

    rounds = 0 if spec.observe_only else max_rounds
    earlier = None if repairing else earlier
    observation, remaining, results = await _converge(azure, spec, now, planner, rounds, earlier)
    final = latest[0] if latest and latest[0].observation is observation else assess(observation, results)
    records = operations.merge(followed.records, results)
    waiting = _waiting(followed, results)
    outcome = report(
        policy,
        final,
        remaining,
        [*followed.failed, *results],
        now,
        repaired=repairing,
        updating=waiting,
    )
    known = None if Part.MAPPINGS in observation.failures else observation.mappings
    outcome.status[operations.STATUS_KEY] = operations.dump(operations.keep_known(records, known))
    return dataclasses.replace(outcome, observation=observation)


def _waiting_on(results: Sequence[ActionResult]) -> set[str]:
    """Mappings this pass left to Site Recovery: an update sent, or one refused because another runs."""
    return {
        result.action.mapping.name for result in results if result.pending and isinstance(result.action, UpdateMapping)
    }


def _waiting(followed: operations.Followed, results: Sequence[ActionResult]) -> Waiting:
    """What the pass waits on in Site Recovery, and how soon to look again (Azure's Retry-After)."""
    names = followed.in_flight | _waiting_on(results)
    polls = [followed.poll_after] if followed.poll_after is not None else []
    polls += [
        (result.operation.retry_after if result.operation else None) or operations.DEFAULT_POLL
        for result in results
        if result.pending
    ]
    return Waiting(frozenset(names), min(polls, default=None))


async def finalize(
    azure: AzurePort, policy: PolicyInput, now: datetime, *, max_rounds: int = MAX_ROUNDS, conflict: str | None = None
) -> Outcome:
    """Apply the deletion policy before the object goes. `retry` None means done: remove the finalizer.

    Orphan (and Observe mode, and a policy that never owned the vault) leave Azure alone; Disable turns
    auto-update off on every mapping; Delete also removes the role assignment and the account, but only an
    account this policy created. An invalid spec keeps the finalizer: the deletion policy the user asked for
    is not silently skipped.
    """
    try:
        spec = parse_spec(policy.spec, namespace=policy.namespace, name=policy.name)
    except InvalidSpec as problem:
        return blocked(policy, now, Reason.INVALID_SPEC, problem=str(problem))
    if conflict is not None or not cleanup_wanted(spec):
        return Outcome(status={})
    followed = await operations.follow(azure, spec.vault, operations.load(policy.status), now)

    def planner(observation: Observation, first: bool, results: Sequence[ActionResult]) -> list[Action]:
        return plan_cleanup(spec, observation, followed.in_flight | _waiting_on(results))

    observation, remaining, results = await _converge(azure, spec, now, planner, max_rounds)
    outcome = report_cleanup(
        policy, observation, remaining, [*followed.failed, *results], now, updating=_waiting(followed, results)
    )
    if outcome.retry is not None:
        outcome.status[operations.STATUS_KEY] = operations.dump(operations.merge(followed.records, results))
    return outcome


async def _converge(
    azure: AzurePort,
    spec: PolicySpec,
    now: datetime,
    planner: Planner,
    max_rounds: int,
    earlier: Observation | None = None,
) -> tuple[Observation, list[Action], list[ActionResult]]:
    """Rounds of act, observe again, plan again; stops when nothing is left, an action failed or is still
    running in Azure (planning it again would only collide with it), or after `max_rounds`. After a round
    only what its actions touched is read again."""
    observation = await observe(azure, spec, now, earlier=earlier)
    results: list[ActionResult] = []
    actions = planner(observation, True, results)
    for _ in range(max_rounds):
        if not actions:
            break
        batch = await act(azure, actions, now)
        results.extend(batch)
        observation = await observe(azure, spec, now, earlier=observation, fresh=touched(batch))
        actions = planner(observation, False, results)
        if any(result.failed or result.pending for result in batch):
            break
    return observation, actions, results
