"""Helpers that build observations and replay a scaler over hand-written ticks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolkit.scale import (
    Decision,
    Observation,
    ReplicaSample,
    ServicePolicy,
    default_service_policy,
    make_scaler,
)


def policy(algorithm: str, *, target: float, **overrides: Any) -> ServicePolicy:
    """The algorithm's built-in policy with ``target``, room to grow (max 100) and overrides."""
    values: dict[str, Any] = {"max_replicas": 100, **overrides}
    return default_service_policy(algorithm, target=target, **values)


def obs(
    current: int, values: Sequence[float | None] | float, *, unready: int = 0, ok: bool = True
) -> Observation:
    """``current`` replicas; ``values`` per ready replica (a float: the same for all of them,
    ``None``: that replica reported nothing); ``unready`` more replicas still starting."""
    if isinstance(values, int | float):
        values = [float(values)] * (current - unready)
    samples = tuple(ReplicaSample(v) for v in values) + (ReplicaSample(None, ready=False),) * unready
    return Observation(current, samples, ok)


def total_obs(current: int, total: float, *, ready: int | None = None) -> Observation:
    """``current`` replicas of which ``ready`` (default all) share ``total`` demand evenly."""
    ready = current if ready is None else ready
    per = total / ready if ready else 0.0
    samples = (ReplicaSample(per),) * ready + (ReplicaSample(None, ready=False),) * (current - ready)
    return Observation(current, samples)


def replay(
    policy: ServicePolicy, ticks: Sequence[tuple[float, Observation]], state: Any = None
) -> tuple[list[Decision], Any]:
    """Feed ``(now_s, observation)`` pairs in order; return every decision and the last state."""
    scaler = make_scaler(policy)
    state = scaler.initial_state() if state is None else state
    decisions = []
    for now_s, observation in ticks:
        decision, state = scaler.decide(state, observation, now_s)
        decisions.append(decision)
    return decisions, state


def follow(
    policy: ServicePolicy, totals: Sequence[float], *, start: int, period_s: float | None = None
) -> list[Decision]:
    """Closed loop: each tick the service has the count decided at the previous tick (all
    ready at once) and sees ``totals[i]`` of demand."""
    scaler = make_scaler(policy)
    state = scaler.initial_state()
    period = policy.period_s if period_s is None else period_s
    current = start
    decisions = []
    for i, total in enumerate(totals):
        decision, state = scaler.decide(state, total_obs(current, total), i * period)
        decisions.append(decision)
        current = decision.desired_replicas
    return decisions
