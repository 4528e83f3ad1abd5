"""Fixtures for the deployment targets: a copy of the hand-written stack, a real registry on
loopback, an isolated state directory, and a way to run the CLI in-process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool

from deploy.helpers import FIXTURE_TEMPLATE_VERSION, FIXTURES, Registry, wait_http
from toolkit.deploy._state import free_port


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own toolkit state directory (environments, stack files)."""
    path = tmp_path / "state"
    monkeypatch.setenv("TOOLKIT_STATE_DIR", str(path))
    return path


@pytest.fixture
def shop_stack(tmp_path: Path) -> Path:
    """A copy of the hand-written shop stack under a unique ``tkt-`` project name.

    Both Python services run the same tiny app (``fixtures/service_app.py``), copied into each
    build context here so each service has its own context (and its own version tag).
    """
    dest = tmp_path / "shop"
    shutil.copytree(FIXTURES / "shop", dest)
    for service in ("catalog", "orders"):
        shutil.copy(FIXTURES / "service_app.py", dest / service / "app.py")
        # What `toolkit new` / `toolkit split` record: marks them as platform services
        # (/healthz, /readyz, /metrics) and gives their tags a template version.
        answers = {"template": "service", "template_version": FIXTURE_TEMPLATE_VERSION, "answers": {}}
        (dest / service / ".toolkit.json").write_text(json.dumps(answers))
    compose = dest / "compose.yaml"
    project = f"tkt-shop-{uuid.uuid4().hex[:6]}"
    compose.write_text(compose.read_text().replace("name: tkt-shop\n", f"name: {project}\n"))
    return dest


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A real image registry (Debian's docker-registry) on 127.0.0.1 with temporary storage.

    dockerd treats 127.0.0.0/8 registries as insecure (plain HTTP) by default, so no daemon
    configuration is needed to push to it.
    """
    binary = require_tool("docker-registry", "apt-get install docker-registry")
    port = free_port()
    root = tmp_path / "registry"
    root.mkdir()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/", timeout_s=20)
        yield Registry(f"127.0.0.1:{port}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
