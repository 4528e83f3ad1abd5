"""``toolkit``: our own algorithm. Design, reasons and measurements: docs/scaling-algorithms.md.

Each tick:

1. **Demand** is the service's total (``observed_total``), kept over ``forecast_window_s``.
   With a lagging figure (``metrics_delay_s``: a rate over a window), the per-replica rate
   times the mean ready count over that delay, not today's count.
2. **Forecast**: the demand when a replica asked for now would serve, ``startup_s +
   period_s`` (+ half the metrics delay) ahead: the current total plus the upward part of
   a Theil-Sen trend (median of pairwise slopes: one outlier sample cannot tilt it) that the
   newer half of the window confirms (so a step is never extrapolated as a ramp), plus
   ``NOISE_Z`` robust standard
   deviations of the demand around its trend (the smaller of the whole window's and the newer
   half's, for the same reason; measured up to the previous tick, so the current sample only
   ever raises the forecast). Falling demand is not extrapolated.
3. **Sizing**: ``ceil(forecast / per_replica)``. ``per_replica`` is ``target``; when the
   replica ``capacity`` is known it is ``target + MARGIN_SPENT * (capacity - target)``. A
   target below capacity is a margin for the time a controller takes to react; reacting
   within one short period and sizing for the forecast, this algorithm needs only part of it
   and keeps the rest for what no forecast sees (per-second bursts, the queueing knee).
   When the latency SLO is known too (``slo_s``, ``slo_quantile``, ``concurrency``), the
   margin is measured from the SLO instead of guessed: ``per_replica`` is ``SLO_HEADROOM``
   of the utilisation at which an M/M/c replica's latency quantile reaches ``slo_s``. So a
   slow, highly concurrent service or a tight SLO is run cooler than ``target`` would, and a
   loose SLO hotter; a fixed target gets one of the two wrong.
4. **Burst path**: demand at ``panic_threshold`` times what the ready replicas are sized for
   goes straight to the forecast count, past the rate policies, and the count does not go
   down until a forecast window has passed without that condition.
5. **Otherwise** the HPA behaviour machinery, with toolkit's defaults: scale up at once
   (window 0, up to tenfold per period), scale down only to the highest recommendation of the
   last 120 s and by at most half per 30 s, so a dip shorter than a replica's start-up and a
   bit does not cost a scale-down followed by a late scale-up. The scale-down window is never
   shorter than ``metrics_delay_s``: for that long after a scale change a window-averaged
   figure still mixes the replicas before it with those after (new replicas are found and
   scraped late, removed ones drain), and reads low; measured end to end on Prometheus, a
   shorter window let such a reading take the count below the load's need.
"""

from __future__ import annotations

import dataclasses
import math
from itertools import chain
from typing import NamedTuple

from toolkit.scale._behavior import BehaviorState, record_scale_event
from toolkit.scale._common import (
    DemandReader,
    History,
    append_window,
    first_at_or_after,
    hold_or_bound,
    out_of_bounds,
)
from toolkit.scale._hpa import behave
from toolkit.scale._model import Decision, Observation, Reason
from toolkit.scale._policy import ServicePolicy, slo_utilisation_of

_new = tuple.__new__  # every field given: skips the NamedTuples' Python-level __new__

NOISE_Z = 2.0  # headroom: two (robust) standard deviations of the recent demand noise
MARGIN_SPENT = 1 / 3  # share of (capacity - target) this algorithm runs into, when capacity is known
# With an SLO: size for this share of the utilisation at which the SLO breaks; the rest is for
# rises no forecast sees within a start-up delay (on WorldCup98, 0.90 already let 35 s
# per-minute surges through: docs/scaling-algorithms.md).
SLO_HEADROOM = 0.85
_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation, for Gaussian noise

# A window's pairwise slopes, by older sample: row i holds the slopes from sample i to each
# later sample (in time order).
SlopeRows = tuple[tuple[float, ...], ...]


class ToolkitState(NamedTuple):
    """What toolkit remembers (a NamedTuple: built every tick, and a tuple is the cheapest
    immutable record to build). The pairwise slopes of the window are kept by row, so that
    each tick drops the rows of the samples that left and computes only the new sample's
    slopes, instead of every pair again. The newer half's pairs need no rows of their own:
    row i holds sample i's slopes to every later sample, so the rows of the newer half's
    samples are exactly its pairs."""

    behavior: BehaviorState = BehaviorState()
    history: History = ()  # (time_s, total demand) over the forecast window
    noise: float = 0.0  # robust standard deviation of demand around its trend, up to last tick
    panic_since_s: float | None = None  # last tick on the burst path's condition
    zero_since_s: float | None = None  # first tick of the current run of zero demand
    slopes: SlopeRows = ()  # of every pair in ``history``
    counts: History = ()  # (time_s, ready replicas) over the metrics delay, when there is one


