"""The service model's settings and its latency curves against closed forms."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from toolkit._errors import ConfigError
from toolkit.simulate import ServiceModel


@pytest.mark.parametrize(
    ("values", "location"),
    [
        pytest.param({"capacity_rps": 0}, "model.capacity_rps", id="zero-capacity"),
        pytest.param({"capacity_rps": "fast"}, "model.capacity_rps", id="text-capacity"),
        pytest.param({"workers": 0}, "model.workers", id="no-workers"),
        pytest.param({"startup_s": -1}, "model.startup_s", id="negative-startup"),
        pytest.param({"scrape_interval_s": 0.5}, "model.scrape_interval_s", id="sub-second-scrape"),
        pytest.param({"slo_quantile": 1.0}, "model.slo_quantile", id="quantile-one"),
        pytest.param({"slo_kind": "p99"}, "model.slo_kind", id="unknown-kind"),
        pytest.param({"queue_limit": -3}, "model.queue_limit", id="negative-queue"),
        pytest.param({"initial_replicas": 0}, "model.initial_replicas", id="no-initial"),
        pytest.param({"speed": 1}, "model.speed", id="unknown-key"),
        pytest.param({"service_time_s": 0.1, "capacity_rps": 10}, "model", id="both-capacity-forms"),
        pytest.param({"service_time_s": -0.1}, "model.service_time_s", id="negative-service-time"),
    ],
)
def test_bad_settings_name_the_field(values: dict[str, Any], location: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceModel.from_mapping(values, file="model.yaml")
    assert caught.value.location == location
    assert "model.yaml" in str(caught.value)


def test_service_time_sets_capacity() -> None:
    model = ServiceModel.from_mapping({"service_time_s": 0.02, "workers": 2})
    assert model.capacity_rps == pytest.approx(100.0)
    assert model.service_time_s == pytest.approx(0.02)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.8, 0.95])
def test_single_worker_p95_is_the_mm1_closed_form(rho: float) -> None:
    # M/M/1 sojourn time is exponential with rate mu - lambda: p95 = ln(20) / (mu (1 - rho))
    model = ServiceModel(capacity_rps=20.0, workers=1)
    curve = model.curve()
    p95 = float(np.interp(rho, curve.rho, curve.p95_s))
    assert p95 == pytest.approx(math.log(20.0) / (20.0 * (1.0 - rho)), rel=1e-3)


def test_erlang_c_matches_the_textbook_value() -> None:
    # c = 4 servers, offered load 2 Erlang (rho 0.5): C = 4/23
    curve = ServiceModel(workers=4).curve()
    assert float(np.interp(0.5, curve.rho, curve.erlang_c)) == pytest.approx(4 / 23, rel=1e-4)


def test_fraction_over_grows_with_utilisation_and_backlog() -> None:
    curve = ServiceModel().curve()
    rho = np.array([0.3, 0.6, 0.9, 0.99])
    calm = curve.fraction_over(rho, np.zeros(4))
    assert np.all(np.diff(calm) > 0)
    behind = curve.fraction_over(rho, np.full(4, 0.45))
    assert np.all(behind >= calm)
    assert np.all(curve.fraction_over(rho, np.full(4, 0.6)) == 1.0)  # the backlog alone is over 0.5 s


def test_queueing_slo_is_looser_than_latency() -> None:
    latency = ServiceModel(slo_s=0.2).curve()
    queueing = ServiceModel(slo_s=0.2, slo_kind="queueing").curve()
    assert queueing.rho_limit > latency.rho_limit
