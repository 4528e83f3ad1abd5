"""The simulation model: conservation, start-up delay, static cost, the metrics pipeline, and
the controller's own HPA reacting to a step after the delays the model says it should."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pytest

from toolkit.scale import Decision, Observation, Reason, default_service_policy
from toolkit.simulate import ServiceModel, SimPolicy, Trace, compare, simulate, synthetic_trace
from toolkit.simulate._policies import resolve


def constant(rps: float, duration_s: int) -> Trace:
    return Trace(rps=np.full(duration_s, rps), source="constant")


def step(base_rps: float, high_rps: float, at_s: int, duration_s: int) -> Trace:
    rps = np.full(duration_s, base_rps)
    rps[at_s:] = high_rps
    return Trace(rps=rps, source="step")


@dataclass
class Scripted:
    """A Scaler (the real protocol) that asks for scripted counts and records what it saw."""

    plan: dict[float, int]
    seen: list[tuple[float, Observation]] = field(default_factory=list)

    def initial_state(self) -> None:
        return None

    def decide(self, state: None, observation: Observation, now_s: float) -> tuple[Decision, None]:
        self.seen.append((now_s, observation))
        desired = observation.spec_replicas
        for at_s, count in self.plan.items():
            if now_s >= at_s:
                desired = count
        return Decision(desired, Reason.SCALE_UP, None, desired), None


MODELS = [
    pytest.param(ServiceModel(), id="default"),
    pytest.param(ServiceModel(queue_limit=5, startup_s=60), id="small-queue-slow-start"),
    pytest.param(ServiceModel(queue_limit=0, startup_s=0), id="no-queue-instant-start"),
    pytest.param(
        ServiceModel(capacity_rps=37.5, workers=1, scrape_interval_s=15, rate_window_s=60), id="prometheus"
    ),
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("policy", ["hpa", "kpa", "toolkit", "static"])
def test_requests_are_conserved(model: ServiceModel, policy: str) -> None:
    trace = synthetic_trace("spike", duration_s=1800, base_rps=50, peak_rps=2000, seed=2)
    result = simulate(trace, policy, model, static_replicas=3, keep_series=True)
    s = result.summary
    assert s.requests == pytest.approx(trace.total_requests)
    assert s.served + s.dropped + s.queued_at_end == pytest.approx(s.requests, rel=1e-12)
    assert result.series is not None
    assert np.all(result.series.served >= 0) and np.all(result.series.dropped >= 0)
    assert np.all(result.series.queued <= model.queue_limit * np.maximum(result.series.ready, 1) + 1e-6)


def test_spikes_beyond_capacity_drop_and_violate() -> None:
    trace = synthetic_trace("spike", duration_s=1800, base_rps=50, peak_rps=2000, seed=2)
    result = simulate(trace, "static", ServiceModel(queue_limit=5), static_replicas=3)
    assert result.summary.dropped > 0
    assert result.summary.slo_violation_s >= 5 * 50  # five one-minute spikes, mostly violating


@pytest.mark.parametrize("startup_s", [0, 1, 17, 45])
def test_replicas_are_ready_exactly_after_startup(startup_s: int) -> None:
    scaler = Scripted({60.0: 6, 300.0: 2})
    policy = SimPolicy("scripted", scaler, period_s=10, initial_replicas=2)
    model = ServiceModel(startup_s=startup_s)
    result = simulate(constant(100.0, 600), policy, model, keep_series=True)
    series = result.series
    assert series is not None
    assert series.requested[59] == 2 and series.requested[60] == 6
    assert series.ready[60 + startup_s - 1] == 2
    assert series.ready[60 + startup_s] == 6
    assert series.ready[300] == 2 and series.requested[300] == 2
    # starting replicas cost from the request, so cost = 2*60 + 6*240 + 2*300 (+ draining in-flight)
    assert result.summary.replica_seconds == pytest.approx(
        2 * 60 + 6 * 240 + 2 * 300 + 4 * model.service_time_s
    )


def test_scale_down_first_cancels_starting_replicas() -> None:
    scaler = Scripted({100.0: 8, 110.0: 3})
    policy = SimPolicy("scripted", scaler, period_s=10, initial_replicas=3)
    result = simulate(constant(50.0, 400), policy, ServiceModel(startup_s=60), keep_series=True)
    assert result.series is not None
    assert result.series.ready.max() == 3  # the five starting replicas never became ready
    assert result.summary.replica_seconds == pytest.approx(3 * 400 + 5 * 10)


def test_ready_never_rises_sooner_than_startup_under_hpa() -> None:
    model = ServiceModel(startup_s=40)
    trace = synthetic_trace("noise", duration_s=3600, base_rps=100, peak_rps=3000, seed=5)
    result = simulate(trace, "hpa", model, keep_series=True)
    assert result.series is not None
    ready, requested = result.series.ready, result.series.requested
    rises = np.flatnonzero(np.diff(ready) > 0) + 1
    assert rises.size > 0
    for t in rises:
        asked = requested[t - 40] - requested[t - 41]
        assert ready[t] - ready[t - 1] <= asked, f"{ready[t] - ready[t - 1]} replicas ready at {t} s"


@pytest.mark.parametrize(("replicas", "duration_s"), [(1, 100), (7, 3600), (40, 86_400)])
def test_static_cost_is_replicas_times_duration(replicas: int, duration_s: int) -> None:
    trace = (
        synthetic_trace("daily", duration_s=duration_s, base_rps=10, peak_rps=500)
        if duration_s >= 60
        else None
    )
    trace = trace or constant(10.0, duration_s)
    result = simulate(trace, "static", ServiceModel(), static_replicas=replicas)
    assert result.summary.replica_seconds == replicas * duration_s
    assert result.summary.scale_events == 0 and result.summary.decisions == 0


def test_static_is_sized_for_the_peak_at_the_target() -> None:
    trace = constant(700.0, 120)
    result = simulate(trace, "static", ServiceModel(capacity_rps=100.0))
    assert result.summary.max_replicas == 10  # 700 rps at 70 rps per replica


def test_step_scales_up_under_hpa_after_the_expected_delay() -> None:
    """15 s period, metric = rate since the previous tick: the step at 600 s is first seen by
    the tick at 615 s, which asks for more replicas; they are ready 30 s later."""
    model = ServiceModel(capacity_rps=100.0, startup_s=30)
    policy = default_service_policy("hpa", target=70.0, max_replicas=50)
    result = simulate(step(140.0, 700.0, 600, 1200), policy, model, keep_series=True)
    series = result.series
    assert series is not None
    assert series.requested[599] == 2  # 140 rps at target 70
    assert series.requested[614] == 2
    assert series.requested[615] > 2
    assert series.ready[644] == 2 and series.ready[645] > 2
    assert series.requested[-1] == 10  # 700 / 70
    # the step overloads 2 replicas until help arrives: violations only in that gap
    violating = np.flatnonzero(series.violation)
    assert violating.size > 0 and violating.min() >= 600 and violating.max() < 700


def test_a_longer_rate_window_delays_the_reaction() -> None:
    fast = ServiceModel(startup_s=30)
    slow = ServiceModel(startup_s=30, scrape_interval_s=15, rate_window_s=120)
    policy = default_service_policy("hpa", target=70.0, max_replicas=50)
    trace = step(140.0, 700.0, 600, 1200)
    first_up = []
    for model in (fast, slow):
        series = simulate(trace, policy, model, keep_series=True).series
        assert series is not None
        first_up.append(int(np.flatnonzero(series.requested >= 10)[0]))
    # the 120 s window averages the step in slowly, so the full count comes later
    assert first_up[1] > first_up[0] + 30


def test_scaler_sees_per_replica_rate_and_unready_replicas() -> None:
    scaler = Scripted({30.0: 4})
    policy = SimPolicy("scripted", scaler, period_s=5, initial_replicas=2)
    simulate(constant(120.0, 200), policy, ServiceModel(startup_s=20))
    seen = dict(scaler.seen)
    assert not seen[5.0].metrics_ok or seen[5.0].samples[0].value == pytest.approx(60.0)
    at_40 = seen[40.0]  # two ready at 60 rps each, two starting
    assert at_40.spec_replicas == 4
    assert [s.ready for s in at_40.samples] == [True, True, False, False]
    assert at_40.samples[0].value == pytest.approx(60.0)
    at_55 = seen[55.0]  # all four ready since 50 s: the window (50, 55] is 30 rps each
    assert [s.value for s in at_55.samples] == pytest.approx([30.0] * 4)


def test_scaler_is_called_once_per_period() -> None:
    scaler = Scripted({})
    policy = SimPolicy("scripted", scaler, period_s=7, initial_replicas=1)
    result = simulate(constant(10.0, 700), policy, ServiceModel())
    assert result.summary.decisions == len(scaler.seen) == 99
    assert [t for t, _ in scaler.seen[:3]] == [7.0, 14.0, 21.0]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        pytest.param("rps_per_replica", 50.0, id="rps"),
        pytest.param("cpu_percent", 50.0, id="cpu"),
        # Little's law with the M/M/4 wait at rho 0.5: Erlang C(4, 2) = 4/23
        pytest.param("inflight_per_replica", 50.0 * (0.04 + (4 / 23) * 0.04 / (4 * 0.5)), id="inflight"),
    ],
)
def test_metric_units(metric: str, expected: float) -> None:
    scaler = Scripted({})
    policy = SimPolicy("scripted", scaler, period_s=10, metric=metric, initial_replicas=2)
    simulate(constant(100.0, 100), policy, ServiceModel(capacity_rps=100.0, workers=4))
    value = scaler.seen[-1][1].samples[0].value
    assert value is not None
    assert value == pytest.approx(expected, rel=0.02)


def test_compare_runs_in_processes_like_in_process() -> None:
    trace = synthetic_trace("ramp", duration_s=1800, base_rps=50, peak_rps=1500)
    one = compare(trace, ["hpa", "static", "toolkit"], workers=1)
    two = compare(trace, ["hpa", "static", "toolkit"], workers=2)
    assert [r.summary for r in one.results] == [r.summary for r in two.results]
    ratios = one.ratios("static")
    assert ratios is not None and ratios["replica_seconds"] == pytest.approx(
        one.result("static").summary.replica_seconds / one.result("hpa").summary.replica_seconds
    )


def test_slo_counts_running_hot_even_without_backlog() -> None:
    model = ServiceModel(capacity_rps=100.0)
    limit = model.curve().rho_limit
    cool = simulate(constant(100.0 * (limit - 0.05), 60), "static", model, static_replicas=1)
    hot = simulate(constant(100.0 * min(limit + 0.03, 0.999), 60), "static", model, static_replicas=1)
    assert cool.summary.slo_violation_s == 0 and cool.summary.dropped == 0
    assert hot.summary.slo_violation_s == 60 and hot.summary.dropped == 0


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(ServiceModel(workers=16), id="long-service-time"),
        pytest.param(ServiceModel(slo_s=0.2), id="tight-slo"),
    ],
)
def test_toolkit_sizes_for_the_models_slo_where_a_fixed_target_violates_it(model: ServiceModel) -> None:
    """At 70 % of capacity these services already break a p95 SLO; toolkit is told the SLO by
    the simulator (as a user writes it in the policy) and sizes below the knee."""
    trace = synthetic_trace("daily", duration_s=6 * 3600, base_rps=100, peak_rps=1500)
    run = compare(trace, ["hpa", "toolkit"], model, workers=1)
    hpa, ours = run.result("hpa").summary, run.result("toolkit").summary
    assert hpa.slo_violation_s > 100
    assert ours.slo_violation_s < hpa.slo_violation_s / 2


def test_toolkit_reads_a_lagging_rate_over_the_replicas_that_produced_it() -> None:
    """Prometheus-like metrics (a 60 s rate scraped every 15 s): after a burst, the per-replica
    rate still averages over the burst's many replicas; times the smaller count after each
    scale-down it reads low, and scaling down on it cascades below what the load needs (here
    to one replica at 100 rps: 58 violating seconds). toolkit multiplies by the mean count
    over the metrics delay instead."""
    rps = np.concatenate([np.full(600, 100.0), np.full(60, 2000.0), np.full(1800, 100.0)])
    trace = Trace(rps=rps, source="burst").with_poisson(1)
    model = ServiceModel(scrape_interval_s=15, rate_window_s=60)
    result = simulate(trace, "toolkit", model, keep_series=True)
    assert result.series is not None
    after = slice(600 + 60 + 300, None)  # from five minutes after the burst, at 100 rps
    assert result.series.ready[after].min() >= 2  # 100 rps at 0.94 x 100 rps per replica needs 2
    assert not result.series.violation[after].any()


@pytest.mark.parametrize(
    ("period_s", "plan"),
    [
        pytest.param(2, {}, id="2s-steady"),
        pytest.param(2, {301.0: 6, 701.0: 3}, id="2s-scaled"),
        pytest.param(15, {300.0: 6, 705.0: 3}, id="15s-scaled"),
        pytest.param(7, {301.0: 5}, id="7s-scaled"),
    ],
)
def test_rate_seen_is_the_windows_requests_over_its_ready_replica_seconds(
    period_s: int, plan: dict[float, int]
) -> None:
    """Never overloaded, every tick's value is exactly (arrivals in the window) / (ready
    replica-seconds in it), bit for bit, through steady stretches and count changes alike."""
    trace = synthetic_trace("noise", base_rps=50.0, peak_rps=150.0, duration_s=1200, seed=4)
    scaler = Scripted(plan)
    policy = SimPolicy("scripted", scaler, period_s=period_s, initial_replicas=4)
    result = simulate(trace, policy, ServiceModel(startup_s=0), keep_series=True)
    assert result.series is not None and float(result.series.queued.max()) == 0.0
    arrived = np.concatenate(([0.0], np.cumsum(trace.rps)))
    ready = result.series.ready.tolist()
    assert len(scaler.seen) == 1200 // period_s - (1200 % period_s == 0)
    for now_s, observation in scaler.seen[1:]:
        t = int(now_s)
        expected = (arrived.item(t) - arrived.item(t - period_s)) / sum(ready[t - period_s : t])
        assert {s.value for s in observation.samples} == {expected}, now_s
        assert len(observation.samples) == ready[t - 1] == observation.spec_replicas, now_s


@pytest.mark.parametrize(
    ("model", "written_s", "expected_s"),
    [
        pytest.param(ServiceModel(scrape_interval_s=15, rate_window_s=60), None, 75.0, id="prometheus-like"),
        pytest.param(ServiceModel(), None, 0.0, id="rate-since-last-tick"),
        pytest.param(ServiceModel(scrape_interval_s=15, rate_window_s=60), 20.0, 20.0, id="written-stays"),
    ],
)
def test_the_model_is_the_metrics_source_for_toolkits_unset_delay(
    model: ServiceModel, written_s: float | None, expected_s: float
) -> None:
    policy = default_service_policy("toolkit", target=70.0, max_replicas=20)
    written = dataclasses.replace(policy.toolkit, metrics_delay_s=written_s)
    policy = dataclasses.replace(policy, toolkit=written)
    resolved = resolve(policy, constant(100.0, 60), model)
    assert resolved.scaler is not None
    assert resolved.scaler.metrics_delay_s == expected_s  # type: ignore[attr-defined]
