"""``toolkit deploy swarm``: the stack file, and a real single-node swarm."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.helpers import Registry, http_get, remove_images, run_cli, run_json
from toolkit.deploy._images import stack_images
from toolkit.deploy._stack import load_stack
from toolkit.deploy._state import free_port
from toolkit.deploy._swarm import remove, stack_file, wait_converged


def _file(shop_stack: Path, **kwargs: Any) -> dict[str, Any]:
    stack = load_stack(shop_stack)
    images = stack_images(stack, registry="127.0.0.1:5000", tag=None, build_args={})
    return stack_file(stack, images, **kwargs)


def test_stack_file_has_images_not_builds_and_rolling_update_settings(shop_stack: Path) -> None:
    doc = _file(shop_stack, replicas={"orders": 2}, published_port=30080)
    assert doc["version"] == "3.8"
    for name, service in doc["services"].items():
        assert "build" not in service
        assert service["image"].startswith(f"127.0.0.1:5000/{load_stack(shop_stack).project}-{name}:")
        update = service["deploy"]["update_config"]
        assert update["failure_action"] == "rollback"
        assert service["deploy"]["rollback_config"]["parallelism"] == 1
        assert service["networks"] == ["backend"]
    # A service with a volume cannot run two tasks on it at once, nor can two gateways hold one
    # host port: stop-first; others start-first.
    orders = {name: s["deploy"]["update_config"]["order"] for name, s in doc["services"].items()}
    assert orders == {"catalog": "stop-first", "gateway": "stop-first", "orders": "start-first"}
    assert {s["deploy"]["endpoint_mode"] for s in doc["services"].values()} == {"dnsrr"}
    assert doc["services"]["orders"]["deploy"]["replicas"] == 2
    assert doc["services"]["catalog"]["deploy"]["replicas"] == 1
    assert doc["services"]["orders"]["deploy"]["resources"]["limits"] == {"cpus": "0.25", "memory": "64M"}
    assert doc["services"]["gateway"]["ports"] == [
        {"target": 8080, "published": 30080, "protocol": "tcp", "mode": "host"}
    ]
    assert all("ports" not in doc["services"][s] for s in ("catalog", "orders"))
    assert doc["networks"]["backend"]["driver"] == "overlay"
    assert doc["volumes"] == {"catalog-data": {}}
    assert doc["services"]["orders"]["labels"]["toolkit.metrics-port"] == "8000"


def test_mesh_routing_uses_ingress_and_virtual_ips(shop_stack: Path) -> None:
    doc = _file(shop_stack, published_port=30080, routing="mesh")
    assert doc["services"]["gateway"]["ports"][0]["mode"] == "ingress"
    assert doc["services"]["gateway"]["deploy"]["update_config"]["order"] == "start-first"
    assert {s["deploy"]["endpoint_mode"] for s in doc["services"].values()} == {"vip"}


def test_policy_sets_initial_replicas(shop_stack: Path, tmp_path: Path) -> None:
    policy = tmp_path / "scaling.yaml"
    policy.write_text("version: 1\nservices:\n  orders: {min_replicas: 2, max_replicas: 5}\n")
    result = run_cli(
        "deploy",
        "swarm",
        str(shop_stack),
        "--policy",
        str(policy),
        "--no-apply",
        "--no-build",
        "--out",
        str(tmp_path / "s.yaml"),
        "--tag",
        "t1",
    )
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load((tmp_path / "s.yaml").read_text())
    assert doc["services"]["orders"]["deploy"]["replicas"] == 2
    assert doc["services"]["orders"]["image"].endswith("-orders:t1")


def test_a_stack_without_a_fixed_port_gets_one_and_keeps_it(tmp_path: Path) -> None:
    from toolkit.scaffold import render_service

    service_dir = render_service("tkt-swarm-one", tmp_path / "src")
    args = ["deploy", "swarm", str(service_dir), "--no-build", "--no-apply"]
    first = run_json(*args)
    second = run_json(*args)
    assert first["url"] is not None and first["url"] == second["url"]
    doc = yaml.safe_load(Path(first["stack_file"]).read_text())
    (port,) = doc["services"]["tkt-swarm-one"]["ports"]
    assert (port["target"], port["mode"]) == (8000, "host")


class _Poller(threading.Thread):
    """Requests the gateway in a loop and counts answers and failures."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.ok = 0
        self.failures: list[str] = []
        self.versions: set[str] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                _status, body = http_get(self.url, timeout_s=5)
                self.versions.add(json.loads(body)["version"])
                self.ok += 1
            except (OSError, ValueError) as err:
                self.failures.append(repr(err))
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def _image_of(service: str) -> str:
    out = subprocess.run(
        ["docker", "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", service],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return out.split("@", 1)[0]


@pytest.mark.docker
def test_deploy_without_a_swarm_says_what_to_do(shop_stack: Path) -> None:
    manager = subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.ControlAvailable}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if manager == "true":
        # The swarm fixture is module-scoped and this test runs before its first use here, so
        # only a swarm the machine had before the tests (never in CI) gets here.
        pytest.skip("this engine was already a swarm manager before the tests")
    result = run_cli("deploy", "swarm", str(shop_stack), "--no-build", "--tag", "t")
    assert result.exit_code == 1
    assert "docker swarm init" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2  # progress line, then the one error line


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_swarm_deploy_rolling_update_and_autoscaling(
    swarm: None, shop_stack: Path, registry: Registry, base_image: str, tmp_path: Path
) -> None:
    name = load_stack(shop_stack).project
    port = free_port()
    common = ["--registry", registry.address, "--port", str(port), "--build-arg", f"BASE_IMAGE={base_image}"]
    try:
        first = run_json("deploy", "swarm", str(shop_stack), *common)
        assert first["deployed"] is True
        assert first["url"] == f"http://127.0.0.1:{port}"
        assert first["scrape_network"] == f"{name}-host"
        assert {s: (v["running"], v["desired"]) for s, v in first["services"].items()} == {
            f"{name}_catalog": (1, 1),
            f"{name}_gateway": (1, 1),
            f"{name}_orders": (1, 1),
        }
        assert json.loads(http_get(f"{first['url']}/catalog/x")[1])["service"] == "catalog"
        before = {s: _image_of(f"{name}_{s}") for s in ("catalog", "gateway", "orders")}
        assert all(ref.startswith(registry.address) for ref in before.values())

        # Rolling update of one service: change its source, deploy again, poll the gateway.
        app = shop_stack / "orders" / "app.py"
        app.write_text(app.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
        poller = _Poller(f"{first['url']}/orders/")
        poller.start()
        try:
            run_json("deploy", "swarm", str(shop_stack), *common)
            time.sleep(2)
        finally:
            poller.stop()
        after = {s: _image_of(f"{name}_{s}") for s in ("catalog", "gateway", "orders")}
        assert after["catalog"] == before["catalog"] and after["gateway"] == before["gateway"]
        assert after["orders"] != before["orders"]
        assert poller.versions == {"1", "2"}, poller.versions
        assert poller.ok > 50
        assert poller.failures == [], f"{len(poller.failures)} failures of {poller.ok}: {poller.failures[:3]}"

        # The real `toolkit autoscale` on the deployed stack: the policy names the services as
        # the stack does (`orders`, not `<stack>_orders`), the replicas are scraped at their
        # addresses on the stack's host network, and one tick raises orders to its minimum.
        policy = tmp_path / "autoscale.yaml"
        policy.write_text(
            "version: 1\ndefaults: {algorithm: hpa, metric: inflight_per_replica, target: 5}\n"
            "services:\n  orders: {min_replicas: 3, max_replicas: 4}\n"
            "  catalog: {min_replicas: 1, max_replicas: 2}\n"
        )
        autoscale = ["autoscale", "--backend", "swarm", "--stack", name, "--policy", str(policy)]
        autoscale += ["--network", first["scrape_network"], "--lock-dir", str(tmp_path), "--once"]
        tick = run_json(*autoscale)["last_tick"]
        assert tick["errors"] == []
        decided = {s["service"]: s for s in tick["services"]}
        assert {n: (s["current"], s["desired"], s["acted"]) for n, s in decided.items()} == {
            "catalog": (1, 1, False),
            "orders": (1, 3, True),
        }
        # Below its minimum, HPA goes straight to it without reading the metric (as Kubernetes);
        # catalog's value means the controller read /metrics on the stack's host network.
        assert decided["catalog"]["metric_value"] is not None
        status = wait_converged(name, timeout_s=120)
        assert (status[f"{name}_orders"]["desired"], status[f"{name}_orders"]["running"]) == (3, 3)
        assert status[f"{name}_catalog"]["desired"] == 1  # untouched
        # The next tick reads the 3 replicas' metrics and keeps them (the minimum).
        again = {s["service"]: s for s in run_json(*autoscale)["last_tick"]["services"]}["orders"]
        assert (again["current"], again["ready"], again["acted"]) == (3, 3, False)
        assert again["metric_value"] is not None, again
        hosts = {json.loads(http_get(f"{first['url']}/orders/")[1])["host"] for _ in range(60)}
        assert len(hosts) == 3
    finally:
        remove(name, volumes=True)
        remove_images(name)
