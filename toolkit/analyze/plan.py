"""The decomposition plan: what ``toolkit analyze`` writes and ``toolkit split`` reads.

A plan is a YAML document meant to be read and edited by people, so loading it checks every
rule and fails with a ``ConfigError`` that names the exact place (``services.orders.modules[2]``)
instead of letting a bad edit surface later as a broken service. The schema (v1) is documented
in docs/plan.md:

    version: 1
    source: {root: ., packages: [shop], framework: fastapi, app: "shop.main:app"}
    services:
      orders:
        modules: [shop.orders, shop.orders.api, ...]
        routes: [{methods: [POST], path: /orders, handler: "shop.orders.api:create_order"}]
        tables: [order_lines, orders]
        uses_tables: []          # tables owned by another service that this one's code touches
    shared: {modules: [shop.common.db, ...]}
    entry: {modules: [shop.main]}   # composition roots (app object, root URLconf): in no service
    calls:
      - {caller: ..., callee: ..., from: orders, to: payments, count: 1, sites: [...]}

``dump_plan`` is deterministic (sorted services, modules, routes, tables, calls), so the same
analysis always produces byte-identical files and diffs of hand edits stay small.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit._errors import ConfigError
from toolkit._io import read_user_text

PLAN_VERSION = 1
FRAMEWORKS = ("fastapi", "flask", "django", "none")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "ANY"})
SHARED = "shared"
ENTRY = "entry"

_SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SYMBOL = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_<][\w.<>]*$")
_SITE = re.compile(r"^[^:]+:[0-9]+$")


@dataclass(frozen=True, slots=True)
class Source:
    """Where the monolith is. ``root`` is relative to the plan file's directory (or absolute)."""

    root: str
    packages: tuple[str, ...]
    framework: str
    app: str | None = None

    def resolve_root(self, plan_file: str | Path | None) -> Path:
        """The source root on disk, resolving a relative root against the plan file's folder."""
        root = Path(self.root)
        if not root.is_absolute() and plan_file is not None:
            root = Path(plan_file).resolve().parent / root
        return root.resolve()


@dataclass(frozen=True, slots=True, order=True)
class Route:
    """One HTTP entry point: ``path`` is the full path as the framework matches it."""

    path: str
    methods: tuple[str, ...]
    handler: str

    @property
    def handler_module(self) -> str:
        return self.handler.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    modules: tuple[str, ...]
    routes: tuple[Route, ...] = ()
    tables: tuple[str, ...] = ()
    uses_tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class Call:
    """Static call sites from one symbol to another that the plan puts in different services.

    ``count`` is the number of call sites; ``sites`` lists them as ``path:line`` (path relative
    to the source root).
    """

    from_service: str
    to_service: str
    caller: str
    callee: str
    count: int
    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    source: Source
    services: tuple[Service, ...]
    shared_modules: tuple[str, ...] = ()
    calls: tuple[Call, ...] = ()
    entry_modules: tuple[str, ...] = ()
    version: int = PLAN_VERSION
    file: str | None = field(default=None, compare=False)

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def module_owner(self) -> dict[str, str]:
        """module -> service name, with ``shared`` for the shared library and ``entry`` for
        composition roots."""
        owner = dict.fromkeys(self.shared_modules, SHARED)
        owner.update(dict.fromkeys(self.entry_modules, ENTRY))
        for svc in self.services:
            owner.update(dict.fromkeys(svc.modules, svc.name))
        return owner

    def table_owner(self) -> dict[str, str]:
        return {t: svc.name for svc in self.services for t in svc.tables}


