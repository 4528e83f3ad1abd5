"""A real Prometheus server (the Debian binary) for the metrics and end-to-end tests.

``start_prometheus`` is importable (``from metrics.conftest import ...``) by other test
directories; the ``prometheus`` fixture wraps it for this one."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import require_tool

StartPrometheus = Callable[[list[dict[str, object]]], str]
SCRAPE_INTERVAL_S = 1  # every target, and the rule evaluation


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[StartPrometheus]:
    """``start(scrape_configs) -> url``: Prometheus on 127.0.0.1 scraping every second."""
    yield from prometheus_starter(tmp_path)


def prometheus_starter(tmp_path: Path) -> Iterator[StartPrometheus]:
    """Generator behind the fixture: yields ``start``, then stops what it started."""
    binary = require_tool("prometheus", "apt-get install prometheus")
    tmp_path.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []

    def start(scrape_configs: list[dict[str, object]]) -> str:
        config = {
            "global": {
                "scrape_interval": f"{SCRAPE_INTERVAL_S}s",
                "evaluation_interval": f"{SCRAPE_INTERVAL_S}s",
            },
            "scrape_configs": scrape_configs,
        }
        config_file = tmp_path / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        port = free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"prometheus did not become ready: {(tmp_path / 'prometheus.log').read_text()[-500:]}"
        )

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
