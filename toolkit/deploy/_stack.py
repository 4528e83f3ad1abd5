"""The stack model: what every deployment target needs to know about a compose stack.

A stack is a directory with a ``compose.yaml`` (``toolkit new`` writes a one-service stack,
``toolkit split`` a multi-service one behind a gateway). Rather than re-implement compose's
merging, interpolation and path resolution, the model is read from ``docker compose config
--format json`` (the normalised document compose itself runs), and only the fields the targets
use are kept. Every target (images, environments, Swarm, Kubernetes) reads this one model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit import _docker
from toolkit._errors import SourceTreeError
from toolkit.scaffold._dockerfile import final_user
from toolkit.scaffold._render import ANSWERS_FILE, read_answers

COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """A container port published on the host (``published`` None: the engine picks one)."""

    target: int
    published: int | None
    protocol: str = "tcp"


@dataclass(frozen=True, slots=True)
class StackService:
    """One compose service, reduced to what the deployment targets use."""

    name: str
    build_context: Path | None
    dockerfile: str | None
    image: str | None
    environment: dict[str, str]
    ports: tuple[PublishedPort, ...]
    container_ports: tuple[int, ...]
    command: list[str] | None
    volumes: tuple[tuple[str, str], ...]  # (named volume, mount path)
    tmpfs: tuple[str, ...]
    labels: dict[str, str]
    cpu_limit: float | None
    memory_limit_bytes: int | None
    cpu_reservation: float | None
    memory_reservation_bytes: int | None
    replicas: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def built(self) -> bool:
        """True when the stack builds this service's image (rather than using a public one)."""
        return self.build_context is not None

    @property
    def main_port(self) -> int | None:
        """The port the service answers on inside its container (HTTP for platform services)."""
        ports = self.ports_known
        return ports[0] if ports else None

    @property
    def dockerfile_path(self) -> Path | None:
        if self.build_context is None:
            return None
        return self.build_context / (self.dockerfile or "Dockerfile")

    def _dockerfile_text(self) -> str | None:
        path = self.dockerfile_path
        if path is None or not path.is_file():
            return None
        return path.read_text(encoding="utf-8")

    def dockerfile_user(self) -> int | None:
        """The numeric user of the Dockerfile's final stage (None if it is not numeric)."""
        text = self._dockerfile_text()
        return dockerfile_numeric_user(text) if text is not None else None

    @property
    def ports_known(self) -> tuple[int, ...]:
        """Container ports from compose, else the ``EXPOSE`` of the Dockerfile's final stage
        (a database built by the stack often only says it there)."""
        if self.container_ports:
            return self.container_ports
        text = self._dockerfile_text()
        return dockerfile_exposed_ports(text) if text is not None else ()

    @property
    def platform(self) -> bool:
        """True for a service rendered from the toolkit template (``toolkit new`` or ``toolkit
        split`` recorded its answers): it serves ``/healthz``, ``/readyz`` and ``/metrics``
        and runs with a read-only root filesystem."""
        return self.build_context is not None and template_answers(self.build_context) is not None


@dataclass(frozen=True, slots=True)
class Stack:
    """A compose stack: its project name, directory and services."""

    project: str
    directory: Path
    compose_file: Path
    services: dict[str, StackService]
    volumes: tuple[str, ...]
    config: dict[str, Any] = field(repr=False, compare=False)

    @property
    def gateway(self) -> StackService:
        """The service the outside world talks to: the one publishing a host port.

        A stack from ``toolkit split`` publishes exactly one (its gateway); a one-service stack
        from ``toolkit new`` may publish none, and then its only built service is the entry.
        """
        publishing = [s for s in self.services.values() if s.ports]
        if len(publishing) == 1:
            return publishing[0]
        if "gateway" in self.services:
            return self.services["gateway"]
        built = [s for s in self.services.values() if s.built]
        if not publishing and len(built) == 1:
            return built[0]
        names = ", ".join(s.name for s in publishing) or "none"
        raise SourceTreeError(
            f"{self.compose_file}: cannot tell the gateway: services publishing a host port: {names} "
            "(publish exactly one, or name it 'gateway')"
        )

    @property
    def built_services(self) -> list[StackService]:
        return [s for s in self.services.values() if s.built]


def find_compose_file(stack_dir: Path) -> Path:
    """The compose file of a stack directory, or a usage error naming what was looked for."""
    if not stack_dir.is_dir():
        raise SourceTreeError(f"{stack_dir}: not a directory")
    for name in COMPOSE_FILE_NAMES:
        candidate = stack_dir / name
        if candidate.is_file():
            return candidate
    raise SourceTreeError(f"{stack_dir}: no compose file ({', '.join(COMPOSE_FILE_NAMES)})")


def load_stack(stack_dir: Path, *, project: str | None = None) -> Stack:
    """Read a stack through ``docker compose config`` (compose's own normalisation).

    ``project`` overrides the project name, so names of networks and volumes in the returned
    config are already those of that project (used by isolated environments).
    """
    stack_dir = stack_dir.resolve()
    compose_file = find_compose_file(stack_dir)
    config = _docker.compose_config(compose_file, project=project)
    return stack_from_config(config, stack_dir, compose_file)