# --------------------------------------------------------------------------- dumping


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in canonical order (the YAML and the ``--json`` form)."""
    source: dict[str, Any] = {
        "root": plan.source.root,
        "packages": list(plan.source.packages),
        "framework": plan.source.framework,
    }
    if plan.source.app:
        source["app"] = plan.source.app
    services: dict[str, Any] = {}
    for svc in sorted(plan.services, key=lambda s: s.name):
        entry: dict[str, Any] = {
            "modules": sorted(svc.modules),
            "routes": [
                {"methods": list(r.methods), "path": r.path, "handler": r.handler} for r in sorted(svc.routes)
            ],
            "tables": sorted(svc.tables),
        }
        if svc.uses_tables:
            entry["uses_tables"] = sorted(svc.uses_tables)
        services[svc.name] = entry
    return {
        "version": plan.version,
        "source": source,
        "services": services,
        "shared": {"modules": sorted(plan.shared_modules)},
        "entry": {"modules": sorted(plan.entry_modules)},
        "calls": [
            {
                "caller": c.caller,
                "callee": c.callee,
                "from": c.from_service,
                "to": c.to_service,
                "count": c.count,
                "sites": list(c.sites),
            }
            for c in sorted(plan.calls)
        ],
    }


def dump_plan(plan: Plan) -> str:
    """Deterministic YAML: the same plan always gives the same bytes."""
    header = (
        "# toolkit decomposition plan, schema v1 (docs/plan.md). Edit freely: `toolkit split` validates it.\n"
    )
    body = yaml.safe_dump(plan_to_dict(plan), sort_keys=False, default_flow_style=None, width=4096)
    return header + body


# --------------------------------------------------------------------------- loading


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; every rule violation is a ``ConfigError`` with a location."""
    plan_path = Path(path)
    text = read_user_text(plan_path, "plan file")
    return parse_plan(text, file=plan_path)


def parse_plan(text: str, *, file: str | Path | None = None) -> Plan:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"not valid YAML: {problem}", file=file, location=where) from None
    return _Reader(file).plan(doc)


