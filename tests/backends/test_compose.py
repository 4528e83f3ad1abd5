"""The compose backend against the real engine and Compose v2, on a generated service."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from controller.stack import compose_stack, service_image

from toolkit import _docker
from toolkit.backends import BackendOptions, ServiceState, make_backend
from toolkit.backends.compose import ComposeBackend

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def project(tmp_path: Path, base_image: str) -> Iterator[tuple[str, Path]]:
    service_image(base_image)
    name = f"tkt-as-compose-{uuid.uuid4().hex[:6]}"
    compose_file = compose_stack(tmp_path, ["a", "b"], gateway=False)
    _docker.compose_up([compose_file], name, timeout_s=120)
    yield name, compose_file
    _docker.compose_down([compose_file], name)


def _wait_for(backend: ComposeBackend, service: str, ready: int, timeout_s: float = 60) -> ServiceState:
    deadline = time.monotonic() + timeout_s
    while True:
        state = backend.snapshot()[service]
        if (state.ready_replicas == ready and len(state.replicas) == ready) or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def _container_ids(compose_file: Path, project: str, service: str) -> set[str]:
    return {row["ID"][:12] for row in _docker.compose_ps([compose_file], project, service)}


def test_snapshot_scale_up_and_down_without_recreating(project: tuple[str, Path], tmp_path: Path) -> None:
    name, compose_file = project
    backend = make_backend("compose", BackendOptions(project=name, lock_dir=str(tmp_path)))
    assert isinstance(backend, ComposeBackend)
    snapshot = backend.snapshot()
    assert sorted(snapshot) == ["a", "b"]
    a = snapshot["a"]
    assert (a.spec_replicas, a.ready_replicas, len(a.replicas)) == (1, 1, 1)
    # The address is the container's own, reachable from the host: its /metrics answers.
    metrics = httpx.get(f"http://{a.replicas[0].address}/metrics", timeout=5)
    assert metrics.status_code == 200 and "http_requests_in_flight" in metrics.text
    original = _container_ids(compose_file, name, "a")

    backend.scale("a", 3)
    assert backend.snapshot()["a"].spec_replicas == 3
    scaled = _wait_for(backend, "a", ready=3)
    assert scaled.ready_replicas == 3
    assert original <= _container_ids(compose_file, name, "a")  # the first one was not recreated
    assert backend.snapshot()["b"].spec_replicas == 1  # --no-deps: b untouched

    backend.scale("a", 1)
    assert backend.snapshot()["a"].spec_replicas == 1
    assert _container_ids(compose_file, name, "a") == original


def test_a_container_removed_from_outside_lowers_the_count(project: tuple[str, Path], tmp_path: Path) -> None:
    name, compose_file = project
    backend = make_backend("compose", BackendOptions(project=name, lock_dir=str(tmp_path)))
    backend.scale("a", 2)
    _wait_for(backend, "a", ready=2)
    victim = sorted(_container_ids(compose_file, name, "a"))[0]
    _docker.run(["rm", "--force", victim])
    assert backend.snapshot()["a"].spec_replicas == 1


def test_one_lock_per_project(project: tuple[str, Path], tmp_path: Path) -> None:
    name, _ = project
    first = make_backend("compose", BackendOptions(project=name, lock_dir=str(tmp_path))).lock()
    second = make_backend("compose", BackendOptions(project=name, lock_dir=str(tmp_path))).lock()
    other = make_backend("compose", BackendOptions(project=name + "-x", lock_dir=str(tmp_path))).lock()
    assert first.try_acquire() and first.try_acquire()
    assert not second.try_acquire()
    assert other.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
    other.release()


def test_controller_puts_back_a_removed_container(project: tuple[str, Path], tmp_path: Path) -> None:
    from controller.doubles import FakeClock

    from toolkit.metrics import make_source
    from toolkit.scale import Policy, default_service_policy
    from toolkit.scale.controller import Controller

    name, compose_file = project
    backend = make_backend("compose", BackendOptions(project=name, lock_dir=str(tmp_path)))
    service = default_service_policy("hpa", min_replicas=2, max_replicas=4, target=10.0)
    policy = Policy(defaults=service, services={"a": service})
    clock = FakeClock()  # the loop's clock: the next tick is due when the test says so
    controller = Controller(backend, make_source("scrape"), policy, clock=clock, log=lambda _: None)
    try:
        first = controller.tick()  # 1 container, min 2: scaled up through compose
        assert first.services[0].acted and backend.snapshot()["a"].spec_replicas == 2
        survivor, victim = sorted(_container_ids(compose_file, name, "a"))
        _docker.run(["rm", "--force", victim])
        assert backend.snapshot()["a"].spec_replicas == 1
        clock.wait(controller.period_s)
        second = controller.tick()
        assert second.services[0].acted and second.services[0].desired == 2
        ids = _container_ids(compose_file, name, "a")
        assert len(ids) == 2 and survivor in ids and victim not in ids
    finally:
        controller.close()
