"""Two replicas, one leader: the priority that makes the oldest replica lead, the flags' bounds, the log lines
that say which role a replica has, and what `handlers.run` asks of kopf with and without a peering name."""

from __future__ import annotations

import logging

import pytest

from asr_autoupdate import handlers, peering
from asr_autoupdate.cli import build_parser

NOW_MS = 1_796_417_059_453  # 2026-12-04, in milliseconds since the epoch


def test_an_older_replica_has_the_higher_priority():
    assert peering.priority(NOW_MS, 999) > peering.priority(NOW_MS + 1, 0)  # one ms older wins any tiebreak
    assert peering.priority(NOW_MS - 60_000, 0) > peering.priority(NOW_MS, 0)


def test_the_tiebreak_separates_replicas_started_in_the_same_millisecond():
    priorities = {peering.priority(NOW_MS, tiebreak) for tiebreak in range(peering.TIEBREAK)}
    assert len(priorities) == peering.TIEBREAK
    assert max(priorities) - min(priorities) < peering.TIEBREAK  # never past the next millisecond
    with pytest.raises(ValueError):
        peering.priority(NOW_MS, peering.TIEBREAK)


def test_priorities_are_exact_in_json_and_below_kopfs_default():
    year_2255_ms = 9_007_199_254_740_991 // peering.TIEBREAK - 1
    assert -(2**53) < peering.priority(year_2255_ms, 999) < 0
    now = peering.priority()
    assert -(2**53) < now < 0  # a developer's `kopf run` (priority 0) outranks every replica
    assert peering.priority(NOW_MS) <= peering.priority(NOW_MS, 0)


def test_the_lifetime_is_whole_seconds_from_the_minimum():
    assert peering.lifetime("5") == 5 and peering.lifetime("30") == 30
    for bad in ("4", "0", "-30", "30s", "2.5", ""):
        with pytest.raises(ValueError):
            peering.lifetime(bad)


def test_the_peering_name_is_a_kubernetes_object_name():
    assert peering.name("asr-autoupdate-operator-asr-system") == "asr-autoupdate-operator-asr-system"
    assert peering.name("ha.example") == "ha.example"
    for bad in ("", "Asr", "asr_ha", "-asr", "asr-", "a" * 254):
        with pytest.raises(ValueError):
            peering.name(bad)


def test_run_is_standalone_by_default_and_in_peering_with_a_name():
    parser = build_parser()
    standalone = parser.parse_args(["run"])
    assert (standalone.peering, standalone.peering_lifetime) == (None, peering.DEFAULT_LIFETIME)
    ha = parser.parse_args(["run", "--peering", "asr-ha", "--peering-lifetime", "5"])
    assert (ha.peering, ha.peering_lifetime) == ("asr-ha", 5)


@pytest.mark.parametrize("args", [["--peering-lifetime", "4"], ["--peering-lifetime", "30s"], ["--peering", "HA"]])
def test_run_refuses_bad_peering_flags(args, capsys):
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["run", *args])
    assert refused.value.code == 2
    assert "--peering" in capsys.readouterr().err


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(peering.PEERING_LOGGER, logging.INFO, __file__, 1, message, args, None)


def test_kopfs_resume_and_pause_lines_say_the_role():
    roles = peering.Roles("asr-ha", -42)
    # kopf/_core/engines/peering.py, word for word
    resuming = record("Resuming operations after the pause. Conflicting operators with the same priority are gone.")
    assert roles.filter(resuming)
    assert resuming.getMessage() == (
        "Leading in peering 'asr-ha' (priority -42): no live replica has a higher priority; acting."
    )
    pausing = record("Pausing operations in favour of [<Peer pod-a: priority=-41>].")
    assert roles.filter(pausing)
    assert pausing.getMessage() == (
        "Standing by in peering 'asr-ha' (priority -42): Pausing operations in favour of [<Peer pod-a: priority=-41>]."
    )
    other = record("Possibly conflicting operators with the same priority: %s.", "[]")
    assert roles.filter(other) and other.getMessage() == "Possibly conflicting operators with the same priority: []."


@pytest.fixture
def kopf_run(monkeypatch):
    """handlers.run with kopf's run and logging set-up replaced: what it asks of kopf."""
    asked: dict = {}
    monkeypatch.setattr(handlers.kopf, "configure", lambda **_: None)
    monkeypatch.setattr(handlers.kopf, "run", lambda **kwargs: asked.update(kwargs))
    yield asked
    roles = logging.getLogger(peering.PEERING_LOGGER)
    for added in [f for f in roles.filters if isinstance(f, peering.Roles)]:
        roles.removeFilter(added)


def test_run_without_a_peering_name_is_standalone(kopf_run):
    assert handlers.run(handlers.OperatorOptions(namespaces=("dr",))) == 0
    assert kopf_run["standalone"] is True
    assert kopf_run["peering_name"] is None and kopf_run["priority"] is None


def test_run_with_a_peering_name_peers_with_its_start_time_priority(kopf_run, caplog):
    caplog.set_level(logging.INFO, logger="asr_autoupdate")
    highest = peering.priority(tiebreak=0)  # the highest a replica starting now can have
    handlers.run(handlers.OperatorOptions(namespaces=("dr",), peering_name="asr-ha", peering_lifetime=5))
    lowest = peering.priority(tiebreak=peering.TIEBREAK - 1)  # the lowest one starting after it
    assert kopf_run["standalone"] is False and kopf_run["peering_name"] == "asr-ha"
    assert lowest <= kopf_run["priority"] <= highest  # decided as it started
    [start] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Peering 'asr-ha'")]
    assert f"priority {kopf_run['priority']}" in start and "lifetime 5 s" in start and "(in dr)" in start
    [roles] = [f for f in logging.getLogger(peering.PEERING_LOGGER).filters if isinstance(f, peering.Roles)]
    assert (roles.peering, roles.priority) == ("asr-ha", kopf_run["priority"])


def test_startup_sets_kopfs_lifetime():
    import asyncio

    import kopf
    from kopf._core.intents.causes import Activity

    registry = handlers.register(handlers.OperatorOptions(peering_name="asr-ha", peering_lifetime=7, metrics_port=0))
    [configure] = [h for h in registry._activities.get_handlers(activity=Activity.STARTUP) if "configure" in h.id]
    settings, memo = kopf.OperatorSettings(), kopf.Memo()
    asyncio.run(configure.fn(settings=settings, memo=memo, logger=logging.getLogger("test")))
    assert settings.peering.lifetime == 7
