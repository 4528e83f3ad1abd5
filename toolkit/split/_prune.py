"""The app module, without the parts that belong to other services.

The monolith's app module (``shop/main.py``) is where the app is built: its lifespan, its
middleware, exception handlers, and one ``include_router`` per domain. A service keeps all of
it except the statements that reach another service's modules: those imports are removed, and
so is every statement that reads a name they bound (and, in turn, names bound from those).
Each removed statement becomes ``pass`` on its first line and blank lines after it, so the
file keeps its line numbers (tracebacks and SPLIT_REPORT.md lines stay true).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

#: Calls that register routes on an app; an import used only as their argument is a route
#: registration, which is what a service leaves out for the routes other services own.
REGISTRATION_CALLS = frozenset(
    {
        "include_router",
        "mount",
        "add_api_route",
        "add_api_websocket_route",
        "add_route",
        "register_blueprint",
        "add_url_rule",
    }
)


def registration_only(tree: ast.Module) -> frozenset[str]:
    """Names that the module uses only as arguments of route registrations
    (``app.include_router(orders_router)``, ``app.include_router(orders.router)``)."""
    in_registration: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr not in REGISTRATION_CALLS:
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                while isinstance(arg, ast.Attribute):
                    arg = arg.value
                if isinstance(arg, ast.Name):
                    in_registration.add(id(arg))
    uses: dict[str, list[bool]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            uses.setdefault(node.id, []).append(id(node) in in_registration)
    return frozenset(name for name, flags in uses.items() if all(flags))


def bound_name(alias: ast.alias) -> str | None:
    """The local name an import alias binds, or None for ``import a.b`` (binds ``a``, shared)."""
    if alias.asname:
        return alias.asname
    return None if "." in alias.name else alias.name


@dataclass(frozen=True, slots=True)
class Removed:
    lineno: int
    text: str  # the statement's first line, stripped


def prune_module(
    source: bytes, tree: ast.Module, resolve: Callable[[ast.Import | ast.ImportFrom], list[str | None]]
) -> tuple[bytes, list[Removed]]:
    """Remove the imports ``resolve`` marks, and every statement depending on them.

    ``resolve(node)`` returns, per alias of an import statement, the owning service of what it
    imports when that alias is to be removed (another service's router), else None.
    """
    lines = source.decode("utf-8").splitlines(keepends=True)
    dropped: list[ast.stmt] = []
    rewritten: dict[int, str] = {}  # line index -> import statement keeping only local names
    removed_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            foreign = resolve(node)
            if not any(foreign):
                continue
            dropped.append(node)
            kept = [a for a, owner in zip(node.names, foreign, strict=True) if owner is None]
            for alias, owner in zip(node.names, foreign, strict=True):
                name = bound_name(alias)
                if owner is not None and name is not None:
                    removed_names.add(name)
            if kept:
                copy = (
                    ast.ImportFrom(node.module, kept, node.level)
                    if isinstance(node, ast.ImportFrom)
                    else None
                )
                rewritten[node.lineno - 1] = ast.unparse(copy if copy is not None else ast.Import(kept))
    # ids of statements nested inside a dropped one: they go with it
    covered: set[int] = set()
    changed = True
    while changed:
        changed = False
        for stmt in _statements(tree.body):
            if id(stmt) in covered or id(stmt) in {id(d) for d in dropped}:
                continue
            if _reads(stmt, removed_names):
                dropped.append(stmt)
                covered.update(id(n) for n in ast.walk(stmt) if n is not stmt and isinstance(n, ast.stmt))
                removed_names.update(_binds(stmt))
                changed = True
    removed: list[Removed] = []
    for stmt in sorted(dropped, key=lambda s: s.lineno):
        if id(stmt) in covered:
            continue
        first = stmt.lineno - 1
        last = (stmt.end_lineno or stmt.lineno) - 1
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and stmt.decorator_list:
            first = stmt.decorator_list[0].lineno - 1
        text = lines[first]
        indent = text[: len(text) - len(text.lstrip())]
        removed.append(Removed(first + 1, text.strip()))
        keep_import = rewritten.get(first)
        lines[first] = (
            f"{indent}{keep_import}  # toolkit split: other names belong to another service\n"
            if keep_import
            else f"{indent}pass  # toolkit split: removed, it belongs to another service\n"
        )
        for i in range(first + 1, last + 1):
            lines[i] = "\n"
    return "".join(lines).encode("utf-8"), removed


def _statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements to judge, innermost-first inside compound statements whose header is clean."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and not isinstance(stmt, ast.ClassDef):
                out.extend(_statements([s for s in inner if isinstance(s, ast.stmt)]))
        for handler in getattr(stmt, "handlers", []):
            out.extend(_statements(handler.body))
    return out


def _header_nodes(stmt: ast.stmt) -> list[ast.AST]:
    """The parts of a statement that run when it is reached, outside any nested body."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        return [*stmt.decorator_list, stmt.args, *([stmt.returns] if stmt.returns else [])]
    if isinstance(stmt, ast.If | ast.While):
        return [stmt.test]
    if isinstance(stmt, ast.For | ast.AsyncFor):
        return [stmt.target, stmt.iter]
    if isinstance(stmt, ast.With | ast.AsyncWith):
        return list(stmt.items)
    if isinstance(stmt, ast.Try):
        return [h.type for h in stmt.handlers if h.type is not None]
    return [stmt]


def _reads(stmt: ast.stmt, names: set[str]) -> bool:
    for part in _header_nodes(stmt):
        for node in ast.walk(part):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
                return True
    return False


def _binds(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    out: set[str] = set()
    for part in _header_nodes(stmt):
        for node in ast.walk(part):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out.add(node.id)
    return out
