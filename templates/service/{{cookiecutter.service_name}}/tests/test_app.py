"""The service's HTTP behaviour, through the full instrumented app (in process)."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import metric_value
from fastapi.testclient import TestClient

from {{ cookiecutter.__package_name }}.app import create_app
from {{ cookiecutter.__package_name }}.platform import JsonFormatter


@pytest.fixture
def client():
    with TestClient(create_app()) as client:  # `with` runs the lifespan: startup, then shutdown
        yield client


def test_example_route_answers(client: TestClient) -> None:
    response = client.get("/items/7")
    assert response.status_code == 200
    assert response.json() == {"item_id": 7, "name": "item-7"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/items/not-a-number", 422, id="invalid-parameter"),
        pytest.param("/items/1?delay_s=-1", 422, id="negative-delay"),
        pytest.param("/no/such/route", 404, id="unmatched"),
    ],
)
def test_bad_requests_are_refused(client: TestClient, path: str, status: int) -> None:
    assert client.get(path).status_code == status


@pytest.mark.parametrize(
    ("path", "route", "status"),
    [
        pytest.param("/items/1", "/items/{item_id}", "200", id="route-template-not-raw-path"),
        pytest.param("/items/x", "/items/{item_id}", "422", id="error-status-keeps-template"),
        pytest.param("/nowhere/42", "<unmatched>", "404", id="unmatched-fixed-label"),
    ],
)
def test_requests_are_counted_by_route_template(
    client: TestClient, path: str, route: str, status: str
) -> None:
    labels = {"route": route, "method": "GET", "status": status}
    before = metric_value(client.get("/metrics").text, "http_requests_total", labels)
    client.get(path)
    client.get(path)
    after = metric_value(client.get("/metrics").text, "http_requests_total", labels)
    assert after - before == 2
    assert 'route="' + path + '"' not in client.get("/metrics").text


def test_latency_histogram_observes_the_delay(client: TestClient) -> None:
    labels = {"route": "/items/{item_id}", "method": "GET"}
    before_count = metric_value(client.get("/metrics").text, "http_request_duration_seconds_count", labels)
    before_sum = metric_value(client.get("/metrics").text, "http_request_duration_seconds_sum", labels)
    client.get("/items/1?delay_s=0.2")
    text = client.get("/metrics").text
    assert metric_value(text, "http_request_duration_seconds_count", labels) - before_count == 1
    assert metric_value(text, "http_request_duration_seconds_sum", labels) - before_sum >= 0.2


@pytest.mark.parametrize("probe", ["/healthz", "/readyz", "/metrics"])
def test_probes_are_not_counted(client: TestClient, probe: str) -> None:
    for _ in range(3):
        client.get(probe)
    text = client.get("/metrics").text
    assert f'route="{probe}"' not in text


def test_metrics_expose_the_contract(client: TestClient) -> None:
    client.get("/items/1")
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    for name in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_in_flight",
        "process_cpu_seconds_total",
    ):
        assert f"\n{name}" in text, name
    assert metric_value(text, "http_requests_in_flight") == 0


def test_health_and_readiness_once_started(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_not_ready_before_startup_and_after_shutdown_begins() -> None:
    app = create_app()
    client = TestClient(app)  # no `with`: the lifespan startup has not run
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    with TestClient(app) as started:
        assert started.get("/readyz").status_code == 200
        app.begin_shutdown()
        stopping = started.get("/readyz")
        assert (stopping.status_code, stopping.json()) == (503, {"status": "stopping"})
        assert started.get("/items/1").status_code == 200  # still serving while draining


def test_access_log_is_one_json_line_per_request(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="access"):
        client.get("/items/3")
    records = [r for r in caplog.records if r.name == "access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter(service="svc").format(records[0]))
    assert line["route"] == "/items/{item_id}"
    assert line["path"] == "/items/3"
    assert line["status"] == 200
    assert line["service"] == "svc"
    assert line["level"] == "info"
