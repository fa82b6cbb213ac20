"""One reconcile for every cause (create, update, resume, drift timer, repair): observe -> plan -> act -> report.

The handler layer builds a `PolicyInput` from the object, calls `reconcile` (or `finalize` for the finalizer)
with an `AzurePort`, writes `Outcome.status` through `patch.status`, posts `Outcome.events` and then follows
`Outcome.retry`. Nothing here imports kopf or the Azure SDK.

A pass runs rounds of observe, plan and act until nothing is left to change, an action fails or is still
running in Azure, or `max_rounds` is reached; a fresh observation after the last round is what the status
describes. So a new policy usually converges in one pass (create the account; grant the role and enable the
mappings; rewrite the schedules Site Recovery just made; see nothing left), and a pass that dies half-way is
simply repeated: every action looks before it creates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from asr_autoupdate.api.reasons import Reason
from asr_autoupdate.api.spec import InvalidSpec, PolicySpec, parse_spec
from asr_autoupdate.azure.port import AzurePort
from asr_autoupdate.reconcile import desired
from asr_autoupdate.reconcile.act import act
from asr_autoupdate.reconcile.model import (
    Action,
    ActionResult,
    Event,
    Observation,
    Outcome,
    PolicyInput,
    Retry,
    UpdateMapping,
)
from asr_autoupdate.reconcile.observe import observe, touched
from asr_autoupdate.reconcile.plan import cleanup_wanted, plan, plan_cleanup
from asr_autoupdate.reconcile.report import blocked, report, report_cleanup

__all__ = ["Event", "Outcome", "PolicyInput", "Retry", "blocked", "finalize", "reconcile"]

MAX_ROUNDS = 5

Planner = Callable[[Observation, bool], list[Action]]  # (observation, first round?) -> actions


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

    latest: list[desired.Assessment] = []  # one assessment per observation: plan's last one serves report

    def planner(observation: Observation, first: bool) -> list[Action]:
        assessment = desired.assess(spec, observation)
        latest[:] = [assessment]
        restore = assessment.schedules_missing - restored
        actions = plan(assessment, now, force=repairing and first, restore=restore)
        restored.update(a.mapping.name for a in actions if isinstance(a, UpdateMapping) and a.mapping.name in restore)
        return actions

    rounds = 0 if spec.observe_only else max_rounds
    earlier = None if repairing else earlier
    observation, remaining, results = await _converge(azure, spec, now, planner, rounds, earlier)
    final = latest[0] if latest and latest[0].observation is observation else desired.assess(spec, observation)
    outcome = report(policy, final, remaining, results, now, repaired=repairing)
    return dataclasses.replace(outcome, observation=observation)


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

    def planner(observation: Observation, first: bool) -> list[Action]:
        return plan_cleanup(spec, observation)

    observation, remaining, results = await _converge(azure, spec, now, planner, max_rounds)
    return report_cleanup(policy, observation, remaining, results, now)


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
    actions = planner(observation, True)
    results: list[ActionResult] = []
    for _ in range(max_rounds):
        if not actions:
            break
        batch = await act(azure, actions)
        results.extend(batch)
        observation = await observe(azure, spec, now, earlier=observation, fresh=touched(batch))
        actions = planner(observation, False)
        if any(result.failed or result.pending for result in batch):
            break
    return observation, actions, results