def _median(values: list[float]) -> float:
    """Median of a list the caller owns (sorted in place: no copy, this runs every tick)."""
    values.sort()
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2.0


def slope_rows(history: History) -> SlopeRows:
    """The slope between every pair of samples (older to newer; pairs at one time are skipped)."""
    return tuple(
        tuple((v_j - v_i) / (t_j - t_i) for t_j, v_j in history[i + 1 :] if t_j > t_i)
        for i, (t_i, v_i) in enumerate(history)
    )


def slide_rows(rows: SlopeRows, old: History, new: History) -> SlopeRows:
    """``slope_rows(new)`` from ``rows == slope_rows(old)``, where ``new`` is ``old`` with a
    prefix dropped and one sample appended (what ``append_window`` does): the rows of the
    dropped samples go, and each kept row gains its slope to the new sample. The same floats
    as a full recount, with one division per sample instead of one per pair."""
    dropped = len(old) + 1 - len(new)
    if dropped < 0 or len(rows) != len(old):
        return slope_rows(new)
    t_n, v_n = new[-1]
    slid = [
        (*row, (v_n - v_i) / (t_n - t_i)) if t_n > t_i else row
        for row, (t_i, v_i) in zip(rows[dropped:], new, strict=False)
    ]
    slid.append(())
    return tuple(slid)


def median_slope(n_samples: int, rows: SlopeRows) -> float:
    """The Theil-Sen trend from a window's pairwise slopes; 0 with fewer than three samples."""
    if n_samples < 3:
        return 0.0
    slopes = list(chain.from_iterable(rows))
    return _median(slopes) if slopes else 0.0


def trend_per_s(history: History) -> float:
    """Theil-Sen slope of demand over time: the median of the slopes between every pair of
    samples. One outlier sample cannot tilt it, and a fresh step is not read as a trend (only
    the pairs that straddle it are steep, a minority until the step is halfway through the
    window). 0 with fewer than three samples."""
    return median_slope(len(history), slope_rows(history))


def noise(history: History, slope: float) -> float:
    """Robust standard deviation of demand around its trend line: the median absolute
    deviation of the detrended samples, scaled to a standard deviation for Gaussian noise.

    It measures how far the level wanders within the window, which is what can surprise a
    replica count during the next lead time; a step inside the window counts as such
    wandering until it leaves the window (so after a large drop, replicas are held a little
    longer: the safe side).
    """
    n = len(history)
    if n < 3:
        return 0.0
    mid = n // 2
    # the two medians inline (this runs twice a tick): sorted in place, no copies
    detrended = [v - slope * t for t, v in history]
    detrended.sort()
    centre = detrended[mid] if n % 2 else (detrended[mid - 1] + detrended[mid]) / 2.0
    deviations = [abs(d - centre) for d in detrended]
    deviations.sort()
    return _MAD_TO_SIGMA * (deviations[mid] if n % 2 else (deviations[mid - 1] + deviations[mid]) / 2.0)


def per_replica_sizing(policy: ServicePolicy) -> float:
    """The demand one replica is sized for (see the module docstring, step 3)."""
    params = policy.toolkit
    capacity = params.capacity
    if capacity is None:
        return policy.target
    limit = slo_utilisation_of(params)
    if limit is not None:
        return capacity * limit * SLO_HEADROOM
    return policy.target + MARGIN_SPENT * (capacity - policy.target)


