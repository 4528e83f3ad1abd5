"""``kpa``: the Knative Pod Autoscaler's decision (knative/serving,
``pkg/autoscaler/scaling/autoscaler.go``, ``autoscaler.Scale``), for one service.

- Demand is the service's total (average of ready replicas times their count), averaged over
  a stable window (60 s) and a panic window (6 s); the observations of the last stable window
  are kept in the state (Knative keeps per-second buckets in its metric collector).
- Desired counts are ``ceil(window average / target)`` for each window, held within
  ``[floor(ready / max_scale_down_rate), ceil(max_scale_up_rate * ready)]`` with ready at
  least 1.
- Panic starts when the panic-window count reaches ``panic_threshold`` times the ready count
  (200%); every tick still over the threshold extends it; it ends once a whole stable window
  has passed since the last tick over the threshold. In panic the larger of the two counts is
  used and the count never goes down (Knative's ``maxPanicPods``).
- The PodAutoscaler's min/max scale then bound the count; with ``min_replicas`` 0 the last
  replica goes only after the demand has been zero for ``scale_to_zero_grace_s``
  (``scale-to-zero-grace-period``, 30 s).

Missing metrics hold the count (Knative returns an invalid scale result and nothing changes).
``target`` is Knative's ``TargetValue``: the per-replica target already multiplied by any
target utilization. Default period 2 s (Knative's ``tickInterval``).
"""

from __future__ import annotations

from bisect import bisect_right
from math import ceil, floor, nan
from typing import NamedTuple

from toolkit.scale._common import DemandReader, direction_reason, hold_or_bound, ordered_sum
from toolkit.scale._model import Decision, Observation, Reason
from toolkit.scale._policy import ServicePolicy

Floats = tuple[float, ...]
_new = tuple.__new__

# module constants: an enum member read through its class costs a lookup every tick on 3.11
_SCALE_UP, _SCALE_DOWN, _PANIC = Reason.SCALE_UP, Reason.SCALE_DOWN, Reason.PANIC
_RATE_LIMITED, _STABILIZED, _SCALE_FROM_ZERO = Reason.RATE_LIMITED, Reason.STABILIZED, Reason.SCALE_FROM_ZERO
_CLAMPED_MIN, _CLAMPED_MAX = Reason.CLAMPED_MIN, Reason.CLAMPED_MAX


class KpaState(NamedTuple):
    """Observed totals of the last stable window, and the panic bookkeeping (a NamedTuple:
    built every tick, and a tuple is the cheapest immutable record to build).

    The window is kept as two parallel tuples, times and totals, oldest first: the averages
    then bisect plain floats and add the totals without unpacking pairs."""

    times: Floats = ()
    totals: Floats = ()
    panic_since_s: float | None = None  # Knative's panicTime: last tick over the threshold
    max_panic_replicas: int = 0
    zero_since_s: float | None = None  # first tick of the current run of zero demand


def window_average(
    times: tuple[float, ...], totals: tuple[float, ...], window_s: float, now_s: float
) -> float:
    """Mean of the totals newer than ``now - window`` (the newest is always included).

    Summed newest first, one addition at a time (``ordered_sum``), so every Python version
    gives the same bits."""
    start = bisect_right(times, now_s - window_s)
    count = len(times) - start
    if not count:
        return 0.0
    total = ordered_sum(reversed(totals[start:]))
    return total / count


class KpaScaler:
    """Knative KPA for one service, bound to its policy."""

    def __init__(self, policy: ServicePolicy) -> None:
        self.policy = policy
        params = policy.kpa
        # read once here rather than through two attribute lookups every tick
        self._stable_window_s = params.stable_window_s
        self._panic_window_s = params.panic_window_s
        self._max_scale_up_rate = params.max_scale_up_rate
        self._max_scale_down_rate = params.max_scale_down_rate
        self._panic_threshold = params.panic_threshold
        self._grace_s = params.scale_to_zero_grace_s
        self._target = policy.target
        self._min_replicas = policy.min_replicas
        self._max_replicas = policy.max_replicas
        self._demand = DemandReader()
        # the detail text of the last averages: formatting two floats costs more than the
        # rest of a tick, and the averages often repeat from one tick to the next
        self._detail = (nan, nan, "")

    def initial_state(self) -> KpaState:
        return KpaState()

    def decide(self, state: KpaState, observation: Observation, now_s: float) -> tuple[Decision, KpaState]:
        stable_window_s = self._stable_window_s
        current = observation.spec_replicas
        total, ready_count = self._demand.read(observation)
        if total is None:
            return hold_or_bound(self.policy, observation), state
        times, totals, panic_since, max_panic, zero_since = state
        start = bisect_right(times, now_s - stable_window_s)
        times = (*times[start:], now_s)
        totals = (*totals[start:], total)
        # every total kept is inside the stable window (stable_window_s >= panic_window_s >=
        # period_s > 0, checked with the policy): window_average without the search
        stable = ordered_sum(reversed(totals)) / len(totals)
        panic = window_average(times, totals, self._panic_window_s, now_s)

        ready = ready_count or 1
        target = self._target
        max_up = ceil(self._max_scale_up_rate * ready)
        max_down = floor(ready / self._max_scale_down_rate)
        stable_count = ceil(stable / target)
        panic_count = ceil(panic / target)
        # (comparisons rather than min/max: on 3.11 each builtin call costs more than the rest)
        raw = stable_count if stable_count >= panic_count else panic_count
        desired = max_down if stable_count < max_down else stable_count
        if desired > max_up:
            desired = max_up

        if panic_count / ready >= self._panic_threshold:
            panic_since = now_s
        elif panic_since is not None and panic_since + stable_window_s < now_s:
            panic_since = None
            max_panic = 0

        reason = _SCALE_UP
        if panic_since is not None:
            desired_panic = max_down if panic_count < max_down else panic_count
            if desired_panic > max_up:
                desired_panic = max_up
            if desired_panic > desired:
                desired = desired_panic
            if desired > max_panic:
                max_panic = desired
            desired = max_panic
            reason = _PANIC
        elif raw > max_up and desired == max_up:
            reason = _RATE_LIMITED

        if desired != 0:
            zero_since = None
        elif zero_since is None:
            zero_since = now_s
        last_stable, last_panic, detail = self._detail
        if stable != last_stable or panic != last_panic:
            detail = f"stable {stable:.3g}, panic {panic:.3g} (total demand)"
            self._detail = (stable, panic, detail)
        if desired < self._min_replicas:
            desired, reason = self._min_replicas, _CLAMPED_MIN
        elif desired > self._max_replicas:
            desired, reason = self._max_replicas, _CLAMPED_MAX
        elif desired == 0 and current > 0 and zero_since is not None:
            if now_s - zero_since < self._grace_s:
                desired, reason = 1, _STABILIZED
                detail = f"demand zero for {now_s - zero_since:.0f} s "
            else:
                reason = _SCALE_DOWN
        elif reason is not _PANIC and reason is not _RATE_LIMITED:
            reason = direction_reason(current, desired)
        if current == 0 and desired > 0 and reason is not _CLAMPED_MAX:
            reason = _SCALE_FROM_ZERO  # (Knative also panics here: ready counts as 1)
        per_replica = total / ready_count if ready_count else total
        # every field given: tuple.__new__ skips the NamedTuples' Python-level __new__
        new_state = _new(KpaState, (times, totals, panic_since, max_panic, zero_since))
        return _new(Decision, (desired, reason, per_replica, raw, detail)), new_state
