"""What a pass reads: every deciding part on every pass, protected items and jobs at most once per drift
interval (the jobs only when a run may have added one), and between rounds only what the actions touched."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from asr_autoupdate.azure import port
from asr_autoupdate.azure.errors import TransientError
from asr_autoupdate.reconcile import reconcile
from asr_autoupdate.reconcile.model import Part
from tests.unit.fake_azure import FakeAzure
from tests.unit.policy_builders import ACCOUNT, NOW, VAULT, make_policy, protected_item

STEADY = [
    "get_vault",
    "get_automation_account",
    "list_mappings",
    "list_protected_items",
    "list_role_assignments",
    "list_schedules",
    "list_job_schedules",
]
INTERVAL = 3600


@pytest.fixture
def azure() -> FakeAzure:
    fake = FakeAzure(NOW)
    fake.add_vault(VAULT, "westeurope")
    fake.add_fabric(VAULT, "fabric1", "westeurope")
    fake.add_mapping(VAULT, "m1")
    fake.add_mapping(VAULT, "m2")
    fake.protected_items[VAULT.id.lower().strip("/")] = [protected_item("vm1"), protected_item("vm2")]
    return fake


class Passes:
    """Consecutive passes of one policy, each handing its observation to the next, as the handler does."""

    def __init__(self, azure: FakeAzure):
        self.azure = azure
        self.outcome = None

    async def run(self, at: datetime, *, max_age: float | None = None, **overrides) -> list[str]:
        status = self.outcome.status if self.outcome else {}
        earlier = self.outcome.observation if self.outcome else None
        self.azure.calls.clear()
        self.azure.writes.clear()
        self.azure.clock = at
        policy = make_policy(status=status, **overrides)
        self.outcome = await reconcile(self.azure, policy, at, earlier=earlier, drift_interval_override=max_age)
        return list(self.azure.calls)


def reads(calls: list[str]) -> list[str]:
    return sorted(call for call in calls if call.startswith(("get_", "list_")))


def schedules(azure: FakeAzure) -> dict[str, port.Schedule]:
    return azure.schedules[ACCOUNT.id.lower().strip("/")]


def run_schedules(azure: FakeAzure, finished: datetime) -> None:
    """Site Recovery's nightly runs: a finished job per schedule, and each schedule's next run moves a day."""
    for key, schedule in list(schedules(azure).items()):
        azure.jobs[ACCOUNT.id.lower().strip("/")].append(
            port.Job(
                f"job-{key}",
                port.SITE_RECOVERY_RUNBOOK,
                "Completed",
                schedule.next_run,
                schedule.next_run + timedelta(minutes=1),
            )
        )
        schedules(azure)[key] = dataclasses.replace(schedule, next_run=schedule.next_run + timedelta(days=1))


async def converged(azure: FakeAzure) -> Passes:
    passes = Passes(azure)
    await passes.run(NOW)
    await passes.run(NOW + timedelta(seconds=INTERVAL))  # lists the jobs once more: the schedules are new
    return passes


async def test_a_steady_state_check_costs_seven_reads(azure):
    passes = await converged(azure)
    for hour in range(2, 5):
        calls = await passes.run(NOW + timedelta(seconds=hour * INTERVAL))
        assert reads(calls) == sorted(STEADY), calls
        assert azure.writes == []


async def test_jobs_are_listed_once_after_a_scheduled_run(azure):
    passes = await converged(azure)
    run_schedules(azure, NOW)
    first = await passes.run(NOW + timedelta(seconds=2 * INTERVAL))
    second = await passes.run(NOW + timedelta(seconds=3 * INTERVAL))
    assert Counter(first)["list_jobs"] == 1 and "list_jobs" not in second
    assert passes.outcome.status["jobs"]["monthToDateMinutes"] == 2


async def test_a_running_job_is_listed_again_until_it_ends(azure):
    passes = await converged(azure)
    azure.jobs[ACCOUNT.id.lower().strip("/")].append(
        port.Job("running", port.SITE_RECOVERY_RUNBOOK, "Running", NOW + timedelta(hours=1), None)
    )
    run_schedules(azure, NOW)  # moves the marks: the running job is seen
    assert "list_jobs" in await passes.run(NOW + timedelta(seconds=2 * INTERVAL))
    assert "list_jobs" in await passes.run(NOW + timedelta(seconds=3 * INTERVAL)), "it was still running"


async def test_a_new_month_lists_the_jobs_again(azure):
    passes = await converged(azure)
    assert "list_jobs" in await passes.run(datetime(2024, 7, 1, 0, 30, tzinfo=UTC))


async def test_other_passes_within_the_interval_reuse_protected_items_and_jobs(azure):
    """A spec change, a retry or a progress pass soon after: every deciding part, nothing informational."""
    passes = await converged(azure)
    calls = await passes.run(NOW + timedelta(seconds=INTERVAL + 60), schedule={"time": "06:30"})
    assert "list_protected_items" not in calls and "list_jobs" not in calls
    assert "put_schedule" in calls
    assert passes.outcome.status["agents"]["total"] == 2, "the section is still written, from what was read"


async def test_the_fabrics_are_read_once_and_only_for_a_schedule_without_a_zone(azure):
    """Each mapping's source region never changes: read when first needed, and for a mapping of a new fabric."""
    passes = Passes(azure)
    assert "list_fabrics" not in await passes.run(NOW), "Site Recovery's own schedules need no region"
    assert "list_fabrics" not in await passes.run(NOW, schedule={"time": "06:30", "timeZone": "UTC"})
    assert "list_fabrics" in await passes.run(NOW, schedule={"time": "06:30"})
    assert "list_fabrics" not in await passes.run(NOW + timedelta(seconds=2 * INTERVAL), schedule={"time": "06:30"})
    azure.add_fabric(VAULT, "fabric2", "uksouth")
    azure.add_mapping(VAULT, "m3", fabric="fabric2")
    assert "list_fabrics" in await passes.run(NOW + timedelta(seconds=3 * INTERVAL), schedule={"time": "06:30"})


