"""The parts of the stack around the services: gateway routes, requirements, the database.

Pure functions from the plan (and the monolith's files) to text; ``toolkit.split`` writes them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from toolkit._errors import SourceTreeError
from toolkit.split._code import CodeIndex
from toolkit.split._layout import Route, SplitPlan

#: Paths the platform answers in every service: never routed by the gateway to a service
#: (``/metrics`` above all: scrapers reach replicas directly, users never).
PLATFORM_PATHS = ("/healthz", "/readyz", "/metrics")

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+))?\}")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_DB_MODULES = ("sqlalchemy", "sqlmodel", "django.db", "psycopg", "psycopg2", "asyncpg", "peewee", "pony")
_PG_DRIVERS = ("psycopg", "psycopg2", "psycopg2-binary", "asyncpg", "pg8000")


@dataclass(frozen=True, slots=True)
class GatewayRule:
    pattern: str  # nginx map key: "~^(GET|HEAD) /orders/[^/]+/?$"
    service: str


def path_regex(path: str) -> str:
    """A FastAPI/Starlette path template as a regex body (``{id}`` one segment, ``{p:path}`` any).

    A trailing slash is optional, so ``/orders/`` reaches the service, which redirects it
    exactly as the monolith did.
    """
    out: list[str] = []
    pos = 0
    for match in _PARAM.finditer(path):
        out.append(re.escape(path[pos : match.start()]))
        out.append(".*" if match.group(2) == "path" else "[^/]+")
        pos = match.end()
    out.append(re.escape(path[pos:]))
    body = "".join(out)
    if body in ("", "/"):
        return "/"
    return body.rstrip("/") + "/?"


def _specificity(path: str) -> tuple[int, int, str]:
    literal = _PARAM.sub("", path)
    return (-len(literal.strip("/").split("/")) if literal.strip("/") else 0, -len(literal), path)


def gateway_rules(plan: SplitPlan) -> list[GatewayRule]:
    """The gateway's routing table: each route of the plan to its service, most specific first."""
    owners: dict[str, dict[str, set[str]]] = {}  # regex -> service -> methods
    for service in plan.services:
        for route in service.routes:
            if route.path == "/metrics":
                continue
            methods = owners.setdefault(path_regex(route.path), {}).setdefault(service.name, set())
            methods.update(_methods(route))
    paths = {path_regex(r.path): r.path for s in plan.services for r in s.routes}
    rules: list[GatewayRule] = []
    for regex in sorted(owners, key=lambda rx: _specificity(paths[rx])):
        by_service = owners[regex]
        if len(by_service) == 1:
            (owner,) = by_service
            rules.append(GatewayRule(f"~^[A-Z]+ {regex}$", owner))
            continue
        for owner in sorted(by_service):
            verbs = "|".join(sorted(by_service[owner]))
            rules.append(GatewayRule(f"~^({verbs}) {regex}$", owner))
    return rules


def _methods(route: Route) -> set[str]:
    methods = {m.upper() for m in route.methods}
    if "ANY" in methods:
        return {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
    if "GET" in methods:
        methods.add("HEAD")
    return methods


def blocked_platform_paths(plan: SplitPlan) -> list[str]:
    """Platform paths the gateway answers 404 for: ``/metrics`` always; ``/healthz`` and
    ``/readyz`` unless the monolith has a route there (that one goes to its service, where the
    platform endpoint answers it: SPLIT_REPORT.md says so)."""
    routed = {r.path for s in plan.services for r in s.routes}
    return [p for p in PLATFORM_PATHS if p not in routed or p == "/metrics"]


def shadowed_routes(plan: SplitPlan) -> list[tuple[str, Route]]:
    """Monolith routes whose path a platform endpoint takes over in the split services."""
    return [(s.name, r) for s in plan.services for r in s.routes if r.path in PLATFORM_PATHS]


def uses_database(index: CodeIndex, plan: SplitPlan) -> bool:
    """True when the monolith talks to a SQL database (the plan gives tables, or it imports an ORM/driver)."""
    if any(s.tables for s in plan.services):
        return True
    for module in index.modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import) and any(a.name.startswith(_DB_MODULES) for a in node.names):
                return True
            if (
                isinstance(node, ast.ImportFrom)
                and not node.level
                and (node.module or "").startswith(_DB_MODULES)
            ):
                return True
    return False


@dataclass(frozen=True, slots=True)
class Requirements:
    text: str
    notes: tuple[str, ...]  # unpinned lines, conflicts resolved, missing drivers


def _req_name(line: str) -> str | None:
    match = _REQUIREMENT_NAME.match(line)
    if match is None or line.lstrip().startswith(("-", "#")):
        return None
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def read_requirement_lines(path: Path, seen: frozenset[Path] = frozenset()) -> list[str]:
    """The requirement lines of a requirements file, following ``-r``/``--requirement`` includes."""
    path = path.resolve()
    if path in seen:
        return []
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        include = re.match(r"^(?:-r|--requirement)[= ]\s*(\S+)$", line)
        if include:
            lines += read_requirement_lines(path.parent / include.group(1), seen | {path})
        elif not line.startswith("-"):
            lines.append(line)
    return lines


def merge_requirements(monolith_root: Path, platform_lines: list[str], *, database: bool) -> Requirements:
    """One pinned requirements.txt for every service: the monolith's own pins, plus what the
    platform (the service template) and the remote-call client need that the monolith lacks.

    On a conflict the monolith's pin wins: its code is what runs. Unpinned monolith lines are
    kept as they are and reported.
    """
    source = monolith_root / "requirements.txt"
    if not source.is_file():
        raise SourceTreeError(
            f"no requirements.txt in {monolith_root}: toolkit split copies the monolith's pinned dependencies"
        )
    monolith = read_requirement_lines(source)
    notes: list[str] = []
    by_name: dict[str, str] = {}
    for line in monolith:
        name = _req_name(line)
        if name is None:
            continue
        if "==" not in line and "@" not in line:
            notes.append(f"requirements.txt: {line} is not pinned (kept as is)")
        by_name[name] = line
    for line in platform_lines:
        name = _req_name(line)
        if name is None:
            continue
        if name in by_name:
            if by_name[name].replace(" ", "") != line.replace(" ", ""):
                notes.append(f"{by_name[name]} from the monolith kept (the platform pins {line})")
            continue
        by_name[name] = line
    if database and not any(d in by_name for d in _PG_DRIVERS):
        notes.append(
            "no PostgreSQL driver in the monolith's requirements (psycopg, psycopg2, asyncpg): "
            "add one, the split stack runs PostgreSQL"
        )
    header = "# Generated by toolkit split: the monolith's pinned requirements, plus the platform's.\n"
    return Requirements(header + "".join(f"{by_name[n]}\n" for n in sorted(by_name)), tuple(notes))
