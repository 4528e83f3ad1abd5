"""Shared test fixtures.

Tests marked ``docker`` need a running engine. Locally they skip when none is reachable; with
``TOOLKIT_REQUIRE_DOCKER=1`` (CI) a missing engine is an error, so CI can never pass by
skipping them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

BASE_IMAGE = os.environ.get("TOOLKIT_BASE_IMAGE", "local/python:3.11-bookworm")


def _docker_available() -> str | None:
    """Return None if the engine answers and the base image exists, else why not."""
    if shutil.which("docker") is None:
        return "docker CLI not on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return "Docker engine not reachable (run scripts/provision-docker.sh)"
    image = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, check=False)
    if image.returncode != 0:
        return f"base image {BASE_IMAGE} missing (run scripts/provision-docker.sh)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any("docker" in item.keywords for item in items):
        return
    problem = _docker_available()
    if problem is None:
        return
    if os.environ.get("TOOLKIT_REQUIRE_DOCKER") == "1":
        raise pytest.UsageError(f"Docker tests are required (TOOLKIT_REQUIRE_DOCKER=1) but: {problem}")
    skip = pytest.mark.skip(reason=problem)
    for item in items:
        if "docker" in item.keywords:
            item.add_marker(skip)


REQUIRED = os.environ.get("TOOLKIT_REQUIRE_DOCKER") == "1"


def require_tool(name: str, hint: str) -> str:
    """The path of the real tool ``name`` a test needs; skips without it locally, fails in CI
    (``TOOLKIT_REQUIRE_DOCKER=1``), where scripts/provision-docker.sh must have installed it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({hint})"
        if REQUIRED:
            pytest.fail(f"required in CI: {message}")
        pytest.skip(message)
    return path


def require_path(path: Path, what: str) -> Path:
    """Like ``require_tool`` for a file the tests read (e.g. the shared traffic trace)."""
    if not path.exists():
        if REQUIRED:
            pytest.fail(f"required in CI: {what} at {path}")
        pytest.skip(f"{what} is not on this machine ({path})")
    return path


@pytest.fixture(scope="session")
def base_image() -> str:
    """The locally built Python base image that generated Dockerfiles are built FROM in tests."""
    return BASE_IMAGE


@pytest.fixture(scope="module")
def swarm() -> Iterator[None]:
    """A single-node swarm for one test module: initialised if the engine is not in one, and
    left at the end of the module only if this fixture initialised it.

    Module scope, because on Docker 20.10 entering or leaving swarm mode drops the embedded-DNS
    names of containers already running on bridge networks: the swarm must not stay on (or be
    switched) while other modules' compose stacks run. Between modules nothing is running."""
    state = subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    created = state != "active"
    if created:
        subprocess.run(
            ["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], capture_output=True, check=True
        )
    yield None
    if created:
        subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True, check=False)
