"""The control loop: read the backend, sample metrics, decide per service, act.

One tick, for every service the policy names::

    snapshot = backend.snapshot()            # spec/ready counts + replica addresses, fresh
    metrics = source.sample(targets, now_s)  # one batched sample for all services
    decision, state = scaler.decide(state, observation, now_s)   # pure (toolkit.scale)
    backend.scale(service, desired)          # only when the count changes, not in dry-run

The loop owns the clock (injected: ``time.monotonic`` in production, a fake in tests) and all
I/O; the decision code never sees either. Safety rules enforced here, whatever the algorithm:

- metrics missing, stale or the source down: never scale down (the count is held and the
  reason logged), exactly HPA's rule;
- backend errors: logged, counted, retried at the next tick with exponential backoff; the
  loop never dies of them;
- compose has nothing that keeps a replica count (``Backend.self_healing`` False), so the loop
  remembers the count it last set and restores a replica removed from outside at the next
  tick; Swarm and Kubernetes restore their own;
- a leader lock: a controller that does not hold it decides nothing and stays on standby;
- ``dry_run`` decides and logs exactly as usual but never calls ``scale`` and never takes the
  lock, so it can run next to the real controller.

Every decision is one JSON log line (``service``, ``current``, ``desired``, ``metric_value``,
``reason``...).
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from toolkit._errors import ConfigError, MetricsError, OperationError
from toolkit.backends import Backend, LeaderLock, ServiceState
from toolkit.metrics import MetricsSource, ServiceMetrics, ServiceTarget
from toolkit.scale._model import Decision, Observation, Reason, ReplicaSample, Scaler
from toolkit.scale._policy import Policy, ServicePolicy, with_metrics_delay
from toolkit.scale._telemetry import Telemetry

MAX_BACKOFF_S = 60.0

Clock = Callable[[], float]
LogSink = Callable[[Mapping[str, Any]], None]
ScalerFactory = Callable[[ServicePolicy], Scaler[Any]]


def stderr_json_log(record: Mapping[str, Any]) -> None:
    """The default log sink: one JSON object per line on stderr."""
    sys.stderr.write(json.dumps(record, sort_keys=True, default=str) + "\n")
    sys.stderr.flush()


@dataclass(frozen=True, slots=True)
class ServiceReport:
    """What happened to one service in one tick (also the JSON log line)."""

    service: str
    current: int
    ready: int
    desired: int
    metric: str
    metric_value: float | None
    reason: str
    detail: str = ""
    metrics_ok: bool = True
    acted: bool = False
    restored: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields as a flat dict (``dataclasses.asdict`` deep-copies: 5x slower here)."""
        return {name: getattr(self, name) for name in _REPORT_FIELDS}


_REPORT_FIELDS = tuple(f.name for f in fields(ServiceReport))


@dataclass(frozen=True)
class TickReport:
    """One tick: when, how long, whether this controller led, and each service's outcome."""

    now_s: float
    duration_s: float
    leader: bool
    services: tuple[ServiceReport, ...] = ()
    errors: tuple[str, ...] = ()
    metrics_detail: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now_s": self.now_s,
            "duration_s": self.duration_s,
            "leader": self.leader,
            "errors": list(self.errors),
            "metrics_detail": self.metrics_detail,
            "services": [s.as_dict() for s in self.services],
        }


@dataclass
class _ServiceMemory:
    """Per-service loop state: the scaler's state, when it last decided, what it last set.

    ``intended`` only matters for backends that do not keep counts themselves (compose); it is
    a memory of this process, so a restarted controller simply starts from what it reads.
    """

    scaler: Scaler[Any]
    state: Any
    last_decided_s: float = -math.inf
    intended: int | None = None


