"""Benchmark of ``toolkit split`` (code generation only, no Docker).

    .venv/bin/python bench/bench_split.py [--repeat N] [--lnbits DIR --lnbits-plan FILE]

Prints wall and CPU seconds (median of N runs, each in this process after one warm-up) for
the example shop with its test plan, and optionally for an unpacked LNbits wheel with a plan
from ``toolkit analyze`` (see docs/commands/split.md for how that tree is made), plus the
number of files written and files per CPU second. The load average is printed because the
machine is shared: wall time mostly measures the neighbours, CPU time measures us.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from toolkit.analyze.plan import load_plan
from toolkit.split import split

REPO = Path(__file__).resolve().parents[1]


def measure(source: Path, plan_file: Path, repeat: int) -> tuple[float, float, int]:
    plan = load_plan(plan_file)
    walls: list[float] = []
    cpus: list[float] = []
    files = 0
    with tempfile.TemporaryDirectory(prefix="bench-split-") as tmp:
        for run in range(repeat + 1):
            out = Path(tmp) / f"out{run}"
            wall0, cpu0 = time.perf_counter(), time.process_time()
            files = split(source, out, plan).files
            if run:  # the first run warms imports and caches
                walls.append(time.perf_counter() - wall0)
                cpus.append(time.process_time() - cpu0)
    return statistics.median(walls), statistics.median(cpus), files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lnbits", type=Path)
    parser.add_argument("--lnbits-plan", type=Path)
    args = parser.parse_args()
    cases = [("shop (5 services)", REPO / "examples/shop", REPO / "tests/split/shop-plan.yaml")]
    if args.lnbits and args.lnbits_plan:
        cases.append(("lnbits 1.6.2 (8 services)", args.lnbits, args.lnbits_plan))
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'case':<28}{'wall s':>9}{'cpu s':>9}{'files':>8}{'files/cpu s':>13}")
    for name, source, plan in cases:
        wall, cpu, files = measure(source, plan, args.repeat)
        print(f"{name:<28}{wall:>9.2f}{cpu:>9.2f}{files:>8}{files / cpu:>13.0f}")


if __name__ == "__main__":
    main()
