"""The generated service in the real Docker engine: build, health, metrics, user, scale,
graceful shutdown and clean removal.

The image is built once per session (on the local base image) and one Compose project,
named ``tkt-new-<random>``, is used by the module; it is removed at the end whatever happens.
Replicas are reached through their ephemeral loopback ports (``docker compose port``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from toolkit import _docker
from toolkit.scaffold import render_service

pytestmark = pytest.mark.docker

PORT = 8000


@dataclass(frozen=True)
class Stack:
    project_dir: Path
    service: str
    project: str
    env: dict[str, str]

    @property
    def files(self) -> list[Path]:
        return [self.project_dir / "compose.yaml"]

    def url(self, index: int = 1) -> str:
        host, port = _docker.compose_port(self.files, self.project, self.service, PORT, index=index)
        return f"http://{host}:{port}"

    def containers(self) -> list[dict[str, object]]:
        return _docker.compose_ps(self.files, self.project, self.service)


def _leftovers(project: str) -> dict[str, str]:
    label = f"label=com.docker.compose.project={project}"
    return {
        kind: _docker.run([*cmd, "--filter", label, "--quiet"]).stdout.strip()
        for kind, cmd in {
            "containers": ["ps", "--all"],
            "networks": ["network", "ls"],
            "volumes": ["volume", "ls"],
        }.items()
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[Stack]:
    suffix = secrets.token_hex(3)
    service = f"tkt-svc-{suffix}"
    project_dir = render_service(service, tmp_path_factory.mktemp("docker"))
    built = Stack(project_dir, service, f"tkt-new-{suffix}", {"BASE_IMAGE": base_image})
    try:
        _docker.compose(built.files, built.project, ["build", "--quiet"], env=built.env, timeout_s=900)
        _docker.compose_up(built.files, built.project, env=built.env, timeout_s=120)
        yield built
    finally:
        _docker.compose_down(built.files, built.project, env=built.env)
        _docker.run(["image", "rm", "--force", f"{service}:latest"], check=False)


def _wait_status(url: str, status: int, timeout_s: float = 10.0) -> bool:
    """Poll ``url`` until it answers ``status`` (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == status:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def _counter(url: str, route: str, status: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            wanted = {"route": route, "method": "GET", "status": status}
            if sample.name == "http_requests_total" and sample.labels == wanted:
                return float(sample.value)
    return 0.0


def test_image_is_built_on_the_local_base(stack: Stack, base_image: str) -> None:
    probe = ["run", "--rm", "--entrypoint", "python3"]
    code = "import sys; print(sys.version_info[:2])"
    in_image = _docker.run([*probe, f"{stack.service}:latest", "-c", code]).stdout
    in_base = _docker.run([*probe, base_image, "-c", code]).stdout
    assert in_image == in_base


def test_started_container_is_healthy_and_answers(stack: Stack) -> None:
    [container] = stack.containers()
    assert container["Health"] == "healthy"
    url = stack.url()
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{url}/readyz", timeout=5).json() == {"status": "ready"}


def test_example_route_increments_its_counter(stack: Stack) -> None:
    url = stack.url()
    before = _counter(url, "/items/{item_id}", "200")
    for item in range(3):
        assert httpx.get(f"{url}/items/{item}", timeout=5).status_code == 200
    assert _counter(url, "/items/{item_id}", "200") - before == 3


def test_runs_as_numeric_non_root_user(stack: Stack) -> None:
    uid = _docker.compose(stack.files, stack.project, ["exec", "-T", stack.service, "id", "-u"])
    assert uid.stdout.strip() == "10001"
    configured = _docker.run(["image", "inspect", "--format", "{{.Config.User}}", f"{stack.service}:latest"])
    assert configured.stdout.strip() == "10001:10001"


def test_scale_to_three_gives_three_healthy_replicas(stack: Stack) -> None:
    _docker.compose_up(stack.files, stack.project, scale={stack.service: 3}, env=stack.env, timeout_s=120)
    containers = stack.containers()
    assert len(containers) == 3
    assert [c["Health"] for c in containers] == ["healthy"] * 3
    urls = {stack.url(index) for index in (1, 2, 3)}
    assert len(urls) == 3  # one ephemeral host port each
    for url in urls:
        assert httpx.get(f"{url}/items/1", timeout=5).status_code == 200


def test_sigterm_during_a_slow_request_lets_it_finish(stack: Stack) -> None:
    [container, *_] = stack.containers()
    name = str(container["Name"])
    index = int(name.rsplit("-", 1)[1])
    url = stack.url(index)
    outcome: dict[str, object] = {}

    def slow_request() -> None:
        started = time.monotonic()
        outcome["response"] = httpx.get(f"{url}/items/42?delay_s=4", timeout=20)
        outcome["elapsed_s"] = time.monotonic() - started

    request = threading.Thread(target=slow_request)
    request.start()
    time.sleep(0.5)
    # `docker stop` sends SIGTERM (and is what `--scale` down does); unlike `docker kill` it
    # also keeps the restart policy from bringing the container back.
    stopper = threading.Thread(target=_docker.run, args=(["stop", "--time", "30", name],))
    stopper.start()
    assert _wait_status(f"{url}/readyz", 503)  # readiness flipped first ...
    assert request.is_alive()  # ... while the slow request is still running
    request.join(timeout=30)
    stopper.join(timeout=60)
    response = outcome["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200 and response.json()["item_id"] == 42
    exit_code = _docker.run(["inspect", "--format", "{{.State.ExitCode}}", name]).stdout.strip()
    assert exit_code == "0"  # a clean exit, not SIGKILL (137)


def test_down_leaves_no_container_network_or_volume(stack: Stack) -> None:
    assert _leftovers(stack.project)["containers"]  # the stack is there before
    _docker.compose_down(stack.files, stack.project, env=stack.env)
    assert _leftovers(stack.project) == {"containers": "", "networks": "", "volumes": ""}
