"""Benchmark: 30 days of trace at 1 s resolution (2.6M steps) for four policies.

Target (issue 6): under 10 s on this 2-core machine for hpa, kpa, static and toolkit.

Prints, for the WorldCup 1998 trace (its 30 busiest days, at the default model): the wall
time of ``compare`` (policies in parallel processes, as the CLI runs them), each policy's
CPU time and decision count, and - to separate the simulator from the decision code it
calls - the same runs with a scaler that does nothing (holding the static policy's count, so
never overloaded), at each policy's period.

    .venv/bin/python bench/bench_simulate.py [TRACE.csv] [--days 30]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from toolkit.scale import ALGORITHMS, Decision, Observation, Reason, default_service_policy
from toolkit.simulate import ServiceModel, SimPolicy, compare, load_trace, simulate

DEFAULT_TRACE = Path(__file__).resolve().parents[2] / "shared" / "traces" / "worldcup98-per-minute.csv"


class Hold:
    """A scaler that keeps the count: what is left is the simulator's own cost (its one
    Decision is built once, so that the figure is the loop's, not the scaler's)."""

    def __init__(self) -> None:
        self._decisions: dict[int, Decision] = {}

    def initial_state(self) -> None:
        return None

    def decide(self, state: None, observation: Observation, now_s: float) -> tuple[Decision, None]:
        count = observation.spec_replicas
        decision = self._decisions.get(count)
        if decision is None:
            decision = self._decisions[count] = Decision(count, Reason.WITHIN_TOLERANCE, None, count)
        return decision, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--days", type=float, default=30.0)
    args = parser.parse_args()

    started = time.perf_counter()
    full = load_trace(args.trace)
    load_s = time.perf_counter() - started
    length_s = int(args.days * 86_400)
    # the busiest window of that length (by requests), whole days
    best = full.busiest_start_s(length_s) // 86_400
    trace = full.window(best * 86_400, length_s)
    model = ServiceModel()
    print(f"trace {args.trace.name}: parsed {full.duration_s:,d} s in {load_s:.2f} s")
    print(
        f"window: days {best}-{best + int(args.days)}, {trace.duration_s:,d} steps, "
        f"{trace.total_requests:,.0f} requests, peak {trace.peak_rps:,.0f} rps; {os.cpu_count()} cores"
    )

    started = time.perf_counter()
    comparison = compare(trace, ["hpa", "kpa", "static", "toolkit"], model)
    wall_s = time.perf_counter() - started
    total_cpu_s = sum(r.cpu_s for r in comparison.results)
    print(
        f"\ncompare(hpa, kpa, static, toolkit): {wall_s:.2f} s wall, {total_cpu_s:.2f} s CPU (target < 10 s)"
    )
    print(
        f"{'policy':<9}{'decisions':>11}{'CPU s':>9}{'us/step':>9}"
        f"{'null-scaler CPU s':>19}{'decide us/call':>16}"
    )
    static_replicas = comparison.result("static").summary.max_replicas
    for result in comparison.results:
        null_cpu_s = 0.0
        per_call = 0.0
        if result.policy in ALGORITHMS:
            period_s = default_service_policy(result.policy).period_s
            # as many replicas as the static policy: never overloaded, so this is the per-tick cost
            null = SimPolicy("hold", Hold(), period_s=period_s, initial_replicas=static_replicas)
            null_cpu_s = simulate(trace, null, model).cpu_s
            per_call = (result.cpu_s - null_cpu_s) / result.summary.decisions * 1e6
        print(
            f"{result.policy:<9}{result.summary.decisions:>11,d}{result.cpu_s:>9.2f}"
            f"{result.cpu_s / trace.duration_s * 1e6:>9.2f}{null_cpu_s:>19.2f}{per_call:>16.1f}"
        )
    print()
    print(comparison.table())


if __name__ == "__main__":
    main()
