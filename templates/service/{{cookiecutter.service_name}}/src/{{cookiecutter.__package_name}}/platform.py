"""The platform contract of a toolkit service, as one pure ASGI middleware.

``instrument(app)`` wraps any ASGI application (FastAPI, Starlette, a bare ASGI callable, or a
WSGI application such as Flask through ``wsgi_to_asgi``) and gives it what the platform
relies on, identically in every service:

* ``GET /healthz``  liveness: 200 while the process answers at all.
* ``GET /readyz``   readiness: 503 while starting (until the ASGI lifespan startup finished)
  and from the moment shutdown begins (``begin_shutdown()``, called on SIGTERM by
  ``server.py``), 200 otherwise. Load balancers and health checks stop sending traffic
  before the process stops accepting it.
* ``GET /metrics``  Prometheus exposition of the process registry, including the RED
  metrics below and prometheus_client's process collector (``process_cpu_seconds_total``).
* RED metrics, a contract with the autoscaler (names and labels must not change)::

      http_requests_total{route, method, status}        counter
      http_request_duration_seconds{route, method}      histogram
      http_requests_in_flight                           gauge

  ``route`` is the route *template* (``/items/{item_id}``), never the raw path, so label
  cardinality stays bounded; a request no route matched is labelled ``<unmatched>``. The
  three probe paths are not counted.
* One JSON access-log line per request, and ``configure_logging`` for JSON logs everywhere.

The metrics live in the process (single-process mode of prometheus_client): a service runs
one server process per container and scales by adding containers, so every replica reports
its own counters and the scraper sums them.

This module depends only on the standard library and prometheus_client, and contains no
template variables: ``toolkit split`` reuses the very same file to wrap a monolith's app.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RouteOf = Callable[[Scope], str | None]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

UNMATCHED_ROUTE = "<unmatched>"
"""The ``route`` label of a request that matched no route (a 404 from the router)."""

ROUTE_SCOPE_KEY = "toolkit.route"
"""An app (or adapter) may put the matched route template in the ASGI scope under this key."""

HEALTH_PATH, READY_PATH, METRICS_PATH = "/healthz", "/readyz", "/metrics"
PROBE_PATHS = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH})

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_access_log = logging.getLogger("access")


class RedMetrics:
    """The three RED metrics, registered once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response, by route template and method.",
            ["route", "method"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being handled right now (probe endpoints excluded).",
            registry=registry,
        )


_default_metrics: RedMetrics | None = None
_default_metrics_lock = threading.Lock()


def default_metrics() -> RedMetrics:
    """The RED metrics on prometheus_client's global registry, created on first use.

    The process collector already lives in that registry, so ``/metrics`` exposes both.
    ``*_created`` series are disabled: they double the series count and nothing reads them.
    """
    global _default_metrics
    with _default_metrics_lock:
        if _default_metrics is None:
            disable_created_metrics()
            _default_metrics = RedMetrics(REGISTRY)
        return _default_metrics


def starlette_route(scope: Scope) -> str | None:
    """The route template Starlette/FastAPI matched: their router stores the route object in
    the (shared) scope dict, so it is readable here once the app has handled the request."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


class Platform:
    """The instrumented application: an ASGI callable wrapping ``app``.

    Create it with ``instrument``. ``ready`` is the readiness state; ``begin_shutdown``
    flips it to not-ready for good (the server then drains and stops).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: RedMetrics,
        registry: CollectorRegistry,
        route_of: RouteOf | None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.registry = registry
        self.route_of = route_of
        self._started = False
        self._stopping = False

    @property
    def ready(self) -> bool:
        return self._started and not self._stopping

    def begin_shutdown(self) -> None:
        """Report not-ready from now on; requests in flight (and new ones) are still served."""
        self._stopping = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif kind == "http" and scope.get("path") in PROBE_PATHS and scope.get("method") in ("GET", "HEAD"):
            await self._probe(scope, send)
        elif kind == "http":
            await self._observe(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -- lifespan: readiness follows the wrapped app's startup ------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        received: list[Message] = []
        app_answered = False

        async def receive_from_server() -> Message:
            message = await receive()
            received.append(message)
            if message["type"] == "lifespan.shutdown":
                self._stopping = True
            return message

        async def send_to_server(message: Message) -> None:
            nonlocal app_answered
            app_answered = True
            if message["type"] == "lifespan.startup.complete":
                self._started, self._stopping = True, False
            await send(message)

        try:
            await self.app(scope, receive_from_server, send_to_server)
        except Exception:
            if app_answered:
                raise
        if app_answered:
            return
        # The wrapped app does not speak lifespan (a plain ASGI app, a WSGI adapter): answer
        # the server ourselves, starting with any message the app consumed and ignored.
        while True:
            message = received.pop(0) if received else await receive()
            if message["type"] == "lifespan.startup":
                self._started, self._stopping = True, False
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._stopping = True
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- probes ---------------------------------------------------------------------------

    async def _probe(self, scope: Scope, send: Send) -> None:
        path = scope["path"]
        if path == METRICS_PATH:
            status, body, content_type = 200, generate_latest(self.registry), CONTENT_TYPE_LATEST
        elif path == HEALTH_PATH:
            status, body, content_type = 200, b'{"status":"ok"}', "application/json"
        else:
            state = "ready" if self.ready else ("stopping" if self._stopping else "starting")
            status = 200 if self.ready else 503
            body, content_type = json.dumps({"status": state}).encode(), "application/json"
        await _respond(send, status, body, content_type, head=scope.get("method") == "HEAD")

    # -- RED metrics and access log -------------------------------------------------------

    async def _observe(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        method = scope.get("method", "GET")
        method = method if method in _METHODS else "OTHER"
        started_s = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:  # an exception before the response started counts as the 500 it becomes
            duration_s = time.perf_counter() - started_s
            self.metrics.in_flight.dec()
            route = self._route(scope)
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.duration.labels(route, method).observe(duration_s)
            _access_log.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope.get("path", ""),
                    "status": status,
                    "duration_s": round(duration_s, 6),
                },
            )

    def _route(self, scope: Scope) -> str:
        route = scope.get(ROUTE_SCOPE_KEY)
        if not isinstance(route, str) and self.route_of is not None:
            route = self.route_of(scope)
        if not isinstance(route, str):
            route = starlette_route(scope)
        return route if isinstance(route, str) and route else UNMATCHED_ROUTE


