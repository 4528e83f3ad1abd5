"""The swarm backend on a real single-node swarm (Engine API over the unix socket)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from controller.stack import service_image

from toolkit import _docker
from toolkit.backends import BackendOptions, ServiceState, make_backend
from toolkit.backends.swarm import SwarmBackend

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def swarm_service(swarm: None, base_image: str) -> Iterator[tuple[str, str]]:
    image = service_image(base_image)
    suffix = uuid.uuid4().hex[:6]
    network, name, label = f"tkt-as-net-{suffix}", f"tkt-as-svc-{suffix}", f"tkt.autoscale.test={suffix}"
    # A swarm-scoped bridge network: task containers get addresses the host can reach.
    _docker.run(["network", "create", "--scope", "swarm", "--driver", "bridge", "--attachable", network])
    create = ["service", "create", "--detach", "--name", name, "--network", network, "--label", label]
    _docker.run([*create, "--replicas", "1", image])
    yield name, label
    _docker.run(["service", "rm", name], check=False)
    deadline = time.monotonic() + 30
    while (
        _docker.run(["network", "rm", network], check=False).returncode != 0 and time.monotonic() < deadline
    ):
        time.sleep(1)


def _wait_for(backend: SwarmBackend, service: str, ready: int, timeout_s: float = 90) -> ServiceState:
    deadline = time.monotonic() + timeout_s
    while True:
        state = backend.snapshot().get(service)
        if (
            state and state.ready_replicas == ready and len(state.replicas) == ready
        ) or time.monotonic() > deadline:
            assert state is not None
            return state
        time.sleep(1)


def test_snapshot_and_scale_through_the_engine_api(swarm_service: tuple[str, str]) -> None:
    name, label = swarm_service
    backend = make_backend("swarm", BackendOptions(label_selector=label))
    assert isinstance(backend, SwarmBackend) and backend.self_healing
    assert list(backend.snapshot()) == [name]  # only the labelled service
    state = _wait_for(backend, name, ready=1)
    assert (state.spec_replicas, state.ready_replicas) == (1, 1)
    metrics = httpx.get(f"http://{state.replicas[0].address}/metrics", timeout=5)
    assert metrics.status_code == 200 and "http_requests_in_flight" in metrics.text

    backend.scale(name, 3)
    assert backend.snapshot()[name].spec_replicas == 3
    assert _wait_for(backend, name, ready=3).ready_replicas == 3
    backend.scale(name, 1)  # a second update reads the new version: no conflict
    assert backend.snapshot()[name].spec_replicas == 1
    assert (
        _docker.run(
            ["service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", name]
        ).stdout.strip()
        == "1"
    )
