"""The ``hpa`` scaler against the Kubernetes HPA v2 controller's documented behaviour.

Expected counts are worked out by hand from replica_calculator.go / horizontal.go (several
are the upstream replica_calculator_test.go cases: ScaleUpCM, ScaleDownCM, ToleranceCM).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from toolkit.scale import (
    Observation,
    RatePolicy,
    RateType,
    Reason,
    ReplicaSample,
    ScalingRules,
    SelectPolicy,
    ServicePolicy,
    make_scaler,
)
from toolkit.scale._hpa import milli, replica_count

from ._drive import obs, policy, replay


def hpa(**overrides: object) -> ServicePolicy:
    return policy("hpa", target=20.0, **overrides)


# --- replica_calculator.go: calcPlainMetricReplicas ------------------------------------------

CALC_CASES = [
    # id, current, ready values (None = missing), unready, target, expected, note fragment
    ("upstream-scale-up-cm", 3, [20, 10, 30], 0, 15, 4, ""),
    ("upstream-scale-down-cm", 5, [12, 12, 12, 12, 12], 0, 20, 3, ""),
    ("upstream-tolerance-cm", 3, [20, 21, 21], 0, 20, 3, "within tolerance"),
    ("just-outside-tolerance", 4, [23, 23, 23, 23], 0, 20, 5, ""),
    ("missing-pods-count-as-zero-on-scale-up", 4, [30, 30, 30, None], 0, 20, 5, ""),
    ("missing-pods-count-as-target-on-scale-down", 4, [5, 5, 5, None], 0, 20, 2, ""),
    ("missing-pods-would-reverse-scale-up", 4, [23, 23, 23, None], 0, 20, 4, "reverse the direction"),
    ("unready-pods-count-as-zero-on-scale-up", 4, [30, 30, 30], 1, 20, 5, ""),
    ("unready-pods-ignored-on-scale-down", 4, [5, 5, 5], 1, 20, 1, ""),
    ("unready-pods-would-reverse-scale-up", 4, [23, 23, 23], 1, 20, 4, "reverse the direction"),
    ("unready-and-missing-on-scale-up", 4, [60, 60, None], 1, 20, 6, ""),
    ("pod-count-would-reverse", 10, [40, 40, None], 0, 20, 10, "pod count would reverse"),
    ("few-pods-reported-no-missing", 10, [30, 30], 0, 20, 3, ""),
    ("average-in-integer-milli-units", 3, [0.001, 0.001, 0.002], 0, 0.001, 3, "within tolerance"),
]


@pytest.mark.parametrize(
    ("current", "values", "unready", "target", "expected", "note"),
    [pytest.param(*case[1:], id=case[0]) for case in CALC_CASES],
)
def test_replica_count(
    current: int,
    values: Sequence[float | None],
    unready: int,
    target: float,
    expected: int,
    note: str,
) -> None:
    samples = tuple(ReplicaSample(v) for v in values) + (ReplicaSample(None, ready=False),) * unready
    result = replica_count(samples, current, target, 0.1)
    assert result is not None
    assert result.replicas == expected
    assert note in result.note


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0.1, 100, id="decimal-exact"),
        pytest.param(0.0101, 11, id="rounds-up"),
        pytest.param(42.0, 42000, id="whole"),
    ],
)
def test_milli_value_is_quantity_millivalue(value: float, expected: int) -> None:
    assert milli(value) == expected


# --- horizontal.go: reconcileAutoscaler guards -------------------------------------------------

HOLD_CASES = [
    (
        "metrics-source-down",
        Observation(4, (ReplicaSample(1.0),) * 4, metrics_ok=False),
        4,
        Reason.METRICS_MISSING,
    ),
    ("no-ready-replica-reported", obs(4, [None, None, None, None]), 4, Reason.METRICS_MISSING),
    ("all-replicas-unready", obs(4, [], unready=4), 4, Reason.METRICS_MISSING),
    ("no-replicas-listed", Observation(4, ()), 4, Reason.METRICS_MISSING),
    ("scaling-disabled-at-zero", obs(0, [500.0]), 0, Reason.SCALING_DISABLED),
    ("above-max-goes-to-max", obs(120, 1.0), 100, Reason.CLAMPED_MAX),
    ("above-max-even-without-metrics", Observation(120, (), metrics_ok=False), 100, Reason.CLAMPED_MAX),
    ("below-min-goes-to-min", obs(1, 1.0), 3, Reason.CLAMPED_MIN),
]


@pytest.mark.parametrize(
    ("observation", "expected", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in HOLD_CASES],
)
def test_reconcile_guards(observation: Observation, expected: int, reason: Reason) -> None:
    policy = hpa(min_replicas=3)
    (decision,), _ = replay(policy, [(0.0, observation)])
    assert (decision.desired_replicas, decision.reason) == (expected, reason)


# --- horizontal.go: rate policies and min/max on a single decision ------------------------------

ONE_STEP_CASES = [
    # id, policy overrides, current, per-replica value (target 20), expected, reason
    ("default-up-4-pods-beats-100pct-at-2", {}, 2, 200, 6, Reason.RATE_LIMITED),
    ("default-up-100pct-beats-4-pods-at-10", {}, 10, 100, 20, Reason.RATE_LIMITED),
    ("default-up-within-limit", {}, 10, 30, 15, Reason.SCALE_UP),
    (
        "select-min-takes-smaller-change",
        {
            "scale_up": ScalingRules(
                0, (RatePolicy(RateType.PODS, 4, 15), RatePolicy(RateType.PERCENT, 100, 15)), SelectPolicy.MIN
            )
        },
        10,
        100,
        14,
        Reason.RATE_LIMITED,
    ),
    (
        "select-disabled-never-scales-up",
        {"scale_up": ScalingRules(0, (RatePolicy(RateType.PODS, 4, 15),), SelectPolicy.DISABLED)},
        10,
        100,
        10,
        Reason.RATE_LIMITED,
    ),
    (
        "select-disabled-never-scales-down",
        {"scale_down": ScalingRules(0, (RatePolicy(RateType.PERCENT, 100, 15),), SelectPolicy.DISABLED)},
        10,
        2,
        10,
        Reason.RATE_LIMITED,
    ),
    ("clamped-to-max", {"max_replicas": 10}, 8, 40, 10, Reason.CLAMPED_MAX),
    (
        "clamped-to-min",
        {"min_replicas": 3, "scale_down": ScalingRules(0, (RatePolicy(RateType.PERCENT, 100, 15),))},
        5,
        2,
        3,
        Reason.CLAMPED_MIN,
    ),
    (
        "down-percent-truncates",
        {"scale_down": ScalingRules(0, (RatePolicy(RateType.PERCENT, 30, 15),))},
        5,
        2,
        3,
        Reason.RATE_LIMITED,
    ),
    (
        "down-pods-policy",
        {"scale_down": ScalingRules(0, (RatePolicy(RateType.PODS, 1, 60),))},
        10,
        4,
        9,
        Reason.RATE_LIMITED,
    ),
]


@pytest.mark.parametrize(
    ("overrides", "current", "value", "expected", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in ONE_STEP_CASES],
)
def test_single_decision(
    overrides: dict[str, object], current: int, value: float, expected: int, reason: Reason
) -> None:
    (decision,), _ = replay(hpa(**overrides), [(0.0, obs(current, value))])
    assert (decision.desired_replicas, decision.reason) == (expected, reason)


# --- horizontal.go: histories across ticks -------------------------------------------------------


def test_scale_down_waits_for_the_300s_window() -> None:
    """The highest recommendation of the last 300 s holds the count; a recommendation made
    exactly 300 s ago is outside the window (time.After is strict)."""
    ticks = [(0.0, obs(10, 20.0))] + [(15.0 * i, obs(10, 10.0)) for i in range(1, 21)]
    decisions, _ = replay(hpa(), ticks)
    held = [d.desired_replicas for d in decisions[1:20]]
    assert held == [10] * 19
    assert all(d.reason is Reason.STABILIZED for d in decisions[1:20])
    assert (decisions[20].desired_replicas, decisions[20].reason) == (5, Reason.SCALE_DOWN)


def test_scale_up_window_takes_the_lowest_recent_recommendation() -> None:
    policy = hpa(scale_up=ScalingRules(60, (RatePolicy(RateType.PERCENT, 100, 15),)))
    ticks = [(0.0, obs(10, 20.0))] + [(15.0 * i, obs(10, 40.0)) for i in range(1, 5)]
    decisions, _ = replay(policy, ticks)
    assert [d.desired_replicas for d in decisions] == [10, 10, 10, 10, 20]
    assert decisions[1].reason is Reason.STABILIZED


@pytest.mark.parametrize(
    ("overrides", "start", "value", "expected"),
    [
        pytest.param(
            {"scale_up": ScalingRules(0, (RatePolicy(RateType.PODS, 4, 60),))},
            2,
            200.0,
            [6, 6, 6, 6, 10, 10],
            id="up-4-pods-per-60s",
        ),
        pytest.param(
            {"scale_down": ScalingRules(0, (RatePolicy(RateType.PODS, 1, 60),))},
            10,
            2.0,
            [9, 9, 9, 9, 8, 8],
            id="down-1-pod-per-60s",
        ),
    ],
)
def test_scale_events_count_within_their_period(
    overrides: dict[str, object], start: int, value: float, expected: list[int]
) -> None:
    """After a change limited by "N pods per 60 s", the count stays until the event is older
    than the period (time.After is strict: an event exactly 60 s old no longer counts)."""
    scaler = make_scaler(hpa(**overrides))
    state = scaler.initial_state()
    current = start
    seen = []
    for i in range(6):
        decision, state = scaler.decide(state, obs(current, value), 15.0 * i)
        seen.append(decision.desired_replicas)
        current = decision.desired_replicas
    assert seen == expected


def test_five_fold_step_takes_several_periods_with_defaults() -> None:
    """The known HPA pain the toolkit algorithm addresses: 4 replicas at target (80 in
    total), then a 5x step to 400 (20 replicas needed) takes three periods under the default
    "4 pods or 100% per 15 s" policy: 4 -> 8 -> 16 -> 20."""
    scaler = make_scaler(hpa())
    state = scaler.initial_state()
    current = 4
    counts = []
    for i in range(4):
        decision, state = scaler.decide(state, obs(current, 400.0 / current), 15.0 * i)
        counts.append(decision.desired_replicas)
        current = decision.desired_replicas
    assert counts == [8, 16, 20, 20]


def test_state_is_not_mutated() -> None:
    scaler = make_scaler(hpa())
    state = scaler.initial_state()
    _, after = scaler.decide(state, obs(4, 40.0), 0.0)
    assert state == scaler.initial_state()
    assert after != state
