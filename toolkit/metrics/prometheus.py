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
the answer to its own service's kind (down, stale, or not scraped yet) reports None (missing),
whatever other kinds' answers hold for it; a service none of whose replicas has a fresh value
is not ok. A replica that is up but has never counted a request reports 0 rps, as the scrape
source does. Prometheus unreachable or answering errors: every
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
        # A target with no request series at all has never served a request (labelled
        # counters appear on first use): 0 rps, as the scrape source reads it, so a quiet
        # service can scale down. One with a series but too few samples for a rate stays absent.
        never_served = (
            f"0 * sum {by} (up{sel}) unless on({SERVICE_LABEL}, {INSTANCE_LABEL}) http_requests_total{sel}"
        )
        return f"sum {by} (rate(http_requests_total{sel}{window})) or ({never_served})"
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
        # One answer per query, kept apart: every kind's query covers every service, so a
        # service must read only its own kind's answer (never, say, its in-flight gauge as rps).
        by_kind: dict[MetricKind, dict[tuple[str, str], float]] = {}
        for kind in sorted({t.metric for t in targets if t.metric is not MetricKind.PROMQL}):
            query = fresh(
                kind_query(kind, self._selector, self._window_s), self._selector, self.stale_after_s
            )
            by_kind[kind] = _by_service_instance(self._query(query))
        by_expression: dict[str, dict[str, float]] = {}
        for expression in sorted({t.promql for t in targets if t.metric is MetricKind.PROMQL and t.promql}):
            # A promql service is named by the policy, not by a Prometheus label: by instance.
            query = fresh(expression, self._selector, self.stale_after_s, on=INSTANCE_LABEL)
            by_expression[expression] = _by_instance(self._query(query))
        return {t.service: self._service(t, _own_values(t, by_kind, by_expression)) for t in targets}

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

    def _service(self, target: ServiceTarget, values: Mapping[str, float]) -> ServiceMetrics:
        """``values``: the target's own query answer by replica address."""
        result: dict[str, float | None] = {}
        absent: list[str] = []
        for replica in target.replicas:
            value = values.get(replica.address)
            if value is None:
                absent.append(replica.address)
            elif math.isnan(value):
                # histogram_quantile of no requests: an idle replica is not slow.
                value = 0.0 if target.metric is MetricKind.LATENCY_P95_S else None
            result[replica.replica_id] = value
        detail = f"no fresh value in Prometheus (down, stale or not scraped yet): {', '.join(absent[:3])}"
        ok = not target.replicas or len(absent) < len(target.replicas)
        return ServiceMetrics(result, ok=ok, detail=detail if absent else "")


def _own_values(
    target: ServiceTarget,
    by_kind: Mapping[MetricKind, Mapping[tuple[str, str], float]],
    by_expression: Mapping[str, Mapping[str, float]],
) -> dict[str, float]:
    """``target``'s values by replica address, from the answer to its own query only.

    A replica absent from that answer stays absent (missing) even when another kind's query
    has a series for it: that series measures something else.
    """
    if target.metric is MetricKind.PROMQL:
        by_instance = by_expression.get(target.promql or "", {})
        return {r.address: by_instance[r.address] for r in target.replicas if r.address in by_instance}
    rows = by_kind.get(target.metric, {})
    keys = ((r.address, (target.service, r.address)) for r in target.replicas)
    return {address: rows[key] for address, key in keys if key in rows}


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
