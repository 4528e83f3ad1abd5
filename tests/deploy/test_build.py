"""``toolkit build``: version tags, and real builds pushed to a real registry on loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploy.helpers import FIXTURE_TEMPLATE_VERSION, Registry, remove_images, run_cli, run_json
from toolkit.deploy._images import parse_build_args, service_tag
from toolkit.deploy._stack import load_stack


def _tags(stack_dir: Path) -> dict[str, str]:
    stack = load_stack(stack_dir)
    return {s.name: service_tag(s, {}) for s in stack.built_services}


def test_unchanged_service_keeps_its_tag_and_changed_one_gets_a_new_tag(shop_stack: Path) -> None:
    before = _tags(shop_stack)
    (shop_stack / "orders" / "app.py").write_text((shop_stack / "orders" / "app.py").read_text() + "\n# v2\n")
    after = _tags(shop_stack)
    assert after["catalog"] == before["catalog"]
    assert after["gateway"] == before["gateway"]
    assert after["orders"] != before["orders"]
    # Template version (recorded by the generator) first, then the content hash.
    assert after["orders"].startswith(f"{FIXTURE_TEMPLATE_VERSION}-h")
    assert after["gateway"].startswith("h")  # not rendered from the template


def test_dockerignored_files_do_not_change_the_tag(shop_stack: Path) -> None:
    (shop_stack / "orders" / ".dockerignore").write_text("*.log\n")
    before = _tags(shop_stack)["orders"]
    (shop_stack / "orders" / "debug.log").write_text("noise")
    assert _tags(shop_stack)["orders"] == before


def test_git_commit_names_the_tag_when_the_context_is_committed(shop_stack: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(shop_stack), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "stack")
    commit = git("log", "-1", "--format=%h")
    assert _tags(shop_stack)["orders"] == f"{FIXTURE_TEMPLATE_VERSION}-g{commit}"
    assert _tags(shop_stack)["gateway"] == f"g{commit}"
    (shop_stack / "orders" / "app.py").write_text("changed")  # uncommitted: content decides
    assert _tags(shop_stack)["orders"].startswith(f"{FIXTURE_TEMPLATE_VERSION}-h")
    assert _tags(shop_stack)["catalog"] == f"{FIXTURE_TEMPLATE_VERSION}-g{commit}"


def test_build_args_are_part_of_the_tag(shop_stack: Path) -> None:
    stack = load_stack(shop_stack)
    orders = stack.services["orders"]
    assert service_tag(orders, {"BASE_IMAGE": "a"}) != service_tag(orders, {"BASE_IMAGE": "b"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--build-arg", "NOEQUALS"], "expected KEY=VALUE"),
        (["--push", "http://127.0.0.1:5000"], "expected host[:port]"),
        (["--tag", "-bad"], "a tag is"),
    ],
    ids=["build-arg-without-value", "registry-with-scheme", "tag-starting-with-dash"],
)
def test_bad_input_is_one_line_and_exit_2(shop_stack: Path, args: list[str], message: str) -> None:
    result = run_cli("build", str(shop_stack), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_stack_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("build", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "not a directory" in result.stderr


def test_parse_build_args_keeps_equals_in_values() -> None:
    assert parse_build_args(["A=b=c", "E="]) == {"A": "b=c", "E": ""}


@pytest.mark.docker
def test_build_and_push_to_a_real_registry(shop_stack: Path, registry: Registry, base_image: str) -> None:
    project = load_stack(shop_stack).project
    try:
        doc = run_json(
            "build", str(shop_stack), "--push", registry.address, "--build-arg", f"BASE_IMAGE={base_image}"
        )
        images = {i["service"]: i for i in doc["images"]}
        assert set(images) == {"catalog", "gateway", "orders"}
        for service, image in images.items():
            repository = f"{project}-{service}"
            assert image["ref"] == f"{registry.address}/{repository}:{image['tag']}"
            assert image["pushed"] is True
            assert image["digest"].startswith("sha256:")
            assert registry.tags(repository) == [image["tag"]]
        # An explicit --tag is pushed as well, next to the version tag.
        run_json(
            "build",
            str(shop_stack),
            "--push",
            registry.address,
            "--tag",
            "release-1",
            "--build-arg",
            f"BASE_IMAGE={base_image}",
        )
        assert registry.tags(f"{project}-orders") == sorted([images["orders"]["tag"], "release-1"])
    finally:
        remove_images(project)
