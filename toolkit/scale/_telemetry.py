"""The controller's own observability: Prometheus metrics and a ``/healthz`` endpoint.

Metrics live in a private ``CollectorRegistry`` (not the process-global one), so several
controllers in one process (tests) do not collide. The HTTP server binds to 127.0.0.1 by
default: replica counts and error rates are operational data, not something to publish on
every interface by accident.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from toolkit._errors import UsageError

# Tick durations: from a few ms (in-memory) to seconds (a scrape hitting its timeout).
_TICK_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Telemetry:
    """The metrics the controller exports about itself."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Per-service series are plain dicts written by every decision and turned into
        # metric families only when /metrics is scraped: a tick over 1,000 services would
        # otherwise spend more time in prometheus-client's per-sample locking than deciding.
        self._replicas: dict[str, tuple[int, int, int]] = {}  # service -> (current, ready, desired)
        self._decisions: dict[tuple[str, str], int] = {}  # (service, reason) -> count
        self.registry.register(_DecisionCollector(self._replicas, self._decisions))
        self.scale_actions = Counter(
            "toolkit_autoscale_scale_actions",
            "Replica count changes applied to the backend.",
            ["service", "direction"],
            registry=self.registry,
        )
        self.errors = Counter(
            "toolkit_autoscale_errors",
            "Errors by where they happened (backend, metrics, lock).",
            ["kind"],
            registry=self.registry,
        )
        self.tick_duration = Histogram(
            "toolkit_autoscale_tick_duration_seconds",
            "Wall time of one control tick.",
            buckets=_TICK_BUCKETS_S,
            registry=self.registry,
        )
        self.leader = Gauge(
            "toolkit_autoscale_leader", "1 while this controller holds the lock.", registry=self.registry
        )

    def record_decision(self, service: str, current: int, ready: int, desired: int, reason: str) -> None:
        self._replicas[service] = (current, ready, desired)
        key = (service, reason)
        self._decisions[key] = self._decisions.get(key, 0) + 1

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class _DecisionCollector:
    """Desired/current/ready replicas per service and decisions by reason, read at scrape time."""

    def __init__(
        self, replicas: dict[str, tuple[int, int, int]], decisions: dict[tuple[str, str], int]
    ) -> None:
        self._replicas = replicas
        self._decisions = decisions

    def describe(self) -> Iterable[Metric]:
        return self._families({}, {})

    def collect(self) -> Iterable[Metric]:
        return self._families(dict(self._replicas), dict(self._decisions))

    @staticmethod
    def _families(
        replicas: dict[str, tuple[int, int, int]], decisions: dict[tuple[str, str], int]
    ) -> list[Metric]:
        helps = (
            ("toolkit_autoscale_current_replicas", "Replica count the backend reported at the last tick."),
            ("toolkit_autoscale_ready_replicas", "Ready replicas the backend reported at the last tick."),
            ("toolkit_autoscale_desired_replicas", "Replica count the last decision asked for."),
        )
        families: list[Metric] = []
        for index, (name, documentation) in enumerate(helps):
            gauge = GaugeMetricFamily(name, documentation, labels=["service"])
            for service, values in sorted(replicas.items()):
                gauge.add_metric([service], values[index])
            families.append(gauge)
        counter = CounterMetricFamily(
            "toolkit_autoscale_decisions",
            "Decisions made, by service and reason.",
            labels=["service", "reason"],
        )
        for (service, reason), count in sorted(decisions.items()):
            counter.add_metric([service, reason], count)
        families.append(counter)
        return families


HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class TelemetryServer:
    """``/metrics`` and ``/healthz`` on a background thread; ``close`` stops it."""

    def __init__(self, telemetry: Telemetry, health: HealthCheck, listen: str) -> None:
        host, port = parse_listen(listen)
        handler = _handler(telemetry, health)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as err:
            raise UsageError(f"cannot listen on {listen}: {err.strerror or err}") from err
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="autoscale-http", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (port 0 = any free port) -> (host, port); bad input is a UsageError."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise UsageError(f"--listen must be HOST:PORT (e.g. 127.0.0.1:9108), got {listen!r}")
    return host.strip("[]"), int(port)


def _handler(telemetry: Telemetry, health: HealthCheck) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, telemetry.exposition(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok, detail = health()
                body = json.dumps({"status": "ok" if ok else "unhealthy", **detail}).encode()
                self._send(200 if ok else 503, body, "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the controller's log is its decisions, not access lines

    return Handler
