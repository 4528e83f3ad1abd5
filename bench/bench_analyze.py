"""Benchmark of ``toolkit analyze`` on real code downloaded from PyPI (nothing is committed).

    .venv/bin/python bench/bench_analyze.py [--corpus DIR] [--repeat N]

Prints, for Django 5.2 alone and for a 500k+ line tree made of several large packages
(Django, Wagtail, SQLAlchemy, Indico, pretalx, FlaskBB side by side):

* a cold full analysis (imports, calls, routes, models, clustering, metrics, cache write),
* a re-run on the unchanged tree (answered from the content-keyed cache),
* a re-run with other options (facts cached, resolution + clustering + metrics redone),
* peak memory (max RSS of the process doing the analysis), lines per second,
* for comparison on the same files and in the same conditions: grimp's import graph and a
  bare ``ast.parse`` + ``ast.walk`` of every file.

Every measurement runs in a fresh interpreter; wall and CPU seconds are both printed, with the
load average, because the machine is shared (wall time mostly measures the neighbours).
Targets (issue 3): Django <= 1.5 s, 500k+ lines <= 10 s, unchanged re-run <= 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from toolkit.analyze._pypi import fetch_package

PACKAGES = {
    # distribution spec -> top-level packages it contributes to the big tree
    "django==5.2.*": ["django"],
    "wagtail==8.0.*": ["wagtail"],
    "sqlalchemy==2.0.*": ["sqlalchemy"],
    "indico==3.2.*": ["indico"],
    "pretalx": ["pretalx"],
    "flaskbb": ["flaskbb"],
}

RUN_ANALYSIS = """
import json, resource, sys, time
from toolkit.analyze import analyze
path, cache, use_cache, services = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
wall, cpu = time.perf_counter(), time.process_time()
result = analyze(path, cache_dir=cache, use_cache=use_cache, services=int(services) if services else None)
print(json.dumps({
    "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "lines": result.lines, "modules": len(result.program.modules), "routes": len(result.program.routes),
    "models": len(result.program.models), "services": len(result.plan.services), "cached": result.cached,
    "stages": result.timings_s,
}))
"""

RUN_BASELINE = """
import ast, gc, json, os, sys, time
sys.path.insert(0, sys.argv[1])
kind, package = sys.argv[2], sys.argv[3]
wall, cpu = time.perf_counter(), time.process_time()
if kind == "grimp":
    import grimp
    graph = grimp.build_graph(package, cache_dir=None)
    count = len(graph.modules)
else:
    gc.disable()
    count = 0
    for dirpath, dirnames, filenames in os.walk(os.path.join(sys.argv[1], package)):
        dirnames[:] = [d for d in dirnames if d not in ("tests", "__pycache__")]
        for name in filenames:
            if name.endswith(".py") and not name.startswith("test_"):
                with open(os.path.join(dirpath, name), "rb") as handle:
                    for _ in ast.walk(ast.parse(handle.read())):
                        pass
                count += 1
