"""Benchmark ``toolkit new`` and the image it generates; prints figures (no pass/fail).

    .venv/bin/python bench/bench_new.py [--runs N] [--base-image IMAGE]

Figures (targets from issue 2):
  * ``toolkit new`` wall time, as a user runs it (a fresh process)      target < 1 s
  * image size on the local base, and what the service adds to the base
  * warm rebuild time: after a source edit, and with nothing changed
  * container start to ready (``/readyz`` polled from the host) and to healthy (``docker run``
    until Docker reports healthy: ready plus up to one health-check interval)   target < 3 s

Docker figures are skipped (and say so) when no engine is reachable. Everything the benchmark
creates (projects, image, containers) is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from toolkit import _docker
from toolkit.scaffold import render_service

TOOLKIT = Path(sys.executable).parent / "toolkit"


def _median_s(samples: list[float]) -> str:
    low, high = min(samples), max(samples)
    return f"median {statistics.median(samples):.3f} s (min {low:.3f}, max {high:.3f}, n={len(samples)})"


def bench_new_wall_time(runs: int, workdir: Path) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of ``toolkit new`` in a fresh process: on a shared
    machine the wall time follows the load, the CPU time does not."""
    wall, cpu = [], []
    for run in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [str(TOOLKIT), "new", f"bench-{run}", "--output-dir", str(workdir)],
            check=True,
            capture_output=True,
        )
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def _build(project: Path, tag: str, base_image: str, *, no_cache: bool = False) -> float:
    started = time.perf_counter()
    args = {"BASE_IMAGE": base_image}
    _docker.build_image(project, tags=[tag], build_args=args, no_cache=no_cache, timeout_s=900)
    return time.perf_counter() - started


def _start_to_healthy_s(tag: str, timeout_s: float = 120.0) -> float:
    started = time.perf_counter()
    container = _docker.run(["run", "--detach", "--publish", "127.0.0.1::8000", tag]).stdout.strip()
    try:
        while time.perf_counter() - started < timeout_s:
            status = _docker.run(
                ["inspect", "--format", "{{.State.Health.Status}}", container]
            ).stdout.strip()
            if status == "healthy":
                return time.perf_counter() - started
            time.sleep(0.02)
        raise SystemExit(f"container did not become healthy within {timeout_s:.0f} s")
    finally:
        _docker.run(["rm", "--force", container], check=False)


def _start_to_ready_s(tag: str, timeout_s: float = 120.0) -> float:
    """``docker run`` until ``/readyz`` answers 200 from the host: the service's own start
    time, without the wait for Docker's next health check (up to one interval, 2 s)."""
    started = time.perf_counter()
    container = _docker.run(["run", "--detach", "--publish", "127.0.0.1::8000", tag]).stdout.strip()
    try:
        address = _docker.run(["port", container, "8000/tcp"]).stdout.splitlines()[0].strip()
        while time.perf_counter() - started < timeout_s:
            try:
                if httpx.get(f"http://{address}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        raise SystemExit(f"container did not become ready within {timeout_s:.0f} s")
    finally:
        _docker.run(["rm", "--force", container], check=False)


def bench_docker(runs: int, workdir: Path, base_image: str, *, cold: bool) -> None:
    project = render_service(f"bench-img-{secrets.token_hex(3)}", workdir)
    tag = f"{project.name}:bench"
    try:
        first_s = _build(project, tag, base_image, no_cache=cold)
        kind = "cold, --no-cache, pip downloads" if cold else "layers cached from earlier builds"
        print(f"first build of a new project ({kind}): {first_s:.1f} s")
        size = _docker.image_size_bytes(tag)
        base = _docker.image_size_bytes(base_image)
        print(
            f"image size on {base_image}: {size / 1e6:.1f} MB "
            f"(base {base / 1e6:.1f} MB, service adds {(size - base) / 1e6:.1f} MB)"
        )

        unchanged = [_build(project, tag, base_image) for _ in range(runs)]
        print(f"warm rebuild, nothing changed:         {_median_s(unchanged)}")
        edited = []
        app = next(project.glob("src/*/app.py"))
        for run in range(runs):
            app.write_text(app.read_text() + f"\n# edit {run}\n")
            edited.append(_build(project, tag, base_image))
        print(f"warm rebuild after a source edit:      {_median_s(edited)}")

        ready = [_start_to_ready_s(tag) for _ in range(runs)]
        print(f"container start to ready (/readyz 200): {_median_s(ready)}")
        healthy = [_start_to_healthy_s(tag) for _ in range(runs)]
        print(f"container start to healthy (Docker):   {_median_s(healthy)}   (target < 3 s)")
    finally:
        _docker.run(["image", "rm", "--force", tag], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="Build the first image with --no-cache.")
    parser.add_argument(
        "--base-image", default=os.environ.get("TOOLKIT_BASE_IMAGE", "local/python:3.11-bookworm")
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-new-") as tmp:
        workdir = Path(tmp)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        wall, cpu = bench_new_wall_time(args.runs, workdir)
        print(f"toolkit new wall time:                 {_median_s(wall)}   (target < 1 s)")
        print(f"toolkit new CPU time (user+sys):       {_median_s(cpu)}")
        if _docker.engine_available():
            bench_docker(args.runs, workdir, args.base_image, cold=args.cold)
        else:
            print("docker figures skipped: no Docker engine reachable")
        print(f"load average after:  {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
