"""Queueing arithmetic shared by the simulator's service model and toolkit's SLO sizing.

A replica that serves ``workers`` requests at once, each taking an exponential service time,
fed by Poisson arrivals, is an M/M/c queue (c = ``workers``). At utilisation ``rho`` an
arriving request waits with probability C (Erlang C) and then for an exponential time with
rate ``c * mu * (1 - rho)``. Both the simulator (to score a second's latency) and toolkit's
algorithm (to size replicas for an SLO instead of a fixed target) need the same formulas, so
they live here once.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

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


def tail(
    rho: FloatArray,
    wait_p: FloatArray,
    y_s: FloatArray,
    workers: int,
    service_time_s: float,
    queueing_only: bool,
) -> FloatArray:
    """P(time > y) for an M/M/c replica: the wait, plus the service time unless queueing only.

    The wait is 0 with probability 1 - C, else exponential with rate theta = c*mu*(1 - rho);
    the service time is exponential with rate mu. For y <= 0 every request is over.
    """
    mu = 1.0 / service_time_s
    theta = workers * mu * np.maximum(1.0 - rho, 0.0)
    y = np.maximum(y_s, 0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if queueing_only:
            over = wait_p * np.exp(-theta * y)
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


def over_slo(workers: int, service_time_s: float, slo_s: float, queueing_only: bool) -> FloatArray:
    """Fraction of requests over ``slo_s`` at each utilisation of ``RHO_GRID``."""
    wait_p = erlang_c(workers, RHO_GRID)
    return tail(RHO_GRID, wait_p, np.full_like(RHO_GRID, slo_s), workers, service_time_s, queueing_only)


def limit_of(over: FloatArray, allowed: float) -> float:
    """The utilisation above which more than ``allowed`` of the requests are over the SLO: the
    first such point of ``RHO_GRID`` (1.0 if there is none)."""
    violating = RHO_GRID[over > allowed]
    return float(violating[0]) if violating.size else 1.0


@lru_cache(maxsize=64)
def slo_utilisation(
    workers: int, service_time_s: float, slo_s: float, allowed: float, queueing_only: bool = False
) -> float:
    """The highest utilisation at which at most ``allowed`` of the requests take longer than
    ``slo_s`` (``allowed`` = 1 - the SLO quantile, e.g. 0.05 for a p95 SLO)."""
    return limit_of(over_slo(workers, service_time_s, slo_s, queueing_only), allowed)
