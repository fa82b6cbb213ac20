"""metav1.Condition building: lastTransitionTime moves only when the status flips."""

from datetime import UTC, datetime

import pytest

from asr_autoupdate.api.conditions import ConditionType, Status, condition, find, timestamp

EARLIER = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2024, 6, 10, 12, 0, 30, 123456, tzinfo=UTC)
BEFORE = [
    {"type": "Ready", "status": "True", "reason": "Converged", "message": "m", "lastTransitionTime": timestamp(EARLIER)}
]


@pytest.mark.parametrize(
    "status, previous, expected_time",
    [
        pytest.param(Status.TRUE, BEFORE, "2024-06-01T08:00:00Z", id="unchanged-status-keeps-time"),
        pytest.param(Status.FALSE, BEFORE, "2024-06-10T12:00:30Z", id="flip-takes-now"),
        pytest.param(Status.TRUE, [], "2024-06-10T12:00:30Z", id="first-time-takes-now"),
    ],
)
def test_last_transition_time(status, previous, expected_time):
    built = condition(ConditionType.READY, status, "Converged", "m", generation=3, now=NOW, previous=previous)
    assert built == {
        "type": "Ready",
        "status": str(status),
        "reason": "Converged",
        "message": "m",
        "observedGeneration": 3,
        "lastTransitionTime": expected_time,
    }


def test_find():
    assert find(BEFORE, ConditionType.READY) is BEFORE[0]
    assert find(BEFORE, ConditionType.STALLED) is None


def test_eight_condition_types():
    assert [str(kind) for kind in ConditionType] == [
        "Ready",
        "Reconciling",
        "Stalled",
        "AutomationAccountReady",
        "CredentialsHealthy",
        "MappingsConfigured",
        "ScheduleConfigured",
        "AgentsCurrent",
    ]
