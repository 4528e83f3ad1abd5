"""``toolkit``: our own algorithm. Design and measurements: docs/scaling-algorithms.md.

In one paragraph: size for the demand expected when a replica asked for now would be
ready (the current total plus the upward trend of a robust line fit over the recent window,
projected ``startup_s + period_s`` ahead), scale up at once, take a burst path that ignores
rate limits when demand reaches ``panic_threshold`` times the ready capacity, and scale down
gradually (the highest recommendation of the scale-down window, at most half per 30 s by
default) with the policy tolerance as a dead band on the way down only. When ``capacity``
is given, headroom comes from the observed noise instead of a fixed target.

The HPA machinery (stabilization windows, rate policies) is reused as is, so a policy file's
``scale_up``/``scale_down`` mean the same thing for ``hpa`` and ``toolkit``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from toolkit.scale._behavior import BehaviorState, record_scale_event
from toolkit.scale._common import History, append_window, demand_or_hold, out_of_bounds
from toolkit.scale._hpa import behave
from toolkit.scale._model import Decision, Observation, Reason
from toolkit.scale._policy import ServicePolicy


@dataclass(frozen=True, slots=True)
class ToolkitState:
    behavior: BehaviorState = field(default_factory=BehaviorState)
    history: History = ()  # (time_s, total demand) over the forecast window
    panic_since_s: float | None = None
    zero_since_s: float | None = None


def trend_per_s(history: History) -> float:
    """Theil-Sen slope (median of pairwise slopes) of demand over time: robust to a single
    outlier sample, unlike least squares. 0 with fewer than three points."""
    n = len(history)
    if n < 3:
        return 0.0
    slopes = []
    for i in range(n - 1):
        t_i, v_i = history[i]
        for j in range(i + 1, n):
            t_j, v_j = history[j]
            if t_j > t_i:
                slopes.append((v_j - v_i) / (t_j - t_i))
    return statistics.median(slopes) if slopes else 0.0


class ToolkitScaler:
    """toolkit's algorithm for one service, bound to its policy."""

    def __init__(self, policy: ServicePolicy) -> None:
        self.policy = policy
        self.lead_s = policy.toolkit.startup_s + policy.period_s

    def initial_state(self) -> ToolkitState:
        return ToolkitState()

    def decide(
        self, state: ToolkitState, observation: Observation, now_s: float
    ) -> tuple[Decision, ToolkitState]:
        policy = self.policy
        params = policy.toolkit
        current = observation.spec_replicas
        total = demand_or_hold(policy, observation)
        if isinstance(total, Decision):
            return total, state
        history = append_window(state.history, now_s, total, params.forecast_window_s)
        slope = trend_per_s(history)
        forecast = total + max(0.0, slope) * self.lead_s
        raw = math.ceil(forecast / policy.target - 1e-9)
        ready = max(1, observation.ready_replicas)

        over = total / (ready * policy.target) >= params.panic_threshold
        panic_since = now_s if over else state.panic_since_s
        if panic_since is not None and not over and panic_since + params.forecast_window_s < now_s:
            panic_since = None

        if current > 0 and raw < current and forecast >= current * policy.target * (1 - policy.tolerance):
            raw = current  # dead band on the way down only
        zero_since = (state.zero_since_s if state.zero_since_s is not None else now_s) if total <= 0 else None

        detail = f"demand {total:.3g}, trend {slope:+.3g}/s, forecast {forecast:.3g}"
        behavior = state.behavior
        bounded = out_of_bounds(policy, current)
        if bounded is not None:
            desired, reason = bounded.desired_replicas, bounded.reason
            behavior = record_scale_event(
                behavior, current, desired, policy.scale_up, policy.scale_down, now_s
            )
        elif panic_since is not None:
            # Burst path: straight to the need, no rate limit, never down while it lasts.
            desired = min(max(raw, current), policy.max_replicas)
            reason = Reason.PANIC if desired > current else Reason.STABILIZED
            behavior = _remember(behavior, raw, current, desired, policy, now_s)
        else:
            desired, reason, behavior = behave(policy, behavior, raw, current, now_s)
            if reason is Reason.SCALE_UP and slope > 0 and math.ceil(total / policy.target) < desired:
                reason = Reason.FORECAST
        in_grace = zero_since is not None and now_s - zero_since < params.scale_to_zero_grace_s
        if desired == 0 and current > 0 and in_grace:
            desired, reason = 1, Reason.STABILIZED
        if current == 0 and desired > 0:
            reason = Reason.SCALE_FROM_ZERO
        per_replica = total / observation.ready_replicas if observation.ready_replicas else total
        new_state = ToolkitState(behavior, history, panic_since, zero_since)
        return Decision(desired, reason, per_replica, raw, detail), new_state


def _remember(
    behavior: BehaviorState, raw: int, current: int, desired: int, policy: ServicePolicy, now_s: float
) -> BehaviorState:
    """Record the burst-path recommendation and event, so the scale-down window after a
    burst remembers it like any other recommendation."""
    cutoff = now_s - max(policy.scale_up.stabilization_window_s, policy.scale_down.stabilization_window_s)
    kept = tuple(r for r in behavior.recommendations if r[0] >= cutoff)
    behavior = BehaviorState((*kept, (now_s, raw)), behavior.up_events, behavior.down_events)
    return record_scale_event(behavior, current, desired, policy.scale_up, policy.scale_down, now_s)
