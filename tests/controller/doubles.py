"""Test doubles for the control loop's own logic: an in-memory backend and metrics source,
and a fake clock. They stand in for Docker/Prometheus only where a test is about what the
loop does with the answers (safety rules, restore, backoff, locking), not about the I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from toolkit._errors import BackendError, MetricsError
from toolkit.backends import LeaderLock, ServiceState
from toolkit.metrics import MetricKind, ReplicaTarget, ServiceMetrics, ServiceTarget


class FakeClock:
    """Monotonic seconds that only move when the loop waits (or the test says so)."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now_s += seconds
        return False


class AlwaysLock:
    """A leader lock that is always held (single controller tests)."""

    def __init__(self) -> None:
        self.released = False

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        self.released = True

    def describe(self) -> str:
        return "always held"


@dataclass
class InMemoryBackend:
    """Services with a replica count each; ``scale`` sets it. Failures can be injected."""

    counts: dict[str, int]
    self_healing: bool = False
    ready_fraction: float = 1.0
    snapshot_failures: int = 0  # the next N snapshots raise
    scale_failures: int = 0  # the next N scale calls raise
    scale_calls: list[tuple[str, int]] = field(default_factory=list)
    snapshots: int = 0
    lock_factory: Callable[[], LeaderLock] = AlwaysLock
    name: str = "memory"
    _states: dict[str, ServiceState] = field(default_factory=dict)  # rebuilt when a count changes

    def snapshot(self) -> Mapping[str, ServiceState]:
        self.snapshots += 1
        if self.snapshot_failures > 0:
            self.snapshot_failures -= 1
            raise BackendError("engine unreachable (injected)")
        result = {}
        for service, count in self.counts.items():
            cached = self._states.get(service)
            if cached is None or cached.spec_replicas != count:
                ready = int(count * self.ready_fraction)
                replicas = tuple(
                    ReplicaTarget(f"{service}-{i}", f"10.0.0.{i}:8000", ready=i < ready) for i in range(count)
                )
                cached = self._states[service] = ServiceState(count, ready, replicas)
            result[service] = cached
        return result

    def scale(self, service: str, replicas: int) -> None:
        self.scale_calls.append((service, replicas))
        if self.scale_failures > 0:
            self.scale_failures -= 1
            raise BackendError("scale refused (injected)")
        self.counts[service] = replicas

    def lock(self) -> LeaderLock:
        return self.lock_factory()


@dataclass
class LoadSource:
    """Total load per service (requests per second) spread evenly over its ready replicas.

    ``missing`` lists replica ids that report nothing; ``down`` makes ``sample`` raise.
    """

    load_rps: dict[str, float]
    missing: set[str] = field(default_factory=set)
    down: bool = False
    calls: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    closed: bool = False
    name: str = "load"
    kinds: frozenset[MetricKind] = frozenset({MetricKind.RPS_PER_REPLICA})
    delay_s: float = 0.0

    def sample(self, targets: Sequence[ServiceTarget], now_s: float) -> Mapping[str, ServiceMetrics]:
        self.calls.append((tuple(t.service for t in targets), now_s))
        if self.down:
            raise MetricsError("connection refused (injected)")
        result = {}
        for target in targets:
            ready = [r for r in target.replicas if r.ready]
            per_replica = self.load_rps.get(target.service, 0.0) / max(1, len(ready))
            result[target.service] = ServiceMetrics(
                {
                    r.replica_id: (None if r.replica_id in self.missing or not r.ready else per_replica)
                    for r in target.replicas
                }
            )
        return result

    def close(self) -> None:
        self.closed = True
