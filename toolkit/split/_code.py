"""The monolith's code as `toolkit split` needs it: modules, what each imports, and which names.

The analyzer (``toolkit.analyze``) decides *where* modules go; this module answers the
questions the code generator has once that is decided: which files a service needs (the
import closure of its modules), and exactly which names one module takes from another (so a
module of another service can be replaced by a proxy that provides those names and no more).
The code is parsed, never imported or executed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from toolkit._errors import SourceTreeError
from toolkit.analyze._scan import chain_of

#: The use of a module as a value (``f(module)``, ``getattr(module, name)``): every name may be used.
WHOLE_MODULE = "*"


@dataclass(frozen=True, slots=True)
class ImportUse:
    """One module's use of another: the names it takes from it, and where it imports it."""

    target: str
    names: frozenset[str]
    lineno: int


@dataclass(slots=True)
class Module:
    """One parsed module of the monolith."""

    name: str
    rel_path: PurePosixPath
    source: bytes
    tree: ast.Module
    is_package: bool
    uses: list[ImportUse] = field(default_factory=list)

    @property
    def package(self) -> str:
        """The package relative imports are resolved against."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


class CodeIndex:
    """Every module of the monolith's packages, keyed by dotted name."""

    def __init__(self, root: Path, modules: dict[str, Module]) -> None:
        self.root = root
        self.modules = modules

    @classmethod
    def load(cls, root: Path, packages: list[str]) -> CodeIndex:
        """Parse every ``.py`` file of ``packages`` (top-level package names) under ``root``."""
        modules: dict[str, Module] = {}
        for package in packages:
            pkg_dir = root.joinpath(*package.split("."))
            if not (pkg_dir / "__init__.py").is_file() and not (root / f"{package}.py").is_file():
                raise SourceTreeError(f"package {package!r} not found under {root}")
            files = sorted(pkg_dir.rglob("*.py")) if pkg_dir.is_dir() else [root / f"{package}.py"]
            for path in files:
                rel = PurePosixPath(path.relative_to(root).as_posix())
                if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                    continue
                parts = list(rel.with_suffix("").parts)
                is_package = parts[-1] == "__init__"
                if is_package:
                    parts.pop()
                name = ".".join(parts)
                source = path.read_bytes()
                try:
                    tree = ast.parse(source, filename=str(rel))
                except (SyntaxError, ValueError) as err:
                    raise SourceTreeError(f"{rel}: cannot parse: {err}") from err
                modules[name] = Module(name, rel, source, tree, is_package)
        index = cls(root, modules)
        for module in modules.values():
            module.uses = index._find_uses(module)
        return index

    def parents(self, name: str) -> list[str]:
        """The packages Python imports before ``name`` (their ``__init__`` runs too)."""
        parts = name.split(".")
        return [p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in self.modules]

    def resolve_import(self, module: Module, level: int, target: str | None) -> str | None:
        if level == 0:
            return target
        base = module.package.split(".")
        if level > 1:
            base = base[: len(base) - (level - 1)]
        return ".".join([*base, target] if target else base) or None

    def _find_uses(self, module: Module) -> list[ImportUse]:
        """Which modules of the index ``module`` imports, and which names it takes from each.

        ``from m import a`` takes ``a`` (or imports submodule ``m.a`` when that is a module);
        ``import m`` / ``from p import m`` bind a module, and then the names are the attributes
        read from that binding (``m.f``); a binding used otherwise takes the whole module.
        """
        direct: dict[tuple[str, int], set[str]] = {}
        bindings: dict[str, tuple[str, int]] = {}  # local name (or dotted chain) -> module
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                base = self.resolve_import(module, node.level, node.module)
                if base is None:
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in self.modules:
                        bindings[alias.asname or alias.name] = (sub, node.lineno)
                    elif base in self.modules:
                        name = WHOLE_MODULE if alias.name == "*" else alias.name
                        direct.setdefault((base, node.lineno), set()).add(name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name not in self.modules:
                        continue
                    bindings[alias.asname or alias.name] = (alias.name, node.lineno)
        uses = [ImportUse(t, frozenset(n), line) for (t, line), n in direct.items()]
        if bindings:
            for (target, lineno), names in _attribute_uses(module.tree, bindings).items():
                uses.append(ImportUse(target, frozenset(names), lineno))
        return sorted(uses, key=lambda u: (u.lineno, u.target))


def import_target(
    index: CodeIndex, module: Module, node: ast.Import | ast.ImportFrom, alias: ast.alias
) -> str | None:
    """The module of the index that one alias of an import statement refers to, if any."""
    if isinstance(node, ast.Import):
        return alias.name if alias.name in index.modules else None
    base = index.resolve_import(module, node.level, node.module)
    if base is None:
        return None
    sub = f"{base}.{alias.name}"
    if sub in index.modules:
        return sub
    return base if base in index.modules else None


def _attribute_uses(
    tree: ast.Module, bindings: dict[str, tuple[str, int]]
) -> dict[tuple[str, int], set[str]]:
    """For each module bound to a name, the attributes read through that name.

    ``import a.b`` binds ``a`` but refers to ``a.b``: chains are matched on their longest
    bound prefix, so ``a.b.f`` counts as name ``f`` of module ``a.b``.
    """
    found: dict[tuple[str, int], set[str]] = {value: set() for value in bindings.values()}
    claimed: set[int] = set()  # ids of Name nodes already accounted for by an attribute chain
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in claimed:
            dotted = chain_of(node)
            if dotted is None:
                continue
            chain = dotted.split(".")
            for cut in range(len(chain) - 1, 0, -1):
                key = ".".join(chain[:cut])
                if key in bindings:
                    found[bindings[key]].add(chain[cut])
                    inner: ast.expr = node
                    while isinstance(inner, ast.Attribute):
                        claimed.add(id(inner))
                        inner = inner.value
                    claimed.add(id(inner))
                    break
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or id(node) in claimed:
            continue
        if isinstance(node.ctx, ast.Load) and node.id in bindings:
            found[bindings[node.id]].add(WHOLE_MODULE)
    return found  # a binding never read is still an import: the module must be there
