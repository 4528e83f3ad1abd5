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


def wait_ready(base: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("server did not become ready")


@pytest.fixture
def server():
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "SHUTDOWN_DRAIN_S": "1",
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
    proc, port = server
    wait_ready(f"http://127.0.0.1:{port}")
    assert check("127.0.0.1", port)
    assert not check("127.0.0.1", free_port())  # nothing listens there


def test_sigterm_flips_readiness_then_lets_the_slow_request_finish(server) -> None:
    proc, port = server
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    result = {}

    def slow_request() -> None:
        result["response"] = httpx.get(f"{base}/items/5?delay_s=2", timeout=10)

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.3)  # the request is in flight
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    readiness = httpx.get(f"{base}/readyz", timeout=2)
    assert readiness.status_code == 503  # flipped first, while still accepting connections
    worker.join(timeout=15)
    assert result["response"].status_code == 200
    assert result["response"].json()["item_id"] == 5
    assert proc.wait(timeout=15) == 0
    lines = [json.loads(line) for line in proc.stdout.read().splitlines() if line.strip()]
    assert all(line["service"] == "{{ cookiecutter.service_name }}" for line in lines)
    access = [line for line in lines if line["logger"] == "access"]
    assert any(line["route"] == "/items/{item_id}" and line["status"] == 200 for line in access)
