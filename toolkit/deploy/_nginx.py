"""Routes of a stack's nginx gateway, read from its configuration, for a Kubernetes Ingress.

In Kubernetes the gateway's job (a path prefix to a service) is an Ingress, and the nginx
configuration written for Docker cannot be reused there as is (it resolves names through
Docker's DNS at 127.0.0.11). So the routes are read from that configuration: every
``location`` whose ``proxy_pass`` names a service of the stack, directly, through ``set $var``,
or through an ``upstream`` block. What cannot be expressed as an Ingress path (regular
expressions, a rewritten URI) is reported rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
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
