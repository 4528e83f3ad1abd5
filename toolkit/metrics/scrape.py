"""The embedded metrics source: scrape every replica's ``/metrics`` directly, no Prometheus.

Each tick fetches all replicas of all services concurrently (httpx, one timeout per request,
so one hung replica costs at most ``timeout_s``), parses the exposition format with
prometheus-client's parser and turns the difference from the previous scrape of the same
replica into rates (``toolkit.metrics._readings``). Rates therefore cover exactly one tick.

Replicas seen for the first time have no rate yet and report ``None`` (missing: never a
reason to scale down); replicas gone from the backend's list are forgotten; a replica whose
scrape fails reports ``None`` and keeps its previous reading, so the next success computes
a rate over the longer interval instead of losing the requests in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import httpx

from toolkit.metrics import MetricKind, ReplicaTarget, ServiceMetrics, ServiceTarget, SourceOptions
from toolkit.metrics._readings import Reading, cpu_percent, latency_quantile, parse_reading, request_rate


class ScrapeSource:
    """Direct scraping; keeps the last reading per replica between ticks."""

    name = "scrape"
    delay_s = 0.0  # every replica read each tick: the rate since the previous tick
    kinds = frozenset(
        {
            MetricKind.RPS_PER_REPLICA,
            MetricKind.INFLIGHT_PER_REPLICA,
            MetricKind.LATENCY_P95_S,
            MetricKind.CPU_PERCENT,
        }
    )

    def __init__(self, options: SourceOptions, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._timeout_s = options.timeout_s
        self._transport = transport
        self._last: dict[tuple[str, str], tuple[float, Reading]] = {}

    def sample(self, targets: Sequence[ServiceTarget], now_s: float) -> Mapping[str, ServiceMetrics]:
        replicas = [(t.service, r) for t in targets for r in t.replicas]
        readings = asyncio.run(self._fetch_all([r for _, r in replicas]))
        by_replica = {
            (service, r.replica_id): reading for (service, r), reading in zip(replicas, readings, strict=True)
        }
        result = {t.service: self._service_metrics(t, by_replica, now_s) for t in targets}
        alive = set(by_replica)
        for key in [k for k in self._last if k not in alive]:
            del self._last[key]  # vanished replica: its counters mean nothing any more
        return result

    def close(self) -> None:
        self._last.clear()

    def _service_metrics(
        self, target: ServiceTarget, readings: Mapping[tuple[str, str], Reading | str], now_s: float
    ) -> ServiceMetrics:
        values: dict[str, float | None] = {}
        failures: list[str] = []
        for replica in target.replicas:
            key = (target.service, replica.replica_id)
            reading = readings[key]
            if isinstance(reading, str):
                failures.append(f"{replica.address}: {reading}")
                values[replica.replica_id] = None
                continue
            values[replica.replica_id] = self._value(target.metric, key, reading, now_s)
        if target.replicas and len(failures) == len(target.replicas):
            return ServiceMetrics(values, ok=False, detail="no replica answered: " + "; ".join(failures[:3]))
        return ServiceMetrics(values, detail="; ".join(failures[:3]))

    def _value(self, kind: MetricKind, key: tuple[str, str], reading: Reading, now_s: float) -> float | None:
        previous = self._last.get(key)
        self._last[key] = (now_s, reading)
        if kind is MetricKind.INFLIGHT_PER_REPLICA:
            return reading.in_flight
        if previous is None or now_s <= previous[0]:
            return None  # appeared since the last tick: no rate yet
        before_s, before = previous
        interval_s = now_s - before_s
        if kind is MetricKind.RPS_PER_REPLICA:
            return request_rate(before, reading, interval_s)
        if kind is MetricKind.CPU_PERCENT:
            return cpu_percent(before, reading, interval_s)
        return latency_quantile(before, reading)

    async def _fetch_all(self, replicas: Sequence[ReplicaTarget]) -> list[Reading | str]:
        if not replicas:
            return []
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
        client = httpx.AsyncClient(timeout=self._timeout_s, limits=limits, transport=self._transport)
        async with client:
            return list(await asyncio.gather(*(self._fetch(client, r) for r in replicas)))

    @staticmethod
    async def _fetch(client: httpx.AsyncClient, replica: ReplicaTarget) -> Reading | str:
        """A reading, or a one-line reason the replica could not be read."""
        try:
            response = await client.get(f"http://{replica.address}{replica.metrics_path}")
            response.raise_for_status()
            return parse_reading(response.text)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}".strip()
        except ValueError as err:  # the parser rejects a malformed body
            return f"unparsable /metrics: {err}"
