"""The swarm backend: how swarm services get their policy names (a pure function over the
specs ``GET /services`` lists), then a real single-node swarm (Engine API over the unix socket).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from controller.stack import service_image

from toolkit import _docker
from toolkit._errors import BackendError
from toolkit.backends import BackendOptions, ServiceState, make_backend
from toolkit.backends.swarm import SwarmBackend, policy_names


def _spec(name: str, **labels: str) -> dict[str, Any]:
    """A service as ``GET /services`` lists it (only the fields the mapping reads)."""
    return {"ID": f"id-{name}", "Spec": {"Name": name, "Labels": labels}}


NS = "com.docker.stack.namespace"
NAMING_CASES = [
    # (services, stack, expected policy name -> swarm service name)
    pytest.param([_spec("orders")], None, {"orders": "orders"}, id="plain-name"),
    pytest.param(
        [_spec("shop_orders", **{NS: "shop", "toolkit.service": "orders"})],
        None,
        {"orders": "shop_orders"},
        id="toolkit-label-wins-without-stack",
    ),
    pytest.param(
        [_spec("shop_orders", **{NS: "shop", "toolkit.service": "orders"})],
        "shop",
        {"orders": "shop_orders"},
        id="toolkit-label-with-stack",
    ),
    pytest.param(
        [_spec("shop_orders", **{NS: "shop"}), _spec("shop_catalog", **{NS: "shop"})],
        "shop",
        {"orders": "shop_orders", "catalog": "shop_catalog"},
        id="stack-prefix-stripped",
    ),
    pytest.param(
        [_spec("shop_orders", **{NS: "shop"})],
        None,
        {"shop_orders": "shop_orders"},
        id="no-stack-keeps-prefix",
    ),
    pytest.param(
        [_spec("shop_orders", **{NS: "other"})],
        "shop",
        {"shop_orders": "shop_orders"},
        id="other-namespace-kept",
    ),
    pytest.param(
        [_spec("standalone", **{NS: "shop"})], "shop", {"standalone": "standalone"}, id="no-prefix-kept"
    ),
    pytest.param(
        [_spec("shop_web", **{NS: "shop", "toolkit.service": "orders"})],
        "shop",
        {"orders": "shop_web"},
        id="label-beats-stripped-name",
    ),
    pytest.param(
        [_spec("a_orders", **{NS: "a", "toolkit.service": "orders"}), _spec("b_orders", **{NS: "b"})],
        "a",
        {"orders": "a_orders", "b_orders": "b_orders"},
        id="same-name-other-stack-unlabelled",
    ),
    pytest.param([], "shop", {}, id="empty"),
]


@pytest.mark.parametrize(("services", "stack", "expected"), NAMING_CASES)
def test_policy_names(services: list[dict[str, Any]], stack: str | None, expected: dict[str, str]) -> None:
    named = policy_names(services, stack)
    assert {name: s["Spec"]["Name"] for name, s in named.items()} == expected


AMBIGUOUS_CASES = [
    pytest.param(
        [
            _spec("shop_orders", **{NS: "shop", "toolkit.service": "orders"}),
            _spec("tea_orders", **{NS: "tea", "toolkit.service": "orders"}),
        ],
        None,
        ("'shop_orders' and 'tea_orders' are both known as 'orders'", "--stack"),
        id="two-stacks-no-filter",
    ),
    pytest.param(
        [_spec("shop_orders", **{NS: "shop"}), _spec("orders", **{NS: "shop"})],
        "shop",
        ("'orders' and 'shop_orders' are both known as 'orders'",),
        id="stripped-meets-plain-in-one-stack",
    ),
    pytest.param(
        [_spec("web", **{"toolkit.service": "api"}), _spec("api")],
        None,
        ("'api' and 'web' are both known as 'api'", "--stack"),
        id="label-meets-plain-name",
    ),
]


@pytest.mark.parametrize(("services", "stack", "fragments"), AMBIGUOUS_CASES)
def test_ambiguous_policy_names_name_both_services(
    services: list[dict[str, Any]], stack: str | None, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(BackendError) as raised:
        policy_names(services, stack)
    message = str(raised.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    if stack:
        assert "--stack" not in message  # a stack was given: the hint would not help


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


@pytest.mark.docker
@pytest.mark.slow
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


@pytest.fixture
def two_stacks(swarm: None, base_image: str) -> Iterator[tuple[str, str, str]]:
    """Services ``<a>_web`` and ``<b>_web`` carrying the labels ``docker stack deploy`` and
    ``toolkit deploy swarm`` put on them (namespace, ``toolkit.service=web``), at 0 replicas."""
    image = service_image(base_image)
    suffix = uuid.uuid4().hex[:6]
    stacks, label = (f"tkt-as-a{suffix}", f"tkt-as-b{suffix}"), f"tkt.autoscale.test={suffix}"
    for stack in stacks:
        labels = [f"com.docker.stack.namespace={stack}", "toolkit.service=web", label]
        flags = [arg for value in labels for arg in ("--label", value)]
        _docker.run(
            ["service", "create", "--detach", "--name", f"{stack}_web", *flags, "--replicas", "0", image]
        )
    yield stacks[0], stacks[1], label
    for stack in stacks:
        _docker.run(["service", "rm", f"{stack}_web"], check=False)


def _replicas(service: str) -> str:
    fmt = "{{.Spec.Mode.Replicated.Replicas}}"
    return _docker.run(["service", "inspect", "--format", fmt, service]).stdout.strip()


@pytest.mark.docker
@pytest.mark.slow
def test_stack_services_by_policy_name_and_ambiguity(two_stacks: tuple[str, str, str]) -> None:
    a, b, label = two_stacks
    both = make_backend("swarm", BackendOptions(label_selector=label))
    with pytest.raises(BackendError, match=f"'{a}_web' and '{b}_web' are both known as 'web'.*--stack"):
        both.snapshot()
    with pytest.raises(BackendError, match="both known as 'web'"):
        both.scale("web", 1)  # never a silent pick of one of them

    only_b = make_backend("swarm", BackendOptions(label_selector=label, stack=b))
    assert {name: s.spec_replicas for name, s in only_b.snapshot().items()} == {"web": 0}
    only_b.scale("web", 2)
    assert (_replicas(f"{b}_web"), _replicas(f"{a}_web")) == ("2", "0")
    only_b.scale("web", 0)
    assert _replicas(f"{b}_web") == "0"
    with pytest.raises(BackendError, match=f"no swarm service known as 'api' in stack '{b}'"):
        only_b.scale("api", 1)
    # Each stack's controller takes its own lock: one per stack can lead at a time.
    only_a = make_backend("swarm", BackendOptions(label_selector=label, stack=a))
    assert only_a.lock().describe() != only_b.lock().describe()
