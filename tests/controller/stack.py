"""Real stacks for the docker tests of the autoscaler: a generated service image (``toolkit
new`` output built on the local base), an nginx gateway image, and compose files with two
services behind the gateway in one project."""

from __future__ import annotations

import functools
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from toolkit import _docker
from toolkit.scaffold import render_service

SERVICE_IMAGE = "tkt-autoscale-svc:test"
GATEWAY_IMAGE = "tkt-autoscale-gw:test"
SERVICE_PORT = 8000

_GATEWAY_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light \\
    && rm -rf /var/lib/apt/lists/*
CMD ["nginx", "-g", "daemon off;"]
"""


@functools.cache
def service_image(base_image: str) -> str:
    """Render a service with ``toolkit new``'s template and build it (once per session)."""
    with tempfile.TemporaryDirectory(prefix="tkt-autoscale-") as tmp:
        project = render_service("autoscale-probe", Path(tmp))
        _docker.build_image(project, tags=[SERVICE_IMAGE], build_args={"BASE_IMAGE": base_image})
    return SERVICE_IMAGE


@functools.cache
def gateway_image(base_image: str) -> str:
    """nginx from Debian on the local base image (no registry to pull nginx from)."""
    with tempfile.TemporaryDirectory(prefix="tkt-autoscale-gw-") as tmp:
        (Path(tmp) / "Dockerfile").write_text(_GATEWAY_DOCKERFILE)
        _docker.build_image(Path(tmp), tags=[GATEWAY_IMAGE], build_args={"BASE_IMAGE": base_image})
    return GATEWAY_IMAGE


def nginx_conf(routes: Mapping[str, str], resolver: str = "127.0.0.11") -> str:
    """A gateway routing ``/<route>/...`` to ``<host>:8000``, re-resolving names every second
    so replicas added or removed by the autoscaler get (or stop getting) traffic at once; a
    refused connection is retried on another replica."""
    locations = "\n".join(
        textwrap.dedent(
            f"""\
            location /{route}/ {{
                set $upstream_{index} {host};
                rewrite ^/{route}/(.*)$ /$1 break;
                proxy_pass http://$upstream_{index}:{SERVICE_PORT};
            }}"""
        )
        for index, (route, host) in enumerate(sorted(routes.items()))
    )
    return textwrap.dedent(
        """\
        worker_processes 1;
        error_log /dev/stderr warn;
        pid /tmp/nginx.pid;
        events { worker_connections 1024; }
        http {
            access_log off;
            resolver %s valid=1s ipv6=off;
            proxy_http_version 1.1;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 5;
            server {
                listen 8080;
        %s
            }
        }
        """
    ) % (resolver, textwrap.indent(locations, " " * 8))


def compose_stack(directory: Path, services: Sequence[str], *, gateway: bool = True) -> Path:
    """A compose file: each service from the service image, optionally the gateway in front."""
    lines = ["services:"]
    for svc in services:
        lines += [
            f"  {svc}:",
            f"    image: {SERVICE_IMAGE}",
            "    environment:",
            f'      SERVICE_NAME: "{svc}"',
            '      SHUTDOWN_DRAIN_S: "2"',
            "    stop_grace_period: 10s",
        ]
    if gateway:
        (directory / "nginx.conf").write_text(nginx_conf({svc: svc for svc in services}))
        lines += [
            "  gateway:",
            f"    image: {GATEWAY_IMAGE}",
            "    volumes:",
            "      - ./nginx.conf:/etc/nginx/nginx.conf:ro",
            "    ports:",
            '      - "127.0.0.1::8080"',
        ]
    path = directory / "compose.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path
