"""Small pieces every scaler needs: reading demand from an observation, and the rules that
hold for all algorithms (bounds first, never scale down blind)."""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from functools import partial, reduce
from operator import add, itemgetter

from toolkit.scale._model import Decision, Observation, Reason
from toolkit.scale._policy import ServicePolicy


def observed_total(observation: Observation) -> float | None:
    """The service's total demand in metric units, or None when there is nothing usable.

    Knative's collector rule: the average of the ready replicas that reported, times the
    number of ready replicas (a replica that missed one scrape still serves its share).
    Replicas that are not ready serve nothing and are left out. With zero replicas requested,
    whatever the metrics source reports for the service (e.g. requests the gateway is holding
    for it) is the demand, so a service can scale from zero.
    """
    return demand_and_ready(observation)[0]


def demand_and_ready(observation: Observation) -> tuple[float | None, int]:
    """``observed_total`` and the number of ready replicas, in one pass over the samples."""
    total = 0.0
    reported = 0
    ready = 0
    for value, is_ready in observation.samples:
        if is_ready:
            ready += 1
            if value is not None:
                total += value
                reported += 1
    if not observation.metrics_ok:
        return None, ready
    if observation.spec_replicas == 0:
        pending = [s.value for s in observation.samples if s.value is not None]
        return (sum(pending) if pending else None), ready
    if reported == 0:
        return None, ready
    return total / reported * ready, ready


class DemandReader:
    """``observed_total`` and the ready count of an observation, remembered for the last
    observation read.

    An Observation is immutable, so the same object always gives the same figures; a caller
    that passes the same one again (the simulator does, while nothing it observes changes)
    skips the walk over every replica's sample. The one entry is held as a single tuple,
    replaced whole, and holding it keeps that observation alive, so identity cannot be
    confused with a new object at a reused address."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[Observation | None, float | None, int] = (None, None, 0)

    def read(self, observation: Observation) -> tuple[float | None, int]:
        """(total demand or None, ready replicas)."""
        last, total, ready = self._last
        if observation is not last:
            total, ready = demand_and_ready(observation)
            self._last = (observation, total, ready)
        return total, ready


def out_of_bounds(policy: ServicePolicy, current: int) -> Decision | None:
    """A count outside [min, max] goes straight to the bound, whatever the metrics say
    (HPA's reconcileAutoscaler does this before it looks at any metric)."""
    if current > policy.max_replicas:
        return Decision(
            policy.max_replicas,
            Reason.CLAMPED_MAX,
            None,
            policy.max_replicas,
            f"current {current} above max_replicas",
        )
    if current < policy.min_replicas:
        return Decision(
            policy.min_replicas,
            Reason.CLAMPED_MIN,
            None,
            policy.min_replicas,
            f"current {current} below min_replicas",
        )
    return None


def hold_for_missing_metrics(current: int, detail: str) -> Decision:
    """No usable metrics: keep the count (never scale down on missing data)."""
    return Decision(current, Reason.METRICS_MISSING, None, current, detail)


def hold_or_bound(policy: ServicePolicy, observation: Observation) -> Decision:
    """The decision when there is no usable demand: go to a bound if outside [min, max], else
    hold the count."""
    current = observation.spec_replicas
    bounded = out_of_bounds(policy, current)
    if bounded is not None:
        return bounded
    return hold_for_missing_metrics(current, "no usable metric for the service")


# (time_s, value) pairs in time order: ``decide`` is called with a ``now_s`` that never goes
# back, so the entries a window has left behind are always a prefix, found by bisection.
History = tuple[tuple[float, float], ...]
stamp_of = itemgetter(0)
value_of = itemgetter(1)


def window_start(history: Sequence[tuple[float, float]], cutoff_s: float) -> int:
    """Index of the first entry newer than ``cutoff_s`` (``len(history)`` if none is)."""
    return bisect_right(history, cutoff_s, key=stamp_of)


def first_at_or_after(history: Sequence[tuple[float, float]], cutoff_s: float) -> int:
    """Index of the first entry at or after ``cutoff_s`` (``len(history)`` if none is)."""
    return bisect_left(history, cutoff_s, key=stamp_of)


def append_window(history: History, now_s: float, value: float, window_s: float) -> History:
    """``history`` with ``(now_s, value)`` appended and entries older than the window dropped."""
    return (*history[window_start(history, now_s - window_s) :], (now_s, value))


def _added_in_order(values: Iterable[float]) -> float:
    return reduce(add, values, 0.0)


# The sum of floats one addition at a time, in the order given, from 0.0: the same bits on
# every Python version. Python 3.11's ``sum`` is exactly that, in C (about three times faster
# than ``reduce``); 3.12 made ``sum`` compensate rounding errors, which changes the bits.
ordered_sum: Callable[[Iterable[float]], float] = (
    partial(sum, start=0.0) if sys.version_info < (3, 12) else _added_in_order
)


def direction_reason(current: int, desired: int) -> Reason:
    """The plain reason for moving from ``current`` to ``desired``."""
    if desired > current:
        return _SCALE_FROM_ZERO if current == 0 else _SCALE_UP
    if desired < current:
        return _SCALE_DOWN
    return _WITHIN_TOLERANCE


# an enum member read through its class costs a lookup on 3.11; these are read every tick
_SCALE_FROM_ZERO, _SCALE_UP = Reason.SCALE_FROM_ZERO, Reason.SCALE_UP
_SCALE_DOWN, _WITHIN_TOLERANCE = Reason.SCALE_DOWN, Reason.WITHIN_TOLERANCE
