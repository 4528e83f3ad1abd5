"""The service model's settings and its latency curves against closed forms."""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np
import pytest

from toolkit._errors import ConfigError
from toolkit.simulate import ServiceModel


@pytest.mark.parametrize(
    ("values", "location"),
    [
        pytest.param({"capacity_rps": 0}, "model.capacity_rps", id="zero-capacity"),
        pytest.param({"capacity_rps": "fast"}, "model.capacity_rps", id="text-capacity"),
        pytest.param({"workers": 0}, "model.workers", id="no-workers"),
        pytest.param({"startup_s": -1}, "model.startup_s", id="negative-startup"),
        pytest.param({"scrape_interval_s": 0.5}, "model.scrape_interval_s", id="sub-second-scrape"),
        pytest.param({"slo_quantile": 1.0}, "model.slo_quantile", id="quantile-one"),
        pytest.param({"slo_kind": "p99"}, "model.slo_kind", id="unknown-kind"),
        pytest.param({"queue_limit": -3}, "model.queue_limit", id="negative-queue"),
        pytest.param({"initial_replicas": 0}, "model.initial_replicas", id="no-initial"),
        pytest.param({"speed": 1}, "model.speed", id="unknown-key"),
        pytest.param({"service_time_s": 0.1, "capacity_rps": 10}, "model", id="both-capacity-forms"),
        pytest.param({"service_time_s": -0.1}, "model.service_time_s", id="negative-service-time"),
        pytest.param({"service_time_cv": -0.5}, "model.service_time_cv", id="negative-cv"),
        pytest.param({"service_time_cv": 11}, "model.service_time_cv", id="cv-beyond-ten"),
        pytest.param({"service_time_cv": "wide"}, "model.service_time_cv", id="text-cv"),
    ],
)
def test_bad_settings_name_the_field(values: dict[str, Any], location: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceModel.from_mapping(values, file="model.yaml")
    assert caught.value.location == location
    assert "model.yaml" in str(caught.value)


def test_service_time_sets_capacity() -> None:
    model = ServiceModel.from_mapping({"service_time_s": 0.02, "workers": 2})
    assert model.capacity_rps == pytest.approx(100.0)
    assert model.service_time_s == pytest.approx(0.02)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.8, 0.95])
def test_single_worker_p95_is_the_mm1_closed_form(rho: float) -> None:
    # M/M/1 sojourn time is exponential with rate mu - lambda: p95 = ln(20) / (mu (1 - rho))
    model = ServiceModel(capacity_rps=20.0, workers=1)
    curve = model.curve()
    p95 = float(np.interp(rho, curve.rho, curve.p95_s))
    assert p95 == pytest.approx(math.log(20.0) / (20.0 * (1.0 - rho)), rel=1e-3)


def test_erlang_c_matches_the_textbook_value() -> None:
    # c = 4 servers, offered load 2 Erlang (rho 0.5): C = 4/23
    curve = ServiceModel(workers=4).curve()
    assert float(np.interp(0.5, curve.rho, curve.erlang_c)) == pytest.approx(4 / 23, rel=1e-4)


def test_fraction_over_grows_with_utilisation_and_backlog() -> None:
    curve = ServiceModel().curve()
    rho = np.array([0.3, 0.6, 0.9, 0.99])
    calm = curve.fraction_over(rho, np.zeros(4))
    assert np.all(np.diff(calm) > 0)
    behind = curve.fraction_over(rho, np.full(4, 0.45))
    assert np.all(behind >= calm)
    assert np.all(curve.fraction_over(rho, np.full(4, 0.6)) == 1.0)  # the backlog alone is over 0.5 s


def test_queueing_slo_is_looser_than_latency() -> None:
    latency = ServiceModel(slo_s=0.2).curve()
    queueing = ServiceModel(slo_s=0.2, slo_kind="queueing").curve()
    assert queueing.rho_limit > latency.rho_limit


