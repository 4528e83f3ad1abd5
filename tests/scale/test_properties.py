"""Properties every algorithm must have, whatever happened before (hypothesis):

- the count stays within [min_replicas, max_replicas];
- missing metrics (source down, or no replica reporting) never scale down;
- a higher load never gives fewer replicas than a lower one from the same state.

The state is built by replaying a random history first, so windows, panic mode and rate
histories are all exercised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.scale import (
    ALGORITHMS,
    Observation,
    ReplicaSample,
    ServicePolicy,
    default_service_policy,
    make_scaler,
)

from ._drive import total_obs


@dataclass(frozen=True)
class Setup:
    policy: ServicePolicy
    state: Any
    now_s: float


@st.composite
def setups(draw: st.DrawFn) -> Setup:
    algorithm = draw(st.sampled_from(ALGORITHMS))
    min_replicas = draw(st.integers(0 if algorithm != "hpa" else 1, 5))
    max_replicas = draw(st.integers(max(1, min_replicas), 40))
    target = draw(st.floats(0.5, 100.0))
    tolerance = draw(st.sampled_from([0.0, 0.05, 0.1, 0.3]))
    policy = default_service_policy(
        algorithm,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target=target,
        tolerance=tolerance,
    )
    scaler = make_scaler(policy)
    state = scaler.initial_state()
    history = draw(st.lists(st.tuples(st.floats(0.0, 5000.0), st.booleans()), max_size=25))
    current = max(1, min_replicas)
    now_s = 0.0
    for total, all_ready in history:
        ready = current if all_ready else current // 2
        decision, state = scaler.decide(state, total_obs(current, total, ready=ready), now_s)
        current = decision.desired_replicas
        now_s += policy.period_s
    return Setup(policy, state, now_s)


@st.composite
def observations(draw: st.DrawFn, spec: int | None = None) -> Observation:
    spec = draw(st.integers(0, 60)) if spec is None else spec
    value = st.one_of(st.none(), st.floats(0.0, 1000.0))
    samples = draw(st.lists(st.builds(ReplicaSample, value, st.booleans()), min_size=spec, max_size=spec))
    return Observation(spec, tuple(samples), draw(st.booleans()))


def _decide(setup: Setup, observation: Observation) -> int:
    decision, _ = make_scaler(setup.policy).decide(setup.state, observation, setup.now_s)
    return decision.desired_replicas


@settings(max_examples=150, deadline=None)
@given(setups(), observations())
def test_count_stays_within_bounds(setup: Setup, observation: Observation) -> None:
    desired = _decide(setup, observation)
    policy = setup.policy
    if policy.algorithm == "hpa" and observation.spec_replicas == 0:
        assert desired == 0  # HPA: scaling is disabled while the target has zero replicas
        return
    assert policy.min_replicas <= desired <= policy.max_replicas


@settings(max_examples=150, deadline=None)
@given(setups(), st.data())
def test_missing_metrics_never_scale_down(setup: Setup, data: st.DataObject) -> None:
    policy = setup.policy
    spec = data.draw(st.integers(max(1, policy.min_replicas), policy.max_replicas))
    observation = data.draw(observations(spec))
    source_down = data.draw(st.booleans())
    if source_down:
        observation = Observation(spec, observation.samples, metrics_ok=False)
    else:
        silent = tuple(ReplicaSample(None, s.ready) for s in observation.samples)
        observation = Observation(spec, silent, metrics_ok=True)
    assert _decide(setup, observation) >= spec


@settings(max_examples=150, deadline=None)
@given(setups(), st.data())
def test_higher_load_never_fewer_replicas(setup: Setup, data: st.DataObject) -> None:
    policy = setup.policy
    spec = data.draw(st.integers(max(1, policy.min_replicas), policy.max_replicas))
    ready = data.draw(st.integers(1, spec))
    values = data.draw(st.lists(st.floats(0.0, 1000.0), min_size=ready, max_size=ready))
    extra = data.draw(st.lists(st.floats(0.0, 1000.0), min_size=ready, max_size=ready))
    missing = data.draw(st.integers(0, ready - 1))

    def observe(per_replica: list[float]) -> Observation:
        samples = [ReplicaSample(v) for v in per_replica]
        samples[:missing] = [ReplicaSample(None)] * missing
        samples += [ReplicaSample(None, ready=False)] * (spec - ready)
        return Observation(spec, tuple(samples))

    low = _decide(setup, observe(values))
    high = _decide(setup, observe([v + e for v, e in zip(values, extra, strict=True)]))
    assert high >= low


@settings(max_examples=100, deadline=None)
@given(setups(), observations())
def test_decide_is_pure(setup: Setup, observation: Observation) -> None:
    """Same state, observation and time: same decision and same new state, and the state
    passed in is left as it was (it is an immutable value a caller may replay from)."""
    before = repr(setup.state)
    first = make_scaler(setup.policy).decide(setup.state, observation, setup.now_s)
    second = make_scaler(setup.policy).decide(setup.state, observation, setup.now_s)
    assert first == second
    assert repr(setup.state) == before
