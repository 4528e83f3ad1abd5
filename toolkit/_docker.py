"""The one wrapper around the ``docker`` CLI (engine, build, Compose v2).

Everything in toolkit that talks to Docker goes through here, so there is one place that
knows how a failure looks: a non-zero exit becomes ``DockerError`` whose message is one line
(the command and the last meaningful line docker printed), never a traceback or a page of
build log. Output is captured and returned as text; callers parse what they need.

The CLI is used rather than the Docker SDK because Compose v2 only exists as a CLI plugin,
and the CLI is what users run themselves: a failing command can be pasted into a shell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolkit._errors import DockerError

DEFAULT_TIMEOUT_S = 600.0


# Options whose value is the next word, so the value is not mistaken for a subcommand.
_VALUE_OPTIONS = frozenset(
    {"--file", "-f", "--project-name", "-p", "--project-directory", "--env-file", "--profile", "--format"}
)


def _command_line(args: Sequence[str]) -> str:
    """A short readable form of a command for error messages: ``compose up``, ``image
    inspect NAME`` (global options and their values left out)."""
    words: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg in _VALUE_OPTIONS:
            skip_next = True
        elif not arg.startswith("-"):
            words.append(arg)
    return " ".join(words[:3])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS...`` and return the completed process with text output.

    ``env`` is added to the current environment (compose reads build args and variables
    from it). With ``check`` (the default) a non-zero exit raises ``DockerError``.
    """
    docker = shutil.which("docker")
    if docker is None:
        raise DockerError("docker CLI not found on PATH (install Docker, see scripts/provision-docker.sh)")
    full_env = {**os.environ, **env} if env else None
    try:
        proc = subprocess.run(
            [docker, *args],
            cwd=cwd,
            env=full_env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise DockerError(f"docker {_command_line(args)} timed out after {timeout_s:.0f} s") from err
    except OSError as err:  # e.g. the working directory (a compose file's folder) is missing
        what = f"{err.strerror}: {err.filename}"
        raise DockerError(f"docker {_command_line(args)} could not start: {what}") from err
    if check and proc.returncode != 0:
        detail = _last_line(proc.stderr or proc.stdout)
        raise DockerError(f"docker {_command_line(args)} failed (exit {proc.returncode}): {detail}")
    return proc


def engine_available() -> bool:
    """True when the CLI is installed and the engine answers ``docker info``."""
    if shutil.which("docker") is None:
        return False
    return run(["info", "--format", "{{.ServerVersion}}"], timeout_s=20, check=False).returncode == 0


def build_image(
    context: Path,
    *,
    tags: Sequence[str],
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    no_cache: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """``docker build`` ``context`` into images ``tags`` (the first tag names it in errors)."""
    args = ["build", "--quiet"]
    if no_cache:
        args.append("--no-cache")
    for tag in tags:
        args += ["--tag", tag]
    for key, value in (build_args or {}).items():
        args += ["--build-arg", f"{key}={value}"]
    if dockerfile is not None:
        args += ["--file", str(dockerfile)]
    run([*args, str(context)], timeout_s=timeout_s)


def push_image(ref: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """``docker push REF``; return the manifest digest the registry reported, when printed."""
    out = run(["push", ref], timeout_s=timeout_s).stdout
    for line in reversed(out.splitlines()):
        if "digest: sha256:" in line:
            return line.split("digest: ", 1)[1].split()[0]
    return None


def image_size_bytes(image: str) -> int:
    """The uncompressed size of a local image, as ``docker image inspect`` reports it."""
    return int(run(["image", "inspect", "--format", "{{.Size}}", image]).stdout.strip())


def compose(
    files: Sequence[Path],
    project: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``docker compose -f FILE... -p PROJECT ARGS...``, run from the first file's directory.

    Every call names the project explicitly so several copies of one stack (tests, the
    demo, environments) can run side by side and each can be removed by name; with no
    ``files``, Compose finds the project's containers by that name alone (enough for
    ``down`` and ``ps``).
    """
    files = [Path(file).resolve() for file in files]  # compose runs from the first file's directory
    base = ["compose"]
    for file in files:
        base += ["--file", str(file)]
    base += ["--project-name", project]
    cwd = files[0].parent if files else None
    return run([*base, *args], cwd=cwd, env=env, timeout_s=timeout_s, check=check)


def compose_config(
    compose_file: Path, *, project: str | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The normalised compose document (``config --format json``); raises if it is invalid."""
    compose_file = Path(compose_file).resolve()
    base = ["compose", "--file", str(compose_file)]
    if project is not None:
        base += ["--project-name", project]
    out = run([*base, "config", "--format", "json"], cwd=compose_file.parent, env=env, timeout_s=60).stdout
    doc = json.loads(out)
    if not isinstance(doc, dict):
        raise DockerError(f"docker compose config printed no document for {compose_file}")
    return doc


def compose_up(
    files: Sequence[Path],
    project: str,
    *,
    scale: Mapping[str, int] | None = None,
    wait: bool = True,
    build: bool = False,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 180.0,
) -> None:
    """``up --detach``; with ``wait``, returns only once every container is healthy/running."""
    args = ["up", "--detach"]
    if wait:
        args += ["--wait", "--wait-timeout", str(int(timeout_s))]
    if build:
        args.append("--build")
    for service, replicas in (scale or {}).items():
        args += ["--scale", f"{service}={replicas}"]
    compose(files, project, args, env=env, timeout_s=timeout_s + 30)


def compose_down(
    files: Sequence[Path],
    project: str,
    *,
    volumes: bool = True,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 120.0,
) -> None:
    """``down`` removing the project's containers, networks and (by default) volumes."""
    args = ["down", "--remove-orphans"]
    if volumes:
        args.append("--volumes")
    compose(files, project, args, env=env, timeout_s=timeout_s)


def compose_ps(
    files: Sequence[Path], project: str, service: str | None = None, *, all_states: bool = False
) -> list[dict[str, Any]]:
    """The project's containers as Compose reports them (``Name``, ``State``, ``Health``...)."""
    args = ["ps", "--format", "json"]
    if all_states:
        args.append("--all")
    if service is not None:
        args.append(service)
    return _parse_json_lines(compose(files, project, args, timeout_s=60).stdout)


def compose_port(
    files: Sequence[Path], project: str, service: str, container_port: int, *, index: int = 1
) -> tuple[str, int]:
    """The host address published for ``container_port`` of replica ``index`` (1-based)."""
    args = ["port", "--index", str(index), service, str(container_port)]
    out = compose(files, project, args, timeout_s=60).stdout.strip()
    host, _, port = out.rpartition(":")
    if not port.isdigit():
        raise DockerError(f"no published port for {service}:{container_port} (replica {index})")
    return (host or "127.0.0.1"), int(port)


def _parse_json_lines(text: str) -> list[dict[str, Any]]:
    """Compose prints ``ps --format json`` as one array (before 2.21) or one object per line."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [row for row in rows if isinstance(row, dict)]
