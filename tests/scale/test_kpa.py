"""The ``kpa`` scaler against Knative's autoscaler.go behaviour: stable-window averaging,
panic entry, no scale-down in panic, panic exit after a stable window, rate limits, scale to
zero after the grace period, and scale from zero."""

from __future__ import annotations

import pytest

from toolkit.scale import (
    KpaParams,
    Observation,
    Reason,
    ReplicaSample,
    ServicePolicy,
)
from toolkit.scale._kpa import window_average

from ._drive import policy, replay, total_obs


def kpa(**overrides: object) -> ServicePolicy:
    return policy("kpa", target=10.0, **overrides)


@pytest.mark.parametrize(
    ("window_s", "now_s", "expected"),
    [
        pytest.param(6.0, 4.0, 20.0, id="all-inside"),
        pytest.param(4.0, 4.0, 25.0, id="edge-sample-excluded"),
        pytest.param(1.0, 4.0, 30.0, id="only-newest"),
    ],
)
def test_window_average(window_s: float, now_s: float, expected: float) -> None:
    assert window_average((0.0, 2.0, 4.0), (10.0, 20.0, 30.0), window_s, now_s) == pytest.approx(expected)


def steady(
    current: int, total: float, seconds: float = 60.0, start: float = 0.0
) -> list[tuple[float, Observation]]:
    return [(start + t, total_obs(current, total)) for t in range(0, int(seconds), 2)]


def test_stable_window_averages_the_demand() -> None:
    """Demand alternating 0 and 60 averages 30 over the stable window: 3 replicas, although
    the newest sample alone would ask for 6 (and the 6 s panic window for 4, under 200%)."""
    ticks = [(float(t), total_obs(3, 60.0 if (t // 2) % 2 else 0.0)) for t in range(0, 122, 2)]
    decisions, _ = replay(kpa(), ticks)
    assert decisions[-1].desired_replicas == 3
    assert decisions[-1].reason is Reason.WITHIN_TOLERANCE


def test_steady_demand_sizes_to_target() -> None:
    decisions, _ = replay(kpa(), steady(4, 60.0, seconds=120))
    assert decisions[-1].desired_replicas == 6
    assert decisions[-1].reason is Reason.SCALE_UP


def test_panic_entry_hold_and_exit() -> None:
    """2 replicas at 20 for a minute, then 60 for three ticks, then back to 20."""
    ticks = steady(2, 20.0)
    ticks += [(60.0, total_obs(2, 60.0)), (62.0, total_obs(4, 60.0)), (64.0, total_obs(5, 60.0))]
    ticks += [(float(t), total_obs(6, 20.0)) for t in range(66, 124, 2)]
    decisions, state = replay(kpa(), ticks)
    by_time = {t: d for (t, _), d in zip(ticks, decisions, strict=True)}
    assert by_time[58.0].desired_replicas == 2
    # panic window [20, 20, 60] averages 33.3 -> 4 replicas = 200% of the 2 ready: panic
    assert (by_time[60.0].desired_replicas, by_time[60.0].reason) == (4, Reason.PANIC)
    assert by_time[62.0].desired_replicas == 5
    assert by_time[64.0].desired_replicas == 6
    # demand is back to 20 but panic never scales down ...
    assert all(by_time[float(t)].desired_replicas == 6 for t in range(66, 122, 2))
    assert by_time[120.0].reason is Reason.PANIC
    # ... until a stable window has passed since the last tick over the threshold (t=60)
    assert (by_time[122.0].desired_replicas, by_time[122.0].reason) == (3, Reason.SCALE_DOWN)
    assert state.panic_since_s is None


def test_no_panic_below_threshold() -> None:
    ticks = [*steady(2, 20.0), (60.0, total_obs(2, 35.0))]
    decisions, _ = replay(kpa(), ticks)
    assert decisions[-1].reason is not Reason.PANIC


@pytest.mark.parametrize(
    ("params", "current", "total", "expected"),
    [
        pytest.param(KpaParams(max_scale_up_rate=2.0), 2, 100.0, 4, id="up-rate-2x-of-ready"),
        pytest.param(KpaParams(max_scale_up_rate=1.1), 3, 100.0, 4, id="up-rate-at-least-one-pod"),
        pytest.param(KpaParams(), 10, 0.0, 5, id="down-rate-half-of-ready"),
        pytest.param(KpaParams(max_scale_down_rate=4.0), 10, 0.0, 2, id="down-rate-quarter"),
    ],
)
def test_rate_limits(params: KpaParams, current: int, total: float, expected: int) -> None:
    (decision,), _ = replay(kpa(kpa=params), [(0.0, total_obs(current, total))])
    assert decision.desired_replicas == expected


def test_scale_to_zero_waits_for_the_grace_period() -> None:
    ticks = [(float(t), total_obs(1, 0.0)) for t in range(0, 42, 2)]
    decisions, _ = replay(kpa(min_replicas=0), ticks)
    counts = {t: d.desired_replicas for (t, _), d in zip(ticks, decisions, strict=True)}
    assert all(counts[float(t)] == 1 for t in range(0, 30, 2))
    assert counts[30.0] == 0


def test_min_replicas_stops_scale_to_zero() -> None:
    ticks = [(float(t), total_obs(1, 0.0)) for t in range(0, 62, 2)]
    decisions, _ = replay(kpa(min_replicas=1), ticks)
    assert {d.desired_replicas for d in decisions} == {1}


def test_scale_from_zero_on_demand_reported_for_the_service() -> None:
    observation = Observation(0, (ReplicaSample(25.0, ready=False),))
    (decision,), _ = replay(kpa(min_replicas=0), [(0.0, observation)])
    assert (decision.desired_replicas, decision.reason) == (3, Reason.SCALE_FROM_ZERO)


@pytest.mark.parametrize(
    "observation",
    [
        pytest.param(Observation(4, (ReplicaSample(50.0),) * 4, metrics_ok=False), id="source-down"),
        pytest.param(Observation(4, (ReplicaSample(None),) * 4), id="no-values"),
        pytest.param(Observation(4, (ReplicaSample(50.0, ready=False),) * 4), id="none-ready"),
    ],
)
def test_missing_metrics_hold(observation: Observation) -> None:
    ticks = [*steady(4, 0.0, seconds=20), (20.0, observation)]
    decisions, _ = replay(kpa(), ticks)
    assert (decisions[-1].desired_replicas, decisions[-1].reason) == (4, Reason.METRICS_MISSING)
