"""From per-file facts to one program model: module graph, symbol edges, routes, tables.

Names are resolved the way Python would bind them, without running anything: a use of
``catalog.get_price`` in a module that did ``from shop.catalog import service as catalog``
becomes an edge to ``shop.catalog.service:get_price``; a name re-exported by a package
``__init__`` is followed to where it is defined (a few hops at most). What cannot be resolved
statically (dynamic imports, star imports, computed prefixes) is listed as a ``Problem``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from toolkit.analyze._scan import Expr, ModuleFacts

HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options")
_ROUTE_DECORATORS = frozenset({*HTTP_VERBS, "route", "api_route", "websocket"})
_WRITE_VERBS = frozenset(
    {
        "create",
        "bulk_create",
        "update",
        "bulk_update",
        "delete",
        "save",
        "get_or_create",
        "update_or_create",
        "add",
        "add_all",
        "merge",
        "insert",
    }
)
_DJANGO_MODEL_BASES = ("django.db.models.Model", "django.db.models.base.Model")
_FRAMEWORK_PACKAGES = {"fastapi": "fastapi", "flask": "flask", "django": "django"}
_MAX_HOPS = 6


@dataclass(frozen=True, slots=True)
class Route:
    methods: tuple[str, ...]
    path: str
    handler: str  # module:qualname
    module: str  # where the route is declared (decorator or URLconf)
    line: int

    @property
    def handler_module(self) -> str:
        return self.handler.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Model:
    symbol: str  # module:qualname
    table: str
    kind: str  # sqlalchemy | django | table
    line: int

    @property
    def module(self) -> str:
        return self.symbol.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # syntax-error | undecodable | dynamic-import | star-import | unresolved
    rel_path: str
    line: int
    detail: str


@dataclass(slots=True)
class Program:
    """Everything the partition and the metrics need, keyed by dotted module name."""

    modules: dict[str, ModuleFacts]
    import_edges: Counter[tuple[str, str]] = field(default_factory=Counter)
    ref_edges: Counter[tuple[str, str]] = field(default_factory=Counter)
    calls: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (caller, callee) -> sites
    routes: list[Route] = field(default_factory=list)
    models: list[Model] = field(default_factory=list)
    table_access: dict[str, Counter[str]] = field(default_factory=dict)  # table -> module -> refs
    table_writes: dict[str, Counter[str]] = field(default_factory=dict)
    external: dict[str, set[str]] = field(default_factory=dict)  # module -> third-party packages
    problems: list[Problem] = field(default_factory=list)
    framework: str = "none"
    app: str | None = None
    settings_module: str | None = None
    installed_apps: tuple[str, ...] = ()
    entry_modules: set[str] = field(default_factory=set)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.modules.values())


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _Resolver:
    def __init__(self, facts: Iterable[ModuleFacts]) -> None:
        self.facts = {f.module: f for f in facts}
        self.packages = {m.split(".")[0] for m in self.facts}
        self.program = Program(modules=self.facts)
        self._memo: dict[str, tuple[str, str] | None] = {}
        self.constants = self._string_constants()
        self.tables_of: dict[str, str] = {}  # model symbol -> table, filled by find_models

    # ------------------------------------------------------------------ names
    def module_prefix(self, dotted: str) -> tuple[str, str] | None:
        """Split ``a.b.c.d`` into (longest internal module, remaining attribute path)."""
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            candidate = ".".join(parts[:i])
            if candidate in self.facts:
                return candidate, ".".join(parts[i:])
        return None

    def resolve(self, dotted: str) -> tuple[str, str] | None:
        """(module, top-level symbol or '') where ``dotted`` is defined, following re-exports."""
        if dotted in self._memo:
            return self._memo[dotted]
        self._memo[dotted] = None  # cycle guard
        result = None
        split = self.module_prefix(dotted)
        hops = 0
        while split is not None and hops < _MAX_HOPS:
            module, rest = split
            if not rest:
                result = (module, "")
                break
            head, _, tail = rest.partition(".")
            facts = self.facts[module]
            if head in facts.definitions:
                result = (module, head)
                break
            target = facts.bindings.get(head)
            if target is None:
                result = (module, head)  # defined dynamically or by star import: keep the name
                break
            split = self.module_prefix(target + ("." + tail if tail else ""))
            hops += 1
            if split is None:
                result = None
        self._memo[dotted] = result
        return result

    def absolute(self, facts: ModuleFacts, chain: str) -> str | None:
        head, _, tail = chain.partition(".")
        if head in facts.definitions:
            return f"{facts.module}.{chain}"
        bound = facts.bindings.get(head)
        if bound is None:
            return None
        return bound + ("." + tail if tail else "")

    def resolve_chain(self, facts: ModuleFacts, chain: str) -> tuple[str, str] | None:
        dotted = self.absolute(facts, chain)
        return self.resolve(dotted) if dotted else None

    def external_name(self, facts: ModuleFacts, chain: str) -> str | None:
        """The absolute dotted name of a chain that points outside the monolith (``fastapi.APIRouter``)."""
        dotted = self.absolute(facts, chain)
        if dotted is None or dotted.split(".")[0] in self.packages:
            return None
        return dotted

    # ------------------------------------------------------------------ constants
    def _string_constants(self) -> dict[str, set[str]]:
        """Module-level ``NAME = "text"`` anywhere (used to resolve ``app.config["NAME"]``)."""
        found: dict[str, set[str]] = defaultdict(set)
        for facts in self.facts.values():
            for name, op, expr, _line in facts.values:
                if op == "=" and expr is not None and expr[0] == "s":
                    found[name].add(expr[1])
            for cls in facts.classes:  # Flask-style config classes: ``class Default: PREFIX = "/x"``
                for name, value in cls.attrs.items():
                    if name.isupper() and isinstance(value, str):
                        found[name].add(value)
        return found

    def module_env(self, module: str, _seen: set[str] | None = None) -> dict[str, list[Any]]:
        """Evaluate a module's top-level string and list-of-string values (settings, URLconfs)."""
        seen = _seen if _seen is not None else set()
        if module in seen or module not in self.facts:
            return {}
        seen.add(module)
        facts = self.facts[module]
        env: dict[str, Any] = {}
        for target, _line in facts.star_imports:
            split = self.module_prefix(target)
            if split and not split[1]:
                env.update(self.module_env(split[0], seen))
        for name, op, expr, _line in sorted(facts.values, key=lambda v: v[3]):
            value = self.evaluate(facts, expr, env, seen)
            if op == "=":
                env[name] = value
            elif isinstance(env.get(name), list):
                if op in ("+=", "extend") and isinstance(value, list):
                    env[name] = env[name] + value
                elif op == "append":
                    env[name] = [*env[name], value if value is not None else expr]
        return env

    def evaluate(self, facts: ModuleFacts, expr: Expr, env: dict[str, Any], seen: set[str]) -> Any:
        """A string, a list (of evaluated items, or raw ``Expr`` for calls), or None."""
        if expr is None:
            return None
        kind = expr[0]
        if kind == "s":
            return expr[1]
        if kind == "l":
            out: list[Any] = []
            for item in expr[1]:
                value = self.evaluate(facts, item, env, seen)
                out.append(value if value is not None else item)
            return out
        if kind == "+":
            left = self.evaluate(facts, expr[1], env, seen)
            right = self.evaluate(facts, expr[2], env, seen)
            if isinstance(left, list) and isinstance(right, list):
                return left + right
            if isinstance(left, str) and isinstance(right, str):
                return left + right
            return left if isinstance(left, list) else right if isinstance(right, list) else None
        if kind == "n":
            chain = expr[1]
            if chain in env:
                return env[chain]
            dotted = self.absolute(facts, chain)
            if dotted:
                split = self.module_prefix(dotted)
                if split and split[1] and "." not in split[1]:
                    other = self.module_env(split[0], set(seen))
                    return other.get(split[1])
            return None
        return None

    def prefix_text(self, facts: ModuleFacts, expr: Expr) -> tuple[str, bool]:
        """Render a route prefix; unknown parts become ``{NAME}`` and the flag turns False."""
        if expr is None:
            return "{?}", False
        kind = expr[0]
        if kind == "s":
            return str(expr[1]), True
        if kind == "k":
            values = self.constants.get(expr[2], set())
            if len(values) == 1:
                return next(iter(values)), True
            return "{" + expr[2] + "}", False
        if kind == "+":
            left, ok_left = self.prefix_text(facts, expr[1])
            right, ok_right = self.prefix_text(facts, expr[2])
            return left + right, ok_left and ok_right
        if kind == "n":
            value = self.evaluate(facts, expr, {}, set())
            if isinstance(value, str):
                return value, True
            return "{" + expr[1] + "}", False
        return "{?}", False

    # ------------------------------------------------------------------ graph
    def build_graph(self) -> None:
        program = self.program
        for module, facts in self.facts.items():
            if facts.error:
                kind = "syntax-error" if facts.error.startswith("syntax") else "undecodable"
                program.problems.append(Problem(kind, facts.rel_path, 0, facts.error))
                continue
            externals: set[str] = set()
            for target, _line, _scope in facts.imports:
                split = self.module_prefix(target)
                if split is None:
                    top = target.split(".")[0]
                    if top not in self.packages:
                        externals.add(top)
                    continue
                if split[0] != module:
                    program.import_edges[(module, split[0])] += 1
            if externals:
                program.external[module] = externals
            for target, line in facts.star_imports:
                program.problems.append(
                    Problem("star-import", facts.rel_path, line, f"from {target} import *")
                )
            for named, line in facts.dynamic_imports:
                detail = f"dynamic import of {named!r}" if named else "dynamic import of a computed name"
                program.problems.append(Problem("dynamic-import", facts.rel_path, line, detail))
                if named:
                    split = self.module_prefix(named)
                    if split and split[0] != module:
                        program.import_edges[(module, split[0])] += 1

    def link_uses(self) -> None:
        """One pass over every recorded use: symbol edges, call sites and table accesses
        (after ``find_models``, so a use of a model class counts for its table)."""
        program = self.program
        tables_of = self.tables_of
        access: dict[str, Counter[str]] = defaultdict(Counter)
        writes: dict[str, Counter[str]] = defaultdict(Counter)
        for model in program.models:
            access[model.table][model.module] += 1
        calls = program.calls
        for module, facts in self.facts.items():
            for scope, chain, line, is_call, arg_of in facts.refs:
                target = self.resolve_chain(facts, chain)
                if target is None:
                    continue
                if target[1]:
                    table = tables_of.get(f"{target[0]}:{target[1]}")
                    if table is not None:
                        access[table][module] += 1
                        last = chain.rsplit(".", 1)[-1]
                        if (is_call and (last in _WRITE_VERBS or "." not in chain)) or arg_of in _WRITE_VERBS:
                            writes[table][module] += 1
                if target[0] == module:
                    continue
                program.ref_edges[(module, target[0])] += 1
                if is_call and target[1]:
                    key = (f"{module}:{scope}", f"{target[0]}:{target[1]}")
                    calls.setdefault(key, []).append(f"{facts.rel_path}:{line}")
        program.table_access = dict(access)
        program.table_writes = dict(writes)

    # ------------------------------------------------------------------ models and tables
    def find_models(self) -> None:
        program = self.program
        classes = {
            f"{m}:{c.qualname}": (self.facts[m], c)
            for m, f in self.facts.items()
            for c in f.classes
            if "." not in c.qualname
        }
        app_labels = self._django_app_labels()
        kinds: dict[str, str | None] = {}

        def kind_of(symbol: str, depth: int = 0) -> str | None:
            """'sqlalchemy' | 'django' | 'django-abstract' | None, following internal bases."""
            if symbol in kinds:
                return kinds[symbol]
            kinds[symbol] = None
            if depth > 12 or symbol not in classes:
                return None
            facts, cls = classes[symbol]
            result: str | None = None
            for base in cls.bases:
                dotted = self.absolute(facts, base) or base
                resolved = self.resolve(dotted)
                last = dotted.rsplit(".", 1)[-1]
                if (
                    dotted in _DJANGO_MODEL_BASES
                    or (
                        resolved is not None
                        and resolved[1] == "Model"
                        and resolved[0].startswith("django.db.models")
                    )
                    or (dotted.startswith("django.contrib.") and last.startswith("Abstract"))
                ):
                    result = "django"
                elif resolved is not None and resolved[1] and f"{resolved[0]}:{resolved[1]}" in classes:
                    inherited = kind_of(f"{resolved[0]}:{resolved[1]}", depth + 1)
                    if inherited is not None:
                        result = "django" if inherited.startswith("django") else inherited
                elif base.endswith(".Model") or base == "Model":
                    result = "django" if "django" in dotted.split(".")[:1] else "sqlalchemy"
                if result:
                    break
            if result is None and "__tablename__" in cls.attrs:
                result = "sqlalchemy"
            if result == "django" and cls.meta.get("abstract") is True:
                result = "django-abstract"
            kinds[symbol] = result
            return result

        tables_of: dict[str, str] = {}
        for symbol, (facts, cls) in sorted(classes.items()):
            kind = kind_of(symbol)
            if kind is None or kind == "django-abstract":
                continue
            table: str | None
            if kind == "sqlalchemy":
                raw = cls.attrs.get("__tablename__")
                table = raw if isinstance(raw, str) else None
                if table is None and not any("Mixin" in b for b in cls.bases[:1]):
                    table = _snake(cls.qualname) if any(b.endswith("Model") for b in cls.bases) else None
            else:
                if cls.meta.get("proxy") is True:
                    table = None
                else:
                    raw = cls.meta.get("db_table")
                    label = cls.meta.get("app_label") or app_labels(facts.module)
                    table = raw if isinstance(raw, str) else f"{label}_{cls.qualname.lower()}"
            if table is None:
                continue
            tables_of[symbol] = table
            program.models.append(Model(symbol, table, kind, cls.line))
        # Table("name", metadata, ...) assigned to a module-level name.
        for module, facts in self.facts.items():
            for scope, chain, args, _kwargs, line, assigned in facts.calls:
                if not chain.endswith("Table") or len(args) < 2 or args[0] is None or args[0][0] != "s":
                    continue
                dotted = self.absolute(facts, chain) or chain
                if "sqlalchemy" not in dotted and not chain.startswith("db.") and not chain.startswith("sa."):
                    continue
                if scope != "<module>" or assigned is None:
                    continue
                symbol = f"{module}:{assigned}"
                tables_of[symbol] = args[0][1]
                program.models.append(Model(symbol, args[0][1], "table", line))
        self.tables_of = tables_of

    # ------------------------------------------------------------------ django settings
    def find_django_settings(self) -> None:
        program = self.program
        candidates = []
        for module, facts in self.facts.items():
            names = {v[0] for v in facts.values}
            if "INSTALLED_APPS" in names or "ROOT_URLCONF" in names:
                score = ("ROOT_URLCONF" in names) * 2 + ("INSTALLED_APPS" in names)
                candidates.append((-score, module.count("."), module))
        if not candidates:
            return
        candidates.sort()
        settings = candidates[0][2]
        env = self.module_env(settings)
        program.settings_module = settings
        apps = env.get("INSTALLED_APPS")
        if isinstance(apps, list):
            program.installed_apps = tuple(
                self._app_package(a) for a in apps if isinstance(a, str) and a.split(".")[0] in self.packages
            )
        wsgi = env.get("WSGI_APPLICATION")
        if isinstance(wsgi, str) and "." in wsgi:
            module, _, attr = wsgi.rpartition(".")
            program.app = f"{module}:{attr}"
        urlconf = env.get("ROOT_URLCONF")
        if isinstance(urlconf, str) and urlconf in self.facts:
            program.entry_modules.add(urlconf)
            self._django_urls(urlconf, "/", set())

    def _app_package(self, entry: str) -> str:
        """``proj.shop.apps.ShopConfig`` (an AppConfig path) -> ``proj.shop``; a package stays."""
        if entry in self.facts:
            return entry
        split = self.module_prefix(entry)
        if split is not None and split[1]:
            module = split[0]
            return module.rpartition(".")[0] if module.endswith(".apps") else module
        return entry

    def _django_app_labels(self) -> Any:
        """module -> Django app label: AppConfig ``label``, else the app's last name part."""
        configs: dict[str, str] = {}
        for facts in self.facts.values():
            for cls in facts.classes:
                name, label = cls.attrs.get("name"), cls.attrs.get("label")
                if isinstance(name, str) and any(b.endswith("AppConfig") for b in cls.bases):
                    configs[name] = label if isinstance(label, str) else name.rsplit(".", 1)[-1]

        def label_for(module: str) -> str:
            parts = module.split(".")
            for i in range(len(parts), 0, -1):
                prefix = ".".join(parts[:i])
                if prefix in configs:
                    return configs[prefix]
                if prefix in self.program.installed_apps:
                    return prefix.rsplit(".", 1)[-1]
            if "models" in parts:
                return parts[parts.index("models") - 1] if parts.index("models") > 0 else parts[0]
            return parts[-2] if len(parts) > 1 else parts[0]

        return label_for

    def _django_urls(self, module: str, prefix: str, seen: set[str]) -> None:
        if module in seen or len(seen) > 200:
            return
        seen = seen | {module}
        env = self.module_env(module)
        patterns = env.get("urlpatterns")
        if isinstance(patterns, list):
            self._django_patterns(self.facts[module], patterns, prefix, seen, env)

    def _django_patterns(
        self,
        facts: ModuleFacts,
        patterns: list[Any],
        prefix: str,
        seen: set[str],
        env: dict[str, Any],
        depth: int = 0,
    ) -> None:
        if depth > 24:  # self-including pattern lists (plugin hooks) end here
            return
        for entry in patterns:
            if not isinstance(entry, tuple) or not entry or entry[0] != "c":
                continue
            _, func, args, kwargs = entry
            name = func.rsplit(".", 1)[-1]
            if name not in ("path", "re_path", "url"):
                # i18n_patterns(...), format_suffix_patterns([...]): routes inside the arguments
                nested = [a for a in args if a is not None]
                flat: list[Any] = []
                for a in nested:
                    value = self.evaluate(facts, a, env, set())
                    flat.extend(value if isinstance(value, list) else [a])
                self._django_patterns(facts, flat, prefix, seen, env, depth + 1)
                continue
            route_expr = args[0] if args else dict(kwargs).get("route")
            route = self.evaluate(facts, route_expr, env, set()) if route_expr is not None else None
            if not isinstance(route, str):
                self.program.problems.append(
                    Problem(
                        "unresolved",
                        facts.rel_path,
                        0,
                        f"URL pattern with a computed route in {facts.module}",
                    )
                )
                continue
            if name != "path":
                route = route.lstrip("^").rstrip("$")
            full = prefix + route
            view = args[1] if len(args) > 1 else dict(kwargs).get("view")
            if view is None:
                continue
            if view[0] == "c" and view[1].rsplit(".", 1)[-1] == "include":
                self._django_include(facts, view, full, seen, env, depth + 1)
                continue
            handler = self._view_handler(facts, view)
            if handler is None:
                continue
            self.program.routes.append(
                Route(("ANY",), full if full.startswith("/") else "/" + full, handler, facts.module, 0)
            )

    def _django_include(
        self,
        facts: ModuleFacts,
        call: tuple[Any, ...],
        prefix: str,
        seen: set[str],
        env: dict[str, Any],
        depth: int,
    ) -> None:
        args = call[2]
        if not args or args[0] is None:
            return
        target = args[0]
        items: tuple[Any, ...] = target[1] if target[0] == "l" else ()
        if len(items) == 2 and items[1] is not None and items[1][0] == "s" and items[0] is not None:
            target = items[0]  # include((patterns, app_name))
        elif target[0] == "l":  # include([path(...), ...])
            self._django_patterns(facts, [i for i in items if i is not None], prefix, seen, env, depth + 1)
            return
        if target[0] == "s":
            if target[1] in self.facts:
                self._django_urls(target[1], prefix, seen)
            return
        if target[0] == "n":
            routers = self._drf_routers(facts)
            head = target[1].split(".")[0]
            if target[1].endswith(".urls") and head in routers:
                for reg_prefix, viewset in routers[head]:
                    handler = self._view_handler(facts, viewset)
                    if handler:
                        path = prefix + reg_prefix.strip("/") + "/"
                        self.program.routes.append(
                            Route(("ANY",), "/" + path.lstrip("/"), handler, facts.module, 0)
                        )
                return
            value = self.evaluate(facts, target, env, set())
            if isinstance(value, list):
                self._django_patterns(facts, value, prefix, seen, env, depth + 1)
                return
            resolved = self.resolve_chain(facts, target[1])
            if resolved is not None:
                if not resolved[1]:
                    self._django_urls(resolved[0], prefix, seen)
                else:
                    other = self.module_env(resolved[0])
                    value = other.get(resolved[1])
                    if isinstance(value, list):
                        self._django_patterns(self.facts[resolved[0]], value, prefix, seen, other, depth + 1)
            return
        value = self.evaluate(facts, target, env, set())
        if isinstance(value, list):
            self._django_patterns(facts, value, prefix, seen, env, depth + 1)

    def _drf_routers(self, facts: ModuleFacts) -> dict[str, list[tuple[str, Expr]]]:
        found: dict[str, list[tuple[str, Expr]]] = defaultdict(list)
        for _scope, chain, args, _kwargs, _line, _assigned in facts.calls:
            if chain.endswith(".register") and len(args) >= 2 and args[0] is not None and args[0][0] == "s":
                found[chain.split(".")[0]].append((str(args[0][1]), args[1]))
        return found

    def _view_handler(self, facts: ModuleFacts, view: Expr) -> str | None:
        """``views.detail`` / ``Detail.as_view()`` / ``error_view(404)`` -> ``module:qualname``."""
        if view is None:
            return None
        if view[0] == "m":
            return self._view_handler(facts, view[1])
        chain = None
        if view[0] == "n":
            chain = view[1]
        elif view[0] == "c":
            chain = view[1]
            if chain.endswith(".as_view"):
                chain = chain[: -len(".as_view")]
        if chain is None:
            return None
        resolved = self.resolve_chain(facts, chain)
        if resolved is None:
            return None
        module, symbol = resolved
        if not symbol:
            return None
        return f"{module}:{symbol}"

    # ------------------------------------------------------------------ fastapi / flask
    def find_web_routes(self) -> None:
        routers: dict[tuple[str, str, str], tuple[str, Expr]] = {}  # (module, scope, var) -> (kind, prefix)
        for module, facts in self.facts.items():
            for scope, chain, _args, kwargs, _line, assigned in facts.calls:
                kind = chain.rsplit(".", 1)[-1]
                if assigned is None or kind not in ("APIRouter", "FastAPI", "Flask", "Blueprint"):
                    continue
                kw = dict(kwargs)
                prefix = kw.get("prefix") if kind == "APIRouter" else kw.get("url_prefix")
                routers[(module, scope, assigned)] = (kind, prefix)
                if kind in ("FastAPI", "Flask") and self.program.app is None:
                    self.program.app = f"{module}:{assigned if scope == '<module>' else scope.split('.')[0]}"
        parents: dict[tuple[str, str, str], tuple[tuple[str, str, str] | None, Expr, str]] = {}
        pending: list[tuple[tuple[str, str, str] | None, tuple[str, ...], str, str, str, int, str]] = []
        for module, facts in self.facts.items():
            for function, chain, args, kwargs, line in facts.decorators:
                receiver, _, verb = chain.rpartition(".")
                if verb not in _ROUTE_DECORATORS:
                    continue
                scope = function.rpartition(".")[0] or "<module>"
                key = self._router_key(facts, scope, receiver, routers)
                if key is None and receiver.split(".")[-1] not in ("app", "router", "bp", "blueprint", "api"):
                    continue
                kw = dict(kwargs)
                path_expr = args[0] if args else kw.get("path") or kw.get("rule")
                path = self.evaluate(facts, path_expr, {}, set()) if path_expr is not None else ""
                if not isinstance(path, str):
                    continue
                methods = self._methods(facts, verb, kw.get("methods"), None)
                pending.append((key, methods, path, f"{module}:{function}", module, line, "decorator"))
            for scope, chain, args, kwargs, line, _assigned in facts.calls:
                name = chain.rsplit(".", 1)[-1]
                kw = dict(kwargs)
                receiver = chain.rpartition(".")[0]
                if name in ("include_router", "register_blueprint"):
                    # The receiver may be a parameter (``def init(app): app.register_blueprint``):
                    # the prefix still applies even when the parent object is unknown.
                    parent = self._router_key(facts, scope, receiver, routers)
                    child_expr = args[0] if args else None
                    if child_expr is None or child_expr[0] != "n":
                        continue
                    child = self._router_key(facts, scope, child_expr[1], routers)
                    if child is not None:
                        parents[child] = (
                            parent,
                            kw.get("prefix" if name == "include_router" else "url_prefix"),
                            module,
                        )
                    continue
                if name in ("add_url_rule", "add_api_route") or "view_func" in kw:
                    self._call_route(facts, scope, name, receiver, args, kw, line, routers, pending)
        for key, methods, path, handler, module, line, _how in pending:
            mounted_at = self._full_prefix(key, routers, parents)
            full = (mounted_at.rstrip("/") + "/" + path.lstrip("/")) if path else (mounted_at or "/")
            if not full.startswith("/"):
                full = "/" + full
            if len(full) > 1 and path == "":
                full = full.rstrip("/") or "/"
            self.program.routes.append(Route(methods, full, handler, module, line))

    def _call_route(
        self,
        facts: ModuleFacts,
        scope: str,
        name: str,
        receiver: str,
        args: tuple[Expr, ...],
        kw: dict[str, Expr],
        line: int,
        routers: dict[tuple[str, str, str], tuple[str, Expr]],
        pending: list[Any],
    ) -> None:
        if name in ("add_url_rule", "add_api_route"):
            key = self._router_key(facts, scope, receiver, routers)
            rules_expr = args[0] if args else kw.get("rule") or kw.get("path")
            view = kw.get("view_func") or kw.get("endpoint")
            if view is None and name == "add_api_route" and len(args) > 1:
                view = args[1]
            if view is None and name == "add_url_rule" and len(args) > 2:
                view = args[2]
        else:  # a helper such as flaskbb's register_view(bp, routes=[...], view_func=...)
            first = args[0] if args else None
            key = self._router_key(facts, scope, first[1], routers) if first and first[0] == "n" else None
            rules_expr = kw.get("routes") or kw.get("rule") or (args[1] if len(args) > 1 else None)
            view = kw.get("view_func")
        rules = self.evaluate(facts, rules_expr, {}, set())
        handler = self._view_handler(facts, view)
        if handler is None or rules is None:
            return
        for rule in rules if isinstance(rules, list) else [rules]:
            if isinstance(rule, str):
                methods = self._methods(facts, "route", kw.get("methods"), handler)
                pending.append((key, methods, rule, handler, facts.module, line, "call"))

    def _methods(
        self, facts: ModuleFacts, verb: str, methods_expr: Expr, handler: str | None
    ) -> tuple[str, ...]:
        if verb in HTTP_VERBS:
            return (verb.upper(),)
        if verb == "websocket":
            return ("GET",)
        value = self.evaluate(facts, methods_expr, {}, set())
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return tuple(sorted({v.upper() for v in value}))
        if handler is not None:  # a class-based view: its HTTP methods are its method names
            module, _, qualname = handler.partition(":")
            for cls in self.facts[module].classes if module in self.facts else ():
                if cls.qualname == qualname:
                    verbs = sorted(m.upper() for m in cls.methods if m in HTTP_VERBS)
                    if verbs:
                        return tuple(verbs)
        return ("GET",)

    def _router_key(
        self,
        facts: ModuleFacts,
        scope: str,
        chain: str,
        routers: dict[tuple[str, str, str], tuple[str, Expr]],
    ) -> tuple[str, str, str] | None:
        if "." not in chain:
            # innermost enclosing scope first: a blueprint created inside a function
            parts = scope.split(".") if scope != "<module>" else []
            for i in range(len(parts), -1, -1):
                key = (facts.module, ".".join(parts[:i]) or "<module>", chain)
                if key in routers:
                    return key
        resolved = self.resolve_chain(facts, chain)
        if resolved is not None and resolved[1]:
            key = (resolved[0], "<module>", resolved[1])
            if key in routers:
                return key
        return None

    def _full_prefix(
        self,
        key: tuple[str, str, str] | None,
        routers: dict[tuple[str, str, str], tuple[str, Expr]],
        parents: dict[tuple[str, str, str], tuple[tuple[str, str, str] | None, Expr, str]],
    ) -> str:
        parts: list[str] = []
        seen: set[tuple[str, str, str]] = set()
        while key is not None and key not in seen:
            seen.add(key)
            kind, own = routers[key]
            facts = self.facts[key[0]]
            parent = parents.get(key)
            mounted_prefix = parent[1] if parent else None
            if kind == "Blueprint" and mounted_prefix is not None:
                own = None  # register_blueprint(url_prefix=...) replaces the blueprint's own
            for expr, where in ((own, facts), (mounted_prefix, self.facts[parent[2]] if parent else facts)):
                if expr is not None:
                    text, ok = self.prefix_text(where, expr)
                    if not ok:
                        self.program.problems.append(
                            Problem(
                                "unresolved", where.rel_path, 0, f"route prefix not static, kept as {text}"
                            )
                        )
                    parts.append(text)
            key = parent[0] if parent else None
        return "".join(reversed([p.rstrip("/") for p in parts if p]))

    # ------------------------------------------------------------------ framework
    def detect_framework(self) -> None:
        counts: Counter[str] = Counter()
        for externals in self.program.external.values():
            for top in externals:
                if top in _FRAMEWORK_PACKAGES:
                    counts[top] += 1
        if "django" in self.packages:
            counts["django"] += 1000
        if counts:
            self.program.framework = _FRAMEWORK_PACKAGES[counts.most_common(1)[0][0]]
        app = self.program.app
        if app is not None:
            self.program.entry_modules.add(app.partition(":")[0])


def build_program(facts: Iterable[ModuleFacts]) -> Program:
    resolver = _Resolver(facts)
    resolver.build_graph()
    resolver.find_django_settings()
    resolver.find_models()
    resolver.link_uses()
    resolver.find_web_routes()
    resolver.detect_framework()
    program = resolver.program
    program.routes = sorted(set(program.routes), key=lambda r: (r.path, r.methods, r.handler))
    program.models.sort(key=lambda m: (m.table, m.symbol))
    program.problems.sort(key=lambda p: (p.rel_path, p.line, p.kind, p.detail))
    return program
