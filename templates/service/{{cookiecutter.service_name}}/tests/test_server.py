"""The real server process: start, readiness, and SIGTERM during a slow request."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from {{ cookiecutter.__package_name }}.healthcheck import check

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_status(url: str, status: int, timeout_s: float = 5.0) -> bool:
    """Poll ``url`` until it answers ``status`` (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == status:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


@pytest.fixture
def server():
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "SHUTDOWN_DRAIN_S": "2",
        "SERVICE_NAME": "{{ cookiecutter.service_name }}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.__package_name }}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_healthcheck_follows_readiness(server) -> None:
    _, port = server
    assert wait_status(f"http://127.0.0.1:{port}/readyz", 200, timeout_s=30)
    assert check("127.0.0.1", port)
    assert not check("127.0.0.1", free_port())  # nothing listens there


def test_sigterm_flips_readiness_then_lets_the_slow_request_finish(server) -> None:
    proc, port = server
    base = f"http://127.0.0.1:{port}"
    assert wait_status(f"{base}/readyz", 200, timeout_s=30)
    result = {}

    def slow_request() -> None:
        result["response"] = httpx.get(f"{base}/items/5?delay_s=4", timeout=10)

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.5)  # the request is in flight
    proc.send_signal(signal.SIGTERM)
    assert wait_status(f"{base}/readyz", 503)  # flipped first, while still accepting connections
    assert worker.is_alive()  # ... and before the slow request finished
    worker.join(timeout=15)
    assert result["response"].status_code == 200
    assert result["response"].json()["item_id"] == 5
    assert proc.wait(timeout=15) == 0
    lines = [json.loads(line) for line in proc.stdout.read().splitlines() if line.strip()]
    assert all(line["service"] == "{{ cookiecutter.service_name }}" for line in lines)
    access = [line for line in lines if line["logger"] == "access"]
    assert any(line["route"] == "/items/{item_id}" and line["status"] == 200 for line in access)
