"""The click layer's contract, for every command: help, version, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from toolkit import __version__
from toolkit.cli import COMMANDS

# Commands that only act (nothing to report) would not need --json; today every command reports.
REPORTING = sorted(set(COMMANDS) - {"deploy"})


def toolkit(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_version() -> None:
    done = toolkit("--version")
    assert done.returncode == 0
    assert __version__ in done.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=sorted(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    done = toolkit(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: toolkit {command}")


@pytest.mark.parametrize("command", REPORTING, ids=REPORTING)
def test_every_reporting_command_has_json(command: str) -> None:
    assert "--json" in toolkit(command, "--help").stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["new"], "Missing argument 'NAME'"),
        (["new", "../x"], "invalid service name '../x'"),
        (["split", "/nonexistent-tk", "--out", "/tmp/unused-tk"], "does not exist"),
        (["demo", "--stage", "nope"], "'nope' is not one of"),
        (["simulate", "--trace", "/etc/hostname"], "/etc/hostname"),
        (["new", "ok-name", "--port", "notaport"], "'notaport' is not a valid integer"),
    ],
    ids=["unknown-command", "missing-arg", "bad-name", "missing-path", "bad-choice", "bad-trace", "bad-int"],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], fragment: str) -> None:
    done = toolkit(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in done.stderr


def test_bare_toolkit_prints_help() -> None:
    done = toolkit()
    assert done.returncode == 0
    assert "Commands:" in done.stdout