class ToolkitScaler:
    """toolkit's algorithm for one service, bound to its policy."""

    def __init__(self, policy: ServicePolicy) -> None:
        self.policy = policy
        params = policy.toolkit
        # the demand figure is already half a metrics delay old (a rate over a window)
        self.metrics_delay_s = params.metrics_delay_s or 0.0
        self.lead_s = params.startup_s + policy.period_s + self.metrics_delay_s / 2.0
        self.per_replica = per_replica_sizing(policy)
        # the policy the behaviour rules read: its scale-down window at least the metrics delay
        down = policy.scale_down
        self._rules = (
            dataclasses.replace(
                policy, scale_down=dataclasses.replace(down, stabilization_window_s=self.metrics_delay_s)
            )
            if down.stabilization_window_s < self.metrics_delay_s
            else policy
        )
        # read once here rather than through two attribute lookups every tick
        self._window_s = params.forecast_window_s
        self._panic_threshold = params.panic_threshold
        self._grace_s = params.scale_to_zero_grace_s
        self._min = policy.min_replicas
        self._max = policy.max_replicas
        self._demand = DemandReader()

    def initial_state(self) -> ToolkitState:
        return ToolkitState()

    def decide(
        self, state: ToolkitState, observation: Observation, now_s: float
    ) -> tuple[Decision, ToolkitState]:
        policy = self._rules
        per = self.per_replica
        current = observation.spec_replicas
        total, ready_count = self._demand.read(observation)
        if total is None:
            return hold_or_bound(policy, observation), state

        counts = state.counts
        if self.metrics_delay_s > 0 and ready_count > 0:
            # A per-replica rate averaged over a window is the service's total divided by the
            # replicas ready *during* that window, not now: right after a scale change,
            # average x today's count reads low (after a scale-down, which then cascades) or
            # high (after a scale-up). Multiply by the mean count over the window instead.
            counts = append_window(counts, now_s, float(ready_count), self.metrics_delay_s)
            mean_ready = sum(count for _, count in counts) / len(counts)
            total = total / ready_count * mean_ready
        old = state.history
        history = append_window(old, now_s, total, self._window_s)
        # Trend and noise are each read over the whole window and over its newer half, and
        # the smaller is used: a step that fills half the window tilts the whole-window fit
        # and looks like wandering around it, but the newer half is flat, and while the step
        # is in the newer half it is a minority of the whole window.
        n = len(history)
        half = n // 2
        newer = history[half:]
        slopes = slide_rows(state.slopes, old, history)
        slope = median_slope(n, slopes)
        newer_slope = median_slope(n - half, slopes[half:])
        rise_per_s = newer_slope if newer_slope < slope else slope
        forecast = total + (rise_per_s * self.lead_s if rise_per_s > 0.0 else 0.0) + NOISE_Z * state.noise
        raw = math.ceil(forecast / per - 1e-9)
        ready = ready_count if ready_count > 1 else 1

        over = total >= self._panic_threshold * ready * per
        panic_since = now_s if over else state.panic_since_s
        if panic_since is not None and not over and panic_since + self._window_s < now_s:
            panic_since = None
        zero_since = (state.zero_since_s if state.zero_since_s is not None else now_s) if total <= 0 else None

        detail = f"demand {total:.4g}, trend {slope:+.3g}/s, forecast {forecast:.4g}"
        behavior = state.behavior
        bounded = out_of_bounds(policy, current) if current < self._min or current > self._max else None
        if bounded is not None:
            desired, reason = bounded.desired_replicas, bounded.reason
            behavior = record_scale_event(
                behavior, current, desired, policy.scale_up, policy.scale_down, now_s
            )
        elif panic_since is not None:
            # Burst path: straight to the need, no rate limit, never down while it lasts.
            desired = min(max(raw, current), self._max)
            reason = Reason.PANIC if desired > current else Reason.STABILIZED
            behavior = _remember(behavior, raw, current, desired, policy, now_s)
        else:
            desired, reason, behavior = behave(policy, behavior, raw, current, now_s)
            if reason is Reason.SCALE_UP and math.ceil(total / per - 1e-9) < desired:
                reason = Reason.FORECAST
        if desired == 0 and current > 0 and zero_since is not None and now_s - zero_since < self._grace_s:
            desired, reason = 1, Reason.STABILIZED
        if current == 0 and desired > 0:
            reason = Reason.SCALE_FROM_ZERO
        per_replica = total / ready_count if ready_count else total
        # a flat newer half has no spread, and the smaller of the two is kept: skip the other
        spread = noise(newer, newer_slope)
        if spread > 0.0:
            whole = noise(history, slope)
            if whole < spread:
                spread = whole
        new_state = _new(ToolkitState, (behavior, history, spread, panic_since, zero_since, slopes, counts))
        return _new(Decision, (desired, reason, per_replica, raw, detail)), new_state


def _remember(
    behavior: BehaviorState, raw: int, current: int, desired: int, policy: ServicePolicy, now_s: float
) -> BehaviorState:
    """Record the burst-path recommendation and event, so the scale-down window after a
    burst remembers it like any other recommendation."""
    cutoff = now_s - max(policy.scale_up.stabilization_window_s, policy.scale_down.stabilization_window_s)
    kept = behavior.recommendations[first_at_or_after(behavior.recommendations, cutoff) :]
    behavior = BehaviorState((*kept, (now_s, raw)), behavior.up_events, behavior.down_events)
    return record_scale_event(behavior, current, desired, policy.scale_up, policy.scale_down, now_s)
