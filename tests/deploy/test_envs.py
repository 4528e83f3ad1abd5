"""``toolkit up`` / ``toolkit down``: isolated environments of one stack side by side."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from deploy.helpers import Registry, http_get, remove_images, run_cli, run_json
from toolkit.deploy._envs import environment_config
from toolkit.deploy._stack import load_stack
from toolkit.scaffold import render_service


def _docker_ids(kind: str, project: str) -> list[str]:
    """Containers, networks or volumes carrying the compose project label."""
    args = ["docker", kind, "ls", "--quiet", "--filter", f"label=com.docker.compose.project={project}"]
    if kind == "container":
        args.insert(3, "--all")
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()


def test_environment_config_publishes_only_the_gateway_on_the_chosen_port(shop_stack: Path) -> None:
    stack = load_stack(shop_stack, project="tkt-x-dev")
    doc = environment_config(stack.config, gateway="gateway", port=23456, build_args={"BASE_IMAGE": "b"})
    gateway_ports = doc["services"]["gateway"]["ports"]
    assert [(p["published"], p["target"], p["host_ip"]) for p in gateway_ports] == [
        ("23456", 8080, "127.0.0.1")
    ]
    assert all("ports" not in doc["services"][s] for s in ("catalog", "orders"))
    assert doc["services"]["orders"]["build"]["args"] == {"BASE_IMAGE": "b"}
    assert doc["volumes"]["catalog-data"]["name"] == "tkt-x-dev_catalog-data"
    # The stack's own config is not modified.
    assert stack.config["services"]["gateway"]["ports"][0]["published"] == "18080"


def test_container_name_is_refused(shop_stack: Path) -> None:
    compose = shop_stack / "compose.yaml"
    compose.write_text(compose.read_text().replace("  orders:\n", "  orders:\n    container_name: fixed\n"))
    result = run_cli("up", str(shop_stack), "--env", "dev")
    assert result.exit_code == 2
    assert "container_name" in result.stderr


@pytest.mark.parametrize(
    "env", ["Dev", "-x", "a_b", "x" * 40], ids=["upper", "dash-first", "underscore", "long"]
)
def test_bad_env_names_are_refused(shop_stack: Path, env: str) -> None:
    result = run_cli("up", str(shop_stack), "--env", env)
    assert result.exit_code == 2
    assert "--env" in result.stderr


@pytest.mark.docker
def test_two_environments_side_by_side_and_down_removes_only_one(
    shop_stack: Path, base_image: str, state_dir: Path
) -> None:
    project = load_stack(shop_stack).project
    build_arg = f"BASE_IMAGE={base_image}"
    try:
        dev = run_json("up", str(shop_stack), "--env", "dev", "--build-arg", build_arg)
        test = run_json("up", str(shop_stack), "--env", "test", "--build-arg", build_arg)
        assert dev["project"] == f"{project}-dev" and test["project"] == f"{project}-test"
        assert dev["port"] != test["port"]
        # State lives outside the stack directory.
        assert Path(dev["compose_file"]).is_relative_to(state_dir)
        assert sorted(p.name for p in shop_stack.iterdir()) == [
            "catalog",
            "compose.yaml",
            "gateway",
            "orders",
        ]
        for env in (dev, test):
            status, body = http_get(f"{env['url']}/orders/x")
            assert status == 200
            assert json.loads(body)["service"] == "orders"
            # Each environment's containers, network and volume are its own.
            assert len(_docker_ids("container", env["project"])) == 3
            assert len(_docker_ids("network", env["project"])) == 1
            assert len(_docker_ids("volume", env["project"])) == 1

        down = run_json("down", str(shop_stack), "--env", "dev")
        assert down["project"] == f"{project}-dev"
        for kind in ("container", "network", "volume"):
            assert _docker_ids(kind, dev["project"]) == []
        assert len(_docker_ids("container", test["project"])) == 3
        assert http_get(f"{test['url']}/catalog/")[0] == 200
        with pytest.raises(OSError):
            http_get(f"{dev['url']}/catalog/", timeout_s=1)
    finally:
        for env in ("dev", "test"):
            run_cli("down", str(shop_stack), "--env", env)
        remove_images(project)


@pytest.mark.docker
@pytest.mark.slow
def test_generated_service_runs_as_an_environment_and_pushes_with_its_template_version(
    tmp_path: Path, base_image: str, registry: Registry
) -> None:
    """A one-service stack from ``toolkit new`` (no fixed host port): ``up`` publishes its
    port on the environment's own port, it answers /healthz there, and ``build --push``
    tags it with the template version it recorded."""
    name = f"tkt-env-{uuid.uuid4().hex[:6]}"
    service_dir = render_service(name, tmp_path / "src")
    build_arg = f"BASE_IMAGE={base_image}"
    try:
        env = run_json("up", str(service_dir), "--env", "qa", "--build-arg", build_arg)
        assert env["project"] == f"{name}-qa"
        assert http_get(f"{env['url']}/healthz")[0] == 200
        built = run_json("build", str(service_dir), "--push", registry.address, "--build-arg", build_arg)
        (image,) = built["images"]
        version = json.loads((service_dir / ".toolkit.json").read_text())["template_version"]
        assert image["tag"].startswith(f"{version}-h")
        assert registry.tags(name + "-" + name) == [image["tag"]]
    finally:
        run_cli("down", str(service_dir), "--env", "qa")
        remove_images(name)
    assert _docker_ids("container", f"{name}-qa") == []
