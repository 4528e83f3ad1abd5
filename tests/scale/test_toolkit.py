"""The ``toolkit`` scaler: robust trend, noise headroom, capacity sizing, burst path, forecast
ahead of a ramp, gradual scale-down, scale to zero."""

from __future__ import annotations

import dataclasses
import math

import pytest

from toolkit.scale import (
    Observation,
    RatePolicy,
    RateType,
    Reason,
    ReplicaSample,
    ScalingRules,
    ServicePolicy,
    ToolkitParams,
)
from toolkit.scale._toolkit import SLO_HEADROOM, noise, per_replica_sizing, trend_per_s

from ._drive import follow, policy, replay, total_obs


def toolkit(**overrides: object) -> ServicePolicy:
    return policy("toolkit", target=10.0, **overrides)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([10, 12, 14, 16, 18], 0.4, id="ramp"),
        pytest.param([10, 10, 500, 10, 10, 10], 0.0, id="one-outlier-does-not-tilt"),
        pytest.param([10, 10, 10, 10, 10, 10, 10, 10, 80], 0.0, id="fresh-step-is-not-a-trend"),
        pytest.param([10, 50], 0.0, id="too-few-points"),
        pytest.param([18, 16, 14, 12, 10], -0.4, id="falling"),
    ],
)
def test_trend_per_s(values: list[float], expected: float) -> None:
    history = tuple((5.0 * i, float(v)) for i, v in enumerate(values))
    assert trend_per_s(history) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("values", "slope", "expected"),
    [
        pytest.param([10, 10, 10, 10], 0.0, 0.0, id="flat"),
        pytest.param([10, 11, 9, 10, 11, 9, 10], 0.0, 1.4826, id="mad-scaled"),
        pytest.param([10, 11, 9, 10, 1000, 9, 10], 0.0, 1.4826, id="outlier-ignored"),
        pytest.param([10, 20, 30, 40, 50], 2.0, 0.0, id="trend-removed"),
        pytest.param([200] * 6 + [20] * 6, 0.0, 1.4826 * 90, id="step-in-window-counts"),
    ],
)
def test_noise_is_robust_spread_around_trend(values: list[float], slope: float, expected: float) -> None:
    history = tuple((5.0 * i, float(v)) for i, v in enumerate(values))
    assert noise(history, slope) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("target", "capacity", "expected"),
    [
        pytest.param(70.0, None, 70.0, id="no-capacity-sizes-at-target"),
        pytest.param(70.0, 100.0, 80.0, id="a-third-of-the-margin"),
        pytest.param(100.0, 100.0, 100.0, id="no-margin"),
    ],
)
def test_per_replica_sizing(target: float, capacity: float | None, expected: float) -> None:
    p = policy("toolkit", target=target, toolkit=ToolkitParams(capacity=capacity))
    assert per_replica_sizing(p) == pytest.approx(expected)


def test_slo_sizing_matches_the_m_m_1_closed_form() -> None:
    """One worker: latency is exponential with rate mu (1 - rho), so p95 <= slo exactly when
    rho <= 1 - ln(20) / (mu slo). Capacity 100 rps, SLO 0.1 s: rho <= 1 - ln(20) / 10."""
    p = policy("toolkit", target=50.0, toolkit=ToolkitParams(capacity=100.0, slo_s=0.1, concurrency=1))
    rho = 1.0 - math.log(20.0) / 10.0
    assert per_replica_sizing(p) == pytest.approx(100.0 * rho * SLO_HEADROOM, rel=1e-3)


@pytest.mark.parametrize(
    ("looser", "tighter"),
    [
        pytest.param(ToolkitParams(slo_s=1.0), ToolkitParams(slo_s=0.2), id="shorter-slo-sizes-lower"),
        pytest.param(
            ToolkitParams(slo_s=0.5, slo_quantile=0.9),
            ToolkitParams(slo_s=0.5, slo_quantile=0.99),
            id="higher-quantile-sizes-lower",
        ),
        pytest.param(
            ToolkitParams(slo_s=0.5, concurrency=4),
            ToolkitParams(slo_s=0.5, concurrency=16),
            id="longer-service-time-sizes-lower",
        ),
        pytest.param(
            ToolkitParams(slo_s=0.5, concurrency=4, service_time_cv=0.0),
            ToolkitParams(slo_s=0.5, concurrency=4),
            id="fixed-service-times-size-higher-than-exponential",
        ),
        pytest.param(
            ToolkitParams(slo_s=0.5, concurrency=4),
            ToolkitParams(slo_s=0.5, concurrency=4, service_time_cv=2.0),
            id="long-tailed-service-times-size-lower",
        ),
    ],
)
def test_slo_sizing_follows_the_slo(looser: ToolkitParams, tighter: ToolkitParams) -> None:
    def sized(params: ToolkitParams) -> float:
        p = policy("toolkit", target=10.0, toolkit=dataclasses.replace(params, capacity=100.0))
        return per_replica_sizing(p)

    assert 0.0 < sized(tighter) < sized(looser) < 100.0


