"""Benchmark of the autoscale control loop: CPU per tick, and ticks from a 5x step to a decision.

1. One tick for 1,000 services (2 replicas each) with the Prometheus source: the real
   controller, the real PrometheusSource (prometheus-api-client over HTTP to a local server
   answering with precomputed Prometheus JSON of 2,000 series: one query per metric kind,
   staleness filtered inside it), the real HPA/toolkit scalers, the JSON decision log and the
   controller's own metrics; the backend is in memory. CPU is the controller thread's
   (``time.thread_time``), so the local answering server is not counted. Target < 50 ms.
2. The same tick with the direct-scrape source for 100 services (200 replicas, expositions
   served by an in-process httpx transport): scraping does per-replica work, so it is
   reported per replica for comparison.
3. Ticks from a 5x step in load to the scale-up decision with the scrape source at the
   default period (toolkit algorithm: 5 s), over 50 step phases within a tick. Target <= 2.

Run: .venv/bin/python bench/bench_tick.py
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from controller.doubles import AlwaysLock, FakeClock, InMemoryBackend

from toolkit.metrics import SourceOptions
from toolkit.metrics.prometheus import PrometheusSource
from toolkit.metrics.scrape import ScrapeSource
from toolkit.scale import Policy, default_service_policy
from toolkit.scale.controller import Controller

SERVICES = 1000
REPLICAS = 2
TICKS = 30


def _discard_log() -> Callable[[Any], None]:
    sink = io.StringIO()

    def log(record: Any) -> None:  # the real cost of one JSON line per decision
        sink.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        if sink.tell() > 1 << 22:
            sink.seek(0)
            sink.truncate()

    return log


def _prometheus_server(services: list[str]) -> ThreadingHTTPServer:
    """Answers /api/v1/query with precomputed JSON: 2,000 series, one per replica."""

    def rows(value: Callable[[int], str]) -> bytes:
        result = [
            {"metric": {"service": s, "instance": f"10.0.0.{i}:8000"}, "value": [1.7e9, value(i)]}
            for s in services
            for i in range(REPLICAS)
        ]
        return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()

    rates = rows(lambda i: str(8.0 + i))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert "query" in parse_qs(urlsplit(self.path).query)
            body = rates
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _policy(services: list[str], algorithm: str) -> Policy:
    service = default_service_policy(algorithm, target=10.0, max_replicas=20)
    return Policy(defaults=service, services=dict.fromkeys(services, service))


def _cpu_per_tick_ms(controller: Controller, clock: FakeClock, ticks: int) -> list[float]:
    samples = []
    for _ in range(ticks):
        clock.wait(controller.period_s)  # every service is due: each tick decides 1,000 times
        started = time.thread_time()
        report = controller.tick()
        samples.append((time.thread_time() - started) * 1000)
        assert not report.errors, report.errors[:3]
        assert len(report.services) == SERVICES
    return samples


def bench_prometheus_tick() -> None:
    services = [f"svc-{i:04d}" for i in range(SERVICES)]
    server = _prometheus_server(services)
    host, port = server.server_address[:2]
    source = PrometheusSource(SourceOptions(prometheus_url=f"http://{host!s}:{port}"))
    queries: list[str] = []
    original = source._query

    def counting(query: str) -> list[dict[str, Any]]:
        queries.append(query)
        return original(query)

    source._query = counting  # type: ignore[method-assign]
    for algorithm in ("hpa", "toolkit"):
        backend = InMemoryBackend(dict.fromkeys(services, REPLICAS))
        clock = FakeClock()
        controller = Controller(
            backend, source, _policy(services, algorithm), clock=clock, log=_discard_log(), lock=AlwaysLock()
        )
        queries.clear()
        controller.tick()  # warm-up (imports, connection)
        per_tick = len(queries)
        samples = _cpu_per_tick_ms(controller, clock, TICKS)
        print(
            f"tick, {SERVICES} services x {REPLICAS} replicas, prometheus source, {algorithm}: "
            f"median {statistics.median(samples):.1f} ms CPU, min {min(samples):.1f} ms, "
            f"p90 {sorted(samples)[int(0.9 * TICKS)]:.1f} ms "
            f"(target < 50 ms); {per_tick} queries per tick"
        )
    server.shutdown()


def _exposition(requests_total: float, cpu_s: float) -> str:
    return (
        "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
        f'http_requests_total{{method="GET",route="/items/{{item_id}}",status="200"}} {requests_total}\n'
        f'http_requests_total{{method="GET",route="/",status="404"}} {requests_total / 100}\n'
        "# HELP http_requests_in_flight In flight.\n# TYPE http_requests_in_flight gauge\n"
        "http_requests_in_flight 2.0\n"
        "# HELP process_cpu_seconds_total CPU.\n# TYPE process_cpu_seconds_total counter\n"
        f"process_cpu_seconds_total {cpu_s}\n"
        "# HELP process_start_time_seconds Start.\n# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 1700000000.0\n"
    )


def bench_scrape_tick() -> None:
    services = [f"svc-{i:03d}" for i in range(100)]
    clock = FakeClock()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, text=_exposition(10.0 * clock(), 0.01 * clock()))
    )
    source = ScrapeSource(SourceOptions(), transport=transport)
    backend = InMemoryBackend(dict.fromkeys(services, REPLICAS))
    controller = Controller(
        backend, source, _policy(services, "toolkit"), clock=clock, log=_discard_log(), lock=AlwaysLock()
    )
    controller.tick()
    samples = []
    for _ in range(10):
        clock.wait(5)
        started = time.thread_time()
        controller.tick()
        samples.append((time.thread_time() - started) * 1000)
    median = statistics.median(samples)
    replicas = len(services) * REPLICAS
    print(
        f"tick, {len(services)} services x {REPLICAS} replicas, scrape source: median {median:.1f} ms CPU "
        f"({1000 * median / replicas:.0f} us per replica scraped and parsed)"
    )


class _Traffic:
    """Requests served so far by each replica: the service's cumulative requests
    ``total(t)``, split evenly over the replicas the backend runs between two scrapes."""

    def __init__(self, total: Callable[[float], float], backend: InMemoryBackend, clock: FakeClock) -> None:
        self._total, self._backend, self._clock = total, backend, clock
        self._last_s = clock()
        self.served: dict[str, float] = {}

    def exposition(self, request: httpx.Request) -> httpx.Response:
        now_s = self._clock()
        if now_s > self._last_s:
            count = self._backend.counts["svc"]
            share = (self._total(now_s) - self._total(self._last_s)) / count
            for i in range(count):
                address = f"10.0.0.{i}:8000"
                self.served[address] = self.served.get(address, 0.0) + share
            self._last_s = now_s
        return httpx.Response(200, text=_exposition(self.served.get(request.url.netloc.decode(), 0.0), 0.0))


def bench_step_reaction(algorithm: str, phases: int = 50) -> None:
    """A service at 80% of its target (2 replicas, 8 rps each) steps to 5x at a phase inside a
    tick; count the ticks after the step until a decision asks for more replicas."""
    base_rps, replicas = 16.0, 2
    policy = _policy(["svc"], algorithm)
    period_s = policy.policy_for("svc").period_s
    results = []
    for k in range(phases):
        clock = FakeClock(start_s=0.0)
        step_at_s = 120.0 + period_s * (k + 0.5) / phases
        backend = InMemoryBackend({"svc": replicas})
        traffic = _Traffic(
            lambda t, s=step_at_s: base_rps * t + 4 * base_rps * max(0.0, t - s), backend, clock
        )
        source = ScrapeSource(SourceOptions(), transport=httpx.MockTransport(traffic.exposition))
        controller = Controller(backend, source, policy, clock=clock, log=lambda _: None, lock=AlwaysLock())
        ticks_after_step = 0
        while True:
            report = controller.tick()
            decision = report.services[0] if report.services else None
            if clock() <= step_at_s:
                assert backend.counts["svc"] == replicas, "the count moved before the step"
            else:
                ticks_after_step += 1 if decision else 0
                if decision and decision.desired > decision.current:
                    results.append(ticks_after_step)
                    break
            assert clock() < step_at_s + 10 * period_s, "no scale-up within 10 periods"
            clock.wait(controller.next_delay_s(report))
    print(
        f"5x step -> scale-up decision, scrape source, {algorithm} at its default period {period_s:g} s: "
        f"max {max(results)} ticks, mean {statistics.mean(results):.2f} ticks over {phases} step phases "
        f"(target <= 2); worst case {max(results) * period_s:g} s after the step"
    )


if __name__ == "__main__":
    bench_prometheus_tick()
    bench_scrape_tick()
    bench_step_reaction("toolkit")
    bench_step_reaction("hpa")
    bench_step_reaction("kpa")
