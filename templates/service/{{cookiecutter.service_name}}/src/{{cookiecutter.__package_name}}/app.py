"""The HTTP API of {{ cookiecutter.service_name }}.

Write routes on ``api`` as in any FastAPI app. The module-level ``app`` is what runs: ``api``
wrapped by ``platform.instrument``, which owns ``/healthz``, ``/readyz``, ``/metrics``, the
RED metrics and the access log, so routes never need to deal with them.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Query

from . import __version__
from .platform import Platform, instrument


def create_api() -> FastAPI:
    """The FastAPI application with the service's own routes."""
    api = FastAPI(title="{{ cookiecutter.service_name }}", version=__version__)

    @api.get("/items/{item_id}")
    async def read_item(
        item_id: int,
        delay_s: float = Query(
            0.0,
            ge=0.0,
            le=30.0,
            description="Wait this long before answering: simulates slow work, for trying "
            "graceful shutdown and autoscaling on latency or concurrency.",
        ),
    ) -> dict[str, object]:
        """The example route: replace it with the service's own."""
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return {"item_id": item_id, "name": f"item-{item_id}"}

    return api


def create_app() -> Platform:
    """A fresh instrumented app (tests create one each; the server runs ``app``)."""
    return instrument(create_api())


app = create_app()