def steady_then(
    total_before: float, current: int, total_after: float, *, seconds: int = 60
) -> list[Observation]:
    return [total_obs(current, total_before)] * (seconds // 5) + [total_obs(current, total_after)]


@pytest.mark.parametrize(
    "scale_up",
    [
        pytest.param(None, id="default-rules"),
        pytest.param(ScalingRules(0, (RatePolicy(RateType.PODS, 1, 5),)), id="burst-ignores-1-pod-policy"),
    ],
)
def test_tenfold_step_in_one_decision(scale_up: ScalingRules | None) -> None:
    p = toolkit() if scale_up is None else toolkit(scale_up=scale_up)
    observations = steady_then(20.0, 2, 200.0)
    decisions, _ = replay(p, [(5.0 * i, o) for i, o in enumerate(observations)])
    assert decisions[-2].desired_replicas == 2
    assert (decisions[-1].desired_replicas, decisions[-1].reason) == (20, Reason.PANIC)


def test_moderate_rise_follows_rate_policy() -> None:
    p = toolkit(scale_up=ScalingRules(0, (RatePolicy(RateType.PODS, 1, 5),)))
    observations = steady_then(100.0, 10, 150.0)
    decisions, _ = replay(p, [(5.0 * i, o) for i, o in enumerate(observations)])
    assert (decisions[-1].desired_replicas, decisions[-1].reason) == (11, Reason.RATE_LIMITED)


def test_forecast_runs_ahead_of_a_ramp() -> None:
    """Demand 100 + 2/s: the forecast looks startup_s + period_s = 25 s ahead, so at 220 it
    sizes for 270 (27 replicas) where the demand alone asks for 22."""
    totals = [100.0 + 2.0 * 5.0 * i for i in range(13)]
    decisions = follow(toolkit(), totals, start=10)
    last = decisions[-1]
    assert totals[-1] == 220.0
    assert (last.desired_replicas, last.reason) == (27, Reason.FORECAST)


def test_falling_demand_is_not_extrapolated() -> None:
    totals = [300.0 - 2.0 * 5.0 * i for i in range(13)]
    decisions = follow(toolkit(), totals, start=30)
    assert decisions[-1].recommendation == 18  # ceil(180 / 10): no downward projection


def test_noise_adds_headroom() -> None:
    flat = follow(toolkit(), [100.0] * 13, start=10)
    noisy = follow(toolkit(), [90.0, 110.0] * 6 + [100.0], start=10)
    assert flat[-1].desired_replicas == 10
    assert noisy[-1].recommendation >= 13  # at least ceil((100 + 2 x 1.4826 x 10) / 10)


def test_gradual_scale_down() -> None:
    """From 20 replicas at 200 to a demand of 20 at t=60: nothing while the 120 s window
    holds the last recommendation of 20 (made at t=55), then at most half per 30 s, down to
    the 2 the demand needs."""
    totals = [200.0] * 12 + [20.0] * 60
    decisions = follow(toolkit(), totals, start=20)
    counts = [d.desired_replicas for d in decisions]
    first_change = next(i for i, c in enumerate(counts) if c != 20)
    assert 5 * first_change == 175
    # within any 30 s the count stays at least half of what it was (ticks are 5 s apart)
    assert all(counts[i] >= counts[i - 5] // 2 for i in range(5, len(counts)))
    assert counts == sorted(counts, reverse=True)
    assert counts[-1] == 2


def test_scale_to_zero_after_grace() -> None:
    p = toolkit(min_replicas=0)
    p = dataclasses.replace(p, scale_down=ScalingRules(0, (RatePolicy(RateType.PERCENT, 100, 5),)))
    decisions = follow(p, [0.0] * 10, start=1)
    counts = [d.desired_replicas for d in decisions]
    assert counts[:6] == [1] * 6  # 0..25 s: within the 30 s grace
    assert counts[6] == 0


def test_scale_from_zero() -> None:
    observation = Observation(0, (ReplicaSample(35.0, ready=False),))
    (decision,), _ = replay(toolkit(min_replicas=0), [(0.0, observation)])
    assert (decision.desired_replicas, decision.reason) == (4, Reason.SCALE_FROM_ZERO)


def test_missing_metrics_hold() -> None:
    observations = [*steady_then(100.0, 10, 100.0), Observation(10, (ReplicaSample(None),) * 10)]
    decisions, _ = replay(toolkit(), [(5.0 * i, o) for i, o in enumerate(observations)])
    assert (decisions[-1].desired_replicas, decisions[-1].reason) == (10, Reason.METRICS_MISSING)


def test_a_step_is_not_extrapolated_as_a_ramp() -> None:
    """Through the minute after a step from 100 to 1000, the recommendation stays what the
    new level needs (100 per replica) instead of chasing the whole-window slope."""
    totals = [100.0] * 12 + [1000.0] * 13
    decisions = follow(toolkit(), totals, start=1)
    assert {d.recommendation for d in decisions[12:]} == {100}


@pytest.mark.parametrize(
    ("metrics_delay_s", "window_s", "lowest"),
    [
        pytest.param(0.0, 0.0, 1, id="fresh-figures-no-window-follow-the-dip"),
        pytest.param(15.0, 0.0, 3, id="lagging-figures-hold-for-the-delay"),
        pytest.param(15.0, 30.0, 3, id="a-longer-window-is-kept"),
    ],
)
def test_scale_down_waits_at_least_the_metrics_delay(
    metrics_delay_s: float, window_s: float, lowest: int
) -> None:
    """One low reading, as a window-averaged figure gives right after a scale change (measured
    end to end on Prometheus: docs/commands/autoscale.md). A policy that lets the whole excess
    go at once with no window follows it, unless the figures lag: then the scale-down window is
    at least the delay."""
    p = toolkit(
        scale_down=ScalingRules(window_s, (RatePolicy(RateType.PERCENT, 100, 5),)),
        toolkit=ToolkitParams(metrics_delay_s=metrics_delay_s),
    )
    totals = [30.0] * 13 + [10.0] + [30.0] * 2
    counts = [d.desired_replicas for d in follow(p, totals, start=3)]
    assert counts[:13] == [3] * 13
    assert min(counts[13:]) == lowest
