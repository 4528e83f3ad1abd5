"""Finding the monolith's modules on disk, without importing anything.

``PATH`` may be a project root (holding packages, a ``src/`` layout, or loose modules) or a
package directory itself. Test code, virtual environments, build output and hidden
directories are skipped: tests import everything and would glue every service together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from toolkit._errors import SourceTreeError

SKIPPED_DIRS = frozenset(
    {
        "__pycache__",
        "node_modules",
        "site-packages",
        "venv",
        "env",
        "build",
        "dist",
        "tests",
    }
)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One Python file: ``module`` is its dotted name, ``rel_path`` is relative to the root."""

    module: str
    rel_path: str
    abs_path: str
    is_package: bool


@dataclass(frozen=True, slots=True)
class SourceTree:
    root: Path
    packages: tuple[str, ...]
    files: tuple[SourceFile, ...]


def _skip_dir(name: str) -> bool:
    return (
        name.startswith(".")
        or name in SKIPPED_DIRS
        or name.endswith(".egg-info")
        or name.endswith(".dist-info")
    )


def _skip_file(name: str) -> bool:
    return (
        not name.endswith(".py")
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def _is_identifier_path(parts: list[str]) -> bool:
    return all(p.isidentifier() for p in parts)


def _walk_package(package_dir: str, parts: list[str], out: list[SourceFile]) -> None:
    """Every module below ``package_dir`` (directories without ``__init__.py`` count as
    namespace sub-packages, which many projects forget to mark). Plain ``os.scandir`` and
    strings: this runs on every analysis, cached or not."""
    with os.scandir(package_dir) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    rel_dir = "/".join(parts)
    for entry in entries:
        name = entry.name
        if entry.is_dir(follow_symlinks=False):
            if not _skip_dir(name) and name.isidentifier():
                _walk_package(entry.path, [*parts, name], out)
            continue
        if _skip_file(name):
            continue
        stem = name[:-3]
        if stem == "__init__":
            out.append(SourceFile(".".join(parts), f"{rel_dir}/{name}", entry.path, True))
        elif stem.isidentifier():
            out.append(SourceFile(".".join([*parts, stem]), f"{rel_dir}/{name}", entry.path, False))


def _has_python(directory: Path) -> bool:
    for _dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if not _skip_dir(d)]
        if any(f.endswith(".py") for f in filenames):
            return True
    return False


def discover(path: str | Path) -> SourceTree:
    """Locate the root and the top-level packages for ``path``, and list their modules."""
    given = Path(path)
    if not given.exists():
        raise SourceTreeError(f"{given}: no such file or directory")
    if not given.is_dir():
        raise SourceTreeError(f"{given}: not a directory (give a project root or a package directory)")
    given = given.resolve()
    if (given / "__init__.py").is_file():
        root, package_dirs = given.parent, [given]
        loose: list[Path] = []
    else:
        root = given
        src = given / "src"
        if src.is_dir() and not (src / "__init__.py").exists():
            candidates = [d for d in sorted(src.iterdir()) if d.is_dir() and (d / "__init__.py").is_file()]
            if candidates:
                root = src
        entries = sorted(root.iterdir())
        package_dirs = [
            d
            for d in entries
            if d.is_dir()
            and not _skip_dir(d.name)
            and d.name.isidentifier()
            and (d / "__init__.py").is_file()
        ]
        loose = [f for f in entries if f.is_file() and not _skip_file(f.name) and f.stem.isidentifier()]
        if not package_dirs:
            # No marked package: namespace packages (directories of modules) at the top.
            package_dirs = [
                d
                for d in entries
                if d.is_dir() and not _skip_dir(d.name) and d.name.isidentifier() and _has_python(d)
            ]
    files: list[SourceFile] = []
    for package_dir in package_dirs:
        _walk_package(str(package_dir), [package_dir.name], files)
    for module_file in loose:
        if module_file.stem in {"setup", "noxfile", "fabfile"}:
            continue
        files.append(SourceFile(module_file.stem, module_file.name, str(module_file), False))
    if not files:
        raise SourceTreeError(f"{given}: no Python modules found")
    packages = tuple(sorted({f.module.split(".")[0] for f in files}))
    files.sort(key=lambda f: f.module)
    return SourceTree(root=root, packages=packages, files=tuple(files))
