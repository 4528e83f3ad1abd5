"""Turning two scrapes of one replica into per-second rates: the counter arithmetic.

Prometheus counters only go up while a process lives. Between two scrapes a series can:

- grow: the increase is ``new - old``;
- drop: the process restarted (or the series was reset), so everything counted now happened
  since the restart: the increase is ``new`` (Prometheus' ``rate()`` rule);
- appear: a label combination seen for the first time (first 500, first request on a route)
  was created since the last scrape, so its whole value is the increase;
- vanish: it no longer counts anything, contributing nothing.

A changed ``process_start_time_seconds`` marks a restart even when every counter happens to
have climbed past its old value again. These functions are pure so the tests can table them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

SeriesKey = tuple[tuple[str, str], ...]

REQUESTS_TOTAL = "http_requests_total"
DURATION_BUCKET = "http_request_duration_seconds_bucket"
IN_FLIGHT = "http_requests_in_flight"
CPU_SECONDS_TOTAL = "process_cpu_seconds_total"
START_TIME = "process_start_time_seconds"

LATENCY_QUANTILE = 0.95


@dataclass(frozen=True, slots=True)
class Reading:
    """One scrape of one replica, reduced to the series the metric kinds need."""

    requests: Mapping[SeriesKey, float] = field(default_factory=dict)
    buckets: Mapping[SeriesKey, float] = field(default_factory=dict)  # key includes ``le``
    in_flight: float | None = None
    cpu_seconds: float | None = None
    start_time_s: float | None = None


def parse_reading(text: str) -> Reading:
    """Parse an exposition-format body with prometheus-client's parser into a ``Reading``."""
    requests: dict[SeriesKey, float] = {}
    buckets: dict[SeriesKey, float] = {}
    in_flight: float | None = None
    cpu_seconds: float | None = None
    start_time_s: float | None = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if name == REQUESTS_TOTAL:
                requests[_key(sample.labels)] = sample.value
            elif name == DURATION_BUCKET:
                buckets[_key(sample.labels)] = sample.value
            elif name == IN_FLIGHT:
                in_flight = (in_flight or 0.0) + sample.value
            elif name == CPU_SECONDS_TOTAL:
                cpu_seconds = sample.value
            elif name == START_TIME:
                start_time_s = sample.value
    return Reading(requests, buckets, in_flight, cpu_seconds, start_time_s)


def _key(labels: Mapping[str, str]) -> SeriesKey:
    return tuple(sorted(labels.items()))


def restarted(old: Reading, new: Reading) -> bool:
    """True when the replica's process is not the one scraped last time."""
    before, now = old.start_time_s, new.start_time_s
    return before is not None and now is not None and before != now


def counter_increase(old: Mapping[SeriesKey, float], new: Mapping[SeriesKey, float], reset: bool) -> float:
    """Sum of per-series increases between two scrapes (see module doc for the rules)."""
    total = 0.0
    for key, value in new.items():
        before = None if reset else old.get(key)
        total += value if before is None or value < before else value - before
    return total


def _scalar_increase(old: float | None, new: float | None, reset: bool) -> float | None:
    if new is None or old is None:
        return None
    return new if reset or new < old else new - old


def request_rate(old: Reading, new: Reading, interval_s: float) -> float:
    """Requests per second between two scrapes."""
    return counter_increase(old.requests, new.requests, restarted(old, new)) / interval_s


def cpu_percent(old: Reading, new: Reading, interval_s: float) -> float | None:
    """Process CPU between two scrapes in percent of one core; None without the counter."""
    increase = _scalar_increase(old.cpu_seconds, new.cpu_seconds, restarted(old, new))
    return None if increase is None else 100.0 * increase / interval_s


def latency_quantile(old: Reading, new: Reading, quantile: float = LATENCY_QUANTILE) -> float | None:
    """The quantile of request durations observed between two scrapes, from bucket deltas.

    Interpolates linearly inside the bucket like PromQL's ``histogram_quantile``. No request
    in the interval gives 0.0: an idle replica is not slow, and reporting it as missing would
    block scale-down forever on a quiet service. None when the histogram is absent.
    """
    if not new.buckets:
        return None
    reset = restarted(old, new)
    per_le: dict[float, float] = {}
    for key, value in new.buckets.items():
        le = float(dict(key)["le"])
        before = None if reset else old.buckets.get(key)
        increase = value if before is None or value < before else value - before
        per_le[le] = per_le.get(le, 0.0) + increase
    return bucket_quantile(quantile, sorted(per_le.items()))


def bucket_quantile(quantile: float, cumulative: Iterable[tuple[float, float]]) -> float | None:
    """``histogram_quantile`` over (upper bound, cumulative count) pairs sorted by bound."""
    pairs = list(cumulative)
    if not pairs:
        return None
    total = pairs[-1][1]
    if total <= 0:
        return 0.0
    rank = quantile * total
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in pairs:
        if count >= rank:
            if math.isinf(upper_bound):
                return lower_bound
            in_bucket = count - lower_count
            if in_bucket <= 0:
                return upper_bound
            return lower_bound + (upper_bound - lower_bound) * (rank - lower_count) / in_bucket
        lower_bound, lower_count = upper_bound, count
    return lower_bound
