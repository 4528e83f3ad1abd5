"""Replay a trace as real HTTP load, and report it in the simulator's format.

Second ``i`` of the trace sends its requests spread over that second. Two generators:

* ``hey`` (default): the Go load generator, started for each second of trace with as many
  rate-limited workers as needed to send that second's requests in ten evenly spaced bursts;
  every request's latency and status come from its CSV output. Fast (thousands of requests
  per second from one core).
* ``httpx``: in this process, strictly open loop (requests go out when due whether or not
  earlier ones were answered) with latency measured from the moment a request was due, so a
  slow server cannot hide behind a lower rate. Python's per-request cost limits it to tens of
  requests per second on a small machine.

Per-second counts are whole requests obtained by rounding the cumulative count, so the total
matches the trace.

Bounds, always: the target must be a loopback address (this is for your own stack, through
its published gateway port), at most ``MAX_DURATION_S`` seconds and ``MAX_RPS`` requests per
second, and at most ``max_inflight`` requests in flight (a request due while that many are
outstanding is not sent and counts as dropped).

While it runs, a backend (``compose``, ``swarm``) can be read every ``sample_s`` to record the
service's replica count, which gives the same cost figures the simulator reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt

from toolkit._errors import OperationError, UsageError
from toolkit.simulate._engine import SimResult, Summary, timeline_of
from toolkit.simulate._service import ServiceModel
from toolkit.simulate._trace import Trace

MAX_DURATION_S = 3_600
MAX_RPS = 5_000
MEASURED = "measured"
GENERATORS = ("hey", "httpx")
# Requests one hey worker sends in a second, evenly spaced (``-q``). hey's workers all send
# their first request the moment it starts and then keep their own pace, so a second's
# requests arrive in this many bursts of count / HEY_SENDS_PER_S each (one burst per second
# made p50 ~100 ms at 20 rps on a single-process service that answers in 8 ms spread out).
HEY_SENDS_PER_S = 10

ReplicaReader = Callable[[], int]


@dataclass(frozen=True)
class LoadReport:
    """A measured run: the simulator-shaped result, plus what only a real run has."""

    result: SimResult
    latency_s: dict[str, float | None]
    status_counts: dict[str, int]
    unsent: int
    replicas_measured: bool


def check_target(url: str) -> httpx.URL:
    """The URL, if it is http(s) to a loopback host; anything else is refused."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as err:
        raise UsageError(f"--target {url!r} is not a URL: {err}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"--target {url!r} must be an http:// or https:// URL")
    host = parsed.host
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if not loopback:
        raise UsageError(
            f"--target host {host!r} is not a loopback address; load tests only run against your own "
            "stack on 127.0.0.1 (publish its gateway port there)"
        )
    return parsed


def whole_requests(trace: Trace) -> npt.NDArray[np.int64]:
    """Per-second whole request counts whose running total follows the trace's."""
    cumulative = np.floor(np.concatenate(([0.0], np.cumsum(trace.rps))) + 1e-9)
    return np.diff(cumulative).astype(np.int64)


def check_bounds(counts: npt.NDArray[np.int64]) -> None:
    if counts.shape[0] > MAX_DURATION_S:
        raise UsageError(f"a load test lasts at most {MAX_DURATION_S} s, this one {counts.shape[0]} s")
    peak = int(counts.max()) if counts.size else 0
    if peak > MAX_RPS:
        raise UsageError(f"a load test sends at most {MAX_RPS} requests/s, this one {peak}")
    if peak == 0:
        raise UsageError("the trace slice has no requests to send")


def check_load(trace: Trace, target: str, max_inflight: int) -> tuple[httpx.URL, npt.NDArray[np.int64]]:
    """Refuse a load test outside the bounds before anything is sent; the URL and counts."""
    url = check_target(target)
    counts = whole_requests(trace)
    check_bounds(counts)
    if not 1 <= max_inflight <= 10_000:
        raise UsageError(f"max in-flight must be between 1 and 10000, got {max_inflight}")
    return url, counts


@dataclass
class _Tally:
    """Per-second outcomes, filled by the request tasks."""

    ok: npt.NDArray[np.float64]
    over: npt.NDArray[np.float64]
    failed: npt.NDArray[np.float64]
    latencies: list[float]
    statuses: dict[str, int]
    slo_s: float
    unsent: int = 0

    def answered(self, second: int, status: str, latency_s: float) -> None:
        """One answer (``status`` a code, or the name of a transport failure)."""
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status.isdigit() and int(status) < 500 and int(status) != 429:
            self.ok[second] += 1
            self.latencies.append(latency_s)
            if latency_s > self.slo_s:
                self.over[second] += 1
        else:
            self.failed[second] += 1

    def lost(self, second: int, count: int, why: str) -> None:
        """Requests of ``second`` that got no answer at all (``unsent``, ``error``)."""
        self.failed[second] += count
        self.statuses[why] = self.statuses.get(why, 0) + count
        if why == "unsent":
            self.unsent += count


async def _drive(
    url: httpx.URL,
    counts: npt.NDArray[np.int64],
    *,
    timeout_s: float,
    max_inflight: int,
    tally: _Tally,
) -> None:
    limits = httpx.Limits(max_connections=max_inflight, max_keepalive_connections=max_inflight)
    inflight = 0
    async with httpx.AsyncClient(limits=limits, timeout=timeout_s, trust_env=False) as client:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05

        async def one(second: int, due: float) -> None:
            nonlocal inflight
            try:
                response = await client.get(url)
                status = str(response.status_code)
            except httpx.TimeoutException:
                status = "timeout"
            except httpx.HTTPError as err:
                status = type(err).__name__
            finally:
                inflight -= 1
            tally.answered(second, status, loop.time() - due)

        tasks: set[asyncio.Task[None]] = set()
        for second, count in enumerate(counts.tolist()):
            for j in range(count):
                due = start + second + (j + 0.5) / count
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if inflight >= max_inflight:
                    tally.lost(second, 1, "unsent")
                    continue
                inflight += 1
                task = asyncio.create_task(one(second, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)


def _hey_batches(count: int) -> list[tuple[int, int]]:
    """(workers, requests each) covering exactly ``count`` requests in one second, each worker
    sending at most ``HEY_SENDS_PER_S``: hey gives every worker the same number, so a
    remainder becomes a second batch of one each."""
    workers = math.ceil(count / HEY_SENDS_PER_S)
    each, rest = divmod(count, workers)
    return [(workers, each)] + ([(rest, 1)] if rest else [])


def _drive_hey(
    url: httpx.URL,
    counts: npt.NDArray[np.int64],
    *,
    timeout_s: float,
    max_inflight: int,
    tally: _Tally,
) -> None:
    """Start hey for each second of the trace at that second, rate-limited to spread the
    requests over it (``_hey_batches``; ``-q``: per-worker rate); read every request's latency
    and status from its CSV. hey times a request from when it is sent; with a slow server a
    worker falls behind its schedule (closed loop within the second). While more than
    ``max_inflight`` requests of earlier seconds are still unanswered, a second is not sent
    (counted as dropped)."""
    binary = shutil.which("hey")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="toolkit-loadtest-") as scratch:
        running: list[tuple[int, int, subprocess.Popen[bytes], Path]] = []
        start = time.monotonic() + 0.1
        for second, count in enumerate(counts.tolist()):
            if count == 0:
                continue
            delay = start + second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            # requests of earlier seconds still unanswered (this second's own hey may still run)
            pending = sum(n for began, n, proc, _ in running if began < second - 1 and proc.poll() is None)
            if pending > max_inflight:
                tally.lost(second, count, "unsent")
                continue
            for i, (workers, each) in enumerate(_hey_batches(count)):
                out = Path(scratch) / f"{second}-{i}.csv"
                command = [binary, "-n", str(workers * each), "-c", str(workers), "-q", str(each)]
                command += ["-t", str(max(1, math.ceil(timeout_s))), "-o", "csv", str(url)]
                with out.open("wb") as sink:
                    proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL)
                running.append((second, workers * each, proc, out))
        for second, sent, proc, out in running:
            try:
                proc.wait(timeout=timeout_s * sent + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            answered = 0
            for line in out.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
                fields = line.split(",")
                if len(fields) < 7:
                    continue
                answered += 1
                tally.answered(second, fields[6], float(fields[0]))
            if answered < sent:
                tally.lost(second, sent - answered, "error")


class _ReplicaSampler:
    """Reads the replica count every ``period_s`` in a thread (backend calls block)."""

    def __init__(self, read: ReplicaReader, period_s: float) -> None:
        self.read = read
        self.period_s = period_s
        self.samples: list[tuple[float, int]] = []
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="replica-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.read()))
            except Exception as err:  # reported after the run; sampling stops
                self.error = err
                return
            self._stop.wait(self.period_s)

    def __enter__(self) -> _ReplicaSampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def per_second(self, duration_s: int) -> npt.NDArray[np.int64]:
        """The count in force during each second (the latest sample at its start)."""
        out = np.zeros(duration_s, dtype=np.int64)
        if not self.samples:
            return out
        times = np.array([t - self.started for t, _ in self.samples])
        values = np.array([v for _, v in self.samples], dtype=np.int64)
        index = np.searchsorted(times, np.arange(duration_s, dtype=np.float64), side="right") - 1
        return np.where(index >= 0, values[np.maximum(index, 0)], values[0])


def run_load(
    trace: Trace,
    target: str,
    model: ServiceModel,
    *,
    timeout_s: float = 10.0,
    max_inflight: int = 512,
    read_replicas: ReplicaReader | None = None,
    sample_s: float = 1.0,
    generator: str = "hey",
) -> LoadReport:
    """Send ``trace`` (one value per second) to ``target`` and measure what came back.

    ``model`` supplies the SLO (``slo_s``, ``slo_quantile``; measured latency is end to end,
    so ``slo_kind`` does not apply) and the capacity used for utilisation. ``generator`` is
    ``hey`` (the Go load generator; a few processes per second of trace) or ``httpx`` (in this
    process, open loop; fine for tens of requests per second, CPU-bound beyond).
    """
    if generator not in GENERATORS:
        raise UsageError(f"unknown load generator {generator!r}; choose from {', '.join(GENERATORS)}")
    if generator == "hey" and shutil.which("hey") is None:
        raise UsageError(
            "the hey load generator is not on PATH (apt-get install hey), or use --generator httpx"
        )
    url, counts = check_load(trace, target, max_inflight)
    n_s = int(counts.shape[0])
    tally = _Tally(np.zeros(n_s), np.zeros(n_s), np.zeros(n_s), [], {}, slo_s=model.slo_s)
    started, started_cpu = time.perf_counter(), time.process_time()
    sampler = _ReplicaSampler(read_replicas, sample_s) if read_replicas is not None else None
    with contextlib.ExitStack() as stack:
        if sampler is not None:
            stack.enter_context(sampler)
        if generator == "hey":
            _drive_hey(url, counts, timeout_s=timeout_s, max_inflight=max_inflight, tally=tally)
        else:
            asyncio.run(_drive(url, counts, timeout_s=timeout_s, max_inflight=max_inflight, tally=tally))
    if sampler is not None and sampler.error is not None:
        raise OperationError(f"reading the replica count failed during the run: {sampler.error}")
    replicas = sampler.per_second(n_s) if sampler is not None else np.zeros(n_s, dtype=np.int64)
    arrivals = counts.astype(np.float64)
    violation = (arrivals > 0) & (tally.over + tally.failed > (1.0 - model.slo_quantile) * arrivals)
    changes = int(np.count_nonzero(np.diff(replicas))) if n_s > 1 else 0
    replica_seconds = float(replicas.sum())
    served = float(tally.ok.sum())
    summary = Summary(
        duration_s=n_s,
        requests=float(arrivals.sum()),
        served=served,
        dropped=float(tally.failed.sum()),
        queued_at_end=0.0,
        over_slo=float(tally.over.sum()),
        slo_violation_s=int(violation.sum()),
        replica_seconds=replica_seconds,
        mean_replicas=replica_seconds / n_s,
        max_replicas=int(replicas.max()) if n_s else 0,
        scale_events=changes,
        decisions=0,
        mean_utilisation=served / (replica_seconds * model.capacity_rps) if replica_seconds else 0.0,
    )
    latencies = np.array(tally.latencies) if tally.latencies else None

    def quantile(q: float) -> float | None:
        return float(np.quantile(latencies, q)) if latencies is not None else None

    result = SimResult(
        policy=MEASURED,
        description=f"{n_s} s of load against {url}" + ("" if sampler else " (replicas not read)"),
        summary=summary,
        timeline=timeline_of(arrivals, replicas, replicas, violation),
        reasons={},
        elapsed_s=time.perf_counter() - started,
        cpu_s=time.process_time() - started_cpu,
    )
    return LoadReport(
        result=result,
        latency_s={
            "p50": quantile(0.5),
            "p95": quantile(0.95),
            "p99": quantile(0.99),
            "max": float(latencies.max()) if latencies is not None else None,
        },
        status_counts=dict(sorted(tally.statuses.items())),
        unsent=tally.unsent,
        replicas_measured=sampler is not None,
    )


def backend_reader(backend_name: str, project: str | None, service: str) -> ReplicaReader:
    """A reader of ``service``'s replica count (containers asked for) from a scaling backend."""
    from toolkit.backends import BackendOptions, make_backend

    backend = make_backend(backend_name, BackendOptions(project=project))

    def read() -> int:
        state = backend.snapshot().get(service)
        return state.spec_replicas if state is not None else 0

    read()  # fail before the load starts if the backend or service cannot be read
    return read


__all__ = [
    "MAX_DURATION_S",
    "MAX_RPS",
    "MEASURED",
    "LoadReport",
    "backend_reader",
    "check_target",
    "run_load",
]
