"""Benchmark of decision quality (not speed): cost and SLO of hpa, kpa and toolkit on real and
synthetic traffic, under several service models, beside the clairvoyant lower bound.

Issue 6's goals are stated against hpa on the WorldCup 1998 trace; the other models and
shapes are there so that no constant is judged on one trace or one service. For each
(trace, model) it prints replica-seconds relative to hpa, SLO-violation seconds, and the
lower bound (every second's load known, instant start-up, no violation) relative to hpa.

    .venv/bin/python bench/bench_policies.py [TRACE.csv] [--days 7] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from toolkit.simulate import SHAPES, ServiceModel, Trace, compare, load_trace, synthetic_trace

DEFAULT_TRACE = Path(__file__).resolve().parents[2] / "shared" / "traces" / "worldcup98-per-minute.csv"
POLICIES = ("hpa", "kpa", "toolkit")
MODELS: dict[str, ServiceModel] = {
    "default (4 workers, p95 0.5 s)": ServiceModel(),
    "tight SLO (p95 0.2 s)": ServiceModel(slo_s=0.2),
    "loose SLO (p95 1 s)": ServiceModel(slo_s=1.0),
    "slow service (16 workers, 160 ms)": ServiceModel(workers=16),
    "Prometheus metrics (15 s scrape, 60 s rate)": ServiceModel(scrape_interval_s=15, rate_window_s=60),
}


def busiest(trace: Trace, days: float) -> tuple[Trace, str]:
    length_s = int(days * 86_400)
    best = trace.busiest_start_s(length_s) // 86_400
    return trace.window(best * 86_400, length_s), f"WorldCup98 days {best}-{best + int(days)}"


def cases(trace_path: Path, days: float) -> Iterator[tuple[str, Trace]]:
    trace, name = busiest(load_trace(trace_path), days)
    yield name, trace
    for shape in SHAPES:
        yield f"synthetic {shape}", synthetic_trace(shape)


def row(args: tuple[str, Trace, str, ServiceModel]) -> str:
    name, trace, model_name, model = args
    run = compare(trace, POLICIES, model, workers=1)
    base = run.result("hpa").summary.replica_seconds
    cells = []
    for policy in POLICIES:
        s = run.result(policy).summary
        cells.append(f"{s.replica_seconds / base:.3f} / {s.slo_violation_s:,d}")
    bound = run.bound_replica_seconds or 0.0
    return f"| {name} | {model_name} | {' | '.join(cells)} | {bound / base:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="only these models")
    args = parser.parse_args()
    models = {name: MODELS[name] for name in args.model} if args.model else MODELS
    started = time.perf_counter()
    jobs = [(n, t, m, model) for n, t in cases(args.trace, args.days) for m, model in models.items()]
    print("cost vs hpa / SLO-violation seconds; bound = clairvoyant lower bound vs hpa\n")
    print(f"| trace | model | {' | '.join(POLICIES)} | bound |")
    print(f"|---|---|{'---|' * len(POLICIES)}---|")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for line in pool.map(row, jobs):
            print(line, flush=True)
    print(f"\n{len(jobs)} comparisons in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
