"""The shared pieces the scalers' speed rests on: the ordered float sum (same bits on every
Python version), the demand read once per observation, and scalers that remember their last
observation still deciding exactly as a fresh scaler does."""

from __future__ import annotations

import random
from functools import reduce
from operator import add

import pytest

from toolkit.scale import Observation, ReplicaSample, make_scaler
from toolkit.scale._common import DemandReader, demand_and_ready, observed_total, ordered_sum

from ._drive import obs, policy, total_obs


def _values(seed: int, count: int, spread: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-spread, spread) * 10 ** rng.randint(-8, 8) for _ in range(count)]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([], id="empty"),
        pytest.param([-0.0], id="negative-zero"),
        pytest.param([0.1] * 30, id="repeated-inexact"),
        pytest.param([1e16, 1.0, -1e16, 1.0], id="cancellation"),
        pytest.param(_values(1, 30, 1.0), id="random-30"),
        pytest.param(_values(2, 200, 1e3), id="random-200"),
    ],
)
def test_ordered_sum_adds_one_value_at_a_time_from_zero(values: list[float]) -> None:
    """Bit for bit the left-to-right sum from 0.0 (what KPA's averages are defined as), which a
    compensated sum (Python 3.12's ``sum``, ``math.fsum``) is not on the cancellation case."""
    assert ordered_sum(values).hex() == reduce(add, values, 0.0).hex()
    assert ordered_sum(reversed(values)).hex() == reduce(add, reversed(values), 0.0).hex()


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        pytest.param(obs(3, [10.0, 20.0, 30.0]), (60.0, 3), id="all-report"),
        pytest.param(obs(3, [10.0, None, 30.0]), (60.0, 3), id="missing-counts-at-average"),
        pytest.param(obs(4, [10.0, 30.0], unready=2), (40.0, 2), id="unready-left-out"),
        pytest.param(obs(2, [None, None]), (None, 2), id="none-reported"),
        pytest.param(obs(2, [10.0, 20.0], ok=False), (None, 2), id="source-down"),
        pytest.param(Observation(0, (ReplicaSample(7.0, ready=False),)), (7.0, 0), id="from-zero"),
    ],
)
def test_demand_and_ready(observation: Observation, expected: tuple[float | None, int]) -> None:
    assert demand_and_ready(observation) == expected
    assert observed_total(observation) == expected[0]
    assert demand_and_ready(observation)[1] == observation.ready_replicas


def test_demand_reader_never_returns_another_observations_figures() -> None:
    """Equal-looking but distinct observations are read afresh; the same object is not."""
    reader = DemandReader()
    first = total_obs(4, 100.0)
    second = total_obs(4, 180.0, ready=3)
    assert reader.read(first) == (100.0, 4)
    assert reader.read(second) == (180.0, 3)
    assert reader.read(first) == (100.0, 4)
    assert reader.read(first) == demand_and_ready(first)


@pytest.mark.parametrize("algorithm", ["hpa", "kpa"])
def test_a_scaler_fed_repeated_observations_decides_like_fresh_ones(algorithm: str) -> None:
    """Scalers remember their last observation; passing the same object again, or a new one
    in between, must give exactly the decisions of a scaler that remembers nothing."""
    service = policy(algorithm, target=10.0)
    low, high = total_obs(4, 30.0), total_obs(4, 90.0)
    sequence = [low, low, high, high, low, high, low, low]
    remembering = make_scaler(service)
    state = remembering.initial_state()
    reference_state = state
    for tick, observation in enumerate(sequence):
        now_s = 15.0 * tick
        decision, state = remembering.decide(state, observation, now_s)
        expected, reference_state = make_scaler(service).decide(reference_state, observation, now_s)
        assert decision == expected, tick
        assert state == reference_state, tick
