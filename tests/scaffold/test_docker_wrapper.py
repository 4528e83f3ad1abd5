"""toolkit/_docker.py: failures become one-line DockerErrors; Compose output is parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit import DockerError, _docker


@pytest.mark.parametrize(
    ("text", "names"),
    [
        pytest.param("", [], id="empty"),
        pytest.param('[{"Name": "a"}, {"Name": "b"}]', ["a", "b"], id="array-before-2.21"),
        pytest.param('{"Name": "a"}\n{"Name": "b"}\n', ["a", "b"], id="one-object-per-line"),
    ],
)
def test_compose_ps_output_formats(text: str, names: list[str]) -> None:
    assert [row["Name"] for row in _docker._parse_json_lines(text)] == names


def test_missing_cli_is_a_docker_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DockerError, match="not found on PATH"):
        _docker.run(["info"])
    assert _docker.engine_available() is False


@pytest.mark.docker
def test_failure_is_one_line_naming_the_command() -> None:
    with pytest.raises(DockerError) as caught:
        _docker.run(["image", "inspect", "tkt-no-such-image:never"])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("docker image inspect tkt-no-such-image:never failed (exit 1): ")


@pytest.mark.docker
def test_invalid_compose_file_is_refused(tmp_path: Path) -> None:
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services:\n  web:\n    image: x\n    not_a_key: 1\n")
    with pytest.raises(DockerError, match="docker compose config failed"):
        _docker.compose_config(compose_file, project="tkt-invalid")


@pytest.mark.docker
def test_without_check_the_exit_code_is_returned() -> None:
    proc = _docker.run(["image", "inspect", "tkt-no-such-image:never"], check=False)
    assert proc.returncode != 0


def test_missing_compose_directory_is_a_docker_error(tmp_path: Path) -> None:
    with pytest.raises(DockerError, match="could not start"):
        _docker.compose_up([tmp_path / "gone" / "compose.yaml"], "tkt-gone")


@pytest.mark.docker
def test_relative_compose_paths_work_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compose runs from the file's directory; a path relative to the caller must still name it."""
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "compose.yaml").write_text("services:\n  web:\n    image: scratch\n")
    monkeypatch.chdir(tmp_path)
    relative = Path("stack/compose.yaml")
    assert _docker.compose([relative], "tkt-relative", ["config", "--services"]).stdout.split() == ["web"]
    assert list(_docker.compose_config(relative)["services"]) == ["web"]