class _Reader:
    """Walks the parsed YAML, raising at the first problem with its location."""

    def __init__(self, file: str | Path | None) -> None:
        self.file = str(file) if file is not None else None

    def fail(self, message: str, location: str | None) -> ConfigError:
        return ConfigError(message, file=self.file, location=location or None)

    def mapping(
        self, value: object, where: str, *, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"expected a mapping, got {_kind(value)}", where)
        allowed_keys = set(allowed)
        for key in value:
            if key not in allowed_keys:
                raise self.fail(
                    f"unknown key {key!r} (expected one of: {', '.join(sorted(allowed_keys))})",
                    _join(where, str(key)),
                )
        for key in required:
            if key not in value:
                raise self.fail(f"missing required key {key!r}", where)
        return dict(value)

    def string(
        self, value: object, where: str, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(f"expected a non-empty string, got {_kind(value)}", where)
        if pattern is not None and not pattern.match(value):
            raise self.fail(f"{value!r} is not a valid {what}", where)
        return value

    def strings(
        self, value: object, where: str, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(f"expected a list, got {_kind(value)}", where)
        items = tuple(self.string(v, f"{where}[{i}]", pattern, what) for i, v in enumerate(value))
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item in seen:
                raise self.fail(f"{item!r} is listed twice (also at [{seen[item]}])", f"{where}[{i}]")
            seen[item] = i
        return items

    def plan(self, doc: object) -> Plan:
        if doc is None:
            raise self.fail("the plan is empty", None)
        top = self.mapping(
            doc,
            "",
            allowed=("version", "source", "services", "shared", "entry", "calls"),
            required=("version", "services"),
        )
        version = top["version"]
        if version != PLAN_VERSION:
            raise self.fail(
                f"unsupported plan version {version!r} (this toolkit reads version {PLAN_VERSION})", "version"
            )
        source = self.source(top.get("source"))
        services = self.services(top["services"])
        shared_doc = self.mapping(top.get("shared") or {}, "shared", allowed=("modules",))
        shared = self.strings(shared_doc.get("modules"), "shared.modules", _MODULE_NAME, "module name")
        entry_doc = self.mapping(top.get("entry") or {}, "entry", allowed=("modules",))
        entry = self.strings(entry_doc.get("modules"), "entry.modules", _MODULE_NAME, "module name")
        for i, module in enumerate(entry):
            if module in shared:
                raise self.fail(f"module {module} is also in the shared library", f"entry.modules[{i}]")
        self.check_modules(services, (*shared, *entry), set(entry))
        self.check_routes(services, shared)
        self.check_tables(services)
        calls = self.calls(top.get("calls"), services)
        return Plan(
            source=source,
            services=services,
            shared_modules=shared,
            calls=calls,
            entry_modules=entry,
            version=PLAN_VERSION,
            file=self.file,
        )

    def source(self, value: object) -> Source:
        if value is None:
            return Source(root=".", packages=(), framework="none")
        doc = self.mapping(
            value, "source", allowed=("root", "packages", "framework", "app"), required=("root",)
        )
        framework = doc.get("framework", "none")
        if framework not in FRAMEWORKS:
            raise self.fail(
                f"unknown framework {framework!r} (expected one of: {', '.join(FRAMEWORKS)})",
                "source.framework",
            )
        app = doc.get("app")
        return Source(
            root=self.string(doc["root"], "source.root"),
            packages=self.strings(doc.get("packages"), "source.packages", _MODULE_NAME, "package name"),
            framework=framework,
            app=self.string(app, "source.app", _SYMBOL, "'module:attribute' reference")
            if app is not None
            else None,
        )

    def services(self, value: object) -> tuple[Service, ...]:
        if not isinstance(value, Mapping) or not value:
            raise self.fail("expected a non-empty mapping of service name -> service", "services")
        result = []
        for name, body in value.items():
            where = f"services.{name}"
            if not isinstance(name, str) or not _SERVICE_NAME.match(name):
                raise self.fail(
                    f"service name {name!r} must be a DNS-1123 label (lowercase letters, digits, '-')", where
                )
            if name in (SHARED, ENTRY):
                raise self.fail(f"{name!r} is reserved (use the top-level '{name}' section)", where)
            doc = self.mapping(
                body, where, allowed=("modules", "routes", "tables", "uses_tables"), required=("modules",)
            )
            modules = self.strings(doc["modules"], f"{where}.modules", _MODULE_NAME, "module name")
            if not modules:
                raise self.fail("a service needs at least one module", f"{where}.modules")
            result.append(
                Service(
                    name=name,
                    modules=modules,
                    routes=self.routes(doc.get("routes"), f"{where}.routes"),
                    tables=self.strings(doc.get("tables"), f"{where}.tables"),
                    uses_tables=self.strings(doc.get("uses_tables"), f"{where}.uses_tables"),
                )
            )
        return tuple(result)

    def routes(self, value: object, where: str) -> tuple[Route, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(f"expected a list, got {_kind(value)}", where)
        routes = []
        for i, item in enumerate(value):
            at = f"{where}[{i}]"
            doc = self.mapping(
                item, at, allowed=("methods", "path", "handler"), required=("methods", "path", "handler")
            )
            methods = self.strings(doc["methods"], f"{at}.methods")
            if not methods:
                raise self.fail("a route needs at least one method", f"{at}.methods")
            for j, method in enumerate(methods):
                if method.upper() not in HTTP_METHODS:
                    raise self.fail(f"unknown HTTP method {method!r}", f"{at}.methods[{j}]")
            path = self.string(doc["path"], f"{at}.path")
            if not path.startswith("/"):
                raise self.fail(f"route path {path!r} must start with '/'", f"{at}.path")
            handler = self.string(doc["handler"], f"{at}.handler", _SYMBOL, "'module:function' reference")
            routes.append(Route(path=path, methods=tuple(m.upper() for m in methods), handler=handler))
        return tuple(routes)

    def check_modules(
        self, services: tuple[Service, ...], elsewhere: tuple[str, ...], entry: set[str]
    ) -> None:
        owner: dict[str, str] = {m: ENTRY if m in entry else SHARED for m in elsewhere}
        places = {SHARED: "the shared library", ENTRY: "the entry modules"}
        for svc in services:
            for i, module in enumerate(svc.modules):
                if module in owner:
                    other = places.get(owner[module], f"service {owner[module]!r}")
                    raise self.fail(
                        f"module {module} is also in {other}", f"services.{svc.name}.modules[{i}]"
                    )
                owner[module] = svc.name

    def check_routes(self, services: tuple[Service, ...], shared: tuple[str, ...]) -> None:
        seen: dict[tuple[str, str], str] = {}
        for svc in services:
            for i, route in enumerate(svc.routes):
                at = f"services.{svc.name}.routes[{i}]"
                if route.handler_module not in svc.modules:
                    where = "the shared library" if route.handler_module in shared else "another place"
                    raise self.fail(
                        f"handler module {route.handler_module} is in {where}, not in service {svc.name!r}",
                        f"{at}.handler",
                    )
                for method in route.methods:
                    key = (method, route.path)
                    if key in seen:
                        raise self.fail(
                            f"route {method} {route.path} is also in service {seen[key]!r}"
                            " (a route belongs to exactly one service)",
                            at,
                        )
                    seen[key] = svc.name

    def check_tables(self, services: tuple[Service, ...]) -> None:
        owner: dict[str, str] = {}
        for svc in services:
            for i, table in enumerate(svc.tables):
                if table in owner:
                    raise self.fail(
                        f"table {table} is also owned by service {owner[table]!r}: a table has one owner "
                        f"(list it under uses_tables of the other)",
                        f"services.{svc.name}.tables[{i}]",
                    )
                owner[table] = svc.name
        for svc in services:
            for i, table in enumerate(svc.uses_tables):
                at = f"services.{svc.name}.uses_tables[{i}]"
                if table not in owner:
                    raise self.fail(f"table {table} is not owned by any service", at)
                if owner[table] == svc.name:
                    raise self.fail(f"table {table} is owned by this service already", at)

    def calls(self, value: object, services: tuple[Service, ...]) -> tuple[Call, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(f"expected a list, got {_kind(value)}", "calls")
        modules = {svc.name: set(svc.modules) for svc in services}
        calls = []
        for i, item in enumerate(value):
            at = f"calls[{i}]"
            doc = self.mapping(
                item,
                at,
                allowed=("caller", "callee", "from", "to", "count", "sites"),
                required=("caller", "callee", "from", "to"),
            )
            caller = self.string(doc["caller"], f"{at}.caller", _SYMBOL, "'module:function' reference")
            callee = self.string(doc["callee"], f"{at}.callee", _SYMBOL, "'module:function' reference")
            ends = {}
            for key, symbol in (("from", caller), ("to", callee)):
                name = self.string(doc[key], f"{at}.{key}")
                if name not in modules:
                    raise self.fail(f"unknown service {name!r}", f"{at}.{key}")
                module = symbol.partition(":")[0]
                if module not in modules[name]:
                    raise self.fail(
                        f"{symbol} is not in service {name!r}",
                        f"{at}.{'caller' if key == 'from' else 'callee'}",
                    )
                ends[key] = name
            if ends["from"] == ends["to"]:
                raise self.fail("caller and callee are in the same service: not a cross-service call", at)
            sites = self.strings(doc.get("sites"), f"{at}.sites", _SITE, "'path:line' site")
            count = doc.get("count", len(sites) or 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise self.fail(f"count must be a positive integer, got {count!r}", f"{at}.count")
            if sites and len(sites) != count:
                raise self.fail(f"count is {count} but {len(sites)} sites are listed", f"{at}.count")
            calls.append(Call(ends["from"], ends["to"], caller, callee, count, sites))
        return tuple(calls)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
