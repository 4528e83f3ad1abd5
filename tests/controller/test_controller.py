"""The control loop with a fake clock and in-memory backend/source: the loop's own rules."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from toolkit._errors import ConfigError
from toolkit.backends._filelock import FileLock
from toolkit.scale import MetricKind, Policy, default_service_policy, make_scaler
from toolkit.scale._telemetry import TelemetryServer
from toolkit.scale.controller import Controller

from .doubles import AlwaysLock, FakeClock, InMemoryBackend, LoadSource


def _policy(algorithm: str = "hpa", down_window_s: float | None = None, **overrides: Any) -> Policy:
    base = {"target": 10.0, "min_replicas": 1, "max_replicas": 10, **overrides}
    service = default_service_policy(algorithm, **base)
    if down_window_s is not None:
        down = dataclasses.replace(service.scale_down, stabilization_window_s=down_window_s)
        service = dataclasses.replace(service, scale_down=down)
    return Policy(defaults=service, services={"a": service, "b": service})


def _controller(
    backend: InMemoryBackend, source: LoadSource, policy: Policy | None = None, **kwargs: Any
) -> tuple[Controller, FakeClock, list[Mapping[str, Any]]]:
    clock = FakeClock()
    lines: list[Mapping[str, Any]] = []
    controller = Controller(
        backend, source, policy or _policy(), clock=clock, log=lines.append, lock=AlwaysLock(), **kwargs
    )
    return controller, clock, lines


def _tick_n(controller: Controller, clock: FakeClock, n: int) -> None:
    for _ in range(n):
        report = controller.tick()
        clock.wait(controller.next_delay_s(report))


@pytest.mark.parametrize(
    ("load_a", "start_a", "expected_a"),
    [
        pytest.param(50.0, 1, 5, id="5x-load-one-replica-to-five"),
        pytest.param(10.0, 1, 1, id="at-target-holds"),
        pytest.param(10.5, 1, 1, id="within-tolerance-holds"),
        pytest.param(300.0, 2, 6, id="hpa-up-limit-4-pods-or-100pct"),
        pytest.param(1000.0, 8, 10, id="clamped-to-max"),
    ],
)
def test_scale_up_decisions_are_applied(load_a: float, start_a: int, expected_a: int) -> None:
    backend = InMemoryBackend({"a": start_a, "b": 1})
    controller, _, _ = _controller(backend, LoadSource({"a": load_a, "b": 5.0}))
    report = controller.tick()
    assert backend.counts == {"a": expected_a, "b": 1}
    by_service = {s.service: s for s in report.services}
    assert by_service["a"].desired == expected_a
    assert by_service["a"].acted == (expected_a != start_a)
    assert not by_service["b"].acted


def test_one_json_log_line_per_decision_with_the_fields() -> None:
    backend = InMemoryBackend({"a": 1, "b": 1})
    controller, _, lines = _controller(backend, LoadSource({"a": 50.0, "b": 5.0}))
    controller.tick()
    decisions = [line for line in lines if line["event"] == "decision"]
    assert [d["service"] for d in decisions] == ["a", "b"]
    a = decisions[0]
    assert (a["current"], a["desired"], a["metric_value"], a["reason"]) == (1, 5, 50.0, "scale-up")
    json.dumps(a)  # serialisable as one line


@pytest.mark.parametrize(
    ("down", "missing", "expected_reason"),
    [
        pytest.param(True, set(), "metrics-missing", id="source-down"),
        pytest.param(False, {"a-0", "a-1", "a-2", "a-3"}, "metrics-missing", id="all-replicas-missing"),
    ],
)
def test_no_usable_metrics_never_scales_down(down: bool, missing: set[str], expected_reason: str) -> None:
    backend = InMemoryBackend({"a": 4, "b": 1})
    source = LoadSource({"a": 0.0, "b": 0.0}, missing=missing, down=down)
    controller, clock, _ = _controller(backend, source, _policy(down_window_s=0))
    for _ in range(5):
        report = controller.tick()
        clock.wait(15)
        a = next(s for s in report.services if s.service == "a")
        assert a.desired == 4
        assert a.reason == expected_reason
        assert not a.metrics_ok or missing
    assert backend.counts["a"] == 4
    assert backend.scale_calls == []


def test_partly_missing_metrics_do_not_scale_down_the_missing_share() -> None:
    # HPA: on scale-down, missing replicas count as using the full target.
    backend = InMemoryBackend({"a": 4, "b": 1})
    source = LoadSource({"a": 4.0}, missing={"a-1", "a-2", "a-3"})
    controller, _, _ = _controller(backend, source, _policy(down_window_s=0))
    report = controller.tick()
    assert next(s for s in report.services if s.service == "a").desired == 4


def test_scale_down_after_window_when_load_drops() -> None:
    backend = InMemoryBackend({"a": 4, "b": 1})
    source = LoadSource({"a": 40.0, "b": 5.0})
    controller, clock, _ = _controller(backend, source, _policy(down_window_s=60))
    _tick_n(controller, clock, 2)
    assert backend.counts["a"] == 4
    source.load_rps["a"] = 5.0
    _tick_n(controller, clock, 3)  # 45 s: still inside the 60 s window
    assert backend.counts["a"] == 4
    _tick_n(controller, clock, 3)
    assert backend.counts["a"] == 1


def test_backend_errors_back_off_exponentially_then_recover() -> None:
    backend = InMemoryBackend({"a": 1, "b": 1}, snapshot_failures=3)
    controller, clock, lines = _controller(backend, LoadSource({"a": 50.0}))
    delays = []
    for _ in range(4):
        report = controller.tick()
        delays.append(controller.next_delay_s(report))
        clock.wait(delays[-1])
    assert delays == [30.0, 60.0, 60.0, 15.0]  # period 15 s: doubled, capped at 60 s, reset
    assert backend.counts["a"] == 5
    assert sum(1 for line in lines if line["event"] == "error") == 3
    assert b'toolkit_autoscale_errors_total{kind="backend"} 3.0' in controller.telemetry.exposition()


def test_failed_scale_is_reported_and_retried_next_tick() -> None:
    backend = InMemoryBackend({"a": 1, "b": 1}, scale_failures=1)
    controller, clock, _ = _controller(backend, LoadSource({"a": 50.0, "b": 5.0}))
    first = controller.tick()
    assert first.failed and "scale a to 5" in first.errors[0]
    assert backend.counts["a"] == 1
    clock.wait(controller.next_delay_s(first))
    controller.tick()
    assert backend.counts["a"] == 5
    assert backend.scale_calls == [("a", 5), ("a", 5)]


@pytest.mark.parametrize(
    ("self_healing", "restored"),
    [
        pytest.param(False, True, id="compose-like-restored-by-loop"),
        pytest.param(True, False, id="swarm-like"),
    ],
)
def test_replica_removed_from_outside(self_healing: bool, restored: bool) -> None:
    # Load that 3 replicas carry at target: removing one must not lower the count.
    backend = InMemoryBackend({"a": 1, "b": 1}, self_healing=self_healing)
    source = LoadSource({"a": 30.0, "b": 5.0})
    controller, clock, _ = _controller(backend, source, _policy(tolerance=0.6))
    _tick_n(controller, clock, 1)
    assert backend.counts["a"] == 3
    backend.counts["a"] = 2  # `docker rm -f` of one replica
    report = controller.tick()
    a = next(s for s in report.services if s.service == "a")
    assert a.restored is restored
    # Tolerance 0.6: 30 rps on 2 replicas is 15/replica, ratio 1.5, inside tolerance; only the
    # loop's memory of the count it set brings the third replica back.
    assert backend.counts["a"] == (3 if restored else 2)


def test_dry_run_decides_and_logs_but_never_scales() -> None:
    backend = InMemoryBackend({"a": 1, "b": 1})
    controller, clock, lines = _controller(backend, LoadSource({"a": 50.0, "b": 5.0}), dry_run=True)
    _tick_n(controller, clock, 3)
    assert backend.scale_calls == []
    decisions = [line for line in lines if line["event"] == "decision" and line["service"] == "a"]
    assert [d["desired"] for d in decisions] == [5, 5, 5]
    assert all(d["dry_run"] and not d["acted"] for d in decisions)


def test_second_controller_stands_by_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    lock_file = tmp_path / "a.lock"
    backend = InMemoryBackend({"a": 1, "b": 1}, lock_factory=lambda: FileLock(lock_file))
    source = LoadSource({"a": 50.0, "b": 5.0})
    first = Controller(backend, source, _policy(), clock=FakeClock(), log=lambda _: None)
    second_lines: list[Mapping[str, Any]] = []
    second = Controller(backend, source, _policy(), clock=FakeClock(), log=second_lines.append)
    standby = second.tick()
    assert standby.leader  # nobody held it yet: the second one took it
    second.close()
    assert first.tick().leader
    assert not second.tick().leader
    assert second_lines[-1]["event"] == "standby"
    first.close()
    assert second.tick().leader


def test_run_stops_between_ticks_and_releases(tmp_path: Path) -> None:
    stop = threading.Event()
    lock = AlwaysLock()
    source = LoadSource({"a": 5.0, "b": 5.0})
    backend = InMemoryBackend({"a": 1, "b": 1})
    clock = FakeClock()
    controller = Controller(backend, source, _policy(), clock=clock, log=lambda _: None, lock=lock)
    seen = []

    def on_tick(report: object) -> None:
        seen.append(report)
        if len(seen) == 3:
            stop.set()  # what the SIGTERM handler does

    ticks = controller.run(stop, wait=clock.wait, on_tick=on_tick)
    assert ticks == 3
    assert clock.waits == [15.0, 15.0]
    assert lock.released and source.closed


def test_services_decide_at_their_own_period() -> None:
    fast = default_service_policy("toolkit", target=10.0)  # period 5 s
    slow = default_service_policy("hpa", target=10.0)  # period 15 s
    policy = Policy(defaults=fast, services={"a": fast, "b": slow})
    backend = InMemoryBackend({"a": 1, "b": 1})
    source = LoadSource({"a": 5.0, "b": 5.0})
    controller, clock, _ = _controller(backend, source, policy)
    assert controller.period_s == 5.0
    _tick_n(controller, clock, 7)
    sampled = [services for services, _ in source.calls]
    assert sampled == [("a", "b"), ("a",), ("a",), ("a", "b"), ("a",), ("a",), ("a", "b")]


@pytest.mark.parametrize(
    ("metric", "services", "message"),
    [
        pytest.param(MetricKind.PROMQL, True, "promql needs --metrics prometheus", id="promql-on-scrape"),
        pytest.param(MetricKind.RPS_PER_REPLICA, False, "names no services", id="empty-policy"),
    ],
)
def test_bad_policy_for_the_source_is_a_config_error(
    metric: MetricKind, services: bool, message: str
) -> None:
    overrides: dict[str, Any] = {"metric": metric}
    if metric is MetricKind.PROMQL:
        overrides["query"] = "sum(up)"
    service = default_service_policy("hpa", **overrides)
    policy = Policy(defaults=service, services={"a": service} if services else {})
    with pytest.raises(ConfigError, match=message):
        Controller(InMemoryBackend({"a": 1}), LoadSource({}), policy, lock=AlwaysLock())


def test_metrics_and_healthz_endpoints() -> None:
    backend = InMemoryBackend({"a": 1, "b": 1})
    controller, clock, _ = _controller(backend, LoadSource({"a": 50.0, "b": 5.0}))
    server = TelemetryServer(controller.telemetry, controller.health, "127.0.0.1:0")
    try:
        controller.tick()
        base = f"http://{server.address}"
        body = httpx.get(f"{base}/metrics").text
        assert 'toolkit_autoscale_desired_replicas{service="a"} 5.0' in body
        assert 'toolkit_autoscale_current_replicas{service="a"} 1.0' in body
        assert 'toolkit_autoscale_decisions_total{reason="scale-up",service="a"} 1.0' in body
        assert "toolkit_autoscale_tick_duration_seconds_count 1.0" in body
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200 and health.json()["leader"] is True
        clock.wait(3600)  # no successful tick for an hour
        assert httpx.get(f"{base}/healthz").status_code == 503
        assert httpx.get(f"{base}/nope").status_code == 404
    finally:
        server.close()


@pytest.mark.parametrize(
    ("written_s", "source_delay_s", "expected_s"),
    [
        pytest.param(None, 45.0, 45.0, id="unset-takes-the-sources-delay"),
        pytest.param(None, 0.0, 0.0, id="unset-with-a-fresh-source"),
        pytest.param(10.0, 45.0, 10.0, id="written-value-stays"),
    ],
)
def test_toolkit_metrics_delay_comes_from_the_source_unless_written(
    written_s: float | None, source_delay_s: float, expected_s: float
) -> None:
    """A Prometheus rate is older than a direct scrape: toolkit must know by how much."""
    made: list[Any] = []

    def factory(policy: Any) -> Any:
        made.append(policy)
        return make_scaler(policy)

    service = default_service_policy("toolkit", target=10.0, max_replicas=10)
    service = dataclasses.replace(
        service, toolkit=dataclasses.replace(service.toolkit, metrics_delay_s=written_s)
    )
    backend = InMemoryBackend({"a": 1, "b": 1})
    source = LoadSource({"a": 5.0, "b": 5.0}, delay_s=source_delay_s)
    policy = Policy(defaults=service, services={"a": service, "b": service})
    controller, _, _ = _controller(backend, source, policy, scaler_factory=factory)
    controller.tick()
    assert [p.toolkit.metrics_delay_s for p in made] == [expected_s, expected_s]
