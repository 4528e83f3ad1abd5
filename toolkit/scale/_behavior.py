"""HPA v2 ``behavior``: stabilization windows and scaling rate policies, as pure functions.

This is the second half of the Kubernetes HPA decision (``horizontal.go``,
``normalizeDesiredReplicasWithBehaviors``), shared by the ``hpa`` scaler, which reproduces
it exactly, and the ``toolkit`` scaler, which feeds it its own recommendations with its own
defaults. The Go controller keeps the recommendation and scale-event histories in maps on
the controller object; here they are immutable tuples in the scaler state.

Timestamps compare the way Go's ``time.After``/``time.Before`` do: strictly. A
recommendation made exactly ``window`` seconds ago is outside the window.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import NamedTuple

from toolkit.scale._common import first_at_or_after, value_of, window_start
from toolkit.scale._policy import RatePolicy, RateType, ScalingRules, SelectPolicy

# (timestamp_s, value) pairs: a recommendation, or a replica change of one scale event.
Stamped = tuple[tuple[float, int], ...]


class BehaviorState(NamedTuple):
    """What HPA remembers per target: raw recommendations and the scale events it made (a
    NamedTuple: rebuilt every tick, and a tuple builds faster than a frozen dataclass)."""

    recommendations: Stamped = ()
    up_events: Stamped = ()
    down_events: Stamped = ()


class Limit(StrEnum):
    """What ``rate_limit`` held the recommendation by (HPA's ScalingLimited reasons)."""

    NONE = "DesiredWithinRange"
    SCALE_UP_LIMIT = "ScaleUpLimit"
    TOO_MANY = "TooManyReplicas"
    SCALE_DOWN_LIMIT = "ScaleDownLimit"
    TOO_FEW = "TooFewReplicas"


# read every tick: an enum member read through its class costs a lookup each time on 3.11
LIMIT_NONE, _TOO_MANY, _TOO_FEW = Limit.NONE, Limit.TOO_MANY, Limit.TOO_FEW
_SCALE_UP_LIMIT, _SCALE_DOWN_LIMIT = Limit.SCALE_UP_LIMIT, Limit.SCALE_DOWN_LIMIT


def stabilize(
    recommendations: Stamped,
    desired: int,
    current: int,
    up: ScalingRules,
    down: ScalingRules,
    now_s: float,
) -> tuple[int, Stamped]:
    """``stabilizeRecommendationWithBehaviors``: bound the recommendation by the lowest
    recommendation of the scale-up window (so a brief rise does not scale up) and the highest
    of the scale-down window (so a brief dip does not scale down), starting from ``current``.

    Returns the stabilized count and the history with ``desired`` recorded at ``now_s`` and
    the samples that are outside both windows dropped (Go overwrites one such sample in place;
    either way they can never count again, since windows only move forward).
    """
    up_cutoff = now_s - up.stabilization_window_s
    down_cutoff = now_s - down.stabilization_window_s
    # recommendations are in time order: each window is a suffix, found by bisection
    # (comparisons rather than two-argument min/max, which cost ~400 ns each on 3.11)
    count = len(recommendations)
    up_rec = desired
    start = window_start(recommendations, up_cutoff)
    if start < count:
        lowest = min(map(value_of, recommendations[start:]))
        if lowest < up_rec:
            up_rec = lowest
    down_rec = desired
    start = window_start(recommendations, down_cutoff)
    if start < count:
        highest = max(map(value_of, recommendations[start:]))
        if highest > down_rec:
            down_rec = highest
    recommendation = current
    if recommendation < up_rec:
        recommendation = up_rec
    if recommendation > down_rec:
        recommendation = down_rec
    oldest_kept = up_cutoff if up_cutoff < down_cutoff else down_cutoff
    return recommendation, (
        *recommendations[first_at_or_after(recommendations, oldest_kept) :],
        (now_s, desired),
    )


def _change_in_period(period_s: float, events: Stamped, now_s: float) -> int:
    """``getReplicasChangePerPeriod``: replicas added (or removed) by events newer than
    ``now - period``."""
    return sum(map(value_of, events[window_start(events, now_s - period_s) :]))


def _period_starts(
    current: int, state: BehaviorState, rules: ScalingRules, now_s: float
) -> list[tuple[RatePolicy, int]]:
    """Each policy with the count at the start of its period: current minus what was added
    plus what was removed by the scale events within the period."""
    return [
        (
            policy,
            current
            - _change_in_period(policy.period_s, state.up_events, now_s)
            + _change_in_period(policy.period_s, state.down_events, now_s),
        )
        for policy in rules.policies
    ]


def scale_up_limit(current: int, state: BehaviorState, rules: ScalingRules, now_s: float) -> int:
    """``calculateScaleUpLimitWithScalingRules``: the highest count the up policies allow.

    Each policy starts from the count at the start of its period: pods policies add ``value``, percent
    policies multiply by ``1 + value/100`` rounded up (so that a small count still grows).
    ``max`` picks the most permissive policy, ``min`` the least, ``disabled`` forbids growth.
    """
    if rules.select_policy is SelectPolicy.DISABLED:
        return current
    results = []
    for policy, start in _period_starts(current, state, rules, now_s):
        if policy.type is RateType.PODS:
            results.append(start + policy.value)
        else:
            results.append(math.ceil(start * (1 + policy.value / 100)))
    return min(results) if rules.select_policy is SelectPolicy.MIN else max(results)


def scale_down_limit(current: int, state: BehaviorState, rules: ScalingRules, now_s: float) -> int:
    """``calculateScaleDownLimitWithBehaviors``: the lowest count the down policies allow;
    percent policies truncate toward zero (Go's ``int32(float64)`` conversion)."""
    if rules.select_policy is SelectPolicy.DISABLED:
        return current
    results = []
    for policy, start in _period_starts(current, state, rules, now_s):
        if policy.type is RateType.PODS:
            results.append(start - policy.value)
        else:
            results.append(int(start * (1 - policy.value / 100)))
    return max(results) if rules.select_policy is SelectPolicy.MIN else min(results)


def rate_limit(
    desired: int,
    current: int,
    min_replicas: int,
    max_replicas: int,
    state: BehaviorState,
    up: ScalingRules,
    down: ScalingRules,
    now_s: float,
) -> tuple[int, Limit]:
    """``convertDesiredReplicasWithBehaviorRate``: apply the rate limits and the min/max
    bounds. A limit that would move the count the other way is pinned at ``current`` (Go:
    "we shouldn't scale up further until the scaleUpEvents will be cleaned up")."""
    if desired > current:
        limit = max(scale_up_limit(current, state, up, now_s), current)
        if max_replicas > limit:
            allowed, why = limit, _SCALE_UP_LIMIT
        else:
            allowed, why = max_replicas, _TOO_MANY
        if desired > allowed:
            return allowed, why
    elif desired < current:
        limit = min(scale_down_limit(current, state, down, now_s), current)
        if min_replicas < limit:
            allowed, why = limit, _SCALE_DOWN_LIMIT
        else:
            allowed, why = min_replicas, _TOO_FEW
        if desired < allowed:
            return allowed, why
    return desired, LIMIT_NONE


def _longest_period_s(rules: ScalingRules) -> int:
    return max(p.period_s for p in rules.policies)


def record_scale_event(
    state: BehaviorState,
    previous: int,
    new: int,
    up: ScalingRules,
    down: ScalingRules,
    now_s: float,
) -> BehaviorState:
    """``storeScaleEvent``: remember a change that was made, dropping events older than the
    longest policy period of their direction (Go marks them outdated and reuses the slot)."""
    if new > previous:
        kept = state.up_events[first_at_or_after(state.up_events, now_s - _longest_period_s(up)) :]
        return BehaviorState(state.recommendations, (*kept, (now_s, new - previous)), state.down_events)
    if new < previous:
        kept = state.down_events[first_at_or_after(state.down_events, now_s - _longest_period_s(down)) :]
        return BehaviorState(state.recommendations, state.up_events, (*kept, (now_s, previous - new)))
    return state
