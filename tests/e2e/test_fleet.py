"""Fleet visibility end to end: the agents of the vault's protected items before, during and after Site
Recovery's update job upgrades them; the month's job minutes and their cost after several emulated days; and
what a steady-state drift check costs in Azure reads.

Azure's clock is the emulator's (`POST /clock` runs what becomes due); the operator checks for drift every
second or two (`--drift-interval-override`), which is also how old its protected items and jobs may get.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from tests.e2e.kit import (
    SITE_RECOVERY_RUNBOOK,
    condition,
    default_account_name,
    event_uids,
    events_for,
    get_policy,
    iso_time,
    parse_time,
    policy,
    pretty,
    vault_spec,
    wait_condition,
    wait_ready,
)
from tests.support import wait_for

LATEST = "9.63.7187.1"
DAY = 86400


def status_of(custom, namespace: str, name: str, section: str, check) -> dict:
    """Wait until `check(status[section])` holds; answer the section."""

    def ready():
        found = (get_policy(custom, namespace, name).get("status") or {}).get(section)
        return found if found is not None and check(found) else None

    return wait_for(ready, timeout=30, what=f"{namespace}/{name} status.{section}")


def vault_path(vault: dict) -> str:
    return (
        f"/subscriptions/{vault['subscriptionId']}/resourceGroups/{vault['resourceGroup']}"
        f"/providers/Microsoft.RecoveryServices/vaults/{vault['name']}"
    ).lower()


def test_agents_before_during_and_after_the_update_job(description, namespace, kubectl, custom, admin, start_operator):
    vault = vault_spec(description, 0)
    admin.post("config", {"jobDurationSeconds": 600})
    start_operator("--drift-interval-override", "1")
    kubectl.apply(policy("weu", namespace, vault))
    body = wait_ready(custom, namespace, "weu")

    # two of four agents behind, one expiring within 30 days; informational: Ready is not held back
    assert body["status"]["agents"] == {
        "total": 4,
        "current": 2,
        "updateRequired": 2,
        "upgradeInProgress": 0,
        "expiringSoon": 1,
        "replicationCritical": 0,
        "versions": [
            {"version": LATEST, "count": 2},
            {"version": "9.62.7172.1", "count": 1},
            {"version": "9.60.6956.1", "count": 1},
        ],
    }, pretty(body["status"]["agents"])
    agents = condition(body, "AgentsCurrent")
    assert (agents["status"], agents["reason"]) == ("False", "AgentUpdateRequired")
    assert agents["message"].startswith("2 of 4 protected items need a Mobility Service agent update")
    row = kubectl("get", "mup", "weu", "-n", namespace, "--no-headers").stdout.split()
    assert row[-2] == "2", row  # the Agents Behind column, before Age

    # the nightly run starts: the agents that need it are being upgraded
    first_run = min(parse_time(schedule["nextRun"]) for schedule in body["status"]["schedules"])
    admin.post("clock", {"to": iso_time(first_run + timedelta(minutes=1))})
    during = status_of(custom, namespace, "weu", "agents", lambda agents: agents["upgradeInProgress"] == 2)
    assert during["updateRequired"] == 2
    assert condition(get_policy(custom, namespace, "weu"), "AgentsCurrent")["status"] == "False"

    # it ends: every agent on the latest version, nothing expiring, AgentsCurrent
    admin.advance_clock(600)
    after = status_of(custom, namespace, "weu", "agents", lambda agents: agents["updateRequired"] == 0)
    assert after == {
        "total": 4,
        "current": 4,
        "updateRequired": 0,
        "upgradeInProgress": 0,
        "expiringSoon": 0,
        "replicationCritical": 0,
        "versions": [{"version": LATEST, "count": 4}],
    }, pretty(after)
    body = wait_condition(custom, namespace, "weu", "AgentsCurrent", "True", reason="Converged")
    assert "Every protected item (4)" in condition(body, "AgentsCurrent")["message"]
    assert body["status"]["jobs"]["lastRun"]["status"] == "Completed"
    assert kubectl("get", "mup", "weu", "-n", namespace, "--no-headers").stdout.split()[-2] == "0"


def test_job_minutes_and_cost_after_several_days(description, namespace, kubectl, custom, core, admin, start_operator):
    vault = vault_spec(description, 0)
    admin.post("config", {"jobDurationSeconds": 1800})  # a slow vault: half an hour a run
    start_operator("--drift-interval-override", "1")
    cost_model = {"freeMinutesPerMonth": 30, "pricePerMinute": "2.50", "currency": "EUR"}
    kubectl.apply(policy("weu", namespace, vault, costModel=cost_model))
    body = wait_ready(custom, namespace, "weu")
    assert body["status"]["jobs"] == {
        "monthToDateMinutes": 0,
        "projectedMonthMinutes": 0,
        "freeMinutesPerMonth": 30,
        "projectedCost": "0.00",
        "currency": "EUR",
    }
    before = event_uids(core, namespace, "weu")

    # three nightly runs per mapping or more, all finished: land at noon UTC, far from any run (the runs start
    # at midnight in the source regions' zones), whatever the time of day the suite runs at
    now = parse_time(admin.get("clock")["now"])
    noon = (now + 3 * timedelta(seconds=DAY)).replace(hour=12, minute=0, second=0, microsecond=0)
    admin.post(
        "clock", {"to": iso_time(noon if noon >= now + 3 * timedelta(seconds=DAY) else noon + timedelta(days=1))}
    )
    jobs = status_of(custom, namespace, "weu", "jobs", lambda jobs: jobs["monthToDateMinutes"] > 0)
    account = next(a for a in admin.state()["automationAccounts"] if a["name"] == default_account_name(vault))
    runs = [job for job in account["jobs"] if job["runbook"] == SITE_RECOVERY_RUNBOOK]
    # two mappings, one schedule each, at least three nights: six runs or more (a first night may have one, when a
    # midnight fell within Automation's five minutes of the schedules' creation)
    assert len(runs) >= 6 and {job["status"] for job in runs} == {"Completed"}, pretty(runs)

    # the operator counts this month (UTC, on its own clock) and projects it to the month's end
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_end = (month + timedelta(days=32)).replace(day=1)
    seconds = sum(
        (parse_time(job["endTime"]) - max(parse_time(job["startTime"]), month)).total_seconds()
        for job in runs
        if parse_time(job["startTime"]) >= month
    )
    assert jobs["monthToDateMinutes"] == math.ceil(seconds / 60) >= 180, pretty(jobs)
    projected = seconds / 60 / ((now - month) / (month_end - month))
    assert abs(jobs["projectedMonthMinutes"] - math.ceil(projected)) <= 1, pretty(jobs)
    billable = max(0, jobs["projectedMonthMinutes"] - 30)
    assert jobs["projectedCost"] == str((billable * Decimal("2.50")).quantize(Decimal("0.01"), ROUND_HALF_UP))
    assert jobs["currency"] == "EUR" and jobs["freeMinutesPerMonth"] == 30
    latest = max(runs, key=lambda job: job["startTime"])
    assert jobs["lastRun"] == {
        "status": "Completed",
        "startTime": iso_time(parse_time(latest["startTime"])),
        "endTime": iso_time(parse_time(latest["endTime"])),
    }, pretty(jobs)

    # the projection passed the free minutes: one Warning, however many checks and nights follow
    event = wait_for(
        lambda: next(
            (
                e
                for e in events_for(core, namespace, "weu")
                if e.reason == "JobMinutesOverFreeTier" and e.metadata.uid not in before
            ),
            None,
        ),
        timeout=15,
        what="a JobMinutesOverFreeTier Event",
    )
    assert event.type == "Warning"
    assert f"{jobs['projectedMonthMinutes']} job minutes" in event.message and "30 free minutes" in event.message
    admin.advance_clock(DAY)
    status_of(custom, namespace, "weu", "jobs", lambda later: later["monthToDateMinutes"] > jobs["monthToDateMinutes"])
    over = [e for e in events_for(core, namespace, "weu") if e.reason == "JobMinutesOverFreeTier"]
    assert len(over) == 1 and (over[0].count or 1) == 1


def test_a_steady_state_drift_check_reads_each_part_once(
    description, namespace, kubectl, custom, admin, start_operator
):
    """Seven reads a check for a vault in identity mode; the jobs list only after a scheduled run; no writes."""
    vault = vault_spec(description, 0)
    start_operator("--drift-interval-override", "1")
    kubectl.apply(policy("weu", namespace, vault))
    wait_ready(custom, namespace, "weu")

    def checks(count: int) -> list[list[dict]]:
        """The requests of `count` whole drift checks from now on: a check is a burst of requests, checks are a
        second or more apart; the first and the last burst seen may be cut by the window and are left out."""
        admin.delete("requests")

        def bursts():
            requests = [r for r in admin.requests() if "/oauth2/" not in r["path"]]
            groups: list[list[dict]] = []
            for request in requests:
                moment = parse_time(request["time"])
                if groups and (moment - parse_time(groups[-1][-1]["time"])).total_seconds() < 0.5:
                    groups[-1].append(request)
                else:
                    groups.append([request])
            return groups[1:-1] if len(groups) >= count + 2 else None

        return wait_for(bursts, timeout=30, what=f"{count} drift checks")[:count]

    def kinds(check: list[dict]) -> Counter:
        def kind(request: dict) -> str:
            path = request["path"].lower()
            if path == vault_path(vault):
                return "vault"
            return (
                path.rstrip("/").rsplit("/", 1)[-1]
                if "/automationaccounts/" not in path
                or any(path.endswith(tail) for tail in ("/schedules", "/jobschedules", "/jobs"))
                else "account"
            )

        assert {r["method"] for r in check} == {"GET"}, "a steady-state check writes nothing"
        return Counter(kind(r) for r in check)

    steady = {
        "vault": 1,
        "account": 1,
        "replicationprotectioncontainermappings": 1,
        "replicationprotecteditems": 1,
        "roleassignments": 1,
        "schedules": 1,
        "jobschedules": 1,
    }
    # the first check after Ready may list the jobs once more: the jobs were first read before Site Recovery
    # had created the schedules
    for check in checks(3)[1:]:
        assert kinds(check) == steady, kinds(check)

    # the nightly run moves the schedules' next run: the next check lists the jobs, once
    admin.delete("requests")
    admin.advance_clock(DAY)
    status_of(custom, namespace, "weu", "jobs", lambda jobs: jobs.get("lastRun"))
    listed = [r for r in admin.requests() if r["path"].lower().endswith("/jobs")]
    assert len(listed) == 1, listed
    for check in checks(2):
        assert kinds(check) == steady, kinds(check)
