"""Can a function of one service be called from another over HTTP, with the caller unchanged?

A call can be made remote when what crosses the wire survives a JSON round trip unchanged and
nothing else is shared: every parameter and the result are annotated with JSON types
(``int``, ``float``, ``str``, ``bool``, ``None``, ``list[...]``, ``dict[str, ...]``, unions of
those; ``Any`` inside them is checked when the call is made), the function is a plain
``def``/``async def`` (not a generator, not decorated), and it touches no module-level mutable
state (a dict, list or set at module level, or a name some function declares ``global``):
that state would silently split in two. Anything else keeps a local copy, with the reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from toolkit.split._code import WHOLE_MODULE, Module

_JSON_SCALARS = frozenset({"int", "float", "str", "bool", "None", "NoneType", "Any", "object"})
_JSON_LISTS = frozenset({"list", "List", "Sequence", "Iterable"})
_JSON_DICTS = frozenset({"dict", "Dict", "Mapping"})
_UNIONS = frozenset({"Optional", "Union"})
_MUTABLE_CALLS = frozenset({"list", "dict", "set", "defaultdict", "deque", "Counter", "OrderedDict"})


@dataclass(frozen=True, slots=True)
class RemoteFunction:
    """A function that can be served to other services: its definition, parsed."""

    name: str
    node: ast.FunctionDef | ast.AsyncFunctionDef

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one module offers to a caller that takes ``names`` from it.

    ``functions`` and ``constants`` (immutable literals, copied into the proxy) are set only
    when every name is remotable; otherwise ``reasons`` says why not, as ``(line, text)``.
    """

    functions: tuple[RemoteFunction, ...]
    constants: tuple[tuple[str, str], ...]
    reasons: tuple[tuple[int, str], ...]

    @property
    def remotable(self) -> bool:
        return not self.reasons


def _annotation_problem(node: ast.expr | None) -> str | None:
    """None when ``node`` is a JSON-round-trippable annotation, else what is wrong with it."""
    if node is None:
        return "has no annotation"
    if isinstance(node, ast.Constant):
        if node.value is None:
            return None
        if isinstance(node.value, str):
            try:
                return _annotation_problem(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return f"has an unreadable annotation {node.value!r}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _annotation_problem(node.left) or _annotation_problem(node.right)
    name = _type_name(node)
    if name in _JSON_SCALARS or name in _JSON_LISTS or name in _JSON_DICTS:
        return None  # a bare list/dict is a JSON array/object of anything: checked when called
    if isinstance(node, ast.Subscript):
        outer = _type_name(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if outer in _JSON_LISTS and len(args) == 1:
            return _annotation_problem(args[0])
        if outer in _JSON_DICTS and len(args) == 2:
            if _type_name(args[0]) != "str":
                return f"is {ast.unparse(node)}: JSON object keys are strings"
            return _annotation_problem(args[1])
        if outer in _UNIONS:
            return next((p for p in map(_annotation_problem, args) if p), None)
    return f"is {ast.unparse(node)}, which does not survive a JSON round trip"


def _type_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    return None


def _mutable_globals(module: Module) -> dict[str, int]:
    """Module-level names holding mutable state, with the line that makes them so."""
    found: dict[str, int] = {}
    for stmt in module.tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        if value is None:
            continue
        mutable = isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp)
        if isinstance(value, ast.Call) and _type_name(value.func) in _MUTABLE_CALLS:
            mutable = True
        if mutable:
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = stmt.lineno
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Global):
            for name in node.names:
                found.setdefault(name, node.lineno)
    return found


def _own_nodes(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The nodes of ``func``'s body, not descending into nested functions or classes."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def _function_problems(
    func: ast.FunctionDef | ast.AsyncFunctionDef, mutable: dict[str, int]
) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    where = func.name
    if func.decorator_list:
        problems.append((func.lineno, f"{where} is decorated ({ast.unparse(func.decorator_list[0])})"))
    body = _own_nodes(func)
    if any(isinstance(n, ast.Yield | ast.YieldFrom) for n in body):
        problems.append((func.lineno, f"{where} is a generator: it cannot return one JSON value"))
    args = func.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    for param in params:
        problem = _annotation_problem(param.annotation)
        if problem:
            problems.append((param.lineno, f"{where}: parameter {param.arg} {problem}"))
    problem = _annotation_problem(func.returns)
    if problem:
        problems.append((func.lineno, f"{where}: return value {problem}"))
    uses = sorted((n.lineno, n.id) for n in body if isinstance(n, ast.Name) and n.id in mutable)
    if uses:
        line, name = uses[0]
        problems.append((line, f"{where} uses module-level mutable state {name} (line {mutable[name]})"))
    return problems


def judge(module: Module, names: frozenset[str]) -> Verdict:
    """Decide whether a caller taking ``names`` from ``module`` can get them from a proxy."""
    if WHOLE_MODULE in names:
        return Verdict((), (), ((1, f"the module {module.name} is used as a value, not by name"),))
    defs: dict[str, ast.stmt] = {}
    for stmt in module.tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                if isinstance(target, ast.Name):
                    defs[target.id] = stmt
    mutable = _mutable_globals(module)
    functions: list[RemoteFunction] = []
    constants: list[tuple[str, str]] = []
    reasons: list[tuple[int, str]] = []
    for name in sorted(names):
        found_def = defs.get(name)
        if isinstance(found_def, ast.FunctionDef | ast.AsyncFunctionDef):
            found = _function_problems(found_def, mutable)
            reasons.extend(found)
            if not found:
                functions.append(RemoteFunction(name, found_def))
        elif isinstance(found_def, ast.ClassDef):
            reasons.append(
                (found_def.lineno, f"{name} is a class: instances cannot cross a service boundary")
            )
        elif isinstance(found_def, ast.Assign | ast.AnnAssign) and found_def.value is not None:
            literal = _immutable_literal(found_def.value)
            if literal is None:
                reasons.append((found_def.lineno, f"{name} is module-level state, not a function"))
            else:
                constants.append((name, literal))
        else:
            reasons.append((1, f"{name} is not defined at the top of {module.name} (imported or dynamic)"))
    return Verdict(tuple(functions), tuple(constants), tuple(sorted(set(reasons))))


def _immutable_literal(value: ast.expr) -> str | None:
    """The source of an immutable literal value (str, number, bool, None, tuple of those)."""
    try:
        literal = ast.literal_eval(value)
    except ValueError:
        return None
    except SyntaxError:  # pragma: no cover - literal_eval of a parsed node
        return None

    def immutable(v: object) -> bool:
        if isinstance(v, tuple | frozenset):
            return all(immutable(x) for x in v)
        return v is None or isinstance(v, str | bytes | int | float | complex | bool)

    return repr(literal) if immutable(literal) and not isinstance(literal, frozenset) else None
