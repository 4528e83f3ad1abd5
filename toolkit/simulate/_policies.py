"""Turning what the user names ("hpa", a policy file's service, a Scaler) into a SimPolicy.

Without a policy file every scaling algorithm gets the same service policy, so the comparison
is about the algorithms: metric ``rps_per_replica``, target ``target_utilisation`` of a
replica's capacity, ``min_replicas`` 1, and a ``max_replicas`` that the trace never reaches
(1.5 times what its peak needs at the target). ``toolkit`` also learns the model's start-up
delay and capacity (its ``startup_s``/``capacity`` parameters), which a user knows about their
own service and writes in the policy file.

With a policy file, the chosen service's policy is used as written for its own algorithm;
another algorithm named in the comparison gets that algorithm's built-in defaults (period,
scale-up and scale-down rules) with the file's metric, target, bounds and tolerance, so it
scales on the same signal.

``static`` is the simulator's own baseline: a fixed count sized so that the trace's busiest
second runs at the target utilisation (or ``static_replicas`` if given).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from toolkit._errors import ConfigError
from toolkit.scale import (
    ALGORITHMS,
    MetricKind,
    Scaler,
    ServicePolicy,
    default_service_policy,
    make_scaler,
    per_replica_sizing,
)
from toolkit.scale._policy import slo_reachable, with_metrics_delay
from toolkit.simulate._engine import METRICS, SimPolicy
from toolkit.simulate._service import ServiceModel
from toolkit.simulate._trace import Trace

STATIC = "static"
POLICY_NAMES: tuple[str, ...] = (*ALGORITHMS, STATIC)
DEFAULT_TARGET_UTILISATION = 0.7

PolicySpec = str | ServicePolicy | SimPolicy


def utilisation_of(policy: ServicePolicy, model: ServiceModel) -> float:
    """The replica utilisation a policy's target stands for (for sizing the static baseline)."""
    if policy.metric is MetricKind.RPS_PER_REPLICA:
        return min(1.0, policy.target / model.capacity_rps)
    if policy.metric is MetricKind.CPU_PERCENT:
        return min(1.0, policy.target / 100.0)
    return DEFAULT_TARGET_UTILISATION


def base_policy(
    trace: Trace, model: ServiceModel, target_utilisation: float = DEFAULT_TARGET_UTILISATION
) -> ServicePolicy:
    """The shared service policy used when no policy file is given (see module docstring)."""
    if not 0 < target_utilisation <= 1:
        raise ConfigError(f"target utilisation must be in (0, 1], got {target_utilisation}")
    target_rps = target_utilisation * model.capacity_rps
    max_replicas = max(10, math.ceil(1.5 * trace.peak_rps / target_rps))
    return default_service_policy(
        "toolkit", metric="rps_per_replica", target=target_rps, min_replicas=1, max_replicas=max_replicas
    )


def policy_for_algorithm(
    base: ServicePolicy, algorithm: str, *, tuned_for: ServiceModel | None
) -> ServicePolicy:
    """``base`` if it already is ``algorithm``'s; else that algorithm's defaults on base's signal.

    ``tuned_for`` fills toolkit's ``startup_s``/``capacity`` from the model (no policy file).
    """
    if algorithm == base.algorithm and tuned_for is None:
        return base
    if algorithm == base.algorithm:
        policy = base
    else:
        policy = default_service_policy(
            algorithm,
            metric=base.metric,
            query=base.query,
            target=base.target,
            min_replicas=base.min_replicas,
            max_replicas=base.max_replicas,
            tolerance=base.tolerance,
            kpa=base.kpa,
            toolkit=base.toolkit,
        )
    if tuned_for is not None and algorithm == "toolkit":
        rps = policy.metric is MetricKind.RPS_PER_REPLICA
        told = dataclasses.replace(
            policy.toolkit,
            startup_s=tuned_for.startup_s,
            capacity=tuned_for.capacity_rps if rps else None,
            slo_quantile=tuned_for.slo_quantile,
            concurrency=tuned_for.workers,
            service_time_cv=float(tuned_for.service_time_cv),
        )
        # A latency SLO is what toolkit can size for; a queueing-only SLO, or one that no load
        # meets (every policy violates it), is left to the capacity margin.
        if rps and tuned_for.slo_kind == "latency":
            with_slo = dataclasses.replace(told, slo_s=tuned_for.slo_s)
            if slo_reachable(with_slo):
                told = with_slo
        policy = dataclasses.replace(policy, toolkit=told)
    return policy


