"""The scrape source against real prometheus-client exporters over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from toolkit.metrics import MetricKind, ReplicaTarget, ServiceTarget, SourceOptions, make_source

from .exporters import Exporter


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    started: list[Exporter] = []
    yield started
    for exporter in started:
        exporter.stop()


def _replica(exporters: list[Exporter], replica_id: str, **kwargs: float) -> tuple[Exporter, ReplicaTarget]:
    exporter = Exporter(**kwargs)
    exporters.append(exporter)
    return exporter, ReplicaTarget(replica_id, exporter.serve())


def test_rates_from_counter_deltas_with_appear_vanish_and_reset(exporters: list[Exporter]) -> None:
    source = make_source("scrape", SourceOptions(timeout_s=2.0))
    one, r1 = _replica(exporters, "r1")
    two, r2 = _replica(exporters, "r2")
    one.serve_requests(100)
    target = ServiceTarget("a", MetricKind.RPS_PER_REPLICA, (r1,))

    first = source.sample([target], 0.0)["a"]
    assert first.ok and first.values == {"r1": None}  # appeared: no rate yet

    one.serve_requests(50)
    one.serve_requests(10, status="500")  # a new series: all of it counts
    second = source.sample([ServiceTarget("a", MetricKind.RPS_PER_REPLICA, (r1, r2))], 10.0)["a"]
    assert second.values == {"r1": pytest.approx(6.0), "r2": None}

    two.serve_requests(30)
    # r1 restarts: a fresh process (new registry, new start time) has served 20 so far.
    one.stop()
    restarted, r1_again = _replica(exporters, "r1", start_time_s=1_800_000_000.0)
    restarted.serve_requests(20)
    r1_new_address = ReplicaTarget("r1", r1_again.address)
    third = source.sample([ServiceTarget("a", MetricKind.RPS_PER_REPLICA, (r1_new_address, r2))], 20.0)["a"]
    assert third.values == {"r1": pytest.approx(2.0), "r2": pytest.approx(3.0)}

    # r1 vanishes from the backend; when an r1 shows up again it starts from scratch.
    source.sample([ServiceTarget("a", MetricKind.RPS_PER_REPLICA, (r2,))], 30.0)
    back = source.sample([ServiceTarget("a", MetricKind.RPS_PER_REPLICA, (r1_new_address, r2))], 40.0)["a"]
    assert back.values["r1"] is None


@pytest.mark.parametrize(
    ("kind", "drive", "expected"),
    [
        pytest.param(MetricKind.CPU_PERCENT, lambda e: e.cpu.inc(2.5), 50.0, id="cpu-percent"),
        pytest.param(
            MetricKind.INFLIGHT_PER_REPLICA, lambda e: e.in_flight.set(4), 4.0, id="in-flight-gauge"
        ),
        pytest.param(
            MetricKind.LATENCY_P95_S,
            lambda e: [e.duration.labels("/x", "GET").observe(0.07) for _ in range(20)],
            0.0975,  # 20 in (0.05, 0.1]: p95 rank 19 -> 0.05 + 0.05 * 19/20
            id="latency-p95",
        ),
    ],
)
def test_each_metric_kind(
    exporters: list[Exporter], kind: MetricKind, drive: object, expected: float
) -> None:
    source = make_source("scrape")
    exporter, replica = _replica(exporters, "r1")
    target = ServiceTarget("svc", kind, (replica,))
    source.sample([target], 0.0)
    drive(exporter)  # type: ignore[operator]
    assert source.sample([target], 5.0)["svc"].values["r1"] == pytest.approx(expected)


def test_unreachable_replicas(exporters: list[Exporter]) -> None:
    source = make_source("scrape", SourceOptions(timeout_s=0.5))
    _, alive = _replica(exporters, "alive")
    dead = ReplicaTarget("dead", "127.0.0.1:9")  # discard port: connection refused
    services = [
        ServiceTarget("partly", MetricKind.INFLIGHT_PER_REPLICA, (alive, dead)),
        ServiceTarget("down", MetricKind.INFLIGHT_PER_REPLICA, (ReplicaTarget("d2", "127.0.0.1:9"),)),
    ]
    result = source.sample(services, 0.0)
    assert result["partly"].ok and result["partly"].values == {"alive": 0.0, "dead": None}
    assert "127.0.0.1:9" in result["partly"].detail
    assert not result["down"].ok and result["down"].values == {"d2": None}
    assert "no replica answered" in result["down"].detail
