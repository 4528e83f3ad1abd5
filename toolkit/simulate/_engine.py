"""The simulation loop: one policy, one trace, one service model, at 1 s resolution.

Time advances in segments between events (a decision, a replica becoming ready); within a
segment the ready count is constant. A segment in which the replicas are idle-capable (no
backlog, no draining, and no second in it has more arrivals than the ready replicas serve)
needs no per-second work at all: every request is served in its second. Only segments with
overload or a backlog are stepped second by second. That, plus calling the scaler only once
per controller period, is what makes a month of trace take about a second per policy.

Model, per second ``s`` (see ``_service`` for latency):

* arrivals join the balanced queue of the ready replicas; ``ready * capacity_rps`` of the
  queue are served; anything above ``ready * queue_limit`` still queued is dropped.
* a scale-up adds replicas that cost from that moment but serve only ``startup_s`` later;
  a scale-down first cancels replicas still starting (newest first), then removes ready ones,
  which take no new requests and drain their share of the queue before they stop costing.
* the controller calls ``decide`` every ``period_s``; it sees, per ready replica, the rate of
  requests handled (served or rejected) over ``rate_window_s`` up to the latest scrape
  (every ``scrape_interval_s``). Replicas ready after that scrape report nothing yet, starting
  replicas are reported not ready (what HPA calls missing and unready pods).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from toolkit._errors import ConfigError
from toolkit.scale._model import Decision, Observation, Reason, ReplicaSample, Scaler
from toolkit.simulate._service import LatencyCurve, ServiceModel
from toolkit.simulate._trace import Trace

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

METRICS = ("rps_per_replica", "cpu_percent", "inflight_per_replica", "latency_p95_s")
_CHUNK_BITS = 4  # fast-path check granularity: maxima of 16-second chunks
_TIMELINE_POINTS = 2000


@dataclass(frozen=True)
class SimPolicy:
    """A policy ready to simulate: a named scaler, how often it decides, what it observes.

    ``scaler`` None is a static deployment of ``initial_replicas`` that never changes.
    ``metric`` is the per-replica value the scaler is fed (one of ``METRICS``).
    ``initial_replicas`` are ready at t=0 (None: the model's setting, else enough replicas for
    the first minute at full capacity, within ``min_replicas``/``max_replicas``).
    """

    name: str
    scaler: Scaler[Any] | None
    period_s: float
    metric: str = "rps_per_replica"
    initial_replicas: int | None = None
    min_replicas: int = 1
    max_replicas: int = 1_000_000
    description: str = ""

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(
                f"the simulator can feed {', '.join(METRICS)}, not {self.metric!r}",
                location=f"{self.name}.metric",
            )
        if self.scaler is None and self.initial_replicas is None:
            raise ConfigError(
                "a static policy needs its replica count", location=f"{self.name}.initial_replicas"
            )
        if not self.period_s > 0:
            raise ConfigError(f"period must be > 0 s, got {self.period_s}", location=f"{self.name}.period_s")


@dataclass(frozen=True)
class Summary:
    """The figures of one run; see docs/commands/simulate.md for each definition."""

    duration_s: int
    requests: float
    served: float
    dropped: float
    queued_at_end: float
    over_slo: float
    slo_violation_s: int
    replica_seconds: float
    mean_replicas: float
    max_replicas: int
    scale_events: int
    decisions: int
    mean_utilisation: float
    # of the SLO-violation seconds, those in which the policy was asking for its max_replicas:
    # there the cap set the count, not the policy (None where no cap applies: a measured run)
    violation_s_at_max: int | None = None

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Timeline:
    """Per-bucket values for plots: ``bucket_s`` seconds per point, maxima within each bucket
    (``violation_s`` is the count of violating seconds)."""

    bucket_s: int
    load_rps: FloatArray
    ready: IntArray
    requested: IntArray
    violation_s: IntArray


@dataclass(frozen=True)
class Series:
    """Every second of a run (kept only when asked: a month is tens of MB per policy)."""

    ready: IntArray
    requested: IntArray
    served: FloatArray
    dropped: FloatArray
    queued: FloatArray
    over_slo: FloatArray
    violation: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SimResult:
    policy: str
    description: str
    summary: Summary
    timeline: Timeline
    reasons: dict[str, int]
    elapsed_s: float
    cpu_s: float
    series: Series | None = field(default=None, repr=False)


def auto_initial_replicas(trace: Trace, model: ServiceModel, lo: int, hi: int) -> int:
    """Enough replicas for the trace's first minute at full capacity, within [lo, hi]."""
    first = float(trace.rps[:60].mean()) if trace.duration_s else 0.0
    return max(lo, min(hi, max(1, math.ceil(first / model.capacity_rps))))