@dataclass
class Controller:
    """The loop. Construct, then ``tick()`` (tests, ``--once``) or ``run(stop)``."""

    backend: Backend
    source: MetricsSource
    policy: Policy
    clock: Clock = time.monotonic
    dry_run: bool = False
    period_override_s: float | None = None
    log: LogSink = stderr_json_log
    telemetry: Telemetry = field(default_factory=Telemetry)
    scaler_factory: ScalerFactory | None = None
    lock: LeaderLock | None = None

    def __post_init__(self) -> None:
        if not self.policy.services:
            raise ConfigError("the policy names no services: nothing to scale", file=self.policy.file)
        for name, service_policy in self.policy.services.items():
            if service_policy.metric not in self.source.kinds:
                raise ConfigError(
                    f"metric {service_policy.metric.value!r} needs another metrics source than "
                    f"{self.source.name!r} (promql needs --metrics prometheus)",
                    file=self.policy.file,
                    location=f"services.{name}.metric",
                )
        if self.period_override_s is not None and self.period_override_s <= 0:
            raise ConfigError("--period-s must be positive")
        if self.scaler_factory is None:
            from toolkit.scale import make_scaler

            self.scaler_factory = make_scaler
        if self.lock is None:
            self.lock = self.backend.lock()
        self._periods_s = {
            name: float(self.period_override_s or service_policy.period_s)
            for name, service_policy in self.policy.services.items()
        }
        self._tick_period_s = min(self._periods_s.values())
        self._names = tuple(sorted(self.policy.services))
        self._memory: dict[str, _ServiceMemory] = {}
        self._failures = 0
        self._last_ok_s: float | None = None
        self._started_s = self.clock()
        self._leader = False

    # --- timing ------------------------------------------------------------------------------

    def service_period_s(self, service: str) -> float:
        return self._periods_s[service]

    @property
    def period_s(self) -> float:
        """The tick period: the shortest decision period of any managed service."""
        return self._tick_period_s

    def next_delay_s(self, report: TickReport) -> float:
        """The period, or an exponential backoff after consecutive failed ticks."""
        if not report.failed:
            return self.period_s
        return min(self.period_s * 2.0 ** min(self._failures, 10), max(MAX_BACKOFF_S, self.period_s))

    # --- one tick ----------------------------------------------------------------------------

    def tick(self) -> TickReport:
        started = time.perf_counter()
        now_s = self.clock()
        report = self._tick(now_s)
        duration_s = time.perf_counter() - started
        self.telemetry.tick_duration.observe(duration_s)
        self._failures = self._failures + 1 if report.failed else 0
        if not report.failed and report.leader:
            self._last_ok_s = now_s
        return TickReport(
            now_s, duration_s, report.leader, report.services, report.errors, report.metrics_detail
        )

    def _tick(self, now_s: float) -> TickReport:
        assert self.lock is not None
        try:
            # A dry run never acts, so it never takes the lock (and never blocks a real one).
            self._leader = self.dry_run or self.lock.try_acquire()
        except OperationError as err:
            self._leader = False
            return self._error(now_s, "lock", f"leader lock: {err}")
        self.telemetry.leader.set(1 if self._leader else 0)
        if not self._leader:
            self.log({"event": "standby", "lock": self.lock.describe(), "now_s": now_s})
            return TickReport(now_s, 0.0, leader=False)
        try:
            snapshot = self.backend.snapshot()
        except OperationError as err:
            return self._error(now_s, "backend", f"{self.backend.name}: {err}")
        due = [name for name in self._names if self._due(name, now_s)]
        errors: list[str] = []
        for name in due:
            if name not in snapshot:
                errors.append(f"service {name!r} not found on {self.backend.name}")
                self.telemetry.errors.labels("backend").inc()
        present = [name for name in due if name in snapshot]
        metrics, metrics_detail = self._sample(present, snapshot, now_s)
        reports = []
        for name in present:
            service_report = self._decide_and_act(name, snapshot[name], metrics.get(name), now_s)
            if service_report.error:
                errors.append(service_report.error)
            reports.append(service_report)
        return TickReport(now_s, 0.0, True, tuple(reports), tuple(errors), metrics_detail)

    def _due(self, name: str, now_s: float) -> bool:
        memory = self._memory.get(name)
        if memory is None:
            return True
        # Half a tick of slack so a 15 s service on a 5 s tick decides every third tick.
        return now_s - memory.last_decided_s >= self.service_period_s(name) - self.period_s / 2

    def _sample(
        self, names: list[str], snapshot: Mapping[str, ServiceState], now_s: float
    ) -> tuple[Mapping[str, ServiceMetrics], str]:
        targets = []
        for name in names:
            service_policy = self.policy.policy_for(name)
            targets.append(
                ServiceTarget(
                    name, service_policy.metric, snapshot[name].replicas, promql=service_policy.query
                )
            )
        try:
            return self.source.sample(targets, now_s), ""
        except MetricsError as err:
            self.telemetry.errors.labels("metrics").inc()
            detail = f"metrics source {self.source.name} down: {err}"
            down = ServiceMetrics({}, ok=False, detail=detail)
            return {name: down for name in names}, detail

    def _decide_and_act(
        self, name: str, state: ServiceState, metrics: ServiceMetrics | None, now_s: float
    ) -> ServiceReport:
        service_policy = self.policy.policy_for(name)
        memory = self._memory.get(name)
        if memory is None:
            assert self.scaler_factory is not None
            # toolkit's unset metrics delay is the source's: how old its figures are
            scaler = self.scaler_factory(with_metrics_delay(service_policy, self.source.delay_s))
            memory = self._memory[name] = _ServiceMemory(scaler, scaler.initial_state())
        actual = state.spec_replicas
        restored = not self.backend.self_healing and memory.intended is not None and actual < memory.intended
        spec = memory.intended if restored and memory.intended is not None else actual
        observation = _observation(spec, state, metrics)
        decision, memory.state = memory.scaler.decide(memory.state, observation, now_s)
        memory.last_decided_s = now_s
        decision = _never_down_blind(decision, observation)
        desired = decision.desired_replicas
        acted, error = False, None
        if desired != actual and not self.dry_run:
            try:
                self.backend.scale(name, desired)
                acted = True
                direction = "up" if desired > actual else "down"
                self.telemetry.scale_actions.labels(name, direction).inc()
            except OperationError as err:
                error = f"scale {name} to {desired}: {err}"
                self.telemetry.errors.labels("backend").inc()
        memory.intended = desired if (acted or desired == actual) else memory.intended
        if self.dry_run:
            memory.intended = None  # nothing was set: never "restore" what dry-run did not do
        detail = decision.detail
        if metrics is not None and metrics.detail:
            detail = f"{detail}; {metrics.detail}" if detail else metrics.detail
        report = ServiceReport(
            service=name,
            current=actual,
            ready=state.ready_replicas,
            desired=desired,
            metric=service_policy.metric.value,
            metric_value=decision.metric_value,
            reason=decision.reason.value,
            detail=detail,
            metrics_ok=observation.metrics_ok,
            acted=acted,
            restored=restored,
            error=error,
        )
        self._record(report)
        return report

    def _record(self, report: ServiceReport) -> None:
        self.telemetry.record_decision(
            report.service, report.current, report.ready, report.desired, report.reason
        )
        line = report.as_dict()
        line["event"] = "decision"
        line["dry_run"] = self.dry_run
        self.log(line)

    def _error(self, now_s: float, kind: str, message: str) -> TickReport:
        self.telemetry.errors.labels(kind).inc()
        self.log({"event": "error", "kind": kind, "error": message, "now_s": now_s})
        return TickReport(now_s, 0.0, leader=self._leader, errors=(message,))

    # --- running -----------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while ticks succeed: the last good tick is at most three periods old."""
        now_s = self.clock()
        reference = self._last_ok_s if self._last_ok_s is not None else self._started_s
        age_s = now_s - reference
        detail = {"leader": self._leader, "last_ok_tick_age_s": round(age_s, 3), "dry_run": self.dry_run}
        return age_s <= 3 * self.period_s + MAX_BACKOFF_S * (self._failures > 0), detail

    def run(
        self,
        stop: threading.Event,
        *,
        wait: Callable[[float], bool] | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
        max_ticks: int | None = None,
    ) -> int:
        """Tick until ``stop`` is set (SIGTERM handler) or ``max_ticks``; returns ticks run.

        ``wait(seconds)`` sleeps and returns True when stopping (``stop.wait`` by default;
        tests pass a fake that advances their clock). A tick in progress always completes.
        """
        sleep = wait or stop.wait
        ticks = 0
        try:
            while not stop.is_set():
                report = self.tick()
                ticks += 1
                if on_tick is not None:
                    on_tick(report)
                if stop.is_set() or (max_ticks is not None and ticks >= max_ticks):
                    break
                if sleep(self.next_delay_s(report)):
                    break
        finally:
            self.close()
        return ticks

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
        self.source.close()


def _observation(spec: int, state: ServiceState, metrics: ServiceMetrics | None) -> Observation:
    """One sample per replica the backend counts: measured ones first, then replicas that are
    asked for but not running yet (unready, no value: HPA's pending pods)."""
    values = metrics.values if metrics is not None else {}
    samples = [ReplicaSample(values.get(r.replica_id), ready=r.ready) for r in state.replicas]
    samples += [ReplicaSample(None, ready=False)] * max(0, spec - len(samples))
    return Observation(spec_replicas=spec, samples=tuple(samples), metrics_ok=bool(metrics and metrics.ok))


def _never_down_blind(decision: Decision, observation: Observation) -> Decision:
    """Whatever the algorithm says: without usable metrics the count is never lowered."""
    blind = not observation.metrics_ok or all(s.value is None for s in observation.samples)
    if blind and decision.desired_replicas < observation.spec_replicas:
        return Decision(
            observation.spec_replicas,
            Reason.METRICS_MISSING,
            decision.metric_value,
            decision.recommendation,
            "held: no usable metrics, never scale down blind",
        )
    return decision
