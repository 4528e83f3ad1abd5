"""The generated project checked with the real tools: hadolint, Compose, and its own tests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit import _docker

VENV_BIN = Path(sys.executable).parent


def test_hadolint_has_zero_findings(rendered: Path) -> None:
    hadolint = VENV_BIN / "hadolint"
    proc = subprocess.run(
        [str(hadolint), "--format", "json", str(rendered / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(proc.stdout or "[]") == [], proc.stdout
    assert proc.returncode == 0


def test_hadolint_can_fail(tmp_path: Path) -> None:
    """The check above is not vacuous: hadolint does flag a careless Dockerfile."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python\nRUN pip install flask\nCMD python app.py\n")
    proc = subprocess.run([str(VENV_BIN / "hadolint"), str(dockerfile)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "DL3006" in proc.stdout and "DL3025" in proc.stdout


def test_dockerignore_keeps_secrets_and_caches_out(rendered: Path) -> None:
    patterns = set((rendered / ".dockerignore").read_text().split())
    assert {".git", ".env", ".venv", "__pycache__", ".pytest_cache"} <= patterns


@pytest.mark.docker
def test_compose_config_is_valid(rendered: Path) -> None:
    _docker.compose([rendered / "compose.yaml"], "tkt-config-check", ["config", "--quiet"])
    config = _docker.compose_config(rendered / "compose.yaml")
    service = config["services"]["orders-api"]
    assert config["name"] == "orders-api"
    assert service["build"]["args"]["BASE_IMAGE"] == "python:3.12-slim"
    assert service["deploy"]["resources"]["limits"]["memory"]
    assert service["restart"] == "unless-stopped"
    assert service["healthcheck"]["test"][0] == "CMD"
    assert all(not port.get("published") for port in service["ports"])  # --scale needs no fixed host port


def test_generated_code_is_ruff_clean(rendered: Path) -> None:
    """The project's own ruff settings (in its pyproject.toml) pass on the rendered code."""
    ruff = str(VENV_BIN / "ruff")
    for args in (["check"], ["format", "--check"]):
        proc = subprocess.run([ruff, *args, "--no-cache", "."], cwd=rendered, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout


@pytest.fixture(scope="session")
def generated_venv(rendered: Path, pytestconfig: pytest.Config) -> Path:
    """A virtualenv with exactly the generated project's pinned test dependencies, cached in
    pytest's cache by the hash of the requirement files (first run installs from the index)."""
    digest = hashlib.sha256(
        (rendered / "requirements.txt").read_bytes() + (rendered / "requirements-dev.txt").read_bytes()
    ).hexdigest()[:16]
    venv = pytestconfig.cache.mkdir(f"generated-venv-{digest}")
    python = venv / "bin" / "python"
    if not (venv / "complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(rendered / "requirements-dev.txt")],
            check=True,
            timeout=600,
        )
        (venv / "complete").write_text(digest)
    return python


@pytest.mark.slow
def test_generated_test_suite_passes(rendered: Path, generated_venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(rendered, project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run(
        [
            str(generated_venv),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--junitxml",
            str(tmp_path / "r.xml"),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = (tmp_path / "r.xml").read_text()
    assert 'failures="0"' in report and 'errors="0"' in report
    assert 'tests="0"' not in report
