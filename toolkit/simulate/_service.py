"""The service being scaled: what one replica can do, how fast it starts, what the SLO is.

Each replica runs ``workers`` requests at once; a request's service time has mean
``workers / capacity_rps`` (so a replica's throughput at saturation is ``capacity_rps``) and
coefficient of variation ``service_time_cv``: 1 exponential (the default), 0 deterministic,
else lognormal.
Latency has two parts, both explicit:

* **backlog** (fluid, deterministic): when arrivals exceed what the ready replicas serve in a
  second, the excess waits in the replicas' queues (evenly balanced, at most ``queue_limit``
  per replica; beyond that requests are dropped, i.e. answered 503). A request arriving with
  ``q`` requests queued ahead waits ``q / (ready * capacity_rps)`` seconds.
* **contention** (stationary): below saturation each replica is an M/M/c queue (c = workers)
  at utilisation rho; its waiting time is 0 with probability 1 - C (Erlang C) and otherwise
  exponential with rate ``c * mu * (1 - rho)``. This is why a replica run at 99 % is slow even
  with no backlog, so a policy cannot look good by running hot. Other service-time
  distributions use the M/G/c approximation of ``toolkit.scale._queueing``.

A second violates the SLO when more than ``1 - slo_quantile`` of its requests are dropped or
take longer than ``slo_s`` (for the default 0.95: the second's p95 is over the SLO).
``slo_kind="queueing"`` measures only the time waiting, not the service time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from toolkit._errors import ConfigError
from toolkit.scale._queueing import RHO_GRID, erlang_c, limit_of, over_slo, tail, wait_scale

FloatArray = npt.NDArray[np.float64]

SLO_KINDS = ("latency", "queueing")
MAX_SERVICE_TIME_CV = 10.0


@dataclass(frozen=True)
class ServiceModel:
    """Everything about the simulated service and its measurement; every field is settable.

    ``scrape_interval_s``/``rate_window_s`` describe the metrics pipeline: the controller sees
    the per-replica rate over the ``rate_window_s`` ending at the latest scrape. ``None``
    means "the policy's controller period" — what toolkit's own scrape source does (it reads
    every replica each tick and takes the rate since the previous tick). A Prometheus setup is
    e.g. 15 s scrapes and a 60 s ``rate()`` window. ``initial_replicas`` ready at t=0 for the
    scaling policies (``None``: enough for the first minute's load at 100 % utilisation).
    """

    capacity_rps: float = 100.0
    workers: int = 4
    startup_s: float = 30.0
    scrape_interval_s: float | None = None
    rate_window_s: float | None = None
    slo_s: float = 0.5
    slo_quantile: float = 0.95
    slo_kind: str = "latency"
    queue_limit: int = 100
    initial_replicas: int | None = None
    service_time_cv: float = 1.0  # service time's std / mean: 1 exponential, 0 fixed, else lognormal

    def __post_init__(self) -> None:
        def bad(field: str, why: str) -> ConfigError:
            return ConfigError(f"{why}, got {getattr(self, field)!r}", location=f"model.{field}")

        for name in ("capacity_rps", "slo_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise bad(name, "must be a positive number")
        for name in ("startup_s",):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise bad(name, "must be a number of seconds >= 0")
        for name in ("scrape_interval_s", "rate_window_s"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or not 1 <= value < math.inf):
                raise bad(name, "must be at least 1 s (or unset: the controller period)")
        cv = self.service_time_cv
        if not isinstance(cv, int | float) or not 0 <= cv <= MAX_SERVICE_TIME_CV:
            raise bad("service_time_cv", f"must be a number from 0 to {MAX_SERVICE_TIME_CV:g}")
        if not isinstance(self.workers, int) or not 1 <= self.workers <= 10_000:
            raise bad("workers", "must be a whole number from 1 to 10000")
        if not isinstance(self.queue_limit, int) or self.queue_limit < 0:
            raise bad("queue_limit", "must be a whole number >= 0")
        if not isinstance(self.slo_quantile, float | int) or not 0 < self.slo_quantile < 1:
            raise bad("slo_quantile", "must be between 0 and 1 (exclusive)")
        if self.slo_kind not in SLO_KINDS:
            raise bad("slo_kind", f"must be one of {', '.join(SLO_KINDS)}")
        if self.initial_replicas is not None and (
            not isinstance(self.initial_replicas, int) or self.initial_replicas < 1
        ):
            raise bad("initial_replicas", "must be a whole number >= 1")

    @property
    def service_time_s(self) -> float:
        """Mean time one request occupies a worker."""
        return self.workers / self.capacity_rps

    @classmethod
    def from_mapping(cls, data: Any, *, file: str | None = None) -> ServiceModel:
        """Build from a ``model:`` mapping (policy file section or JSON); unknown keys are errors.

        ``service_time_s`` may be given instead of ``capacity_rps``.
        """
        if not isinstance(data, dict):
            raise ConfigError("must be a mapping of model settings", file=file, location="model")
        known = {f.name for f in fields(cls)}
        values = dict(data)
        if "service_time_s" in values:
            if "capacity_rps" in values:
                raise ConfigError(
                    "give capacity_rps or service_time_s, not both", file=file, location="model"
                )
            service_time_s = values.pop("service_time_s")
            if not isinstance(service_time_s, int | float) or not service_time_s > 0:
                raise ConfigError(
                    f"must be a positive number, got {service_time_s!r}",
                    file=file,
                    location="model.service_time_s",
                )
            values["capacity_rps"] = values.get("workers", cls.workers) / service_time_s
        for key in values:
            if key not in known:
                raise ConfigError(
                    f"unknown setting; known: {', '.join(sorted(known | {'service_time_s'}))}",
                    file=file,
                    location=f"model.{key}",
                )
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(err.detail, file=file, location=err.location) from None

    def curve(self) -> LatencyCurve:
        """The precomputed latency curves for this model (cached per distinct parameters)."""
        return _curve(
            self.workers,
            self.service_time_s,
            self.slo_s,
            self.slo_quantile,
            self.slo_kind,
            float(self.service_time_cv),
        )


@dataclass(frozen=True)
class LatencyCurve:
    """Per-replica latency as a function of utilisation rho in [0, 1], with no backlog.

    ``over_slo[i]`` is the fraction of requests over the SLO at ``rho[i]``; ``p95_s`` the 95th
    percentile latency (or queueing delay); ``mean_wait_s`` the mean queueing delay;
    ``erlang_c`` the probability of waiting at all. ``rho_limit`` is the utilisation above which
    a second violates the SLO even without backlog.
    """

    rho: FloatArray
    erlang_c: FloatArray
    over_slo: FloatArray
    p95_s: FloatArray
    mean_wait_s: FloatArray
    rho_limit: float
    workers: int
    service_time_s: float
    slo_s: float
    queueing_only: bool
    service_time_cv: float

    def fraction_over(self, rho: FloatArray, backlog_wait_s: FloatArray) -> FloatArray:
        """Fraction of requests over the SLO at utilisation ``rho`` behind a fluid backlog."""
        c = np.interp(rho, self.rho, self.erlang_c)
        return tail(
            rho,
            c,
            self.slo_s - backlog_wait_s,
            self.workers,
            self.service_time_s,
            self.queueing_only,
            self.service_time_cv,
        )


@lru_cache(maxsize=32)
def _curve(
    workers: int, service_time_s: float, slo_s: float, quantile: float, kind: str, cv: float
) -> LatencyCurve:
    rho = RHO_GRID
    wait_p = erlang_c(workers, rho)
    queueing_only = kind == "queueing"
    over = over_slo(workers, service_time_s, slo_s, queueing_only, cv)
    if cv == 1.0:
        p95 = _quantile_s(rho, wait_p, workers, service_time_s, queueing_only, cv, 1.0 - quantile)
    else:
        # each point convolves SERVICE_POINTS quantiles: solve every 16th point of the grid
        # (it is dense where the curve is steep) and interpolate, 0.2 s instead of 3 s
        coarse = np.append(rho[::_COARSE], rho[-1])
        coarse_p95 = _quantile_s(
            coarse,
            np.append(wait_p[::_COARSE], wait_p[-1]),
            workers,
            service_time_s,
            queueing_only,
            cv,
            1.0 - quantile,
        )
        finite = coarse < 1.0
        p95 = np.where(rho >= 1.0, np.inf, np.interp(rho, coarse[finite], coarse_p95[finite]))
    with np.errstate(divide="ignore"):
        mean_wait = np.where(
            rho >= 1.0, np.inf, wait_p * service_time_s * wait_scale(cv) / (workers * (1.0 - rho))
        )
    rho_limit = limit_of(over, 1.0 - quantile)
    return LatencyCurve(
        rho=rho,
        erlang_c=wait_p,
        over_slo=over,
        p95_s=p95,
        mean_wait_s=mean_wait,
        rho_limit=rho_limit,
        workers=workers,
        service_time_s=service_time_s,
        slo_s=slo_s,
        queueing_only=queueing_only,
        service_time_cv=cv,
    )


_COARSE = 16


def _quantile_s(
    rho: FloatArray,
    wait_p: FloatArray,
    workers: int,
    service_time_s: float,
    queueing_only: bool,
    cv: float,
    allowed: float,
) -> FloatArray:
    """The latency (or queueing delay) that ``allowed`` of the requests exceed, at each rho:
    bisection on the tail, vectorised over the grid (inf at saturation)."""
    lo = np.zeros_like(rho)
    hi = np.full_like(rho, service_time_s)
    for _ in range(200):
        grow = tail(rho, wait_p, hi, workers, service_time_s, queueing_only, cv) > allowed
        if not grow[rho < 1.0].any():
            break
        hi = np.where(grow & (rho < 1.0), hi * 2.0, hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = tail(rho, wait_p, mid, workers, service_time_s, queueing_only, cv) > allowed
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return np.where(rho >= 1.0, np.inf, hi)
