"""The clairvoyant lower bound is the fewest replicas with which the simulator scores no
violation, second by second."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.simulate import ServiceModel, Trace, compare, simulate
from toolkit.simulate._bound import clairvoyant_replica_seconds


def constant(rps: float, duration_s: int) -> Trace:
    return Trace(rps=np.full(duration_s, rps), source="constant")


@pytest.mark.parametrize(
    ("rps", "model"),
    [
        pytest.param(50.0, ServiceModel(), id="under-one-replica"),
        pytest.param(930.0, ServiceModel(), id="just-under-the-knee-of-ten"),
        pytest.param(2000.0, ServiceModel(), id="many"),
        pytest.param(700.0, ServiceModel(workers=16), id="long-service-time"),
        pytest.param(700.0, ServiceModel(slo_s=2.0), id="loose-slo"),
    ],
)
def test_bound_is_the_fewest_replicas_without_violations(rps: float, model: ServiceModel) -> None:
    duration_s = 60
    replicas = clairvoyant_replica_seconds(constant(rps, duration_s), model) / duration_s
    assert replicas == int(replicas)
    enough = simulate(constant(rps, duration_s), "static", model, static_replicas=int(replicas))
    assert enough.summary.slo_violation_s == 0
    if replicas > 1:
        fewer = simulate(constant(rps, duration_s), "static", model, static_replicas=int(replicas) - 1)
        assert fewer.summary.slo_violation_s == duration_s


@pytest.mark.parametrize(("min_replicas", "expected"), [(0, 15.0), (1, 20.0), (3, 45.0)], ids=str)
def test_bound_keeps_min_replicas_through_idle_seconds(min_replicas: int, expected: float) -> None:
    trace = Trace(rps=np.array([0.0] * 5 + [50.0] * 5 + [150.0] * 5), source="steps")
    # 50 rps: 1 replica, 150 rps: 2 (the knee of the default model is near 94 %)
    assert clairvoyant_replica_seconds(trace, ServiceModel(), min_replicas) == expected


def test_unreachable_slo_has_no_bound_and_toolkit_falls_back_to_the_margin() -> None:
    """p95 <= 50 ms when a request takes 40 ms on average (exponential): no load meets it."""
    model = ServiceModel(slo_s=0.05)
    trace = constant(300.0, 120)
    assert clairvoyant_replica_seconds(trace, model) is None
    run = compare(trace, ["hpa", "toolkit"], model, workers=1)
    assert run.bound_replica_seconds is None
    assert run.as_dict()["bound"] is None
    assert "lower bound: none" in run.table()
    assert "target 70, capacity 100" in run.result("toolkit").description
