"""Fixtures for the analysis tests: the example shop, and small source trees written on the fly."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from toolkit.analyze import Analysis, analyze


@pytest.fixture(scope="session")
def shop_root() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "shop"


@pytest.fixture(scope="session")
def shop_analysis(shop_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return analyze(shop_root, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def make_tree(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    """Write {relative path: source} under a fresh directory and return its root."""

    def write(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "src"
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"))
        return root

    return write
