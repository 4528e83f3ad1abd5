"""A minimal Docker Engine API client over the unix socket (httpx), for compose and swarm.

The Engine API answers in one request what the CLI needs a process per call for: all
containers of a project with their labels, states and addresses, or a service's spec with
its version for an optimistic update. Errors become ``BackendError`` with the engine's
message, so the controller can log them and retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from toolkit._errors import BackendError

API_VERSION = "v1.41"  # Docker 20.10; newer engines accept it


class EngineClient:
    """Blocking JSON calls to the Docker Engine API."""

    def __init__(self, docker_host: str = "unix:///var/run/docker.sock", *, timeout_s: float = 10.0) -> None:
        if not docker_host.startswith("unix://"):
            raise BackendError(f"only unix:// docker hosts are supported, got {docker_host!r}")
        transport = httpx.HTTPTransport(uds=docker_host.removeprefix("unix://"))
        self._client = httpx.Client(
            transport=transport, base_url=f"http://docker/{API_VERSION}", timeout=timeout_s
        )

    def get(self, path: str, *, filters: Mapping[str, list[str]] | None = None, **params: str) -> Any:
        return self._call("GET", path, filters=filters, params=params)

    def post(self, path: str, body: Any = None, **params: str) -> Any:
        return self._call("POST", path, params=params, body=body)

    def close(self) -> None:
        self._client.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        filters: Mapping[str, list[str]] | None = None,
        body: Any = None,
    ) -> Any:
        query = dict(params)
        if filters:
            query["filters"] = json.dumps(filters)
        try:
            response = self._client.request(method, path, params=query, json=body)
        except httpx.HTTPError as err:
            raise BackendError(f"Docker engine unreachable: {err}") from err
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise BackendError(f"Docker engine: {method} {path}: {response.status_code} {message.strip()}")
        if not response.content:
            return None
        return response.json()


def container_address(container: Mapping[str, Any], port: int, network: str | None = None) -> str | None:
    """``ip:port`` of a container on ``network``, or on the first (by name) network it has an
    address on. Naming the network matters when replicas sit on several (an overlay for
    service-to-service traffic and a bridge the controller's host can reach)."""
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    for name in [network] if network else sorted(networks):
        if name not in networks:
            continue
        ip = (networks[name] or {}).get("IPAddress")
        if ip:
            return f"{ip}:{port}"
    return None


def container_ready(container: Mapping[str, Any]) -> bool:
    """Running, and healthy if it has a healthcheck (``Status`` carries the health state)."""
    status = str(container.get("Status", ""))
    healthy = "health: starting" not in status and "unhealthy" not in status
    return container.get("State") == "running" and healthy


def metrics_port(labels: Mapping[str, str], exposed: list[int], override: int | None) -> int:
    """Where a replica serves ``/metrics``: the option, the ``toolkit.metrics-port`` label, the
    only (or lowest) exposed TCP port, or the generated services' port."""
    if override is not None:
        return override
    label = labels.get(METRICS_PORT_LABEL)
    if label and label.isdigit():
        return int(label)
    return min(exposed) if exposed else DEFAULT_METRICS_PORT


METRICS_PORT_LABEL = "toolkit.metrics-port"
DEFAULT_METRICS_PORT = 8000
