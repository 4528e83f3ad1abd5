"""Queueing arithmetic shared by the simulator's service model and toolkit's SLO sizing.

A replica that serves ``workers`` requests at once, each taking an exponential service time,
fed by Poisson arrivals, is an M/M/c queue (c = ``workers``). At utilisation ``rho`` an
arriving request waits with probability C (Erlang C) and then for an exponential time with
rate ``c * mu * (1 - rho)``. Both the simulator (to score a second's latency) and toolkit's
algorithm (to size replicas for an SLO instead of a fixed target) need the same formulas, so
they live here once.

Service times need not be exponential: ``cv`` is their coefficient of variation (standard
deviation / mean). 1 is exponential (the exact M/M/c formulas above), 0 deterministic, any
other value lognormal with that cv (right-skewed, as measured request latencies are). For
those M/G/c replicas the wait keeps Erlang C's probability and an exponential shape, with its
mean scaled by ``(1 + cv^2) / 2`` (the Allen-Cunneen approximation; for one worker the mean is
exactly Pollaczek-Khinchine's). The service time itself is exact: a latency tail is the wait
convolved with ``SERVICE_POINTS`` equal-probability quantiles of the distribution.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SERVICE_POINTS = 256  # quantiles of a non-exponential service time (tail resolution 1/256)
_CHUNK = 4096  # rows per block when convolving, so memory stays ~8 MB whatever the input size

# Utilisation grid for precomputed curves: dense near 1, where they are steep.
RHO_GRID: FloatArray = 1.0 - (1.0 - np.linspace(0.0, 1.0, 8193)) ** 3


def erlang_c(workers: int, rho: FloatArray) -> FloatArray:
    """Probability that an arriving request waits in an M/M/c queue at utilisation rho."""
    offered = workers * rho
    blocking = np.ones_like(rho)
    for k in range(1, workers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    with np.errstate(divide="ignore", invalid="ignore"):
        waiting = blocking / (1.0 - rho * (1.0 - blocking))
    return np.where(rho >= 1.0, 1.0, np.clip(waiting, 0.0, 1.0))


@lru_cache(maxsize=16)
def service_quantiles(cv: float) -> FloatArray:
    """Equal-probability quantiles of a service time with mean 1 and coefficient of variation
    ``cv`` (0: the mean itself; else lognormal), for convolving with the wait."""
    if cv == 0.0:
        return np.ones(1)
    sigma = math.sqrt(math.log1p(cv * cv))
    normal = NormalDist()
    z = np.array([normal.inv_cdf((j + 0.5) / SERVICE_POINTS) for j in range(SERVICE_POINTS)])
    points = np.exp(sigma * z - sigma * sigma / 2.0)
    points /= points.mean()  # exactly mean 1 (the midpoints lose a little of the right tail)
    points.flags.writeable = False
    return points


def wait_scale(cv: float) -> float:
    """How much longer than M/M/c's the conditional wait is, for service-time variation cv."""
    return (1.0 + cv * cv) / 2.0


def tail(
    rho: FloatArray,
    wait_p: FloatArray,
    y_s: FloatArray,
    workers: int,
    service_time_s: float,
    queueing_only: bool,
    cv: float = 1.0,
) -> FloatArray:
    """P(time > y) for a replica: the wait, plus the service time unless queueing only.

    The wait is 0 with probability 1 - C, else exponential with rate theta = c*mu*(1 - rho)
    (divided by ``wait_scale(cv)``); the service time is exponential with rate mu for cv 1,
    else ``service_quantiles(cv)``. For y <= 0 every request is over.
    """
    mu = 1.0 / service_time_s
    theta = workers * mu * np.maximum(1.0 - rho, 0.0) / wait_scale(cv)
    y = np.maximum(y_s, 0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if queueing_only:
            over = wait_p * np.exp(-theta * y)
        elif cv != 1.0:
            over = _general_tail(wait_p, theta, y, service_quantiles(cv) * service_time_s)
        else:
            service = np.exp(-mu * y)
            gap = mu - theta
            close = np.abs(gap) < 1e-9 * mu
            both = np.where(
                close,
                (1.0 + mu * y) * service,
                (mu * np.exp(-theta * y) - theta * service) / np.where(close, 1.0, gap),
            )
            over = (1.0 - wait_p) * service + wait_p * both
    return np.where(np.asarray(y_s) <= 0.0, 1.0, np.clip(over, 0.0, 1.0))


def _general_tail(wait_p: FloatArray, theta: FloatArray, y: FloatArray, points_s: FloatArray) -> FloatArray:
    """P(W + S > y) with S uniform over ``points_s``: P(S > y) + C * E[exp(-theta (y - S)); S <= y]
    (the wait W is 0 with probability 1 - C, else exponential with rate theta)."""
    wait_p, theta, y = np.broadcast_arrays(wait_p, theta, y)
    shape = y.shape
    wait_p, theta, y = wait_p.ravel(), theta.ravel(), y.ravel()
    out = np.empty(y.shape)
    for start in range(0, y.size, _CHUNK):
        part = slice(start, start + _CHUNK)
        slack = y[part, None] - points_s[None, :]
        served_in_time = slack >= 0.0
        caught = np.where(served_in_time, np.exp(-theta[part, None] * np.maximum(slack, 0.0)), 0.0)
        out[part] = (1.0 - served_in_time.mean(axis=1)) + wait_p[part] * caught.mean(axis=1)
    return out.reshape(shape)


def over_slo(
    workers: int, service_time_s: float, slo_s: float, queueing_only: bool, cv: float = 1.0
) -> FloatArray:
    """Fraction of requests over ``slo_s`` at each utilisation of ``RHO_GRID``."""
    wait_p = erlang_c(workers, RHO_GRID)
    return tail(RHO_GRID, wait_p, np.full_like(RHO_GRID, slo_s), workers, service_time_s, queueing_only, cv)


def limit_of(over: FloatArray, allowed: float) -> float:
    """The utilisation above which more than ``allowed`` of the requests are over the SLO: the
    first such point of ``RHO_GRID`` (1.0 if there is none)."""
    violating = RHO_GRID[over > allowed]
    return float(violating[0]) if violating.size else 1.0


@lru_cache(maxsize=64)
def slo_utilisation(
    workers: int,
    service_time_s: float,
    slo_s: float,
    allowed: float,
    queueing_only: bool = False,
    cv: float = 1.0,
) -> float:
    """The highest utilisation at which at most ``allowed`` of the requests take longer than
    ``slo_s`` (``allowed`` = 1 - the SLO quantile, e.g. 0.05 for a p95 SLO)."""
    return limit_of(over_slo(workers, service_time_s, slo_s, queueing_only, cv), allowed)
