"""The platform middleware on apps other than FastAPI: a bare ASGI app and a WSGI app.

``toolkit split`` wraps monoliths (ASGI or WSGI) with this same module, so it must work
without FastAPI's router; each test uses its own registry so counts start at zero.
"""

from __future__ import annotations

import pytest
from conftest import metric_value
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from {{ cookiecutter.__package_name }}.platform import instrument, werkzeug_route_of, wsgi_to_asgi


async def bare_asgi_app(scope, receive, send) -> None:
    """An ASGI app with no router and no lifespan support."""
    if scope["type"] != "http":
        raise RuntimeError("lifespan not supported")
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"made"})


def hello_wsgi(environ, start_response):
    """A PEP 3333 app: echoes method, path, query and body."""
    body = environ["wsgi.input"].read()
    text = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {environ['QUERY_STRING']} {body.decode()}"
    status = "404 Not Found" if environ["PATH_INFO"].startswith("/missing") else "200 OK"
    start_response(status, [("Content-Type", "text/plain"), ("X-App", "wsgi")])
    return [text.encode()]


def hello_route(environ) -> str | None:
    path = environ["PATH_INFO"]
    return "/hello/{name}" if path.startswith("/hello/") else None


def test_bare_asgi_app_gets_probes_readiness_and_metrics() -> None:
    registry = CollectorRegistry()
    app = instrument(bare_asgi_app, registry=registry, route_of=lambda scope: "/things")
    with TestClient(app) as client:  # the platform answers the lifespan the app refuses
        assert client.get("/readyz").status_code == 200
        assert client.post("/anything").status_code == 201
        text = client.get("/metrics").text
    labels = {"route": "/things", "method": "POST", "status": "201"}
    assert metric_value(text, "http_requests_total", labels) == 1


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        pytest.param("GET", "/hello/ada?x=1", "/hello/{name}", "200", id="resolved-route"),
        pytest.param("POST", "/hello/bob", "/hello/{name}", "200", id="post"),
        pytest.param("GET", "/missing/1", "<unmatched>", "404", id="unmatched"),
        pytest.param("BREW", "/hello/tea", "/hello/{name}", "200", id="unknown-method-bucketed"),
    ],
)
def test_wsgi_app_through_the_adapter(method: str, path: str, route: str, status: str) -> None:
    registry = CollectorRegistry()
    app = instrument(wsgi_to_asgi(hello_wsgi, route_of=hello_route), registry=registry)
    with TestClient(app) as client:
        response = client.request(method, path, content=b"payload")
        text = client.get("/metrics").text
    assert response.status_code == int(status)
    assert response.headers["x-app"] == "wsgi"
    echoed_path, _, _ = path.partition("?")
    assert response.text.startswith(f"{method} {echoed_path} ")
    assert response.text.endswith(" payload")
    label_method = method if method != "BREW" else "OTHER"
    labels = {"route": route, "method": label_method, "status": status}
    assert metric_value(text, "http_requests_total", labels) == 1


def test_wsgi_query_string_and_headers_reach_the_app() -> None:
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("204 No Content", [])
        return []

    with TestClient(instrument(wsgi_to_asgi(app), registry=CollectorRegistry())) as client:
        client.get("/p?a=1&b=2", headers={"X-Trace": "t1", "Content-Type": "application/json"})
    assert seen["QUERY_STRING"] == "a=1&b=2"
    assert seen["HTTP_X_TRACE"] == "t1"
    assert seen["CONTENT_TYPE"] == "application/json"


def test_wsgi_body_limit() -> None:
    app = instrument(wsgi_to_asgi(hello_wsgi, max_body_bytes=4), registry=CollectorRegistry())
    with TestClient(app) as client:
        assert client.post("/hello/x", content=b"0123456789").status_code == 413


class _Rule:
    def __init__(self, rule: str) -> None:
        self.rule = rule


class _FakeUrlMap:
    """Stands in for a Werkzeug ``Map`` (Flask's url_map), which is not installed here."""

    def bind_to_environ(self, environ):
        return self

    def match(self, return_rule: bool):
        return _Rule("/users/<int:user_id>/posts/<slug>"), {}


def test_werkzeug_rules_become_brace_templates() -> None:
    class FlaskLike:
        url_map = _FakeUrlMap()

    route_of = werkzeug_route_of(FlaskLike())
    assert route_of is not None
    assert route_of({}) == "/users/{user_id}/posts/{slug}"
    assert werkzeug_route_of(hello_wsgi) is None
