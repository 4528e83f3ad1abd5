"""Rendering a service: the files, the recorded answers, refusals and --force, and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit import InvalidNameError, TargetExistsError, UsageError
from toolkit.cli import main
from toolkit.scaffold import ANSWERS_FILE, read_answers, render_service, template_defaults

EXPECTED_FILES = [
    ".dockerignore",
    ".gitignore",
    ".toolkit.json",
    "Dockerfile",
    "README.md",
    "compose.yaml",
    "pyproject.toml",
    "requirements-dev.txt",
    "requirements.txt",
    "src/orders_api/__init__.py",
    "src/orders_api/__main__.py",
    "src/orders_api/app.py",
    "src/orders_api/healthcheck.py",
    "src/orders_api/platform.py",
    "src/orders_api/server.py",
    "tests/conftest.py",
    "tests/test_app.py",
    "tests/test_platform.py",
    "tests/test_server.py",
]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _snapshot(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in _files(root)}


def test_every_file_is_rendered(rendered: Path) -> None:
    assert rendered.name == "orders-api"
    assert _files(rendered) == EXPECTED_FILES


def test_no_template_syntax_is_left(rendered: Path) -> None:
    for name in _files(rendered):
        text = (rendered / name).read_text()
        assert re.search(r"\{\{|\{%|cookiecutter", text) is None, name


def test_answers_and_template_version_are_recorded(rendered: Path) -> None:
    record = read_answers(rendered)
    assert record["template"] == "service"
    assert record["template_version"] == template_defaults()["_template_version"]
    assert record["answers"]["service_name"] == "orders-api"
    assert record["answers"]["__package_name"] == "orders_api"
    assert record["answers"]["port"] == "8000"
    assert record["answers"]["python_version"] == "3.12"


def test_recorded_answers_re_render_the_same_project(rendered: Path, tmp_path: Path) -> None:
    answers = dict(read_answers(rendered)["answers"])
    name = answers.pop("service_name")
    again = render_service(
        name,
        tmp_path,
        port=int(answers.pop("port")),
        python_version=answers.pop("python_version"),
        extra_context=answers,
    )
    assert _snapshot(again) == _snapshot(rendered)


def test_options_reach_the_files(tmp_path: Path) -> None:
    target = render_service(
        "billing",
        tmp_path,
        port=9090,
        python_version="3.13",
        extra_context={"description": "Bills customers."},
    )
    dockerfile = (target / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.13-slim" in dockerfile
    assert "PORT=9090" in dockerfile
    assert "EXPOSE 9090" in dockerfile
    assert 'CMD ["python", "-m", "billing"]' in dockerfile
    assert "target: 9090" in (target / "compose.yaml").read_text()
    assert 'description = "Bills customers."' in (target / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("../x", id="path-traversal"),
        pytest.param("A", id="uppercase"),
        pytest.param("-a", id="leading-dash"),
        pytest.param("a" * 64, id="64-chars"),
        pytest.param("/abs", id="absolute-path"),
    ],
)
def test_invalid_name_writes_nothing(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(InvalidNameError):
        render_service(name, out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"port": 80}, "1024-65535", id="privileged-port"),
        pytest.param({"port": 70000}, "1024-65535", id="port-out-of-range"),
        pytest.param({"python_version": "2.7"}, "3.11 or later", id="old-python"),
        pytest.param({"python_version": "3.12.1"}, "MAJOR.MINOR", id="patch-version"),
        pytest.param({"extra_context": {"nope": 1}}, "unknown template variable", id="unknown-variable"),
        pytest.param({"extra_context": {"description": 'say "hi"'}}, "description", id="quote-in-text"),
        pytest.param({"extra_context": {"__package_name": "Bad-Pkg"}}, "package name", id="bad-package"),
    ],
)
def test_bad_options_write_nothing(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        render_service("svc", tmp_path, **kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_existing_directory_is_refused_and_untouched(tmp_path: Path) -> None:
    target = tmp_path / "svc"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(TargetExistsError, match="--force"):
        render_service("svc", tmp_path)
    assert _files(target) == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc"]  # no staging left behind


def test_existing_file_is_refused_even_with_force(tmp_path: Path) -> None:
    (tmp_path / "svc").write_text("a file")
    with pytest.raises(TargetExistsError, match="not a directory"):
        render_service("svc", tmp_path, force=True)
    assert (tmp_path / "svc").read_text() == "a file"


def test_force_renders_over_and_keeps_other_files(tmp_path: Path) -> None:
    target = render_service("svc", tmp_path)
    (target / "Dockerfile").write_text("edited")
    (target / "NOTES.md").write_text("mine")
    render_service("svc", tmp_path, port=8123, force=True)
    assert "EXPOSE 8123" in (target / "Dockerfile").read_text()
    assert (target / "NOTES.md").read_text() == "mine"
    assert read_answers(target)["answers"]["port"] == "8123"


def test_interactive_prompts_use_the_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["renamed-svc", "Prompted.", "9001", "3.11"])
    monkeypatch.setattr("rich.prompt.Prompt.ask", lambda *args, **kwargs: next(answers))
    target = render_service("svc", tmp_path, interactive=True)
    assert target == tmp_path / "renamed-svc"
    recorded = read_answers(target)["answers"]
    assert recorded["__package_name"] == "renamed_svc"
    assert (recorded["port"], recorded["python_version"], recorded["description"]) == (
        "9001",
        "3.11",
        "Prompted.",
    )


def test_interactive_answers_are_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["../evil", "x", "9001", "3.11"])
    monkeypatch.setattr("rich.prompt.Prompt.ask", lambda *args, **kwargs: next(answers))
    with pytest.raises(InvalidNameError):
        render_service("svc", tmp_path, interactive=True)
    assert list(tmp_path.iterdir()) == []


# -- the CLI ----------------------------------------------------------------------------


def test_cli_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new", "orders-api", "-o", str(tmp_path), "--port", "8100", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["command"] == "new"
    assert doc["path"] == str((tmp_path / "orders-api").resolve())
    assert (doc["service_name"], doc["package"], doc["port"]) == ("orders-api", "orders_api", 8100)
    assert doc["files"] == EXPECTED_FILES
    assert (tmp_path / "orders-api" / ANSWERS_FILE).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--", "../x"], "invalid service name '../x'", id="path-traversal"),
        pytest.param(["BAD"], "invalid service name 'BAD'", id="uppercase"),
        pytest.param(["--", "-a"], "invalid service name '-a'", id="leading-dash"),
        pytest.param(["a" * 64], "at most 63", id="too-long"),
        pytest.param(["taken"], "already exists", id="existing-dir"),
        pytest.param(["ok", "--port", "22"], "invalid port", id="bad-port"),
        pytest.param(["ok", "--interactive", "--json"], "cannot be combined", id="interactive-json"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "taken").mkdir()
    result = CliRunner().invoke(main, ["new", "-o", str(tmp_path), *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