def stack_from_config(config: dict[str, Any], stack_dir: Path, compose_file: Path) -> Stack:
    """Build the model from a normalised compose document (``docker compose config`` JSON)."""
    project = str(config.get("name") or stack_dir.name)
    services_raw = config.get("services") or {}
    if not services_raw:
        raise SourceTreeError(f"{compose_file}: defines no services")
    services = {name: _service(name, raw) for name, raw in sorted(services_raw.items())}
    volumes = tuple(sorted((config.get("volumes") or {}).keys()))
    return Stack(project, stack_dir, compose_file, services, volumes, config)


def _service(name: str, raw: dict[str, Any]) -> StackService:
    build = raw.get("build")
    context = Path(build["context"]) if isinstance(build, dict) and build.get("context") else None
    dockerfile = build.get("dockerfile") if isinstance(build, dict) else None
    ports = tuple(
        PublishedPort(
            int(p["target"]), int(p["published"]) if p.get("published") else None, p.get("protocol", "tcp")
        )
        for p in raw.get("ports") or []
    )
    container_ports = tuple(
        dict.fromkeys([p.target for p in ports] + [_port(e) for e in raw.get("expose") or []])
    )
    env = {k: "" if v is None else str(v) for k, v in (raw.get("environment") or {}).items()}
    volumes = tuple(
        (str(v["source"]), str(v["target"]))
        for v in raw.get("volumes") or []
        if v.get("type") == "volume" and v.get("source")
    )
    tmpfs = raw.get("tmpfs") or []
    deploy = raw.get("deploy") or {}
    resources = deploy.get("resources") or {}
    limits = resources.get("limits") or {}
    reservations = resources.get("reservations") or {}
    command = raw.get("command")
    return StackService(
        name=name,
        build_context=context,
        dockerfile=dockerfile,
        image=raw.get("image"),
        environment=env,
        ports=ports,
        container_ports=container_ports,
        command=list(command) if command else None,
        volumes=volumes,
        tmpfs=tuple([tmpfs] if isinstance(tmpfs, str) else tmpfs),
        labels={k: str(v) for k, v in (raw.get("labels") or {}).items()},
        cpu_limit=float(limits["cpus"]) if limits.get("cpus") else None,
        memory_limit_bytes=int(limits["memory"]) if limits.get("memory") else None,
        cpu_reservation=float(reservations["cpus"]) if reservations.get("cpus") else None,
        memory_reservation_bytes=int(reservations["memory"]) if reservations.get("memory") else None,
        replicas=int(deploy["replicas"]) if deploy.get("replicas") is not None else None,
        raw=raw,
    )


def _port(expose: str | int) -> int:
    """``expose`` entries are ``"8000"`` or ``"8000/tcp"``."""
    return int(str(expose).split("/", 1)[0])


def format_memory(value_bytes: int, suffix: str = "") -> str:
    """Bytes in the largest whole unit: ``64M`` for Swarm, ``64Mi`` (``suffix="i"``) for Kubernetes."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value_bytes % size == 0:
            return f"{value_bytes // size}{unit}{suffix}"
    return str(value_bytes)


def resource_amounts(
    service: StackService, cpu: Callable[[float], str], memory: Callable[[int], str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(limits, reservations) from compose, keyed ``cpu``/``memory`` and formatted for a target."""

    def pair(cores: float | None, value_bytes: int | None) -> dict[str, str]:
        amounts = {
            "cpu": cpu(cores) if cores else None,
            "memory": memory(value_bytes) if value_bytes else None,
        }
        return {k: v for k, v in amounts.items() if v is not None}

    return (
        pair(service.cpu_limit, service.memory_limit_bytes),
        pair(service.cpu_reservation, service.memory_reservation_bytes),
    )


_FROM_RE = re.compile(r"^\s*FROM\s", re.IGNORECASE | re.MULTILINE)
_EXPOSE_RE = re.compile(r"^\s*EXPOSE\s+(.+)$", re.IGNORECASE | re.MULTILINE)


def dockerfile_exposed_ports(text: str) -> tuple[int, ...]:
    """TCP ports the final stage ``EXPOSE``s (``EXPOSE 5432``, ``EXPOSE 8000/tcp``)."""
    final_stage = _FROM_RE.split(text)[-1]
    ports: list[int] = []
    for line in _EXPOSE_RE.findall(final_stage):
        for word in line.split():
            number, _, protocol = word.partition("/")
            if number.isdigit() and protocol in ("", "tcp"):
                ports.append(int(number))
    return tuple(dict.fromkeys(ports))


def dockerfile_numeric_user(text: str) -> int | None:
    """The uid of the final stage's ``USER`` if numeric (``USER 10001[:10001]``), else None.

    Kubernetes can only verify ``runAsNonRoot`` against a numeric user, so a named user gives
    None and the caller decides what to do.
    """
    user = final_user(text)
    uid = user.split(":", 1)[0] if user else ""
    return int(uid) if uid.isdigit() else None


def template_answers(context: Path) -> dict[str, Any] | None:
    """What ``toolkit new`` recorded in a service directory (template version...), if anything."""
    if not (context / ANSWERS_FILE).is_file():
        return None
    try:
        return read_answers(context)
    except (OSError, ValueError, AssertionError):
        return None
