"""Metrics sources: where the controller learns each replica's load, behind one interface.

A source is asked once per tick for every managed service at once (batched) and answers with
one value per replica in the unit of the service's metric kind::

    source = make_source("scrape")
    metrics = source.sample(targets, now_s)       # {service: ServiceMetrics}

Replica addresses come from the backend (``ServiceTarget.replicas``), so a source never has to
discover containers itself. ``None`` for a replica means "this replica reported nothing usable"
(HPA's missing pod); ``ServiceMetrics.ok`` False means the source could not be trusted for the
service at all (down, stale): the controller then never scales that service down.

Sources are registered by name in ``SOURCES`` (the one place), imported lazily so the scrape
path never imports the Prometheus client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from toolkit._lazy import resolve
from toolkit.scale import MetricKind  # the policy's metric names are the source's kinds


@dataclass(frozen=True, slots=True)
class ReplicaTarget:
    """One running replica as the backend sees it.

    ``replica_id`` is stable for the replica's life (container id, pod name); ``address`` is
    ``host:port`` where its ``/metrics`` answers from where the controller runs (and what
    Prometheus' ``instance`` label holds for it).
    """

    replica_id: str
    address: str
    ready: bool = True
    metrics_path: str = "/metrics"


@dataclass(frozen=True, slots=True)
class ServiceTarget:
    """A managed service, its metric, and its replicas for this tick."""

    service: str
    metric: MetricKind
    replicas: tuple[ReplicaTarget, ...]
    promql: str | None = None  # the expression when ``metric`` is ``promql``


@dataclass(frozen=True, slots=True)
class ServiceMetrics:
    """One service's sample: ``values`` maps every replica id of the target to its value.

    ``ok`` False: the source is down or its data stale for this service; ``detail`` says why.
    """

    values: Mapping[str, float | None]
    ok: bool = True
    detail: str = ""


class MetricsSource(Protocol):
    """Anything that can sample all services in one go; may keep state between ticks."""

    name: str
    kinds: frozenset[MetricKind]  # the metric kinds this source can measure
    delay_s: float  # how old its figures can be (scrape interval + rate window); toolkit uses it

    def sample(self, targets: Sequence[ServiceTarget], now_s: float) -> Mapping[str, ServiceMetrics]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Options a source may use; each source reads the ones it needs."""

    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_selector: str = ""  # extra label matchers, e.g. 'project="shop"'
    rate_window_s: float = 30.0
    timeout_s: float = 2.0


# name -> "module:factory". The one place metrics sources are registered.
SOURCES: dict[str, str] = {
    "scrape": "toolkit.metrics.scrape:ScrapeSource",
    "prometheus": "toolkit.metrics.prometheus:PrometheusSource",
}


def make_source(name: str, options: SourceOptions | None = None) -> MetricsSource:
    """Build the source registered as ``name``."""
    factory = resolve(SOURCES, name, "metrics source")
    source: MetricsSource = factory(options or SourceOptions())
    return source


__all__ = [
    "SOURCES",
    "MetricKind",
    "MetricsSource",
    "ReplicaTarget",
    "ServiceMetrics",
    "ServiceTarget",
    "SourceOptions",
    "make_source",
]
