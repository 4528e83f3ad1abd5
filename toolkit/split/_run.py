"""Run a split stack: bring it up, find its gateway and replicas, take it down.

Used by ``toolkit split --verify`` / ``toolkit verify``, the tests and ``toolkit demo``. Every
Docker call goes through ``toolkit._docker``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from toolkit import _docker
from toolkit._errors import DockerError, SourceTreeError, VerificationError

GATEWAY_CONTAINER_PORT = 8080
_ALL_PROFILES = {"COMPOSE_PROFILES": "observability"}
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class RunningStack:
    """A split stack that ``stack_up`` started: where its gateway answers, how to address it."""

    out: Path
    project: str
    gateway_url: str

    @property
    def compose_file(self) -> Path:
        return self.out / "compose.yaml"

    def replica_addresses(self, service: str) -> list[str]:
        """The container IP of every running replica of ``service`` (sorted)."""
        rows = _docker.compose_ps([self.compose_file], self.project, service)
        addresses: list[str] = []
        for row in rows:
            name = str(row.get("Name", ""))
            out = _docker.run(
                ["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
                timeout_s=30,
            ).stdout.split()
            addresses += out[:1]
        return sorted(addresses)

    def logs(self, tail: int = 30) -> str:
        """The last lines each container logged (for failure messages and debugging)."""
        proc = _docker.compose(
            [self.compose_file], self.project, ["logs", "--no-color", "--tail", str(tail)], check=False
        )
        return proc.stdout + proc.stderr


def _unhealthy(stack: RunningStack) -> str:
    """What the containers that are not healthy last said: health-check output and log lines."""
    notes: list[str] = []
    for row in _docker.compose_ps([stack.compose_file], stack.project, all_states=True):
        name, health = str(row.get("Name", "")), str(row.get("Health", ""))
        if health in ("healthy", "") and row.get("State") == "running":
            continue
        inspect = _docker.run(["inspect", "--format", "{{json .State}}", name], check=False).stdout
        try:
            state = json.loads(inspect or "{}")
        except ValueError:
            state = {}
        checks = (state.get("Health") or {}).get("Log") or [{}]
        last_check = str(checks[-1].get("Output", "")).strip()[:200]
        logs = _docker.run(["logs", "--tail", "3", name], check=False)
        tail = " / ".join(line[:300] for line in (logs.stdout + logs.stderr).splitlines()[-3:])
        notes.append(
            f"{name}: {state.get('Status', '?')}, health {health or '-'}, check said {last_check!r}; "
            f"log: {tail}"
        )
    return "; ".join(notes) or "no unhealthy container found"


def read_manifest(out: Path) -> dict[str, Any]:
    """The ``split.json`` of a split output directory (what ``toolkit split`` wrote)."""
    path = Path(out) / "split.json"
    if not path.is_file():
        raise SourceTreeError(f"{out} is not a toolkit split output (no split.json)")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def stack_up(
    out: Path,
    *,
    project: str | None = None,
    base_image: str | None = None,
    scale: Mapping[str, int] | None = None,
    observability: bool = False,
    build: bool = True,
    timeout_s: float = 600.0,
) -> RunningStack:
    """Build and start the stack in ``out`` and wait until every container is healthy.

    The gateway gets a free loopback port (GATEWAY_PORT empty); ``base_image`` is passed as
    the BASE_IMAGE build argument of every image. On failure the stack is taken down again
    and the error carries the last log lines of the containers.
    """
    out = Path(out).resolve()
    manifest = read_manifest(out)
    project = project or str(manifest["project"])
    if not _PROJECT.match(project):
        raise SourceTreeError(f"invalid compose project name {project!r}")
    unknown = sorted(set(scale or {}) - set(manifest["services"]))
    if unknown:
        raise SourceTreeError(
            f"--scale names unknown service(s) {', '.join(unknown)}; the stack has "
            f"{', '.join(sorted(manifest['services']))}"
        )
    env = {"GATEWAY_PORT": ""}
    if base_image:
        env["BASE_IMAGE"] = base_image
    if observability:
        env["COMPOSE_PROFILES"] = "observability"
    stack = RunningStack(out, project, "")
    try:
        _docker.compose_up(
            [stack.compose_file], project, scale=scale, build=build, env=env, timeout_s=timeout_s
        )
        host, port = _docker.compose_port([stack.compose_file], project, "gateway", GATEWAY_CONTAINER_PORT)
    except DockerError as err:
        why = _unhealthy(stack)
        stack_down(stack)
        raise DockerError(f"{err} ({why})") from err
    stack = RunningStack(out, project, f"http://{host}:{port}")
    wait_http(f"{stack.gateway_url}/_gateway/healthz", timeout_s=60)
    return stack


def probe(stack: RunningStack, *, timeout_s: float = 10.0) -> list[tuple[str, int]]:
    """GET every route of the stack that takes no path parameter, through the gateway.

    Returns ``(path, status)`` pairs: a quick "it answers" check (``toolkit demo`` prints it).
    """
    manifest = read_manifest(stack.out)
    paths = sorted(
        {
            route["path"]
            for service in manifest["services"].values()
            for route in service["routes"]
            if "GET" in route["methods"] and "{" not in route["path"]
        }
    )
    with httpx.Client(base_url=stack.gateway_url, timeout=timeout_s) as client:
        return [(path, client.get(path).status_code) for path in paths]


def stack_down(stack: RunningStack, *, remove_images: bool = False) -> None:
    """Remove the stack's containers, networks and volumes, Prometheus included; with
    ``remove_images`` also the images built for this project (the build cache stays).

    Compose leaves the containers of a profile that is not enabled, so ``down`` enables the
    ``observability`` profile whether or not ``up`` did.
    """
    args = ["down", "--remove-orphans", "--volumes"] + (["--rmi", "local"] if remove_images else [])
    _docker.compose([stack.compose_file], stack.project, args, env=_ALL_PROFILES, timeout_s=180)


def wait_http(url: str, *, timeout_s: float, expect_status: int | None = 200) -> None:
    """Poll ``url`` until it answers (with ``expect_status`` unless None) or time runs out."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2.0)
            if expect_status is None or response.status_code == expect_status:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as err:
            last = type(err).__name__
        time.sleep(0.25)
    raise VerificationError(f"{url} did not answer within {timeout_s:.0f} s ({last})")
