"""Real exporters for the metrics tests: prometheus-client registries served over HTTP on
127.0.0.1, exposing the same metric names every generated service exposes."""

from __future__ import annotations

from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

DURATION_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)


class Exporter:
    """One replica's metrics: requests, durations, in-flight, CPU and its start time."""

    def __init__(self, start_time_s: float = 1_700_000_000.0) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "Requests.", ["route", "method", "status"], registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Durations.",
            ["route", "method"],
            buckets=DURATION_BUCKETS_S,
            registry=self.registry,
        )
        self.in_flight = Gauge("http_requests_in_flight", "In flight.", registry=self.registry)
        self.cpu = Counter("process_cpu_seconds", "CPU.", registry=self.registry)
        self.start_time = Gauge("process_start_time_seconds", "Start.", registry=self.registry)
        self.start_time.set(start_time_s)
        self._server: ThreadingHTTPServer | None = None

    def serve(self) -> str:
        server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self._server = server
        host, port = server.server_address[:2]
        return f"{host!s}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def serve_requests(self, count: int, *, route: str = "/items", status: str = "200", **_: Any) -> None:
        self.requests.labels(route, "GET", status).inc(count)
