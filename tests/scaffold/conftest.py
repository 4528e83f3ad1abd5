"""Fixtures for the scaffold tests: a service rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.scaffold import render_service


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service project rendered with the defaults (treat it as read-only)."""
    return render_service("orders-api", tmp_path_factory.mktemp("rendered"))