async def test_max_age_overrides_the_spec_interval(azure):
    passes = await converged(azure)
    calls = await passes.run(NOW + timedelta(seconds=INTERVAL + 5), max_age=2)
    assert "list_protected_items" in calls


async def test_a_repair_reads_everything(azure):
    passes = await converged(azure)
    calls = await passes.run(NOW + timedelta(seconds=INTERVAL + 60), repair_token="r1")
    assert {"list_protected_items", "list_jobs"} <= set(calls)


async def test_a_failed_slow_read_is_tried_again_on_the_next_pass(azure):
    passes = await converged(azure)
    azure.fail("list_protected_items", TransientError("busy", status=503))
    await passes.run(NOW + timedelta(seconds=2 * INTERVAL))
    assert Part.PROTECTED_ITEMS in passes.outcome.observation.failures
    assert "list_protected_items" in await passes.run(NOW + timedelta(seconds=2 * INTERVAL + 30))
    assert "agents" in passes.outcome.status


async def test_between_rounds_only_what_was_touched_is_read_again(azure):
    """The first pass: create the account, then role and mappings, then schedules; the vault, protected
    items and jobs are read once for the whole pass."""
    calls = await Passes(azure).run(NOW)
    counted = Counter(calls)
    assert counted["get_vault"] == 1 and counted["list_protected_items"] == 1 and counted["list_jobs"] == 1
    assert counted["list_mappings"] == 2, "before the mapping updates and after them"
    assert counted["get_automation_account"] >= 2, "the account is read again after it was created"


async def test_a_drifted_mapping_fixed_in_one_round(azure):
    passes = await converged(azure)
    key = VAULT.id.lower().strip("/")
    mapping = azure.mappings[key]["m1"]
    azure.mappings[key]["m1"] = dataclasses.replace(mapping, auto_update="Disabled")
    calls = await passes.run(NOW + timedelta(seconds=2 * INTERVAL))
    counted = Counter(calls)
    assert counted["begin_mapping_update"] == 1
    assert counted["list_mappings"] == 2 and counted["list_schedules"] == 2 and counted["list_job_schedules"] == 2
    assert counted["get_vault"] == counted["get_automation_account"] == counted["list_role_assignments"] == 1
    assert counted["list_protected_items"] == 1
