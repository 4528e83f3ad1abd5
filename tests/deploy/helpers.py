"""Helpers shared by the deployment tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from toolkit.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TEMPLATE_VERSION = "0.1.0"


def run_cli(*args: str) -> Result:
    """Invoke ``toolkit ARGS`` in-process (as the console script would)."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run_json(*args: str) -> dict[str, Any]:
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def http_get(url: str, timeout_s: float = 3) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return int(resp.status), resp.read()


def wait_http(url: str, timeout_s: float = 60) -> bytes:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return http_get(url)[1]
        except OSError as err:
            last = err
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s} s: {last}")


@dataclass(frozen=True)
class Registry:
    address: str  # host:port, as used in image references

    def tags(self, repository: str) -> list[str]:
        status, body = http_get(f"http://{self.address}/v2/{repository}/tags/list")
        assert status == 200
        return sorted(json.loads(body).get("tags") or [])


def remove_images(prefix: str) -> None:
    """Remove every local image whose repository starts with ``prefix`` (test cleanup)."""
    out = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    refs = [r for r in out if r.split("/")[-1].startswith(prefix)]
    if refs:
        subprocess.run(["docker", "image", "rm", "--force", *refs], capture_output=True, check=False)