def run(trace: Trace, policy: SimPolicy, model: ServiceModel, *, keep_series: bool = False) -> SimResult:
    """Simulate ``policy`` on ``trace``; see the module docstring for the model."""
    started = time.perf_counter()
    started_cpu = time.process_time()
    arrivals = trace.rps
    n_s = int(arrivals.shape[0])
    if n_s == 0:
        raise ConfigError("the trace is empty")
    curve = model.curve()
    cap = float(model.capacity_rps)
    qlim = float(model.queue_limit)
    startup = math.ceil(model.startup_s - 1e-9)
    service_s = model.service_time_s
    scaler = policy.scaler
    if policy.initial_replicas is not None:
        ready = policy.initial_replicas
    elif model.initial_replicas is not None:
        ready = max(policy.min_replicas, min(policy.max_replicas, model.initial_replicas))
    else:
        ready = auto_initial_replicas(trace, model, policy.min_replicas, policy.max_replicas)
    state: Any = scaler.initial_state() if scaler is not None else None
    decide = scaler.decide if scaler is not None else _never
    period = float(policy.period_s)
    next_dec_f = period if scaler is not None else math.inf
    next_dec = math.ceil(next_dec_f) if scaler is not None else n_s + 1
    scrape = max(1, math.ceil((model.scrape_interval_s or period) - 1e-9)) if scaler is not None else n_s + 1
    window_k = max(1, round((model.rate_window_s or period) / scrape)) if scaler is not None else 1
    value_of = _metric_function(policy.metric, curve, cap, service_s)

    cumulative = np.concatenate(([0.0], np.cumsum(arrivals)))
    chunk = 1 << _CHUNK_BITS
    padded = np.zeros(((n_s + chunk - 1) >> _CHUNK_BITS) << _CHUNK_BITS)
    padded[:n_s] = arrivals
    chunk_max: list[float] = padded.reshape(-1, chunk).max(axis=1).tolist()

    served = arrivals.copy()
    queued = np.zeros(n_s)
    dropped = np.zeros(n_s)
    draining_q = np.zeros(n_s)

    # What the scrape at time k * scrape saw, indexed by k. Arrivals are known up front;
    # handled requests equal them except where a backlog was held (the slow segments write
    # those scrapes), so the per-decision path does no bookkeeping for scrapes at all.
    arrived_at: list[float] = cumulative[::scrape].tolist()
    handled_at = list(arrived_at)
    backlog_at = [0.0] * len(arrived_at)

    starting: deque[int] = deque()
    q = 0.0  # backlog queued at the ready replicas
    drain_q = 0.0  # backlog still held by removed replicas
    drain_n = 0  # replicas removed but still draining
    drain_served = 0.0
    cost = 0.0
    events = 0
    max_spec = ready
    reasons: list[Reason] = []
    add_reason = reasons.append
    # runs of constant (ready, requested): run i starts at run_t[i], with run_rs[i] ready
    # replica-seconds before it; a scrape's ready count and replica-seconds are read from them
    run_t: list[int] = [0]
    run_ready: list[int] = [ready]
    run_spec: list[int] = [ready]
    run_rs: list[int] = [0]
    last_t, last_ready, last_spec, last_rs = 0, ready, ready, 0
    plain_rps = policy.metric == "rps_per_replica"
    int_period = int(period) if scaler is not None and period == int(period) else 0
    window_s = window_k * scrape
    # the observation of the previous decision, rebuilt only when one of these changes
    last_value: float | None = math.nan
    last_reporting = last_obs_ready = last_starting = -1
    observation = Observation(0, ())

    value: float | None
    t = 0
    while t < n_s:
        decision: Decision | None = None
        if int_period and ready and not starting and q == 0.0 and drain_q == 0.0:
            # Steady stretch: nothing starting, no backlog anywhere. The general path below,
            # with what it would find resolved: each segment ends at the next decision, is
            # fast (or the stretch ends), and the scrape window lies within the current run
            # of `ready` replicas, so it counts `ready * window_s` replica-seconds, all ready
            # replicas report, and none is starting. Ends before anything else would happen,
            # or at a decision that changes the count (applied below).
            replica_s = ready * window_s
            cap_tot = ready * cap
            if last_reporting != ready or last_obs_ready != ready or last_starting:
                # the observation in hand is not one of this stretch: its first tick builds one
                last_value = math.nan
                last_reporting = last_obs_ready = ready
                last_starting = 0
            while True:
                e = next_dec
                if e >= n_s:
                    break
                i = t >> _CHUNK_BITS
                j = (e - 1) >> _CHUNK_BITS
                if (chunk_max[i] if i == j else max(chunk_max[i : j + 1])) > cap_tot:
                    break
                k = e // scrape
                if k < window_k or k * scrape - window_s < last_t:
                    break
                cost += ready * (e - t)
                t = e
                rate = (handled_at[k] - handled_at[k - window_k]) / replica_s
                value = rate if plain_rps else value_of(rate, backlog_at[k] / ready)
                if value != last_value:
                    last_value = value
                    observation = _observation(value, ready, ready, 0)
                decision, state = decide(state, observation, t)
                add_reason(decision[1])
                if decision[0] != ready:
                    break
                decision = None
                next_dec += int_period
        if decision is None:
            e = next_dec if next_dec < n_s else n_s
            if starting and starting[0] < e:
                e = starting[0]
            cap_tot = ready * cap
            # --- the seconds [t, e) with `ready` replicas
            if q == 0.0 and drain_q == 0.0:
                i = t >> _CHUNK_BITS
                j = (e - 1) >> _CHUNK_BITS
                fast = (chunk_max[i] if i == j else max(chunk_max[i : j + 1])) <= cap_tot
            else:
                fast = False
            if not fast:
                # with no ready replica the gateway holds up to one replica's queue
                qcap = (ready if ready else 1) * qlim
                drain_cap = drain_n * cap
                out_served: list[float] = []
                out_q: list[float] = []
                out_drop: list[float] = []
                out_drain: list[float] = []
                for a in arrivals[t:e].tolist():
                    q += a
                    if q > cap_tot:
                        out_served.append(cap_tot)
                        q -= cap_tot
                    else:
                        out_served.append(q)
                        q = 0.0
                    if q > qcap:
                        out_drop.append(q - qcap)
                        q = qcap
                    else:
                        out_drop.append(0.0)
                    if q < 1e-9:
                        q = 0.0
                    if drain_n:
                        cost += drain_n
                        if drain_q > drain_cap:
                            drain_q -= drain_cap
                            drain_served += drain_cap
                        else:
                            drain_served += drain_q
                            drain_q = 0.0
                            drain_n = 0
                            drain_cap = 0.0
                    out_q.append(q)
                    out_drain.append(drain_q)
                served[t:e] = out_served
                queued[t:e] = out_q
                dropped[t:e] = out_drop
                draining_q[t:e] = out_drain
                # scrapes in (t, e]: counters as of the start of second s, less what is still held
                for k in range(t // scrape + 1, e // scrape + 1):
                    backlog = out_q[k * scrape - 1 - t]
                    backlog_at[k] = backlog
                    handled_at[k] = arrived_at[k] - backlog - out_drain[k * scrape - 1 - t]
            cost += (ready + len(starting)) * (e - t)
            t = e
            if t >= n_s:
                break
            # --- events at t: replicas becoming ready, then the controller's decision
            while starting and starting[0] <= t:
                starting.popleft()
                ready += 1
            if t == next_dec:
                n_starting = len(starting)
                k = t // scrape
                k0 = k - window_k
                value = None
                reporting = 0
                if k0 >= 0:
                    # ready replicas during the second before the scrape, replica-seconds up to it
                    s = k * scrape
                    if s > last_t:
                        reporting = last_ready
                        replica_s = last_rs + last_ready * (s - last_t)
                    else:
                        r = bisect_left(run_t, s) - 1
                        reporting = run_ready[r]
                        replica_s = run_rs[r] + reporting * (s - run_t[r])
                    s0 = s - window_s
                    if s0 > last_t:
                        replica_s -= last_rs + last_ready * (s0 - last_t)
                    elif s0 > 0:
                        r = bisect_left(run_t, s0) - 1
                        replica_s -= run_rs[r] + run_ready[r] * (s0 - run_t[r])
                    if replica_s > 0:
                        rate = (handled_at[k] - handled_at[k0]) / replica_s
                        if plain_rps:
                            value = rate
                        else:
                            value = value_of(rate, backlog_at[k] / reporting if reporting else 0.0)
                        if reporting > ready:
                            reporting = ready
                    elif ready + n_starting == 0:
                        # no replica at all: the gateway holds the requests and reports them,
                        # as the service's demand (how a scaler sees the need to start from zero)
                        rate = (arrived_at[k] - arrived_at[k0]) / window_s
                        value = rate if plain_rps else value_of(rate, backlog_at[k])
                        reporting = 0
                    else:
                        reporting = 0
                if (
                    value != last_value
                    or reporting != last_reporting
                    or ready != last_obs_ready
                    or n_starting != last_starting
                ):
                    last_value, last_reporting = value, reporting
                    last_obs_ready, last_starting = ready, n_starting
                    observation = _observation(value, reporting, ready, n_starting)
                decision, state = decide(state, observation, t)
                add_reason(decision[1])
        if decision is not None:
            n_starting = len(starting)
            desired = decision[0]
            spec = ready + n_starting
            if desired != spec:
                events += 1
                if desired > spec:
                    if startup == 0:
                        ready += desired - spec
                    else:
                        starting.extend([t + startup] * (desired - spec))
                    if desired > max_spec:
                        max_spec = desired
                else:
                    remove = spec - desired
                    while remove and starting:
                        starting.pop()
                        remove -= 1
                    if remove:
                        if q > 0.0:
                            share = q * remove / ready
                            q -= share
                            drain_q += share
                            drain_n += remove
                        cost += remove * service_s  # in-flight requests finish
                        ready -= remove
            if int_period:
                next_dec += int_period
            else:
                next_dec_f += period
                next_dec = math.ceil(next_dec_f - 1e-9)
        spec = ready + len(starting)
        if ready != last_ready or spec != last_spec:
            last_rs += last_ready * (t - last_t)
            last_t, last_ready, last_spec = t, ready, spec
            run_t.append(t)
            run_ready.append(ready)
            run_spec.append(spec)
            run_rs.append(last_rs)

    lengths = np.diff(np.append(np.asarray(run_t, dtype=np.int64), n_s))
    ready_ps = np.repeat(np.asarray(run_ready, dtype=np.int64), lengths)
    spec_ps = np.repeat(np.asarray(run_spec, dtype=np.int64), lengths)
    over, violation = _slo(arrivals, served, queued, dropped, ready_ps, model, curve)
    capacity_s = float(ready_ps.sum()) * cap
    summary = Summary(
        duration_s=n_s,
        requests=float(cumulative[-1]),
        served=float(served.sum()) + drain_served,
        dropped=float(dropped.sum()),
        queued_at_end=q + drain_q,
        over_slo=float(over.sum()),
        slo_violation_s=int(violation.sum()),
        replica_seconds=cost,
        mean_replicas=cost / n_s,
        max_replicas=max_spec,
        scale_events=events,
        decisions=len(reasons),
        mean_utilisation=float(served.sum()) / capacity_s if capacity_s else 0.0,
        violation_s_at_max=int((violation & (spec_ps >= policy.max_replicas)).sum()) if scaler else 0,
    )
    timeline = timeline_of(arrivals, ready_ps, spec_ps, violation)
    series = Series(ready_ps, spec_ps, served, dropped, queued, over, violation) if keep_series else None
    return SimResult(
        policy=policy.name,
        description=policy.description,
        summary=summary,
        timeline=timeline,
        reasons={r.value: n for r, n in sorted(Counter(reasons).items())},
        elapsed_s=time.perf_counter() - started,
        cpu_s=time.process_time() - started_cpu,
        series=series,
    )


_SILENT = ReplicaSample(None, ready=True)  # a ready replica not yet scraped
_UNREADY = ReplicaSample(None, ready=False)  # a replica still starting


def _observation(value: float | None, reporting: int, ready: int, n_starting: int) -> Observation:
    """What the controller observes: ``reporting`` of the ``ready`` replicas report ``value``
    (None: the metrics have nothing yet), the rest are silent, ``n_starting`` are not ready.
    With no replica at all, the gateway's figure is the service's single sample."""
    if value is None:
        samples = (_SILENT,) * ready + (_UNREADY,) * n_starting
    elif ready + n_starting == 0:
        samples = (ReplicaSample(value, ready=False),)
    else:
        samples = (
            (ReplicaSample(value),) * reporting + (_SILENT,) * (ready - reporting) + (_UNREADY,) * n_starting
        )
    return Observation(ready + n_starting, samples, value is not None)


def _never(state: Any, observation: Observation, now_s: float) -> tuple[Decision, Any]:
    raise AssertionError("a static policy has no decisions")


def _metric_function(
    metric: str, curve: LatencyCurve, cap: float, service_s: float
) -> Callable[[float, float], float]:
    """value(handled rate per replica, backlog per replica) in the unit of ``metric``."""
    grid = curve.rho.tolist()

    def at(values: list[float], rho: float) -> float:
        rho = min(max(rho, 0.0), 1.0)
        i = min(bisect_right(grid, rho), len(grid) - 1)
        lo, hi = grid[i - 1], grid[i]
        w = (rho - lo) / (hi - lo) if hi > lo else 0.0
        return values[i - 1] + w * (values[i] - values[i - 1])

    if metric == "rps_per_replica":
        return lambda rate, backlog: rate
    if metric == "cpu_percent":
        return lambda rate, backlog: 100.0 * min(rate / cap, 1.0)
    if metric == "inflight_per_replica":
        waits = np.minimum(curve.mean_wait_s, 3600.0).tolist()
        return lambda rate, backlog: rate * (service_s + at(waits, rate / cap)) + backlog
    p95 = np.minimum(curve.p95_s, 3600.0).tolist()
    return lambda rate, backlog: at(p95, rate / cap) + backlog / cap


def _slo(
    arrivals: FloatArray,
    served: FloatArray,
    queued: FloatArray,
    dropped: FloatArray,
    ready: IntArray,
    model: ServiceModel,
    curve: LatencyCurve,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Requests over the SLO in each second, and whether each second violates the SLO."""
    capacity = ready * model.capacity_rps
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(capacity > 0, served / np.where(capacity > 0, capacity, 1.0), 1.0)
    np.clip(rho, 0.0, 1.0, out=rho)
    fraction = np.interp(rho, curve.rho, curve.over_slo)
    backlog = np.flatnonzero(queued > 0.0)
    if backlog.size:
        held = capacity[backlog]
        with np.errstate(divide="ignore"):
            wait_s = np.where(held > 0, queued[backlog] / np.where(held > 0, held, 1.0), np.inf)
        fraction[backlog] = curve.fraction_over(rho[backlog], wait_s)
    over = (arrivals - dropped) * fraction
    violation = (arrivals > 0.0) & (over + dropped > (1.0 - model.slo_quantile) * arrivals)
    return over, violation


def timeline_of(
    arrivals: FloatArray, ready: IntArray, spec: IntArray, violation: npt.NDArray[np.bool_]
) -> Timeline:
    """Fold per-second values into at most ``_TIMELINE_POINTS`` buckets for plotting."""
    n_s = arrivals.shape[0]
    bucket = max(1, math.ceil(n_s / _TIMELINE_POINTS))
    buckets = math.ceil(n_s / bucket)

    def fold(values: npt.NDArray[Any], how: str) -> npt.NDArray[Any]:
        padded = np.zeros(buckets * bucket, dtype=values.dtype)
        padded[:n_s] = values
        shaped = padded.reshape(buckets, bucket)
        folded: npt.NDArray[Any] = shaped.max(axis=1) if how == "max" else shaped.sum(axis=1)
        return folded

    return Timeline(
        bucket_s=bucket,
        load_rps=fold(arrivals, "max"),
        ready=fold(ready, "max"),
        requested=fold(spec, "max"),
        violation_s=fold(violation.astype(np.int64), "sum"),
    )