def instrument(
    app: ASGIApp,
    *,
    registry: CollectorRegistry | None = None,
    route_of: RouteOf | None = None,
) -> Platform:
    """Wrap an ASGI ``app`` with the platform endpoints, RED metrics and access log.

    ``registry`` defaults to prometheus_client's global one (with the process collector);
    pass a fresh ``CollectorRegistry`` to isolate tests. ``route_of(scope)`` resolves the
    route template for frameworks this module does not know; Starlette/FastAPI routes and
    ``wsgi_to_asgi`` apps are resolved without it.
    """
    if registry is None:
        return Platform(app, metrics=default_metrics(), registry=REGISTRY, route_of=route_of)
    return Platform(app, metrics=RedMetrics(registry), registry=registry, route_of=route_of)


async def _respond(send: Send, status: int, body: bytes, content_type: str, *, head: bool = False) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


# -- WSGI adapter (Flask, Django's WSGI handler, any PEP 3333 app) ---------------------------

_WERKZEUG_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def werkzeug_route_of(wsgi_app: object) -> Callable[[dict[str, Any]], str | None] | None:
    """A route resolver for Werkzeug-based apps (Flask), found by duck typing.

    It matches the request against the app's ``url_map`` and returns the rule in the same
    ``{name}`` style as Starlette (``/items/<int:item_id>`` -> ``/items/{item_id}``).
    """
    url_map = getattr(wsgi_app, "url_map", None)
    if url_map is None or not hasattr(url_map, "bind_to_environ"):
        return None

    def route_of(environ: dict[str, Any]) -> str | None:
        try:
            rule, _ = url_map.bind_to_environ(environ).match(return_rule=True)
        except Exception:  # NotFound, MethodNotAllowed, RequestRedirect: no route template
            return None
        return _WERKZEUG_PARAM.sub(r"{\1}", str(rule.rule))

    return route_of


def wsgi_to_asgi(
    wsgi_app: WSGIApp,
    *,
    route_of: Callable[[dict[str, Any]], str | None] | None = None,
    max_body_bytes: int = 16 * 1024 * 1024,
) -> ASGIApp:
    """Serve a WSGI application as an ASGI one, so ``instrument`` applies to it unchanged.

    The WSGI call runs in a worker thread (the event loop stays free for probes); request
    and response bodies are buffered, which suits JSON APIs but not streaming responses.
    ``route_of(environ)`` gives the route template; Flask apps get one automatically.
    """
    resolve = route_of if route_of is not None else werkzeug_route_of(wsgi_app)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan: Platform answers it; websockets: WSGI has none
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > max_body_bytes:
                await _respond(send, 413, b"request body too large", "text/plain")
                return
            if not message.get("more_body", False):
                break
        environ = _environ(scope, bytes(body))
        if resolve is not None:
            scope[ROUTE_SCOPE_KEY] = resolve(environ)
        status, headers, payload = await asyncio.to_thread(_call_wsgi, wsgi_app, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ for an ASGI HTTP scope."""
    server_host, server_port = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server_host),
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif name != "CONTENT_LENGTH":
            key = f"HTTP_{name}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _call_wsgi(wsgi_app: WSGIApp, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run one WSGI request to completion; returns status, headers and the whole body."""
    response: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and response:
            raise exc_info[1].with_traceback(exc_info[2])
        response["status"], response["headers"] = status, headers
        return chunks.append

    result = wsgi_app(environ, start_response)
    try:
        for chunk in result:
            chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if "status" not in response:
        raise RuntimeError("WSGI application returned without calling start_response")
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response["headers"]]
    return int(response["status"].split(" ", 1)[0]), headers, b"".join(chunks)


# -- JSON logs ---------------------------------------------------------------------------

# Standard LogRecord attributes, and uvicorn's ANSI-coloured duplicate of the message.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the service name (from the
    ``SERVICE_NAME`` environment variable) and any ``extra=`` fields of the record."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service if service is not None else os.environ.get("SERVICE_NAME", "")

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service:
            doc["service"] = self.service
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, separators=(",", ":"))


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """Send every logger (the app's, uvicorn's, the access log) as JSON lines to stdout."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
