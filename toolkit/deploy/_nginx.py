"""Routes of a stack's gateway, for a Kubernetes Ingress: from ``toolkit split``'s manifest
(``split.json``) when there is one, else read from the gateway's nginx configuration.

In Kubernetes the gateway's job (a path prefix to a service) is an Ingress, and the nginx
configuration written for Docker cannot be reused there as is (it resolves names through
Docker's DNS at 127.0.0.11). So the routes are read from that configuration: every
``location`` whose ``proxy_pass`` names a service of the stack, directly, through ``set $var``,
or through an ``upstream`` block. What cannot be expressed as an Ingress path (regular
expressions, a rewritten URI) is reported rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    exact: bool
    service: str
    port: int


_LOCATION_RE = re.compile(r"\blocation\s+(=|~\*?|\^~)?\s*(\S+)\s*\{")
_UPSTREAM_RE = re.compile(r"\bupstream\s+([\w.-]+)\s*\{([^}]*)\}")
_SERVER_RE = re.compile(r"\bserver\s+([\w.-]+)(?::(\d+))?")
_SET_RE = re.compile(r"\bset\s+\$(\w+)\s+\"?([^\";\s]+)\"?\s*;")
_PROXY_RE = re.compile(r"\bproxy_pass\s+([^;\s]+)\s*;")


def _block(text: str, open_brace: int) -> str:
    """The text between the ``{`` at ``open_brace`` and its matching ``}``."""
    depth = 0
    for index in range(open_brace, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1 : index]
    return text[open_brace + 1 :]


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def parse_routes(text: str, services: set[str]) -> tuple[list[Route], list[str]]:
    """(routes to services of the stack, problems) from one nginx configuration text."""
    text = _strip_comments(text)
    upstreams: dict[str, tuple[str, int | None]] = {}
    for name, body in _UPSTREAM_RE.findall(text):
        server = _SERVER_RE.search(body)
        if server:
            upstreams[name] = (server.group(1), int(server.group(2)) if server.group(2) else None)
    variables = dict(_SET_RE.findall(text))
    routes: list[Route] = []
    problems: list[str] = []
    for match in _LOCATION_RE.finditer(text):
        modifier, path = match.group(1) or "", match.group(2)
        body = _block(text, match.end() - 1)
        variables_here = {**variables, **dict(_SET_RE.findall(body))}
        proxy = _PROXY_RE.search(body)
        if proxy is None:
            continue  # answered by nginx itself (health, redirects): nothing to route
        target = proxy.group(1)
        if target.startswith("$"):
            target = variables_here.get(target[1:], target)
        url = urlsplit(target if "://" in target else f"http://{target}")
        host, port = url.hostname or "", url.port
        if host in upstreams:
            host, port = upstreams[host][0], upstreams[host][1] or port
        if modifier.startswith("~"):
            problems.append(f"location {modifier} {path}: regular expressions cannot become an Ingress path")
            continue
        if host not in services:
            problems.append(f"location {path}: proxy_pass {target} is not a service of the stack")
            continue
        if url.path not in ("", "/") and url.path != path:
            problems.append(f"location {path}: proxy_pass rewrites the URI to {url.path}; routed unchanged")
        routes.append(Route(path=path, exact=modifier == "=", service=host, port=port or 80))
    return routes, problems


def gateway_routes(context: Path, services: set[str]) -> tuple[list[Route], list[str]]:
    """Routes from every nginx configuration file in a gateway's build context."""
    routes: list[Route] = []
    problems: list[str] = []
    for path in sorted(context.rglob("*")):
        if path.is_file() and (path.suffix == ".conf" or path.name.endswith(".conf.template")):
            found, issues = parse_routes(path.read_text(encoding="utf-8", errors="replace"), services)
            routes += found
            problems += [f"{path.name}: {issue}" for issue in issues]
    unique = {(r.path, r.exact): r for r in routes}
    return sorted(unique.values(), key=lambda r: r.path), problems


def manifest_routes(manifest: Mapping[str, Any], services: set[str]) -> tuple[list[Route], list[str]]:
    """Ingress paths from the routes ``toolkit split`` recorded for each service.

    An Ingress path cannot hold parameters (``/orders/{id}/cancel``), so a route is reduced to
    its static prefix. When every route under a first segment (``/orders``) belongs to one
    service, that segment becomes one ``Prefix`` path; otherwise each route gets its own path
    (``Exact`` when it has no parameter), and a path split by method between services (which
    an Ingress cannot express) is reported and sent to one of them.
    """
    problems: list[str] = []
    owners: dict[str, set[str]] = {}
    routes_of: dict[str, list[tuple[str, str]]] = {}  # first segment -> (path, service)
    ports: dict[str, int] = {}
    for name, spec in sorted((manifest.get("services") or {}).items()):
        if name not in services:
            problems.append(f"split.json names {name!r}, which is not a service of the stack")
            continue
        ports[name] = int(spec.get("port") or 8000)
        for route in spec.get("routes") or []:
            path = str(route["path"])
            segment = "/" + path.strip("/").split("/", 1)[0] if path.strip("/") else "/"
            owners.setdefault(segment, set()).add(name)
            routes_of.setdefault(segment, []).append((path, name))
    routes: list[Route] = []
    for segment in sorted(owners):
        if len(owners[segment]) == 1 and "{" not in segment:
            (service,) = owners[segment]
            routes.append(Route(segment, False, service, ports[service]))
            continue
        by_path: dict[tuple[str, bool], set[str]] = {}
        for path, service in routes_of[segment]:
            static, brace, _ = path.partition("{")
            key = (static.rstrip("/") or "/", not brace)
            by_path.setdefault(key, set()).add(service)
        for (static, exact), names in sorted(by_path.items()):
            chosen = sorted(names)[0]
            if len(names) > 1:
                problems.append(
                    f"{static} is split by method between {', '.join(sorted(names))}: sent to {chosen}"
                )
            routes.append(Route(static, exact, chosen, ports[chosen]))
    return routes, problems
