"""The Prometheus source against a real Prometheus scraping real exporters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests

from toolkit._errors import MetricsError
from toolkit.metrics import MetricKind, ReplicaTarget, ServiceMetrics, ServiceTarget, SourceOptions
from toolkit.metrics.prometheus import PrometheusSource

from .conftest import SCRAPE_INTERVAL_S, StartPrometheus, free_port, prometheus_starter
from .exporters import Exporter

pytestmark = pytest.mark.slow

WINDOW_S = 5.0  # the rate window the tests ask for: 5 scrapes


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


def _job(name: str, address: str, service: str) -> dict[str, object]:
    return {
        "job_name": f"svc-{name}",
        "static_configs": [{"targets": [address], "labels": {"service": service, "project": "t"}}],
    }


def _configs(replicas: dict[str, tuple[Exporter, ReplicaTarget]]) -> list[dict[str, object]]:
    return [_job(name, target.address, name[0]) for name, (_, target) in replicas.items()]


def _wait_until(predicate: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def _scraped_for_s(url: str) -> list[float]:
    """Per target of the test project: seconds between its first and latest ``up`` sample.

    Asked over plain HTTP, not through the source under test, so its queries are not counted.
    """
    answer = httpx.post(f"{url}/api/v1/query", data={"query": 'up{project="t"}[60s]'}, timeout=5).json()
    return [float(s["values"][-1][0]) - float(s["values"][0][0]) for s in answer["data"]["result"]]


def _wait_for_full_window(url: str, targets: int, window_s: float) -> None:
    """Wait until every target has been scraped for longer than the rate window plus a scrape.

    The request drivers start before Prometheus, so each counter series is as old as its
    target's first scrape; once that scrape has left the window, ``rate()`` covers a full
    window of a steady counter instead of the ramp from the series' first sample (which reads
    low, and lower for a target scraped later than its sibling). A condition, not a sleep:
    Prometheus applies its first targets a few seconds after it is ready, later on a busy machine.
    """
    span_s = window_s + SCRAPE_INTERVAL_S

    def full() -> bool:
        spans = _scraped_for_s(url)
        return len(spans) == targets and min(spans) > span_s

    assert _wait_until(full, timeout_s=60), f"not every target scraped for {span_s} s: {_scraped_for_s(url)}"


def test_one_query_per_metric_kind_for_all_services(
    prometheus: StartPrometheus, replicas: dict[str, tuple[Exporter, ReplicaTarget]]
) -> None:
    stop = threading.Event()
    _drive(replicas["a1"][0], 100, stop)
    _drive(replicas["a2"][0], 40, stop)
    replicas["c1"][0].in_flight.set(7)
    session = CountingSession()
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
        url = prometheus(_configs(replicas))
        source = PrometheusSource(
            SourceOptions(prometheus_url=url, prometheus_selector='project="t"', rate_window_s=WINDOW_S),
            session=session,
        )
        _wait_for_full_window(url, len(replicas), WINDOW_S)
        result = source.sample(targets, 0.0)
    finally:
        stop.set()
    # 4 services, 2 metric kinds and 1 expression: one query per kind + the expression (each
    # with its staleness filter), not one per service.
    assert len(session.queries) == 3
    assert sum("http_requests_total" in q for q in session.queries) == 1
    assert result["a"].values["a1"] == pytest.approx(100, rel=0.3)
    assert result["a"].values["a2"] == pytest.approx(40, rel=0.3)
    assert result["b"].values == {"b1": 0.0}  # never served a request: idle, not missing
    assert result["c"].values == {"c1": 7.0}
    assert result["c-doubled"].values == {"c1": 14.0}
    assert all(m.ok for m in result.values())


@dataclass(frozen=True)
class KindCase:
    """One service with one replica, sampled in the same tick as every other case."""

    service: str  # also its Prometheus ``service`` label
    metric: MetricKind
    in_flight: float
    rps: float
    expected: object  # a float, None (missing) or a pytest.approx
    promql: str | None = None


# Every kind's query covers every service, and each replica below has series for several
# kinds; a service must read its own kind's answer only.
KIND_CASES = [
    KindCase("rps-idle", MetricKind.RPS_PER_REPLICA, in_flight=5, rps=0, expected=0.0),
    KindCase(
        "rps-busy", MetricKind.RPS_PER_REPLICA, in_flight=9, rps=50, expected=pytest.approx(50, rel=0.3)
    ),
    KindCase("inflight-busy", MetricKind.INFLIGHT_PER_REPLICA, in_flight=3, rps=50, expected=3.0),
    KindCase("cpu-busy", MetricKind.CPU_PERCENT, in_flight=4, rps=50, expected=0.0),
    KindCase("latency-no-histogram", MetricKind.LATENCY_P95_S, in_flight=2, rps=30, expected=None),
    KindCase(
        "promql-no-series",
        MetricKind.PROMQL,
        in_flight=6,
        rps=30,
        expected=None,
        promql='sum by (instance) (http_requests_in_flight{service="no-such-service"})',
    ),
]


@pytest.fixture(scope="module")
def module_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartPrometheus]:
    yield from prometheus_starter(tmp_path_factory.mktemp("prometheus"))


@pytest.fixture(scope="module")
def one_tick_of_every_kind(module_prometheus: StartPrometheus) -> Iterator[Mapping[str, ServiceMetrics]]:
    """One ``sample`` of all ``KIND_CASES`` together, once every rate window is full."""
    stop = threading.Event()
    exporters = {case.service: Exporter() for case in KIND_CASES}
    try:
        targets = []
        for case in KIND_CASES:
            exporter = exporters[case.service]
            exporter.in_flight.set(case.in_flight)
            if case.rps:
                _drive(exporter, case.rps, stop)
            replica = ReplicaTarget(case.service, exporter.serve())
            targets.append(ServiceTarget(case.service, case.metric, (replica,), promql=case.promql))
        url = module_prometheus([_job(t.service, t.replicas[0].address, t.service) for t in targets])
        _wait_for_full_window(url, len(targets), WINDOW_S)
        source = PrometheusSource(
            SourceOptions(prometheus_url=url, prometheus_selector='project="t"', rate_window_s=WINDOW_S)
        )
        yield source.sample(targets, 0.0)
    finally:
        stop.set()
        for exporter in exporters.values():
            exporter.stop()


@pytest.mark.parametrize("case", KIND_CASES, ids=[c.service for c in KIND_CASES])
def test_each_service_reads_only_its_own_kind(
    one_tick_of_every_kind: Mapping[str, ServiceMetrics], case: KindCase
) -> None:
    metrics = one_tick_of_every_kind[case.service]
    assert metrics.values == {case.service: case.expected}
    assert metrics.ok == (case.expected is not None)


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
