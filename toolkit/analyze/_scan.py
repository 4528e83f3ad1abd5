"""One pass over one file's syntax tree: everything the analysis needs from that file.

Each file is parsed once with ``ast.parse`` and walked once by ``_Scanner``; the result is a
``ModuleFacts`` value of plain tuples and strings, so it pickles quickly into the cache and
crosses process boundaries cheaply. Nothing here looks at other files: resolving names to
other modules happens later (``_resolve``), when every module's facts are known.

Values the framework code passes around (route paths, prefixes, ``INSTALLED_APPS`` lists,
``urlpatterns``) are kept as a tiny expression form (``Expr``) rather than evaluated here:

    ("s", "text")                       string constant
    ("l", (Expr, ...))                  list / tuple literal
    ("n", "a.b.c")                      dotted name
    ("c", "func.chain", (args), ((kw, Expr), ...))   call
    ("k", "a.b", "KEY")                 subscript with a string key (app.config["PREFIX"])
    ("+", Expr, Expr)                   concatenation
    None                                anything else (not statically known)
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from typing import Any, TypeAlias

Expr: TypeAlias = tuple[Any, ...] | None

# Call names whose arguments matter for routes, apps and tables.
_INTERESTING_CALLS = frozenset(
    {
        "include_router",
        "register_blueprint",
        "add_url_rule",
        "add_api_route",
        "add_api_websocket_route",
        "mount",
        "APIRouter",
        "FastAPI",
        "Flask",
        "Blueprint",
        "Table",
        "path",
        "re_path",
        "url",
        "include",
        "import_module",
        "__import__",
        "import_string",
        "get_model",
    }
)
_DYNAMIC_IMPORT_CALLS = frozenset({"import_module", "__import__", "import_string"})
_MODULE_SCOPE = "<module>"
# Node fields that never hold child nodes worth visiting (names, operators, load/store).
_SCALAR_FIELDS = frozenset(
    {"ctx", "op", "kind", "type_comment", "name", "id", "attr", "arg", "module", "level"}
    | {"is_async", "simple", "conversion", "asname"}
)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


@dataclass(slots=True)
class ClassFacts:
    qualname: str
    line: int
    bases: tuple[str, ...]
    attrs: dict[str, Any]  # class-level constants: __tablename__, label, name, ...
    meta: dict[str, Any]  # Django ``class Meta`` constants: db_table, app_label, abstract, proxy
    methods: tuple[str, ...]


@dataclass(slots=True)
class ModuleFacts:
    """What one file says, before any cross-file resolution.

    ``refs`` holds (scope, dotted chain, line, is_call, argument_of) for every use of a name
    that the file imports or defines at top level; ``argument_of`` is the called name when the
    reference is a direct argument of a call (``insert(payment_events)`` -> ``insert``).
    """

    module: str
    rel_path: str
    is_package: bool
    lines: int
    digest: str
    error: str | None = None
    imports: list[tuple[str, int, str]] = field(default_factory=list)  # (target module, line, scope)
    bindings: dict[str, str] = field(default_factory=dict)  # local name -> absolute dotted target
    star_imports: list[tuple[str, int]] = field(default_factory=list)
    dynamic_imports: list[tuple[str | None, int]] = field(default_factory=list)
    definitions: dict[str, str] = field(default_factory=dict)  # top-level name -> function|class|variable
    classes: list[ClassFacts] = field(default_factory=list)
    refs: list[tuple[str, str, int, bool, str | None]] = field(default_factory=list)
    decorators: list[tuple[str, str, tuple[Expr, ...], tuple[tuple[str, Expr], ...], int]] = field(
        default_factory=list
    )  # (function qualname, decorator chain, args, kwargs, line)
    calls: list[tuple[str, str, tuple[Expr, ...], tuple[tuple[str, Expr], ...], int, str | None]] = field(
        default_factory=list
    )  # (scope, func chain, args, kwargs, line, assigned-to name)
    values: list[tuple[str, str, Expr, int]] = field(default_factory=list)  # (name, op, expr, line)

    def slim(self) -> ModuleFacts:
        """A copy without the per-use details, for results kept after resolution."""
        return ModuleFacts(
            module=self.module,
            rel_path=self.rel_path,
            is_package=self.is_package,
            lines=self.lines,
            digest=self.digest,
            error=self.error,
            definitions=self.definitions,
        )


def digest_of(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def chain_of(node: ast.expr) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        parts.reverse()
        return ".".join(parts)
    return None


def expr_of(node: ast.expr | None, depth: int = 0) -> Expr:
    """The small static form of an expression (see module docstring)."""
    if node is None or depth > 6:
        return None
    if isinstance(node, ast.Constant):
        return ("s", node.value) if isinstance(node.value, str) else ("v", node.value)
    if isinstance(node, ast.List | ast.Tuple):
        return ("l", tuple(expr_of(e, depth + 1) for e in node.elts))
    if isinstance(node, ast.Name | ast.Attribute):
        chain = chain_of(node)
        return ("n", chain) if chain else None
    if isinstance(node, ast.Call):
        func = chain_of(node.func)
        if func is None:
            # x.as_view() on a call result etc.: keep the inner call's shape
            if isinstance(node.func, ast.Attribute):
                inner = expr_of(node.func.value, depth + 1)
                return ("m", inner, node.func.attr)
            return None
        return (
            "c",
            func,
            tuple(expr_of(a, depth + 1) for a in node.args),
            tuple((k.arg, expr_of(k.value, depth + 1)) for k in node.keywords if k.arg),
        )
    if isinstance(node, ast.Subscript):
        chain = chain_of(node.value)
        key = node.slice
        if chain and isinstance(key, ast.Constant) and isinstance(key.value, str):
            return ("k", chain, key.value)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return ("+", expr_of(node.left, depth + 1), expr_of(node.right, depth + 1))
    return None


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)] if level - 1 <= len(base) else []
    parts = [*base, *(target.split(".") if target else [])]
    return ".".join(p for p in parts if p)


class _Scanner:
    """The one visitor: a dispatch table on node type; every other node is walked generically."""

    def __init__(self, facts: ModuleFacts) -> None:
        self.facts = facts
        self.scope: list[str] = []
        self.scope_name = _MODULE_SCOPE  # ".".join(scope), kept current by push/pop
        self.raw_refs: list[tuple[str, str, int, bool, str | None]] = []
        self.dispatch: dict[type, Any] = {
            ast.Import: self.on_import,
            ast.ImportFrom: self.on_import_from,
            ast.FunctionDef: self.on_function,
            ast.AsyncFunctionDef: self.on_function,
            ast.ClassDef: self.on_class,
            ast.Assign: self.on_assign,
            ast.AnnAssign: self.on_ann_assign,
            ast.AugAssign: self.on_aug_assign,
            ast.Name: self.on_name,
            ast.Attribute: self.on_attribute,
            ast.Call: self.on_call,
            ast.Constant: self.skip,
        }

    def push(self, name: str) -> None:
        self.scope.append(name)
        self.scope_name = ".".join(self.scope)

    def pop(self) -> None:
        self.scope.pop()
        self.scope_name = ".".join(self.scope) if self.scope else _MODULE_SCOPE

    # -- traversal
    def visit(self, node: ast.AST) -> None:
        self.dispatch.get(type(node), self.generic)(node)

    def generic(self, node: ast.AST) -> None:
        """Visit children through the dispatch table (inlined: this is the hottest loop)."""
        kind = type(node)
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f not in _SCALAR_FIELDS)
        dispatch, generic = self.dispatch, self.generic
        for name in fields:
            value = getattr(node, name, None)
            if value is None:
                continue
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        dispatch.get(type(item), generic)(item)
            elif isinstance(value, ast.AST):
                dispatch.get(type(value), generic)(value)

    def skip(self, node: ast.AST) -> None:
        """Leaves with nothing to record (constants)."""

    def visit_many(self, nodes: list[Any]) -> None:
        for item in nodes:
            self.visit(item)

    # -- imports
    def on_import(self, node: ast.Import) -> None:
        facts, scope = self.facts, self.scope_name
        for alias in node.names:
            facts.imports.append((alias.name, node.lineno, scope))
            if alias.asname:
                facts.bindings[alias.asname] = alias.name
            else:
                head = alias.name.split(".")[0]
                facts.bindings.setdefault(head, head)

    def on_import_from(self, node: ast.ImportFrom) -> None:
        facts, scope = self.facts, self.scope_name
        if node.level:
            target = _resolve_relative(facts.module, facts.is_package, node.level, node.module)
        else:
            target = node.module or ""
        if not target:
            return
        for alias in node.names:
            if alias.name == "*":
                facts.star_imports.append((target, node.lineno))
                facts.imports.append((target, node.lineno, scope))
                continue
            facts.imports.append((f"{target}.{alias.name}", node.lineno, scope))
            facts.bindings[alias.asname or alias.name] = f"{target}.{alias.name}"

    # -- definitions
    def on_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if not self.scope:
            self.facts.definitions[node.name] = "function"
        qualname = ".".join([*self.scope, node.name])
        for dec in node.decorator_list:
            self._decorator(qualname, dec)
        self.visit(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self.push(node.name)
        self.visit_many(node.body)
        self.pop()

    def _decorator(self, qualname: str, dec: ast.expr) -> None:
        if isinstance(dec, ast.Call):
            chain = chain_of(dec.func)
            if chain is not None and "." in chain:
                args = tuple(expr_of(a) for a in dec.args)
                kwargs = tuple((k.arg, expr_of(k.value)) for k in dec.keywords if k.arg)
                self.facts.decorators.append((qualname, chain, args, kwargs, dec.lineno))
            self.visit_many(dec.args)
            for kw in dec.keywords:
                self.visit(kw.value)
            if chain is not None:
                self._ref(chain, dec.lineno, True, None)
            else:
                self.visit(dec.func)
        else:
            self.visit(dec)

    def on_class(self, node: ast.ClassDef) -> None:
        if not self.scope:
            self.facts.definitions[node.name] = "class"
        qualname = ".".join([*self.scope, node.name])
        bases = tuple(c for c in (chain_of(b) for b in node.bases) if c)
        attrs: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        methods: list[str] = []
        for stmt in node.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                if isinstance(stmt.value, ast.Constant):
                    attrs[stmt.targets[0].id] = stmt.value.value
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if isinstance(stmt.value, ast.Constant):
                    attrs[stmt.target.id] = stmt.value.value
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                methods.append(stmt.name)
            elif isinstance(stmt, ast.ClassDef) and stmt.name == "Meta":
                for inner in stmt.body:
                    if (
                        isinstance(inner, ast.Assign)
                        and len(inner.targets) == 1
                        and isinstance(inner.targets[0], ast.Name)
                        and isinstance(inner.value, ast.Constant)
                    ):
                        meta[inner.targets[0].id] = inner.value.value
        self.facts.classes.append(ClassFacts(qualname, node.lineno, bases, attrs, meta, tuple(methods)))
        for dec in node.decorator_list:
            self._decorator(qualname, dec)
        self.visit_many(node.bases)
        for kw in node.keywords:
            self.visit(kw.value)
        self.push(node.name)
        self.visit_many(node.body)
        self.pop()

    # -- assignments (module-level values and constructor calls)
    def on_assign(self, node: ast.Assign) -> None:
        value = node.value
        target_name = None
        if len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                target_name = target.id
                if not self.scope:
                    self.facts.definitions.setdefault(target_name, "variable")
        if target_name is not None:
            if not self.scope and isinstance(
                value, ast.Constant | ast.List | ast.Tuple | ast.BinOp | ast.Name
            ):
                self.facts.values.append((target_name, "=", expr_of(value), node.lineno))
            if isinstance(value, ast.Call):
                self.on_call(value, assigned_to=target_name)
                for t in node.targets:
                    self.visit(t)
                return
        else:
            for target in node.targets:
                if isinstance(target, ast.Tuple):
                    for elt in target.elts:
                        if isinstance(elt, ast.Name) and not self.scope:
                            self.facts.definitions.setdefault(elt.id, "variable")
        self.visit_many(node.targets)
        self.visit(value)

    def on_ann_assign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name) and not self.scope:
            self.facts.definitions.setdefault(node.target.id, "variable")
            if node.value is not None and isinstance(node.value, ast.Constant | ast.List | ast.Tuple):
                self.facts.values.append((node.target.id, "=", expr_of(node.value), node.lineno))
        if node.value is not None:
            if isinstance(node.value, ast.Call) and isinstance(node.target, ast.Name):
                self.on_call(node.value, assigned_to=node.target.id)
            else:
                self.visit(node.value)
        self.visit(node.annotation)

    def on_aug_assign(self, node: ast.AugAssign) -> None:
        if not self.scope and isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add):
            self.facts.values.append((node.target.id, "+=", expr_of(node.value), node.lineno))
        self.visit(node.target)
        self.visit(node.value)

    # -- uses
    def _ref(self, chain: str, line: int, is_call: bool, arg_of: str | None) -> None:
        self.raw_refs.append((self.scope_name, chain, line, is_call, arg_of))

    def on_name(self, node: ast.Name) -> None:
        if type(node.ctx) is ast.Load:
            self.raw_refs.append((self.scope_name, node.id, node.lineno, False, None))

    def on_attribute(self, node: ast.Attribute) -> None:
        chain = chain_of(node)
        if chain is None:
            self.visit(node.value)
        elif type(node.ctx) is ast.Load:
            self.raw_refs.append((self.scope_name, chain, node.lineno, False, None))

    def on_call(self, node: ast.Call, assigned_to: str | None = None) -> None:
        func = node.func
        chain = chain_of(func)
        if chain is None:
            self.visit(func)
            called = func.attr if isinstance(func, ast.Attribute) else None
        else:
            self.raw_refs.append((self.scope_name, chain, node.lineno, True, None))
            called = chain.rsplit(".", 1)[-1]
        keywords = node.keywords
        if called is not None and (
            called in _INTERESTING_CALLS or any(k.arg == "view_func" for k in keywords)
        ):
            args = tuple(expr_of(a) for a in node.args)
            kwargs = tuple((k.arg, expr_of(k.value)) for k in keywords if k.arg)
            self.facts.calls.append(
                (self.scope_name, chain or f"?.{called}", args, kwargs, node.lineno, assigned_to)
            )
            if called in _DYNAMIC_IMPORT_CALLS:
                first = args[0] if args else None
                target = first[1] if first is not None and first[0] == "s" else None
                self.facts.dynamic_imports.append((target, node.lineno))
        elif (
            called in ("append", "extend")
            and not self.scope
            and chain is not None
            and chain.count(".") == 1
            and node.args
        ):
            self.facts.values.append((chain.split(".")[0], called, expr_of(node.args[0]), node.lineno))
        scope = self.scope_name
        raw = self.raw_refs
        for arg in node.args:
            arg_chain = chain_of(arg) if isinstance(arg, ast.Name | ast.Attribute) else None
            if arg_chain is not None:
                raw.append((scope, arg_chain, arg.lineno, False, called))
            else:
                self.visit(arg)
        for kw in keywords:
            self.visit(kw.value)


def scan_source(module: str, rel_path: str, is_package: bool, data: bytes) -> ModuleFacts:
    """Facts for one file's bytes; a syntax error or undecodable file is recorded, not raised."""
    facts = ModuleFacts(
        module=module,
        rel_path=rel_path,
        is_package=is_package,
        lines=data.count(b"\n") + 1,
        digest=digest_of(data),
    )
    try:
        tree = ast.parse(data, filename=rel_path)
    except SyntaxError as err:
        if any(word in err.msg.lower() for word in ("utf-8", "decode", "null bytes", "encoding")):
            facts.error = f"undecodable: {err.msg}"
        else:
            facts.error = f"syntax error: {err.msg} (line {err.lineno})"
        return facts
    except (ValueError, UnicodeDecodeError) as err:
        facts.error = f"undecodable: {err}"
        return facts
    scanner = _Scanner(facts)
    scanner.visit_many(tree.body)
    # Keep uses of imported names and of local classes/variables (models, Table objects);
    # uses of the module's own functions create no edge and touch no table.
    known = facts.bindings.keys() | {n for n, kind in facts.definitions.items() if kind != "function"}
    facts.refs = [r for r in scanner.raw_refs if r[1].partition(".")[0] in known]
    return facts
