"""Crash trials: the operator is SIGKILLed at a seeded random moment of a fleet's convergence, and a successor
converges with nothing doubled and no operation lost (tests/e2e/crash_kit.py; bench/crash_trials.py runs fifty
or more). The test id shows the seed and the kill delay; rerun one with `-k seed-<n>`."""

from __future__ import annotations

import pytest

from tests.e2e.crash_kit import AZURE_CONFIG, kill_delay, run_trial, trial_line

# spread over the convergence: before any write, about the mapping PATCHes, while they run, near the end
SEEDS = (31, 43, 7, 6)


@pytest.mark.azure_config(**AZURE_CONFIG)
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}-kill-{kill_delay(s):.2f}s") for s in SEEDS])
def test_a_successor_converges_after_a_kill_at_a_random_point(
    seed, namespace, kubectl, custom, admin, arm, start_operator
):
    trial = run_trial(
        seed, admin=admin, arm=arm, kubectl=kubectl, custom=custom, namespace=namespace, start_operator=start_operator
    )
    print(trial_line(trial))
    assert trial.ok, trial_line(trial)
