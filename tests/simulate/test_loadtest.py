"""``toolkit loadtest`` against a real HTTP server on 127.0.0.1 (started by the test)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from toolkit._errors import UsageError
from toolkit.cli import main
from toolkit.simulate import ServiceModel, Trace
from toolkit.simulate._loadtest import check_target, run_load, whole_requests


class Handler(BaseHTTPRequestHandler):
    """``/ok`` answers at once, ``/slow`` after 0.3 s, ``/flaky`` 503 on every other request;
    ``/stamp`` answers at once and records when each request arrived; ``/serial`` serves one
    request at a time, 20 ms each (50 requests/s at most, however many arrive)."""

    hits = 0
    lock = threading.Lock()
    arrivals: list[float] = []
    serial = threading.Lock()

    def do_GET(self) -> None:
        with Handler.lock:
            Handler.hits += 1
            odd = Handler.hits % 2 == 1
            if self.path == "/stamp":
                Handler.arrivals.append(time.monotonic())
        if self.path == "/slow":
            time.sleep(0.3)
        if self.path == "/serial":
            with Handler.serial:
                time.sleep(0.02)
        status = 503 if self.path == "/flaky" and odd else 200
        body = b"ok\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 makes hey's parallel connects wait for SYN retries


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def trace_of(values: list[float]) -> Trace:
    return Trace(rps=np.array(values, dtype=np.float64), source="test")


def test_whole_requests_keep_the_total() -> None:
    counts = whole_requests(trace_of([0.4, 0.4, 0.4, 2.5, 10.0]))
    assert counts.tolist() == [0, 0, 1, 2, 10]
    assert counts.sum() == 13


GENERATORS = pytest.mark.parametrize("generator", ["hey", "httpx"])


def test_hey_spreads_each_second_over_the_second(server: str) -> None:
    """20 requests a second arrive over the second, in bursts of a few, not all at once (hey's
    workers all send at their start: one run per second made every second one burst)."""
    Handler.arrivals.clear()
    report = run_load(trace_of([20, 20, 20]), f"{server}/stamp", ServiceModel(), generator="hey")
    assert report.result.summary.served == 60
    arrivals = sorted(Handler.arrivals)
    first = arrivals[0]
    for second in range(3):
        within = [t - first for t in arrivals if second <= t - first < second + 1]
        assert max(within) - min(within) >= 0.6, within
    most_in_50ms = max(sum(1 for u in arrivals if t <= u < t + 0.05) for t in arrivals)
    assert most_in_50ms <= 8


@GENERATORS
def test_every_request_is_sent_and_answered(server: str, generator: str) -> None:
    report = run_load(trace_of([5, 20, 10]), f"{server}/ok", ServiceModel(), generator=generator)
    s = report.result.summary
    assert s.requests == 35 and s.served == 35 and s.dropped == 0
    assert report.status_counts == {"200": 35}
    # an immediate answer: well under the SLO unless this machine is starved for CPU
    assert report.latency_s["p50"] is not None and 0 < report.latency_s["p50"] < 2.0


@GENERATORS
def test_server_errors_count_as_dropped(server: str, generator: str) -> None:
    report = run_load(trace_of([10, 10]), f"{server}/flaky", ServiceModel(), generator=generator)
    s = report.result.summary
    assert s.dropped == report.status_counts["503"] == 10
    assert s.served == 10
    assert s.slo_violation_s == 2  # half of each second failed


@GENERATORS
def test_slow_answers_are_over_the_slo(server: str, generator: str) -> None:
    report = run_load(trace_of([4, 4]), f"{server}/slow", ServiceModel(slo_s=0.1), generator=generator)
    s = report.result.summary
    assert s.served == 8 and s.over_slo == 8 and s.slo_violation_s == 2
    assert report.latency_s["p50"] is not None and report.latency_s["p50"] >= 0.3


def test_inflight_bound_drops_instead_of_waiting(server: str) -> None:
    report = run_load(trace_of([10]), f"{server}/slow", ServiceModel(), max_inflight=2, generator="httpx")
    assert report.unsent > 0
    assert report.result.summary.dropped == report.unsent
    assert report.result.summary.served == 10 - report.unsent


def test_hey_skips_seconds_while_earlier_ones_are_unanswered(server: str) -> None:
    # /serial answers 50 a second: the first seconds' 200 requests are still waiting when the
    # third second is due, so it and the later ones are not sent
    report = run_load(trace_of([200] * 5), f"{server}/serial", ServiceModel(), max_inflight=10)
    assert report.unsent >= 200
    assert report.result.summary.served + report.result.summary.dropped == 1000


def test_replicas_are_sampled_into_cost(server: str) -> None:
    counts = iter([1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3])
    report = run_load(
        trace_of([2, 2, 2]),
        f"{server}/ok",
        ServiceModel(),
        read_replicas=lambda: next(counts, 3),
        sample_s=0.5,
    )
    s = report.result.summary
    assert report.replicas_measured
    assert s.max_replicas == 3 and s.scale_events == 1
    assert 3 <= s.replica_seconds <= 9


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://10.0.0.1:8080/", id="private-address"),
        pytest.param("http://example.com/", id="public-name"),
        pytest.param("ftp://127.0.0.1/", id="not-http"),
        pytest.param("not a url", id="garbage"),
    ],
)
def test_only_loopback_targets(url: str) -> None:
    with pytest.raises(UsageError):
        check_target(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://localhost/x", "http://[::1]:80/"])
def test_loopback_targets_are_accepted(url: str) -> None:
    assert check_target(url).host in ("127.0.0.1", "localhost", "::1")


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text("timestamp,count\n0,60\n60,120\n120,240\n", encoding="utf-8")
    return path


def test_cli_json_beside_a_simulation(server: str, trace_file: Path) -> None:
    args = ["loadtest", "--trace", str(trace_file), "--time-scale", "60", "--duration-s", "3"]
    args += ["--max-rps", "20", "--target", f"{server}/ok", "--simulate", "hpa,static", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["command"] == "loadtest" and doc["baseline"] == "measured"
    assert [p["name"] for p in doc["policies"]] == ["measured", "hpa", "static"]
    measured = doc["policies"][0]["summary"]
    assert measured["requests"] == measured["served"] == 35  # 5 + 10 + 20
    assert set(doc["latency_s"]) == {"p50", "p95", "p99", "max"}
    assert doc["status_counts"] == {"200": 35} and doc["replicas_measured"] is False
    assert doc["policies"][1]["summary"]["requests"] == pytest.approx(35)


BAD = [
    pytest.param(["--target", "http://192.0.2.1/"], "not a loopback address", id="remote-target"),
    pytest.param(["--duration-s", "4000", "--time-scale", "0.01"], "at most 3600 s", id="too-long"),
    pytest.param(["--max-rps", "6000"], "at most 5000 requests/s", id="too-fast"),
    pytest.param(["--simulate", "hpa,nope"], "unknown policy 'nope'", id="unknown-policy"),
    pytest.param(["--backend", "compose"], "go together", id="backend-without-service"),
]


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_cli_bad_input_exits_2(trace_file: Path, extra: list[str], message: str) -> None:
    options = {
        "--trace": str(trace_file),
        "--duration-s": "3",
        "--max-rps": "20",
        "--target": "http://127.0.0.1:9/",
    }
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        options[flag] = value
    args = ["loadtest", *[part for pair in options.items() for part in pair]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


COMPOSE = """\
services:
  web:
    image: {image}
    command: ["python3", "-m", "http.server", "8000"]
    ports: ["127.0.0.1::8000"]
"""


@pytest.mark.docker
def test_replica_count_is_read_from_a_compose_project(tmp_path: Path, base_image: str) -> None:
    """Two real containers of one compose service: the load goes to one of them through its
    published port, and the compose backend's count (2) becomes the cost figures."""
    from toolkit import _docker
    from toolkit.simulate._loadtest import backend_reader

    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(COMPOSE.format(image=base_image), encoding="utf-8")
    project = f"tkt-loadtest-{uuid.uuid4().hex[:8]}"
    try:
        _docker.compose_up([compose_file], project, scale={"web": 2}, timeout_s=90)
        host, port = _docker.compose_port([compose_file], project, "web", 8000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{host}:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        reader = backend_reader("compose", project, "web")
        report = run_load(
            trace_of([5, 5, 5, 5]), f"http://{host}:{port}/", ServiceModel(), read_replicas=reader
        )
    finally:
        _docker.compose_down([compose_file], project)
    s = report.result.summary
    assert s.served == 20 and s.dropped == 0
    assert s.max_replicas == 2 and s.scale_events == 0
    assert s.replica_seconds == 2 * 4
