"""``hpa``: the Kubernetes HorizontalPodAutoscaler v2 controller, reproduced exactly for one
``Pods``-type metric with an ``AverageValue`` target.

Sources (kubernetes/kubernetes, pkg/controller/podautoscaler):

- ``replica_calculator.go``: ``GetMetricReplicas`` -> ``calcPlainMetricReplicas`` and
  ``groupPods`` turn per-pod values into a raw replica count (``replica_count``).
- ``horizontal.go``: ``reconcileAutoscaler`` (bounds, "scaling disabled" at 0 replicas,
  errors hold the count) and ``normalizeDesiredReplicasWithBehaviors`` (stabilization and
  rate policies, in ``toolkit.scale._behavior``).

Every metric kind (requests per second, in-flight, p95 latency, CPU percent, PromQL) is
treated as a Pods metric averaged over pods, like a custom metric served by an adapter.
Values are compared the way the controller does: as integer milli-units (Quantity
``MilliValue``, rounded up), with the average taken by integer division. The period is the
controller's ``--horizontal-pod-autoscaler-sync-period`` default, 15 s. A policy always has
a behaviour (the API defaults fill one in), so the legacy ``normalizeDesiredReplicas`` path
(scale-up limit max(2x, 4)) is not used. Go stores a scale event after the scale update
succeeded; a pure decision cannot know that, so the event is stored with the decision, on the
assumption that the loop applies it (the next observation's spec count shows if it did not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from toolkit.scale._behavior import (
    LIMIT_NONE,
    BehaviorState,
    Limit,
    rate_limit,
    record_scale_event,
    stabilize,
)
from toolkit.scale._common import direction_reason, hold_for_missing_metrics, out_of_bounds
from toolkit.scale._model import Decision, Observation, Reason, ReplicaSample
from toolkit.scale._policy import ServicePolicy


def milli(value: float) -> int:
    """Quantity.MilliValue: the value in thousandths, rounded up (after removing float noise
    so that 0.1 is 100 milli as it is for the decimal quantity "0.1")."""
    return math.ceil(round(value * 1000.0, 6))


@dataclass(frozen=True, slots=True)
class MetricReplicas:
    """Outcome of ``replica_count``: the raw count, the average in milli-units, and why the
    count equals the current one when it does."""

    replicas: int
    usage_milli: int
    note: str = ""


def _average(values: Sequence[int]) -> int:
    return sum(values) // len(values)


def replica_count(
    samples: Sequence[ReplicaSample], current: int, target: float, tolerance: float
) -> MetricReplicas | None:
    """``calcPlainMetricReplicas``; None where Go returns an error (no pods, or no ready pod
    reported), which the controller turns into "keep the count".

    ``groupPods``: a replica that is not ready is "unready" (Go: a Pending pod); a ready one
    without a value is "missing"; the rest count as ready with metrics. Unready pods are
    dropped from the average. If there are no missing pods and no scale-up with unready pods,
    the count is ``ceil(ratio * ready)`` unless ``|1 - ratio| <= tolerance``. Otherwise the
    average is recomputed with missing pods at the target (when the ratio says scale down) or
    at 0 (scale up), and unready pods at 0 (scale up only); the current count stays if the
    new ratio is within tolerance, if it points the other way than the first one, or if the
    new count would move against the new ratio ("would change direction" guards).
    """
    if not samples:
        return None
    target_m = milli(target)
    ready_values: list[int] = []
    unready = 0
    missing = 0
    last_value: float | None = None
    last_milli = 0
    for sample in samples:
        value = sample.value
        if not sample.ready:
            unready += 1
        elif value is None:
            missing += 1
        else:
            if value is not last_value:  # replicas often share one value object
                last_value, last_milli = value, milli(value)
            ready_values.append(last_milli)
    if not ready_values:
        return None
    usage_m = _average(ready_values)
    ratio = usage_m / target_m
    rebalance_unready = unready > 0 and ratio > 1.0
    if not rebalance_unready and missing == 0:
        if abs(1.0 - ratio) <= tolerance:
            return MetricReplicas(current, usage_m, "within tolerance")
        return MetricReplicas(math.ceil(ratio * len(ready_values)), usage_m)
    values = list(ready_values)
    if missing:
        values.extend([target_m if ratio < 1.0 else 0] * missing)
    if rebalance_unready:
        values.extend([0] * unready)
    new_ratio = _average(values) / target_m
    if abs(1.0 - new_ratio) <= tolerance:
        return MetricReplicas(current, usage_m, "within tolerance once missing/unready pods are counted")
    if (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return MetricReplicas(current, usage_m, "missing/unready pods would reverse the direction")
    new_count = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and new_count > current) or (new_ratio > 1.0 and new_count < current):
        return MetricReplicas(current, usage_m, "the pod count would reverse the direction")
    return MetricReplicas(new_count, usage_m)


_STABILIZED = Reason.STABILIZED  # (read every tick; a module constant is the fastest read)
_LIMIT_REASON = {
    Limit.SCALE_UP_LIMIT: Reason.RATE_LIMITED,
    Limit.SCALE_DOWN_LIMIT: Reason.RATE_LIMITED,
    Limit.TOO_MANY: Reason.CLAMPED_MAX,
    Limit.TOO_FEW: Reason.CLAMPED_MIN,
}


def behave(
    policy: ServicePolicy,
    state: BehaviorState,
    raw: int,
    current: int,
    now_s: float,
) -> tuple[int, Reason, BehaviorState]:
    """The ``normalizeDesiredReplicasWithBehaviors`` step for a raw recommendation: stabilize,
    rate-limit and clamp, and record the scale event the loop is about to make. Returns the
    count, the reason it differs from the raw one (or the direction), and the new state."""
    up, down = policy.scale_up, policy.scale_down
    stabilized, recommendations = stabilize(state.recommendations, raw, current, up, down, now_s)
    state = BehaviorState(recommendations, state.up_events, state.down_events)
    desired, limit = rate_limit(
        stabilized, current, policy.min_replicas, policy.max_replicas, state, up, down, now_s
    )
    state = record_scale_event(state, current, desired, up, down, now_s)
    if limit is not LIMIT_NONE:
        reason = _LIMIT_REASON[limit]
    elif stabilized != raw:
        reason = _STABILIZED
    else:
        reason = direction_reason(current, desired)
    return desired, reason, state


class HpaScaler:
    """Kubernetes HPA v2 for one service, bound to its policy."""

    def __init__(self, policy: ServicePolicy) -> None:
        self.policy = policy
        # ``replica_count`` of the last observation: it depends on nothing else (the current
        # count is the observation's), and an Observation is immutable, so the same object
        # passed again (the simulator does while nothing changes) skips every replica's
        # value. One tuple, replaced whole; holding the observation keeps its identity unique.
        self._computed: tuple[Observation | None, MetricReplicas | None] = (None, None)

    def initial_state(self) -> BehaviorState:
        return BehaviorState()

    def decide(
        self, state: BehaviorState, observation: Observation, now_s: float
    ) -> tuple[Decision, BehaviorState]:
        policy = self.policy
        current = observation.spec_replicas
        if current == 0 and policy.min_replicas != 0:
            # reconcileAutoscaler: "scaling is disabled since the replica count of the target is zero"
            return Decision(0, Reason.SCALING_DISABLED, None, 0, "replica count is zero"), state
        bounded = out_of_bounds(policy, current)
        if bounded is not None:
            # Go rescales straight to the bound and stores the scale event, without
            # recording a recommendation.
            new_state = record_scale_event(
                state, current, bounded.desired_replicas, policy.scale_up, policy.scale_down, now_s
            )
            return bounded, new_state
        if not observation.metrics_ok:
            return hold_for_missing_metrics(current, "metrics source down or stale"), state
        last, computed = self._computed
        if observation is not last:
            computed = replica_count(observation.samples, current, policy.target, policy.tolerance)
            self._computed = (observation, computed)
        if computed is None:
            return hold_for_missing_metrics(current, "no ready replica reported the metric"), state
        desired, reason, new_state = behave(policy, state, computed.replicas, current, now_s)
        return (
            Decision(desired, reason, computed.usage_milli / 1000.0, computed.replicas, computed.note),
            new_state,
        )
