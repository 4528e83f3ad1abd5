"""Where every module goes: per service, the files it keeps and the modules it reaches remotely.

For each service the closure starts from its own modules, the shared library and the app
module, and follows imports. An import of a module another service owns is where the split
happens: if every name taken from it can be served over HTTP (``toolkit.split._remote``), the
caller gets a proxy module in its place and the owner exposes those functions; otherwise the
caller keeps a local copy (and its imports), and the reason goes to SPLIT_REPORT.md. The app
module itself never pulls in other services: their router imports are pruned from it instead.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from toolkit._errors import ConfigError
from toolkit.analyze.plan import Plan
from toolkit.split._code import CodeIndex, Module, import_target
from toolkit.split._prune import bound_name, registration_only
from toolkit.split._remote import RemoteFunction, Verdict, judge


@dataclass(frozen=True, slots=True)
class Route:
    methods: tuple[str, ...]
    path: str
    handler: str  # "module:qualname"


@dataclass(frozen=True, slots=True)
class ServicePlan:
    name: str
    modules: tuple[str, ...]
    routes: tuple[Route, ...]
    tables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """The parts of a ``toolkit.analyze`` Plan that splitting reads (the plan format is theirs)."""

    packages: tuple[str, ...]
    framework: str
    app: str  # "module:attribute"
    services: tuple[ServicePlan, ...]
    shared: tuple[str, ...]

    @property
    def app_module(self) -> str:
        return self.app.partition(":")[0]

    def owner(self, module: str) -> str | None:
        """The service owning ``module`` (or its nearest listed package); None: shared/unowned."""
        candidates = [module] + [module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)]
        for name in candidates:
            if name in self.shared:
                return None
            for service in self.services:
                if name in service.modules:
                    return service.name
        return None


def split_plan_from(plan: Plan) -> SplitPlan:
    """The parts of an analyzer plan that splitting reads (the plan format stays the analyzer's)."""
    if not plan.source.app:
        raise ConfigError(
            "the plan names no app (source.app, like 'shop.main:app'): split needs the app to wrap",
            file=plan.file,
            location="source.app",
        )
    if plan.source.framework != "fastapi":
        raise ConfigError(
            f"framework {plan.source.framework!r} cannot be split yet: toolkit split generates FastAPI "
            "(and Starlette) services; see docs/commands/split.md",
            file=plan.file,
            location="source.framework",
        )
    services = tuple(
        ServicePlan(
            name=svc.name,
            modules=tuple(svc.modules),
            routes=tuple(Route(tuple(r.methods), r.path, r.handler) for r in svc.routes),
            tables=tuple(svc.tables),
        )
        for svc in sorted(plan.services, key=lambda s: s.name)
    )
    return SplitPlan(
        packages=tuple(plan.source.packages),
        framework=plan.source.framework,
        app=plan.source.app,
        services=services,
        shared=tuple(plan.shared_modules),
    )


@dataclass(slots=True)
class Proxy:
    """A module replaced, in one caller service, by HTTP calls to its owner."""

    module: str
    peer: str
    functions: tuple[RemoteFunction, ...]
    constants: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Finding:
    """A call that could not be made remote: a local copy was kept instead."""

    service: str
    module: str
    owner: str
    importer_site: str  # "path:line" of the import in the caller
    reasons: tuple[str, ...]  # "path:line: text"


@dataclass(slots=True)
class ServiceLayout:
    name: str
    local: list[str]
    proxies: dict[str, Proxy] = field(default_factory=dict)
    foreign_copies: dict[str, str] = field(default_factory=dict)  # module -> owner


@dataclass(slots=True)
class Layout:
    services: dict[str, ServiceLayout]
    exposed: dict[str, list[tuple[str, str]]]  # service -> [(module, function)]
    findings: list[Finding]


def plan_layout(index: CodeIndex, plan: SplitPlan) -> Layout:
    """Decide, for every service, which modules it copies and which it reaches remotely."""
    for service in plan.services:
        for name in service.modules:
            if name not in index.modules:
                raise ConfigError(
                    f"module {name} is not in the source tree", location=f"services.{service.name}"
                )
    if plan.app_module not in index.modules:
        raise ConfigError(f"app module {plan.app_module} is not in the source tree", location="source.app")
    cache: dict[tuple[str, frozenset[str]], Verdict] = {}

    def verdicts(module: str, names: frozenset[str]) -> Verdict:
        key = (module, names)
        if key not in cache:
            cache[key] = judge(index.modules[module], names)
        return cache[key]

    services: dict[str, ServiceLayout] = {}
    exposed: dict[str, set[tuple[str, str]]] = {s.name: set() for s in plan.services}
    findings: list[Finding] = []
    for service in plan.services:
        layout = _service_layout(index, plan, service.name, findings, verdicts)
        services[service.name] = layout
        for proxy in layout.proxies.values():
            exposed[proxy.peer].update((proxy.module, f.name) for f in proxy.functions)
    return Layout(services, {k: sorted(v) for k, v in exposed.items()}, findings)


def registration_targets(index: CodeIndex, app_module: Module) -> frozenset[str]:
    """Modules the app module imports only to register their routes (every alias importing
    them is used solely in ``include_router``-like calls): another service's such module is
    left out of a service, while any other import of it is served like any import."""
    names = registration_only(app_module.tree)
    verdicts: dict[str, bool] = {}
    for node in ast.walk(app_module.tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                target = import_target(index, app_module, node, alias)
                if target is not None:
                    name = bound_name(alias)
                    only = name is not None and name in names
                    verdicts[target] = verdicts.get(target, True) and only
    return frozenset(t for t, only in verdicts.items() if only)


def _service_layout(
    index: CodeIndex,
    plan: SplitPlan,
    service: str,
    findings: list[Finding],
    verdicts: Callable[[str, frozenset[str]], Verdict],
) -> ServiceLayout:
    roots = [m for s in plan.services if s.name == service for m in s.modules]
    roots += [m for m in plan.shared if m in index.modules]
    roots.append(plan.app_module)
    registrations = registration_targets(index, index.modules[plan.app_module])
    local: set[str] = set()
    pending = list(roots)
    # foreign module -> [(importer module, names, line)]
    foreign: dict[str, list[tuple[Module, frozenset[str], int]]] = {}
    copies: dict[str, str] = {}
    while True:
        while pending:
            name = pending.pop()
            if name in local or name not in index.modules:
                continue
            local.add(name)
            pending.extend(index.parents(name))
            module = index.modules[name]
            for use in module.uses:
                owner = plan.owner(use.target)
                if owner is None or owner == service or use.target in local:
                    pending.append(use.target)
                elif name != plan.app_module or use.target not in registrations:
                    foreign.setdefault(use.target, []).append((module, use.names, use.lineno))
        # Any foreign module that cannot be served remotely becomes a local copy, which may in
        # turn import more: repeat until nothing changes.
        changed = False
        for target in sorted(foreign):
            if target in local:
                continue
            verdict = verdicts(target, frozenset().union(*(n for _, n, _ in foreign[target])))
            if not verdict.remotable:
                owner = plan.owner(target) or "?"
                importer, _, lineno = foreign[target][0]
                rel = index.modules[target].rel_path
                findings.append(
                    Finding(
                        service=service,
                        module=target,
                        owner=owner,
                        importer_site=f"{importer.rel_path}:{lineno}",
                        reasons=tuple(f"{rel}:{line}: {text}" for line, text in verdict.reasons),
                    )
                )
                copies[target] = owner
                pending.append(target)
                changed = True
            # Python imports a proxied module's packages too: they are kept (unchanged).
            for parent in index.parents(target):
                if parent not in local and parent not in pending:
                    pending.append(parent)
                    changed = True
        if not changed:
            break
    proxies: dict[str, Proxy] = {}
    for target in sorted(set(foreign) - local):
        names = frozenset().union(*(n for _, n, _ in foreign[target]))
        verdict = verdicts(target, names)
        proxies[target] = Proxy(target, plan.owner(target) or "?", verdict.functions, verdict.constants)
    return ServiceLayout(service, sorted(local), proxies, copies)