def _simulated_tail(workers: int, service_time_s: float, cv: float, rho: float, y_s: float) -> float:
    """P(latency > y) measured by a discrete-event simulation of a FCFS replica with
    ``workers`` servers, Poisson arrivals and lognormal (cv 0: fixed) service times."""
    rng = np.random.default_rng(7)
    n = 60_000
    arrivals = np.cumsum(rng.exponential(service_time_s / (rho * workers), n))
    if cv == 0.0:
        services = np.full(n, service_time_s)
    else:
        sigma = math.sqrt(math.log1p(cv * cv))
        services = rng.lognormal(math.log(service_time_s) - sigma * sigma / 2.0, sigma, n)
    free_at = [0.0] * workers
    latencies = np.empty(n)
    for i, (arrival, service) in enumerate(zip(arrivals.tolist(), services.tolist(), strict=True)):
        done = max(heapq.heappop(free_at), arrival) + service
        heapq.heappush(free_at, done)
        latencies[i] = done - arrival
    return float((latencies[n // 10 :] > y_s).mean())  # the first tenth warms the queue up


@pytest.mark.parametrize(
    ("workers", "cv", "rho", "slo_s"),
    [
        pytest.param(1, 0.0, 0.6, 0.5, id="one-worker-fixed"),
        pytest.param(1, 0.5, 0.6, 0.5, id="one-worker-low-variation"),
        pytest.param(1, 2.0, 0.3, 0.5, id="one-worker-long-tail"),
        pytest.param(4, 0.0, 0.9, 0.2, id="four-workers-fixed-hot"),
        pytest.param(4, 2.0, 0.8, 0.5, id="four-workers-long-tail"),
        pytest.param(16, 2.0, 0.8, 0.5, id="sixteen-workers-long-tail"),
    ],
)
def test_general_service_times_against_a_discrete_event_simulation(
    workers: int, cv: float, rho: float, slo_s: float
) -> None:
    """The M/G/c tail (Allen-Cunneen wait, exact service time) against a queue simulated
    request by request: at most 2 points under it, and at most 5 over (the approximation
    overstates long tails' waits: 0.19 for 0.13-0.17 over three seeds at four workers, cv 2,
    rho 0.8); the exponential case is exact and tested above."""
    model = ServiceModel(capacity_rps=workers / 0.1, workers=workers, slo_s=slo_s, service_time_cv=cv)
    curve = model.curve()
    predicted = float(np.interp(rho, curve.rho, curve.over_slo))
    simulated = _simulated_tail(workers, 0.1, cv, rho, slo_s)
    assert simulated - 0.02 <= predicted <= simulated + 0.05


@pytest.mark.parametrize("cv", [0.0, 0.5, 2.0], ids=str)
def test_one_worker_mean_wait_is_pollaczek_khinchine(cv: float) -> None:
    """M/G/1: mean wait = rho / (1 - rho) * E[S] * (1 + cv^2) / 2, whatever the distribution."""
    curve = ServiceModel(capacity_rps=10.0, workers=1, service_time_cv=cv).curve()
    for rho in (0.3, 0.7, 0.9):
        expected = rho / (1.0 - rho) * 0.1 * (1.0 + cv * cv) / 2.0
        assert float(np.interp(rho, curve.rho, curve.mean_wait_s)) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("cv", "larger_cv"), [(0.0, 0.5), (0.5, 1.0), (1.0, 2.0)], ids=["0-0.5", "0.5-1", "1-2"]
)
def test_more_variable_service_times_break_the_slo_sooner(cv: float, larger_cv: float) -> None:
    steady, variable = (ServiceModel(service_time_cv=c).curve() for c in (cv, larger_cv))
    assert variable.rho_limit < steady.rho_limit
    assert float(np.interp(0.8, variable.rho, variable.p95_s)) > float(
        np.interp(0.8, steady.rho, steady.p95_s)
    )
