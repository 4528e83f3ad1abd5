"""Docker Compose: the containers of one compose project, found by their labels.

Reading is one Engine API request per tick: every container labelled
``com.docker.compose.project=P``, grouped by ``com.docker.compose.service``. Compose has no
stored replica count, so the count asked for is the number of the service's containers that
exist and are not stopped; a container removed from outside lowers it, and the controller's
next decision puts it back.

Scaling runs ``docker compose up -d --no-recreate --no-deps --no-build --pull never --scale
svc=N svc`` with the project's own compose files and directory, read from the labels compose
puts on every container (``com.docker.compose.project.config_files`` and ``.working_dir``):
compose adds or removes containers and never recreates a running one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from toolkit import _docker
from toolkit._errors import BackendError, DockerError, UsageError
from toolkit.backends import BackendOptions, LeaderLock, ServiceState
from toolkit.backends._engine import EngineClient, container_address, container_ready, metrics_port
from toolkit.backends._filelock import FileLock, lock_path
from toolkit.metrics import ReplicaTarget

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NUMBER_LABEL = "com.docker.compose.container-number"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"

# Container states that still count as "asked for": compose starts or keeps them on `up`.
_COUNTED_STATES = frozenset({"created", "running", "restarting", "paused"})

ComposeRunner = Callable[[Sequence[Path], str, Sequence[str]], None]


class ComposeBackend:
    """One compose project; ``options.project`` is required."""

    name = "compose"
    self_healing = False

    def __init__(
        self,
        options: BackendOptions,
        *,
        engine: EngineClient | None = None,
        run_compose: ComposeRunner | None = None,
    ) -> None:
        if not options.project:
            raise UsageError("the compose backend needs --project (the compose project name)")
        self.project = options.project
        self._options = options
        self._engine = engine or EngineClient(options.docker_host)
        self._run_compose = run_compose or _docker_compose

    def _containers(self) -> list[Mapping[str, Any]]:
        listed = self._engine.get(
            "/containers/json", filters={"label": [f"{PROJECT_LABEL}={self.project}"]}, all="1"
        )
        return [c for c in listed if c.get("Labels", {}).get(ONEOFF_LABEL) != "True"]

    def snapshot(self) -> Mapping[str, ServiceState]:
        by_service: dict[str, list[Mapping[str, Any]]] = {}
        for container in self._containers():
            by_service.setdefault(container["Labels"][SERVICE_LABEL], []).append(container)
        result: dict[str, ServiceState] = {}
        for service, containers in sorted(by_service.items()):
            containers.sort(key=lambda c: int(c["Labels"].get(NUMBER_LABEL, "0") or 0))
            targets = []
            for container in containers:
                if container.get("State") != "running":
                    continue
                exposed = [
                    int(p["PrivatePort"]) for p in container.get("Ports") or [] if p.get("Type") == "tcp"
                ]
                port = metrics_port(container["Labels"], exposed, self._options.metrics_port)
                address = container_address(container, port, self._options.network)
                if address is not None:
                    ready = container_ready(container)
                    targets.append(
                        ReplicaTarget(replica_id=container["Id"][:12], address=address, ready=ready)
                    )
            result[service] = ServiceState(
                spec_replicas=sum(1 for c in containers if c.get("State") in _COUNTED_STATES),
                ready_replicas=sum(1 for c in containers if container_ready(c)),
                replicas=tuple(targets),
            )
        return result

    def scale(self, service: str, replicas: int) -> None:
        containers = self._containers()
        if not containers:
            raise BackendError(f"compose project {self.project!r} has no containers (is it up?)")
        labels = next(
            (c["Labels"] for c in containers if c["Labels"].get(SERVICE_LABEL) == service),
            containers[0]["Labels"],
        )
        files = [f for f in labels.get(CONFIG_FILES_LABEL, "").split(",") if f]
        working_dir = labels.get(WORKING_DIR_LABEL)
        if not files or not working_dir:
            raise BackendError(f"compose project {self.project!r}: containers carry no compose file labels")
        args = [
            "--project-directory",
            working_dir,
            "up",
            "--detach",
            "--no-recreate",
            "--no-deps",
            "--no-build",
            "--pull",
            "never",
        ]
        args += ["--scale", f"{service}={replicas}", service]
        self._run_compose([Path(f) for f in files], self.project, args)

    def lock(self) -> LeaderLock:
        return FileLock(lock_path(self._options.lock_dir, "compose", self.project))


def _docker_compose(files: Sequence[Path], project: str, args: Sequence[str]) -> None:
    """Run ``docker compose`` through the one docker CLI wrapper; failures -> BackendError."""
    try:
        _docker.compose(files, project, args, timeout_s=120)
    except DockerError as err:
        raise BackendError(f"docker compose failed: {err}") from err
