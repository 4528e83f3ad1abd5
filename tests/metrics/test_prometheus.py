"""The Prometheus source against a real Prometheus scraping real exporters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from toolkit._errors import MetricsError
from toolkit.metrics import MetricKind, ReplicaTarget, ServiceTarget, SourceOptions
from toolkit.metrics.prometheus import PrometheusSource

from .conftest import StartPrometheus, free_port
from .exporters import Exporter

pytestmark = pytest.mark.slow


class CountingSession(requests.Session):
    """A real session that remembers every query it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.queries.append(str((kwargs.get("params") or {}).get("query")))
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def replicas() -> Iterator[dict[str, tuple[Exporter, ReplicaTarget]]]:
    made: dict[str, tuple[Exporter, ReplicaTarget]] = {}
    for name in ("a1", "a2", "b1", "c1"):
        exporter = Exporter()
        made[name] = (exporter, ReplicaTarget(name, exporter.serve()))
    yield made
    for exporter, _ in made.values():
        exporter.stop()


def _drive(exporter: Exporter, rps: float, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        # Count by elapsed time, not by loop turns, so a busy machine cannot lower the rate.
        started, served = time.monotonic(), 0
        while not stop.is_set():
            due = int((time.monotonic() - started) * rps)
            exporter.serve_requests(due - served)
            served = due
            time.sleep(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def _configs(replicas: dict[str, tuple[Exporter, ReplicaTarget]]) -> list[dict[str, object]]:
    return [
        {
            "job_name": f"svc-{name}",
            "static_configs": [{"targets": [target.address], "labels": {"service": name[0], "project": "t"}}],
        }
        for name, (_, target) in replicas.items()
    ]


def _wait_until(predicate: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_one_query_per_metric_kind_for_all_services(
    prometheus: StartPrometheus, replicas: dict[str, tuple[Exporter, ReplicaTarget]]
) -> None:
    url = prometheus(_configs(replicas))
    stop = threading.Event()
    _drive(replicas["a1"][0], 100, stop)
    _drive(replicas["a2"][0], 40, stop)
    replicas["c1"][0].in_flight.set(7)
    session = CountingSession()
    source = PrometheusSource(
        SourceOptions(prometheus_url=url, prometheus_selector='project="t"', rate_window_s=5), session=session
    )
    targets = [
        ServiceTarget("a", MetricKind.RPS_PER_REPLICA, (replicas["a1"][1], replicas["a2"][1])),
        ServiceTarget("b", MetricKind.RPS_PER_REPLICA, (replicas["b1"][1],)),
        ServiceTarget("c", MetricKind.INFLIGHT_PER_REPLICA, (replicas["c1"][1],)),
        ServiceTarget(
            "c-doubled",  # a raw PromQL expression: one series per replica, by instance
            MetricKind.PROMQL,
            (replicas["c1"][1],),
            promql='2 * sum by (instance) (http_requests_in_flight{service="c"})',
        ),
    ]
    try:
        time.sleep(6)  # a full rate window of scrapes

        def settled() -> Any:
            session.queries.clear()
            result = source.sample(targets, 0.0)
            values = result["a"].values
            ok = all(v is not None for v in values.values()) and values["a1"] > 80
            return result if ok else None

        result = _wait_until(settled)
    finally:
        stop.set()
    assert result, "Prometheus never reported rates for service a"
    # 4 services, 2 metric kinds and 1 expression: one query per kind + the expression (each
    # with its staleness filter), not one per service.
    assert len(session.queries) == 3
    assert sum("http_requests_total" in q for q in session.queries) == 1
    assert result["a"].values["a1"] == pytest.approx(100, rel=0.3)
    assert result["a"].values["a2"] == pytest.approx(40, rel=0.3)
    assert result["b"].values == {"b1": 0.0}
    assert result["c"].values == {"c1": 7.0}
    assert result["c-doubled"].values == {"c1": 14.0}
    assert all(m.ok for m in result.values())


def test_stale_replica_is_missing_and_down_source_raises(
    prometheus: StartPrometheus, replicas: dict[str, tuple[Exporter, ReplicaTarget]]
) -> None:
    url = prometheus(_configs(replicas))
    source = PrometheusSource(SourceOptions(prometheus_url=url, rate_window_s=5))
    target = ServiceTarget("a", MetricKind.INFLIGHT_PER_REPLICA, (replicas["a1"][1], replicas["a2"][1]))
    assert _wait_until(lambda: all(v is not None for v in source.sample([target], 0.0)["a"].values.values()))
    replicas["a2"][0].stop()  # the replica dies; Prometheus' next scrape fails (up = 0)
    after = _wait_until(lambda: (r := source.sample([target], 1.0)["a"]).values["a2"] is None and r)
    assert after.values["a1"] == 0.0 and after.ok
    assert replicas["a2"][1].address in after.detail

    down = PrometheusSource(SourceOptions(prometheus_url=f"http://127.0.0.1:{free_port()}", timeout_s=1))
    with pytest.raises(MetricsError, match=r"Prometheus at http://127\.0\.0\.1"):
        down.sample([target], 0.0)