elapsed = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
print(json.dumps({**elapsed, "modules": count}))
"""


def fetch(corpus: Path) -> Path:
    """Download and unpack every distribution once (``pip download --no-deps``)."""
    for spec, tops in PACKAGES.items():
        fetch_package(spec, tops, corpus)
    return corpus / "src"


def one_package_tree(src: Path, package: str, corpus: Path) -> Path:
    tree = corpus / f"tree-{package}"
    tree.mkdir(exist_ok=True)
    link = tree / package
    if not link.exists():
        link.symlink_to(src / package, target_is_directory=True)
    return tree


def big_tree(src: Path, corpus: Path) -> Path:
    tree = corpus / "tree-big"
    tree.mkdir(exist_ok=True)
    for tops in PACKAGES.values():
        for top in tops:
            link = tree / top
            if not link.exists():
                link.symlink_to(src / top, target_is_directory=True)
    return tree


def run(code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_tree(name: str, tree: Path, repeat: int) -> dict[str, Any]:
    cold, warm, options = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="tkt-bench-cache-") as cache:
            cold.append(run(RUN_ANALYSIS, str(tree), cache, "1", ""))
            warm.append(run(RUN_ANALYSIS, str(tree), cache, "1", ""))
            options.append(run(RUN_ANALYSIS, str(tree), cache, "1", "3"))
    first = cold[0]
    return {
        "tree": name,
        "lines": first["lines"],
        "modules": first["modules"],
        "routes": first["routes"],
        "models": first["models"],
        "services": first["services"],
        "cold_wall_s": median([float(r["wall_s"]) for r in cold]),
        "cold_cpu_s": median([float(r["cpu_s"]) for r in cold]),
        "cold_min_wall_s": min(float(r["wall_s"]) for r in cold),
        "rerun_wall_s": median([float(r["wall_s"]) for r in warm]),
        "rerun_cpu_s": median([float(r["cpu_s"]) for r in warm]),
        "rerun_cached": warm[0]["cached"],
        "other_options_wall_s": median([float(r["wall_s"]) for r in options]),
        "other_options_cached": options[0]["cached"],
        "peak_rss_mb": max(float(r["maxrss_mb"]) for r in cold),
        "stages_s": first["stages"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "toolkit" / "bench-corpus")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.corpus.mkdir(parents=True, exist_ok=True)
    src = fetch(args.corpus)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    django_tree = one_package_tree(src, "django", args.corpus)
    results = [
        bench_tree("django-5.2", django_tree, args.repeat),
        bench_tree("big", big_tree(src, args.corpus), args.repeat),
    ]
    grimp = [run(RUN_BASELINE, str(django_tree), "grimp", "django") for _ in range(args.repeat)]
    bare = [run(RUN_BASELINE, str(django_tree), "ast", "django") for _ in range(args.repeat)]
    targets = {"django-5.2": 1.5, "big": 10.0}
    print(
        f"\n{'tree':<11}{'lines':>9}{'modules':>8}{'routes':>7}{'models':>7}  "
        f"{'cold wall':>9} {'cold cpu':>9} {'target':>6}  {'re-run':>7}  {'other opts':>10}  "
        f"{'peak RSS':>8}  lines/s (cpu)"
    )
    for r in results:
        lines = int(r["lines"])
        print(
            f"{r['tree']:<11}{lines:>9}{r['modules']:>8}{r['routes']:>7}{r['models']:>7}  "
            f"{r['cold_wall_s']:>8.2f}s {r['cold_cpu_s']:>8.2f}s {targets[str(r['tree'])]:>5.1f}s  "
            f"{r['rerun_wall_s']:>6.3f}s  {r['other_options_wall_s']:>9.2f}s  {r['peak_rss_mb']:>6.0f}MB  "
            f"{lines / float(r['cold_cpu_s']):>9.0f}"
        )
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stages_s"].items())
        print(
            f"{'':<11}stages (wall s): {stages}; re-run: {r['rerun_cpu_s']:.3f}s cpu, "
            f"cache {r['rerun_cached']}; other options: cache {r['other_options_cached']}"
        )
    print(
        f"\ndjango, same files: grimp import graph {median([float(g['wall_s']) for g in grimp]):.2f}s wall "
        f"/ {median([float(g['cpu_s']) for g in grimp]):.2f}s cpu ({grimp[0]['modules']} modules); "
        f"bare ast.parse+walk {median([float(b['wall_s']) for b in bare]):.2f}s wall "
        f"/ {median([float(b['cpu_s']) for b in bare]):.2f}s cpu"
    )
    bare_cpu = median([float(b["cpu_s"]) for b in bare])
    print(
        f"full analysis / bare parse+walk, cpu: {float(results[0]['cold_cpu_s']) / bare_cpu:.2f}x on django "
        "(a load-independent ratio: the analysis costs this many bare parses)"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at end ({os.cpu_count()} CPUs shared)")
    print(json.dumps({"results": results, "grimp": grimp, "bare_parse": bare}, default=str))


if __name__ == "__main__":
    main()
