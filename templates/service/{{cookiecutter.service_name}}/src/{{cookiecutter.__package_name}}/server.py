"""Run an instrumented ASGI app under uvicorn with the platform's shutdown order.

On the first SIGTERM (or SIGINT) the server does not stop at once, which would cut the
connections load balancers are still routing to it. Instead:

1. readiness flips: ``/readyz`` answers 503 (``Platform.begin_shutdown``), while new and
   in-flight requests are still served;
2. after ``drain_s`` (time for health checks and the gateway to notice), uvicorn stops
   accepting connections and waits up to ``graceful_timeout_s`` for in-flight requests;
3. the lifespan shutdown runs and the process exits 0.

A second signal skips the drain (and a second SIGINT exits immediately).

One process per container, one event loop, no worker processes: metrics are per process and
the service scales by running more containers. Like ``platform.py`` this module has no
template variables, so ``toolkit split`` reuses it for services wrapping a monolith.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

import uvicorn

from .platform import configure_logging


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a readiness drain before the graceful stop."""

    def __init__(self, config: uvicorn.Config, *, drain_s: float) -> None:
        super().__init__(config)
        self.drain_s = drain_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self.should_exit:
            self.should_exit = True
            self.force_exit = self.force_exit or sig == signal.SIGINT
            return
        self._draining = True
        begin_shutdown = getattr(self.config.app, "begin_shutdown", None)
        if callable(begin_shutdown):
            begin_shutdown()
        timer = threading.Timer(self.drain_s, self._stop)
        timer.daemon = True
        timer.start()

    def _stop(self) -> None:
        self.should_exit = True


def serve(
    app: Any,
    *,
    host: str = "0.0.0.0",
    port: int = 8000,
    drain_s: float = 2.0,
    graceful_timeout_s: float = 25.0,
    log_level: str = "info",
) -> None:
    """Serve ``app`` (normally a ``platform.Platform``) until a signal stops it."""
    configure_logging(log_level)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        log_level=log_level,
        access_log=False,  # platform.py writes one JSON access line per request instead
        server_header=False,
        timeout_graceful_shutdown=int(graceful_timeout_s),
    )
    DrainingServer(config, drain_s=drain_s).run()


def serve_from_env(app: Any) -> None:
    """``serve`` configured the twelve-factor way: PORT, HOST, LOG_LEVEL, SHUTDOWN_DRAIN_S,
    GRACEFUL_TIMEOUT_S (the image sets defaults; compose and orchestrators override them)."""
    serve(
        app,
        host=os.environ.get("HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "8000")),
        drain_s=float(os.environ.get("SHUTDOWN_DRAIN_S", "2")),
        graceful_timeout_s=float(os.environ.get("GRACEFUL_TIMEOUT_S", "25")),
        log_level=os.environ.get("LOG_LEVEL", "info"),
    )
