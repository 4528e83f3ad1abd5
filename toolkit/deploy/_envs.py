"""Isolated environments: one stack run several times side by side on one host.

``up(stack_dir, env="dev")`` runs the stack as the compose project ``<project>-<env>``: its
own containers, network and volumes (compose prefixes them with the project name) and its own
gateway port on the host. The compose document for that environment is compose's normalised
config of the stack under the environment's project name, with the gateway's host port set and
any other published port made ephemeral; it is written to the state directory (never into the
stack), together with a small state file recording the port, so ``down`` and later commands
find it.
"""

from __future__ import annotations

import copy
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from toolkit import _docker
from toolkit._errors import InvalidNameError, UsageError
from toolkit.deploy._stack import load_stack
from toolkit.deploy._state import free_port, read_json, state_dir, write_json

_ENV_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


@dataclass(frozen=True, slots=True)
class Environment:
    """A running (or recorded) environment of a stack."""

    env: str
    project: str  # compose project name: <stack project>-<env>
    stack_dir: str
    port: int
    url: str
    compose_file: str  # the environment's compose document, in the state directory
    services: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_env_name(env: str) -> str:
    """Environment names become part of compose project and network names."""
    if not _ENV_RE.match(env):
        raise InvalidNameError(
            f"--env {env!r}: expected a short lowercase name (letters, digits, '-'; starts with a letter)"
        )
    return env


def _env_dir(project: str) -> Path:
    return state_dir("envs", project)


def environment_config(
    config: dict[str, Any], *, gateway: str, port: int, build_args: dict[str, str]
) -> dict[str, Any]:
    """The environment's compose document derived from the stack's normalised config.

    The gateway's published ports get ``port`` (the first) and ephemeral ports (the rest); other
    services keep their container ports but publish none on a fixed host port, so two
    environments never collide. ``container_name`` would defeat the isolation and is refused.
    """
    doc = copy.deepcopy(config)
    for name, service in (doc.get("services") or {}).items():
        if service.get("container_name"):
            raise UsageError(
                f"service {name!r} sets container_name, which prevents running environments side by side"
            )
        ports = service.get("ports") or []
        if name == gateway and not ports:
            # A one-service stack without a published port: publish its container port.
            expose = service.get("expose") or []
            if not expose:
                raise UsageError(f"service {name!r} neither publishes nor exposes a port to reach it on")
            ports = [{"target": int(str(expose[0]).split("/")[0]), "protocol": "tcp"}]
        for index, entry in enumerate(ports):
            entry.pop("published", None)
            if name == gateway and index == 0:
                entry["published"] = str(port)
                entry.setdefault("host_ip", "127.0.0.1")
        if ports:
            service["ports"] = ports
        build = service.get("build")
        if isinstance(build, dict) and build_args:
            build["args"] = {**(build.get("args") or {}), **build_args}
    return doc


def up(
    stack_dir: Path,
    env: str,
    *,
    port: int | None = None,
    build_args: dict[str, str] | None = None,
    timeout_s: float = 600,
) -> Environment:
    """Build and start the stack as environment ``env``; return where it answers.

    Running ``up`` again for a running environment keeps its recorded port (unless ``port``
    is given) and lets compose reconcile: unchanged containers are left alone.
    """
    check_env_name(env)
    base = load_stack(stack_dir)
    project = f"{base.project}-{env}"
    env_dir = _env_dir(project)
    recorded = read_json(env_dir / "state.json")
    if port is None:
        port = int(recorded["port"]) if recorded and recorded.get("port") else free_port()
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: not a TCP port")
    stack = load_stack(stack_dir, project=project)
    gateway = stack.gateway.name
    doc = environment_config(stack.config, gateway=gateway, port=port, build_args=build_args or {})
    compose_file = env_dir / "compose.json"
    write_json(compose_file, doc)
    environment = Environment(
        env=env,
        project=project,
        stack_dir=str(stack.directory),
        port=port,
        url=f"http://127.0.0.1:{port}",
        compose_file=str(compose_file),
        services=sorted(stack.services),
    )
    write_json(env_dir / "state.json", environment.to_json())
    _docker.compose_up([compose_file], project, wait=True, build=True, timeout_s=timeout_s)
    return environment


def down(stack_dir: Path, env: str, *, timeout_s: float = 300) -> dict[str, Any]:
    """Stop and remove environment ``env``: its containers, networks and volumes.

    Works from the compose project name alone, so an environment whose state was lost is still
    removed; other environments of the same stack are untouched (other project names).
    """
    check_env_name(env)
    base = load_stack(stack_dir)
    project = f"{base.project}-{env}"
    env_dir = _env_dir(project)
    compose_file = env_dir / "compose.json"
    files = [compose_file] if compose_file.is_file() else []
    started = time.monotonic()
    _docker.compose_down(files, project, volumes=True, timeout_s=timeout_s)
    shutil.rmtree(env_dir, ignore_errors=True)
    return {
        "env": env,
        "project": project,
        "removed": True,
        "duration_s": round(time.monotonic() - started, 2),
    }


def list_environments() -> list[dict[str, Any]]:
    """Every environment recorded in the state directory."""
    found = []
    for state in sorted(state_dir("envs").glob("*/state.json")):
        doc = read_json(state)
        if doc:
            found.append(doc)
    return found
