"""Helpers shared by the service's tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def metric_value(exposition: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of sample ``name`` with exactly ``labels`` in a /metrics text, 0 if absent."""
    wanted = labels or {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == wanted:
                return float(sample.value)
    return 0.0
