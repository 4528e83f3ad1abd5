"""Metrics from a Prometheus server: one batched query per metric kind per tick.

Instead of one query per service, each metric kind in use is one PromQL query grouped
``by (service, instance)`` over every service at once, e.g.::

    sum by (service, instance) (rate(http_requests_total{project="shop"}[30s]))

so a tick costs the same few requests for 5 services or 1,000. ``service`` is the label the
scrape config puts on each target (for Docker, ``docker_sd_configs`` relabelling
``__meta_docker_container_label_com_docker_compose_service``, see docs/metrics-sources.md);
``instance`` is the target's ``host:port``, matched to the backend's replica addresses.

Staleness is filtered in the same query: ``... and on(service, instance) (up == 1 and
on(...) (time() - timestamp(up)) < stale_after_s)`` keeps only targets that are up and were
scraped recently, so a tick is exactly one query per metric kind. A replica with no series in
the answer (down, stale, or not scraped yet) reports None (missing); a service none of whose
replicas has a fresh value is not ok. Prometheus unreachable or answering errors: every
service is not ok, so the controller holds every count and reports it. ``promql`` services run their own
expression (one query per distinct expression), which must yield one series per replica
carrying the ``instance`` label.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from toolkit._errors import MetricsError
from toolkit.metrics import MetricKind, ServiceMetrics, ServiceTarget, SourceOptions

SERVICE_LABEL = "service"
INSTANCE_LABEL = "instance"


def kind_query(kind: MetricKind, selector: str, window_s: float) -> str:
    """The one PromQL query for ``kind`` covering every service matched by ``selector``."""
    sel = "{" + selector + "}"
    window = f"[{max(1, round(window_s))}s]"
    by = f"by ({SERVICE_LABEL}, {INSTANCE_LABEL})"
    if kind is MetricKind.RPS_PER_REPLICA:
        return f"sum {by} (rate(http_requests_total{sel}{window}))"
    if kind is MetricKind.INFLIGHT_PER_REPLICA:
        return f"sum {by} (http_requests_in_flight{sel})"
    if kind is MetricKind.CPU_PERCENT:
        return f"100 * sum {by} (rate(process_cpu_seconds_total{sel}{window}))"
    if kind is MetricKind.LATENCY_P95_S:
        by_le = f"by ({SERVICE_LABEL}, {INSTANCE_LABEL}, le)"
        return (
            f"histogram_quantile(0.95, sum {by_le} (rate(http_request_duration_seconds_bucket{sel}{window})))"
        )
    raise ValueError(f"no batched query for {kind.value}")


def fresh(
    query: str, selector: str, stale_after_s: float, on: str = f"{SERVICE_LABEL}, {INSTANCE_LABEL}"
) -> str:
    """``query`` restricted to targets that are up and were scraped within ``stale_after_s``.

    Staleness is filtered inside the same query (``and on(...)`` with ``up``), so a tick costs
    exactly one query per metric kind; a series that is missing from the answer is a replica
    without a fresh value.
    """
    up = f"up{{{selector}}}"
    recent = f"(time() - timestamp({up})) < {stale_after_s:g}"
    return f"({query}) and on({on}) ({up} == 1 and on({on}) {recent})"


class PrometheusSource:
    """Queries a Prometheus server through prometheus-api-client."""

    name = "prometheus"
    kinds = frozenset(MetricKind)

    def __init__(self, options: SourceOptions, *, session: requests.Session | None = None) -> None:
        self._selector = options.prometheus_selector
        self._window_s = options.rate_window_s
        self.stale_after_s = max(2 * options.rate_window_s, 15.0)
        # a rate over the window, scraped at least twice per window (docs/metrics-sources.md):
        # the window plus at most half of it
        self.delay_s = 1.5 * options.rate_window_s
        self._session = session or requests.Session()
        self._client = PrometheusConnect(
            url=options.prometheus_url.rstrip("/"),
            disable_ssl=True,
            session=self._session,
            timeout=options.timeout_s,
            method="POST",  # long selectors stay out of the URL
        )
        self._url = options.prometheus_url

    def sample(self, targets: Sequence[ServiceTarget], now_s: float) -> Mapping[str, ServiceMetrics]:
        values: dict[tuple[str, str], float] = {}
        for kind in sorted({t.metric for t in targets if t.metric is not MetricKind.PROMQL}):
            query = fresh(
                kind_query(kind, self._selector, self._window_s), self._selector, self.stale_after_s
            )
            values.update(_by_service_instance(self._query(query)))
        for expression in sorted({t.promql for t in targets if t.metric is MetricKind.PROMQL and t.promql}):
            # A promql service is named by the policy, not by a Prometheus label: by instance.
            query = fresh(expression, self._selector, self.stale_after_s, on=INSTANCE_LABEL)
            by_instance = _by_instance(self._query(query))
            for target in (t for t in targets if t.promql == expression):
                values.update({(target.service, inst): v for inst, v in by_instance.items()})
        return {t.service: self._service(t, values) for t in targets}

    def close(self) -> None:
        self._session.close()

    def _query(self, query: str) -> list[dict[str, Any]]:
        try:
            result: list[dict[str, Any]] = self._client.custom_query(query)
        except (requests.RequestException, PrometheusApiClientException) as err:
            raise MetricsError(f"Prometheus at {self._url}: {_one_line(err)}") from err
        except ValueError as err:  # not JSON: something else answers on that port
            raise MetricsError(f"Prometheus at {self._url} answered something that is not its API") from err
        return result

    def _service(self, target: ServiceTarget, values: Mapping[tuple[str, str], float]) -> ServiceMetrics:
        result: dict[str, float | None] = {}
        absent: list[str] = []
        for replica in target.replicas:
            value = values.get((target.service, replica.address))
            if value is None:
                absent.append(replica.address)
            elif math.isnan(value):
                # histogram_quantile of no requests: an idle replica is not slow.
                value = 0.0 if target.metric is MetricKind.LATENCY_P95_S else None
            result[replica.replica_id] = value
        detail = f"no fresh value in Prometheus (down, stale or not scraped yet): {', '.join(absent[:3])}"
        ok = not target.replicas or len(absent) < len(target.replicas)
        return ServiceMetrics(result, ok=ok, detail=detail if absent else "")


def _by_service_instance(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], float]:
    result: dict[tuple[str, str], float] = {}
    for row in rows:
        labels = row.get("metric", {})
        if SERVICE_LABEL in labels and INSTANCE_LABEL in labels:
            result[(labels[SERVICE_LABEL], labels[INSTANCE_LABEL])] = float(row["value"][1])
    return result


def _by_instance(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    return {
        row["metric"][INSTANCE_LABEL]: float(row["value"][1])
        for row in rows
        if INSTANCE_LABEL in row.get("metric", {})
    }


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__
