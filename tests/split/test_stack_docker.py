"""The split shop in a real Docker engine: parity with the monolith, the shop's own suite through
the gateway, and traffic reaching every replica of a scaled service.

One stack serves the whole module (building it is the slow part): ``verify`` starts the monolith
and the split stack with ``orders`` at three replicas, compares them on a fresh database (the
generated requests, then the recorded shop session in shop-requests.jsonl), and
leaves the stack running (``keep=True``) for the other tests, in file order.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from toolkit import _docker
from toolkit.analyze.plan import Plan
from toolkit.split import ParityReport, RunningStack, probe, split, stack_down, stack_up, verify

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ORDERS_REPLICAS = 3


@pytest.fixture(scope="module")
def verified(
    shop: Path, shop_plan: Plan, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ParityReport, RunningStack]]:
    out = split(shop, tmp_path_factory.mktemp("split") / "shop-split", shop_plan).out
    project = f"tkt-split-{uuid.uuid4().hex[:8]}"
    report, stack = verify(
        shop,
        out,
        base_image=base_image,
        scale={"orders": ORDERS_REPLICAS},
        recorded=Path(__file__).with_name("shop-requests.jsonl"),
        ignore_fields=("created_at",),
        project=project,
        keep=True,
    )
    assert stack is not None
    try:
        yield report, stack
    finally:
        stack_down(stack, remove_images=True)
        left = _docker.run(
            ["ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={project}"]
        )
        assert left.stdout.strip() == ""


def test_parity_with_the_monolith_is_complete(verified: tuple[ParityReport, RunningStack]) -> None:
    report, _ = verified
    differences = [r.first_difference for r in report.routes if not r.equal]
    assert differences == []
    assert report.parity_percent == 100.0
    assert report.untested_routes == []
    assert len(report.routes) == 19  # every route of the shop's plan was exercised
    # generated requests (one per route) plus the recorded session: a paid order across four
    # services, its cancellation, a second cancel (409) and a declined card (402)
    assert sum(r.requests for r in report.routes) == 19 + 16


def test_every_container_is_healthy(verified: tuple[ParityReport, RunningStack]) -> None:
    _, stack = verified
    rows = _docker.compose_ps([stack.compose_file], stack.project)
    health = {str(row["Name"]): str(row.get("Health", "")) for row in rows}
    assert len(health) == 1 + 1 + 4 + ORDERS_REPLICAS  # gateway, postgres, 4 services, orders x3
    assert set(health.values()) == {"healthy"}, health


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/_gateway/healthz", 200, id="gateway-health"),
        pytest.param("/metrics", 404, id="service-metrics-hidden"),
        pytest.param("/readyz", 404, id="service-readiness-hidden"),
        pytest.param("/_internal/shop.payments.service/charge", 404, id="internal-calls-hidden"),
        pytest.param("/no/such/route", 404, id="unknown-path"),
        pytest.param("/catalog/products", 200, id="a-route"),
    ],
)
def test_gateway_exposes_only_the_monolith_routes(
    verified: tuple[ParityReport, RunningStack], path: str, status: int
) -> None:
    _, stack = verified
    response = httpx.request("POST" if "_internal" in path else "GET", stack.gateway_url + path, timeout=10)
    assert response.status_code == status


def test_the_shops_own_suite_passes_through_the_gateway(
    verified: tuple[ParityReport, RunningStack], shop: Path
) -> None:
    _, stack = verified
    env = {**os.environ, "SHOP_BASE_URL": stack.gateway_url}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=shop,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"\b\d+ passed\b", done.stdout) and " failed" not in done.stdout


def _orders_requests(metrics_text: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("http_requests_total{") and 'route="/orders"' in line and 'method="GET"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_requests_through_the_gateway_reach_every_orders_replica(
    verified: tuple[ParityReport, RunningStack],
) -> None:
    _, stack = verified
    addresses = stack.replica_addresses("orders")
    assert len(addresses) == ORDERS_REPLICAS
    before = {
        ip: _orders_requests(httpx.get(f"http://{ip}:8000/metrics", timeout=5).text) for ip in addresses
    }
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        statuses = [client.get("/orders", params={"user_id": "usr_nobody"}).status_code for _ in range(60)]
    assert statuses == [200] * 60, stack.logs(tail=10)
    after = {ip: _orders_requests(httpx.get(f"http://{ip}:8000/metrics", timeout=5).text) for ip in addresses}
    served = {ip: after[ip] - before[ip] for ip in addresses}
    assert sum(served.values()) == 60
    assert all(count > 0 for count in served.values()), served


def test_probe_gets_every_parameterless_route(verified: tuple[ParityReport, RunningStack]) -> None:
    _, stack = verified
    answers = dict(probe(stack))
    assert set(answers) == {"/catalog/products", "/orders", "/payments"}
    assert answers["/catalog/products"] == 200
    assert answers["/orders"] == 422  # user_id is required, as in the monolith


def test_prometheus_scrapes_every_replica(
    verified: tuple[ParityReport, RunningStack], base_image: str
) -> None:
    _, stack = verified
    observed = stack_up(
        stack.out,
        project=stack.project,
        base_image=base_image,
        scale={"orders": ORDERS_REPLICAS},
        observability=True,
    )
    host_port = _docker.compose_port([observed.compose_file], observed.project, "prometheus", 9090)
    url = f"http://{host_port[0]}:{host_port[1]}/api/v1/query"
    deadline = time.monotonic() + 60
    targets: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        result = httpx.get(url, params={"query": "up == 1"}, timeout=5).json()["data"]["result"]
        targets = {}
        for series in result:
            targets.setdefault(series["metric"]["job"], set()).add(series["metric"]["instance"])
        if len(targets.get("orders", ())) == ORDERS_REPLICAS and len(targets) == 5:
            break
        time.sleep(1)
    assert {job: len(instances) for job, instances in targets.items()} == {
        "cart": 1,
        "catalog": 1,
        "orders": ORDERS_REPLICAS,
        "payments": 1,
        "users": 1,
    }
    assert targets["orders"] == {f"{ip}:8000" for ip in stack.replica_addresses("orders")}
