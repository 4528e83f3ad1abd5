"""The kubernetes backend against FakeKubernetesAPI: the exact requests it sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from controller.doubles import FakeClock, LoadSource

from toolkit._errors import BackendError
from toolkit.backends import BackendOptions, make_backend
from toolkit.backends.kubernetes import KubernetesBackend, KubernetesLease
from toolkit.scale import Policy, default_service_policy
from toolkit.scale.controller import Controller

from .fake_kubernetes import FakeKubernetesAPI, deployment, pod

NS = "shop"
MANAGED = "app.kubernetes.io/managed-by=toolkit"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKubernetesAPI]:
    api = FakeKubernetesAPI()
    api.start()
    labels = {"app.kubernetes.io/managed-by": "toolkit"}
    api.add_deployment(deployment("orders", NS, replicas=3, ready=2, labels=labels))
    api.add_deployment(deployment("catalog", NS, replicas=1, ready=1, labels=labels))
    api.add_deployment(deployment("postgres", NS, replicas=1, ready=1, labels={}))  # not managed
    api.pods += [
        pod("orders-a", NS, "orders", "10.1.0.1"),
        pod("orders-b", NS, "orders", "10.1.0.2", ready=False),
        pod("orders-c", NS, "orders", "10.1.0.3", terminating=True),
        pod("orders-d", NS, "orders", "10.1.0.4", phase="Pending"),
        pod("catalog-a", NS, "catalog", "10.1.0.9", annotations={"prometheus.io/port": "9100"}),
        pod("other-ns", "elsewhere", "orders", "10.2.0.1"),
    ]
    yield api
    api.stop()


def _backend(fake: FakeKubernetesAPI, tmp_path: Path) -> KubernetesBackend:
    options = BackendOptions(
        namespace=NS, label_selector=MANAGED, kubeconfig=str(fake.kubeconfig(tmp_path / "kubeconfig"))
    )
    backend = make_backend("kubernetes", options)
    assert isinstance(backend, KubernetesBackend)
    return backend


def test_snapshot_is_two_list_calls_and_reads_counts_and_pods(
    fake: FakeKubernetesAPI, tmp_path: Path
) -> None:
    snapshot = _backend(fake, tmp_path).snapshot()
    sent = [(r.method, r.path, r.query) for r in fake.requests]
    assert sent == [
        ("GET", f"/apis/apps/v1/namespaces/{NS}/deployments", {"labelSelector": [MANAGED]}),
        ("GET", f"/api/v1/namespaces/{NS}/pods", {}),
    ]
    assert all(r.authorization == f"Bearer {FakeKubernetesAPI.TOKEN}" for r in fake.requests)
    assert sorted(snapshot) == ["catalog", "orders"]
    orders = snapshot["orders"]
    assert (orders.spec_replicas, orders.ready_replicas) == (3, 2)
    assert [(r.replica_id, r.address, r.ready) for r in orders.replicas] == [
        ("orders-a", "10.1.0.1:8000", True),
        ("orders-b", "10.1.0.2:8000", False),
    ]
    assert [r.address for r in snapshot["catalog"].replicas] == ["10.1.0.9:9100"]


def test_scale_patches_the_scale_subresource(fake: FakeKubernetesAPI, tmp_path: Path) -> None:
    _backend(fake, tmp_path).scale("orders", 5)
    [request] = fake.requests
    assert (request.method, request.path) == (
        "PATCH",
        f"/apis/apps/v1/namespaces/{NS}/deployments/orders/scale",
    )
    assert request.content_type == "application/merge-patch+json"
    assert request.body == {"spec": {"replicas": 5}}
    assert fake.deployments[(NS, "orders")]["spec"]["replicas"] == 5


@pytest.mark.parametrize(
    ("status", "call", "message"),
    [
        pytest.param(403, "snapshot", "list deployments: 403", id="forbidden-list"),
        pytest.param(404, "scale", "scale deployment orders: 404", id="missing-deployment"),
        pytest.param(500, "scale", "scale deployment orders: 500", id="server-error"),
    ],
)
def test_api_errors_are_one_line_backend_errors(
    fake: FakeKubernetesAPI, tmp_path: Path, status: int, call: str, message: str
) -> None:
    backend = _backend(fake, tmp_path)
    fake.fail_with = status
    with pytest.raises(BackendError, match=message) as caught:
        backend.snapshot() if call == "snapshot" else backend.scale("orders", 2)
    assert "\n" not in str(caught.value)


def test_unreachable_api_is_a_backend_error(fake: FakeKubernetesAPI, tmp_path: Path) -> None:
    backend = _backend(fake, tmp_path)
    fake.stop()
    with pytest.raises(BackendError, match="unreachable"):
        backend.snapshot()


def test_lease_gives_one_leader_and_expires(fake: FakeKubernetesAPI, tmp_path: Path) -> None:
    backend = _backend(fake, tmp_path)
    clock = FakeClock(start_s=1_800_000_000.0)
    api = backend._coordination
    first = KubernetesLease(api, NS, "toolkit-autoscale", duration_s=30, identity="first", clock=clock)
    second = KubernetesLease(api, NS, "toolkit-autoscale", duration_s=30, identity="second", clock=clock)

    assert first.try_acquire()
    create = fake.requests[-1]
    assert (create.method, create.path) == ("POST", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases")
    assert create.body["spec"]["holderIdentity"] == "first"
    assert create.body["spec"]["leaseDurationSeconds"] == 30
    assert create.body["spec"]["renewTime"].startswith("2027-01-15T08:00:00")

    assert not second.try_acquire()  # held and fresh
    assert fake.requests[-1].method == "GET"
    clock.wait(10)
    assert first.try_acquire()  # renewal: a PUT carrying the resourceVersion it read
    renew = fake.requests[-1]
    assert renew.method == "PUT" and renew.body["metadata"]["resourceVersion"] == "1"
    assert renew.body["spec"]["leaseTransitions"] == 0

    clock.wait(31)  # first stops renewing (crashed): the lease expires
    assert second.try_acquire()
    takeover = fake.requests[-1].body["spec"]
    assert (takeover["holderIdentity"], takeover["leaseTransitions"]) == ("second", 1)
    assert not first.try_acquire()

    second.release()
    assert fake.leases[(NS, "toolkit-autoscale")]["spec"].get("holderIdentity") is None
    assert first.try_acquire()  # released: no need to wait out the duration


def test_controller_scales_a_deployment_through_the_fake(fake: FakeKubernetesAPI, tmp_path: Path) -> None:
    backend = _backend(fake, tmp_path)
    service = default_service_policy("hpa", target=10.0, max_replicas=8)
    policy = Policy(defaults=service, services={"orders": service, "catalog": service})
    controller = Controller(
        backend, LoadSource({"orders": 60.0, "catalog": 5.0}), policy, clock=FakeClock(), log=lambda _: None
    )
    report = controller.tick()
    assert report.leader and not report.errors
    patches = [r for r in fake.requests if r.method == "PATCH"]
    # orders: 60 rps over 1 ready replica with a metric (the unready one is ignored on the way
    # up, HPA's rule) against 10 per replica: 6 wanted, HPA's up limit 4 pods allows 3 + 4.
    assert [(r.path.rsplit("/", 2)[-2], r.body) for r in patches] == [("orders", {"spec": {"replicas": 6}})]
    assert fake.deployments[(NS, "orders")]["spec"]["replicas"] == 6
    controller.close()