def metrics_delay_s(model: ServiceModel, period_s: float) -> float:
    """How old the model's demand figure is: a Prometheus-like pipeline's scrape interval plus
    rate window (each defaulting to the period); 0 for toolkit's own scrape source, the
    model's default (every replica read each tick, the rate since the previous tick)."""
    if model.scrape_interval_s is None and model.rate_window_s is None:
        return 0.0
    return (model.scrape_interval_s or period_s) + (model.rate_window_s or period_s)


def static_policy(
    trace: Trace, model: ServiceModel, base: ServicePolicy, replicas: int | None = None
) -> SimPolicy:
    """The fixed-size baseline: ``replicas``, or the peak second at the base target utilisation."""
    if replicas is None:
        per_replica_rps = model.capacity_rps * utilisation_of(base, model)
        replicas = max(1, base.min_replicas, math.ceil(trace.peak_rps / per_replica_rps))
        how = f"sized for the peak ({trace.peak_rps:.0f} rps at {per_replica_rps:.0f} rps per replica)"
    else:
        if replicas < 1:
            raise ConfigError(f"static replicas must be >= 1, got {replicas}")
        how = "as given"
    return SimPolicy(
        name=STATIC,
        scaler=None,
        period_s=math.inf,
        initial_replicas=replicas,
        min_replicas=replicas,
        max_replicas=replicas,
        description=f"{replicas} replicas, {how}",
    )


def from_service_policy(policy: ServicePolicy, name: str | None = None) -> SimPolicy:
    """A SimPolicy running the controller's own scaler for ``policy``."""
    metric = policy.metric.value
    if metric not in METRICS:
        raise ConfigError(
            f"the simulator cannot evaluate metric {metric!r} (a PromQL query needs a real Prometheus); "
            f"use one of {', '.join(METRICS)}",
            location="metric",
        )
    scaler: Scaler[Any] = make_scaler(policy)
    sizing = f"target {policy.target:g}"
    params = policy.toolkit
    if policy.algorithm == "toolkit" and params.capacity is not None:
        why = (
            f"p{params.slo_quantile * 100:g} <= {params.slo_s:g} s at concurrency {params.concurrency}"
            + (f", service time cv {params.service_time_cv:g}" if params.service_time_cv != 1 else "")
            if params.slo_s is not None
            else f"target {policy.target:g}, capacity {params.capacity:g}"
        )
        sizing = f"sized at {per_replica_sizing(policy):.3g} per replica for {why}"
    name = name or policy.algorithm
    # the algorithm is named in the description only when the policy's name does not say it
    algorithm = "" if name == policy.algorithm else f"{policy.algorithm}: "
    return SimPolicy(
        name=name,
        scaler=scaler,
        period_s=policy.period_s,
        metric=metric,
        min_replicas=policy.min_replicas,
        max_replicas=policy.max_replicas,
        description=(
            f"{algorithm}{metric} {sizing}, "
            f"{policy.min_replicas}-{policy.max_replicas} replicas, every {policy.period_s:g} s"
        ),
    )


def resolve(
    spec: PolicySpec,
    trace: Trace,
    model: ServiceModel,
    *,
    base: ServicePolicy | None = None,
    static_replicas: int | None = None,
    target_utilisation: float = DEFAULT_TARGET_UTILISATION,
) -> SimPolicy:
    """A SimPolicy from a name (``hpa``, ``kpa``, ``toolkit``, ``static``), a ServicePolicy or
    a SimPolicy. ``base`` is the policy-file service policy (None: the shared default)."""
    if isinstance(spec, SimPolicy):
        return spec
    if isinstance(spec, ServicePolicy):
        return from_service_policy(with_metrics_delay(spec, metrics_delay_s(model, spec.period_s)))
    if spec not in POLICY_NAMES:
        raise ConfigError(f"unknown policy {spec!r}; choose from {', '.join(POLICY_NAMES)}")
    tuned_for = model if base is None else None
    shared = base if base is not None else base_policy(trace, model, target_utilisation)
    if spec == STATIC:
        return static_policy(trace, model, shared, static_replicas)
    policy = policy_for_algorithm(shared, spec, tuned_for=tuned_for)
    # the model is the simulated metrics source: it fills toolkit's unset metrics delay
    return from_service_policy(with_metrics_delay(policy, metrics_delay_s(model, policy.period_s)))


def resolve_all(
    specs: Sequence[PolicySpec],
    trace: Trace,
    model: ServiceModel,
    *,
    base: ServicePolicy | None = None,
    static_replicas: int | None = None,
    target_utilisation: float = DEFAULT_TARGET_UTILISATION,
) -> list[SimPolicy]:
    """``resolve`` each spec with the same settings."""
    return [
        resolve(
            s, trace, model, base=base, static_replicas=static_replicas, target_utilisation=target_utilisation
        )
        for s in specs
    ]
