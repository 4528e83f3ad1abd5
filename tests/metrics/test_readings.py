"""Counter arithmetic between two scrapes: growth, resets, appearing series, quantiles."""

from __future__ import annotations

import math

import pytest

from toolkit.metrics._readings import (
    Reading,
    bucket_quantile,
    counter_increase,
    cpu_percent,
    latency_quantile,
    parse_reading,
    request_rate,
)

A = (("route", "/a"),)
B = (("route", "/b"),)


@pytest.mark.parametrize(
    ("old", "new", "reset", "expected"),
    [
        pytest.param({A: 10.0}, {A: 25.0}, False, 15.0, id="grows"),
        pytest.param({A: 10.0}, {A: 10.0}, False, 0.0, id="idle"),
        pytest.param({A: 100.0}, {A: 7.0}, False, 7.0, id="drop-is-a-reset-new-value-is-the-increase"),
        pytest.param({A: 10.0}, {A: 12.0, B: 3.0}, False, 5.0, id="series-appears-whole-value-counts"),
        pytest.param({A: 10.0, B: 4.0}, {A: 12.0}, False, 2.0, id="series-vanishes-contributes-nothing"),
        pytest.param({A: 100.0, B: 50.0}, {A: 3.0, B: 60.0}, False, 13.0, id="one-series-reset-other-grows"),
        pytest.param({A: 10.0}, {A: 30.0}, True, 30.0, id="restart-flag-counts-everything"),
    ],
)
def test_counter_increase(old: dict, new: dict, reset: bool, expected: float) -> None:
    assert counter_increase(old, new, reset) == pytest.approx(expected)


def test_restart_detected_by_start_time_even_when_counters_climbed_past() -> None:
    before = Reading(requests={A: 10.0}, start_time_s=100.0)
    after = Reading(requests={A: 40.0}, start_time_s=200.0)  # new process served 40 already
    assert request_rate(before, after, 10.0) == pytest.approx(4.0)
    same_process = Reading(requests={A: 40.0}, start_time_s=100.0)
    assert request_rate(before, same_process, 10.0) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("old_s", "new_s", "expected"),
    [
        pytest.param(1.0, 1.5, 10.0, id="half-a-core-second-in-5s"),
        pytest.param(3.0, 0.25, 5.0, id="reset"),
        pytest.param(None, 1.0, None, id="no-previous"),
        pytest.param(1.0, None, None, id="counter-absent"),
    ],
)
def test_cpu_percent(old_s: float | None, new_s: float | None, expected: float | None) -> None:
    result = cpu_percent(Reading(cpu_seconds=old_s), Reading(cpu_seconds=new_s), 5.0)
    assert result == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("pairs", "quantile", "expected"),
    [
        pytest.param([(0.1, 50.0), (0.5, 100.0), (math.inf, 100.0)], 0.5, 0.1, id="on-a-bound"),
        pytest.param([(0.1, 0.0), (0.5, 100.0), (math.inf, 100.0)], 0.95, 0.48, id="interpolated"),
        pytest.param([(0.1, 0.0), (0.5, 10.0), (math.inf, 100.0)], 0.95, 0.5, id="in-inf-bucket-upper-bound"),
        pytest.param([(0.1, 0.0), (math.inf, 0.0)], 0.95, 0.0, id="no-requests-is-zero"),
        pytest.param([], 0.95, None, id="no-histogram"),
    ],
)
def test_bucket_quantile(pairs: list[tuple[float, float]], quantile: float, expected: float | None) -> None:
    result = bucket_quantile(quantile, pairs)
    assert result == (pytest.approx(expected) if expected is not None else None)


def _buckets(route: str, counts: dict[str, float]) -> dict:
    return {(("le", le), ("method", "GET"), ("route", route)): c for le, c in counts.items()}


def test_latency_quantile_uses_only_the_requests_between_scrapes() -> None:
    # Before: 1000 slow requests (all in 0.5-1 s). Between scrapes: 100 fast ones (< 0.1 s).
    old = Reading(buckets=_buckets("/a", {"0.1": 0.0, "0.5": 0.0, "1.0": 1000.0, "+Inf": 1000.0}))
    new = Reading(buckets=_buckets("/a", {"0.1": 100.0, "0.5": 100.0, "1.0": 1100.0, "+Inf": 1100.0}))
    assert latency_quantile(old, new) == pytest.approx(0.095)


def test_latency_quantile_sums_routes() -> None:
    old = Reading()
    new = Reading(
        buckets={
            **_buckets("/a", {"0.1": 90.0, "1.0": 90.0, "+Inf": 90.0}),
            **_buckets("/b", {"0.1": 0.0, "1.0": 10.0, "+Inf": 10.0}),
        }
    )
    # 100 requests: 90 under 0.1 s, 10 in (0.1, 1]: p95 is half-way into the second bucket.
    assert latency_quantile(old, new) == pytest.approx(0.1 + 0.9 * 0.5)


def test_parse_reading_of_a_real_exposition() -> None:
    from prometheus_client import generate_latest

    from .exporters import Exporter

    exporter = Exporter(start_time_s=123.0)
    exporter.serve_requests(7)
    exporter.serve_requests(2, status="500")
    exporter.duration.labels("/items", "GET").observe(0.2)
    exporter.in_flight.set(3)
    exporter.cpu.inc(1.25)
    reading = parse_reading(generate_latest(exporter.registry).decode())
    assert sorted(reading.requests.values()) == [2.0, 7.0]
    assert reading.in_flight == 3.0
    assert reading.cpu_seconds == 1.25
    assert reading.start_time_s == 123.0
    assert reading.buckets[(("le", "0.25"), ("method", "GET"), ("route", "/items"))] == 1.0
