"""Benchmark: the pure decision code of each algorithm.

Prints, per algorithm (hpa, kpa, toolkit at their default periods):

- CPU microseconds per ``decide`` call for a service of 10 replicas with a warm state (the
  controller calls it once per service per tick; issue 5's budget is 50 ms of CPU for a tick
  of 1,000 services, all included);
- after a 5x step in load (4 replicas at target, then 5 times the demand), how many ticks
  until the first scale-up decision (target: within 2 ticks) and until the count covers the
  demand, and the seconds that is at the default period.

    .venv/bin/python bench/bench_decide.py
"""

from __future__ import annotations

import math
import time
from typing import Any

from toolkit.scale import ALGORITHMS, Observation, ReplicaSample, default_service_policy, make_scaler

TARGET = 10.0
CALLS = 20_000


def _observation(replicas: int, total: float) -> Observation:
    return Observation(replicas, (ReplicaSample(total / replicas),) * replicas)


def per_call_us(algorithm: str) -> float:
    policy = default_service_policy(algorithm, target=TARGET, max_replicas=100)
    scaler = make_scaler(policy)
    state: Any = scaler.initial_state()
    period = policy.period_s
    # warm the windows with a minute of gently varying demand
    now = 0.0
    for i in range(int(600 / period)):
        _, state = scaler.decide(state, _observation(10, 100.0 + (i % 7)), now)
        now += period
    observations = [_observation(10, 95.0 + (i % 11)) for i in range(64)]
    started = time.process_time()
    for i in range(CALLS):
        _, state = scaler.decide(state, observations[i & 63], now)
        now += period
    return (time.process_time() - started) / CALLS * 1e6


def step_response(algorithm: str) -> tuple[int, int, float]:
    """(ticks to the first scale-up, ticks until the count covers 5x demand, period_s); the
    new replicas are assumed ready at the next tick (the decision latency alone)."""
    policy = default_service_policy(algorithm, target=TARGET, max_replicas=100)
    scaler = make_scaler(policy)
    state: Any = scaler.initial_state()
    period = policy.period_s
    now = 0.0
    current = 4
    for _ in range(int(300 / period)):
        decision, state = scaler.decide(state, _observation(current, 4 * TARGET), now)
        current = decision.desired_replicas
        now += period
    demand = 5 * 4 * TARGET
    needed = math.ceil(demand / TARGET)
    first = covered = 0
    for tick in range(1, 200):
        decision, state = scaler.decide(state, _observation(current, demand), now)
        now += period
        if not first and decision.desired_replicas > current:
            first = tick
        current = decision.desired_replicas
        if current >= needed:
            covered = tick
            break
    return first, covered, period


def main() -> None:
    header = ("algorithm", "us/decide", "period s", "first up (ticks)", "covers 5x (ticks)", "(s)")
    widths = (10, 10, 10, 18, 19, 7)
    print(
        "".join(
            f"{h:<{w}}" if i == 0 else f"{h:>{w}}"
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    worst_us = 0.0
    for algorithm in ALGORITHMS:
        us = per_call_us(algorithm)
        worst_us = max(worst_us, us)
        first, covered, period = step_response(algorithm)
        print(f"{algorithm:<10}{us:>10.1f}{period:>10.0f}{first:>18d}{covered:>19d}{covered * period:>7.0f}")

    print(f"\n1,000 services x one decide (slowest algorithm): {worst_us:.1f} ms CPU (tick budget: 50 ms)")


if __name__ == "__main__":
    main()
