"""Docker Swarm: a stack file ``docker stack deploy`` accepts, and deploying it.

``docker stack deploy`` reads the older compose file format (3.x schema, validated strictly by
the CLI): no ``build``, no ``name``, no ``depends_on`` conditions, durations as strings. So the
stack file is written field by field from the stack model rather than by editing compose's
document, and every service gets:

* ``image``: the registry reference of its version tag (``toolkit build``) or its public image;
* ``deploy``: replicas (the policy's ``min_replicas`` when a policy is given), resources,
  a rolling ``update_config`` that starts the new task before stopping the old one
  (``order: start-first``; ``stop-first`` for services with volumes, which cannot be shared
  by two tasks) and rolls back on failure, a ``rollback_config`` and a restart policy;
* a healthcheck: the compose one if set, else the image's ``HEALTHCHECK`` applies, and Swarm
  only counts a task as running (and only moves an update on) once it is healthy;
* one overlay network for the whole stack; the gateway alone publishes a port.

Routing (``routing``): ``host`` (the default) publishes the gateway's port on the node that runs
it and lets services find each other by DNS round robin (``endpoint_mode: dnsrr``; the gateway
re-resolves names, so replicas added by scaling get traffic). ``mesh`` uses Swarm's routing
mesh (ingress publishing and a virtual IP per service), which needs the kernel's IPVS
(``ip_vs``); where IPVS is missing (as on the machine this was developed on) the mesh publishes
nothing and virtual IPs do not answer, so ``host`` is the default that works everywhere. With
``host``, two gateway tasks cannot hold the port on one node at once, so the gateway updates
``stop-first``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from toolkit import _docker
from toolkit._errors import BackendError, UsageError
from toolkit.backends._engine import METRICS_PORT_LABEL
from toolkit.deploy._images import ServiceImage, build_stack, stack_images
from toolkit.deploy._stack import Stack, StackService, format_memory, load_stack, resource_amounts
from toolkit.deploy._state import free_port, state_dir
from toolkit.scale import load_policy

STACK_FILE_VERSION = "3.8"
NETWORK = "backend"
SCRAPE = "scrape"
NAMESPACE_LABEL = "com.docker.stack.namespace"
ROUTING_MODES = ("host", "mesh")
STACK_LABEL = "toolkit.stack"


def host_network(name: str) -> str:
    """The swarm-scoped bridge network of stack ``name``: the host (and a ``toolkit autoscale``
    running on it) reaches the replicas there to scrape their ``/metrics``; overlay addresses
    are not reachable from the host."""
    return f"{name}-host"


@dataclass(frozen=True, slots=True)
class UpdateSettings:
    """How Swarm rolls a service to a new image (and back if it fails)."""

    parallelism: int = 1
    delay_s: float = 2.0
    monitor_s: float = 10.0


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _ns_duration(value: Any) -> str | None:
    """Compose's normalised durations are strings (``"5s"``) or nanoseconds; Swarm wants strings."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return _duration(value / 1e9)
    return str(value)


def _resources(service: StackService) -> dict[str, Any]:
    limits, reservations = resource_amounts(service, lambda cores: f"{cores:g}", format_memory)
    rename = {"cpu": "cpus", "memory": "memory"}
    sections = (("limits", limits), ("reservations", reservations))
    return {name: {rename[k]: v for k, v in amounts.items()} for name, amounts in sections if amounts}


def _healthcheck(service: StackService) -> dict[str, Any] | None:
    raw = service.raw.get("healthcheck")
    if not raw:
        return None
    if raw.get("disable"):
        return {"disable": True}
    check: dict[str, Any] = {"test": raw["test"]}
    for key in ("interval", "timeout", "start_period"):
        value = _ns_duration(raw.get(key))
        if value:
            check[key] = value
    if raw.get("retries") is not None:
        check["retries"] = int(raw["retries"])
    return check


def swarm_service(
    stack: Stack,
    service: StackService,
    image: str,
    *,
    replicas: int,
    published_port: int | None,
    update: UpdateSettings,
    routing: str = "host",
) -> dict[str, Any]:
    """The stack-file entry of one service."""
    is_gateway = service is stack.gateway
    exclusive = bool(service.volumes) or (is_gateway and routing == "host")
    order = "stop-first" if exclusive else "start-first"
    publish_mode = "ingress" if routing == "mesh" else "host"
    doc: dict[str, Any] = {"image": image}
    for key in ("command", "entrypoint"):
        if service.raw.get(key):
            doc[key] = list(service.raw[key])
    if service.environment:
        doc["environment"] = dict(sorted(service.environment.items()))
    labels = dict(service.labels)
    if _scalable(stack, service):
        labels.setdefault(METRICS_PORT_LABEL, str(service.main_port))
    if labels:
        doc["labels"] = dict(sorted(labels.items()))
    health = _healthcheck(service)
    if health:
        doc["healthcheck"] = health
    if is_gateway:
        doc["ports"] = [
            {
                "target": p.target,
                "published": published_port if i == 0 and published_port else p.published,
                "protocol": p.protocol,
                "mode": publish_mode,
            }
            for i, p in enumerate(service.ports or ())
            if (i == 0 and published_port) or p.published
        ]
        if not doc["ports"] and published_port and service.main_port:
            doc["ports"] = [{"target": service.main_port, "published": published_port, "mode": publish_mode}]
    if service.volumes:
        doc["volumes"] = [f"{volume}:{path}" for volume, path in service.volumes]
    doc["networks"] = [NETWORK]
    stop_grace = _ns_duration(service.raw.get("stop_grace_period"))
    if stop_grace:
        doc["stop_grace_period"] = stop_grace
    rolling = {
        "parallelism": update.parallelism,
        "delay": _duration(update.delay_s),
        "order": order,
        "monitor": _duration(update.monitor_s),
    }
    doc["deploy"] = {
        "mode": "replicated",
        "endpoint_mode": "vip" if routing == "mesh" else "dnsrr",
        "replicas": replicas,
        "resources": _resources(service),
        "restart_policy": {"condition": "any", "delay": "2s"},
        "update_config": {**rolling, "failure_action": "rollback", "max_failure_ratio": 0},
        "rollback_config": {**rolling, "failure_action": "pause"},
        "labels": {"toolkit.service": service.name},
    }
    if not doc["deploy"]["resources"]:
        del doc["deploy"]["resources"]
    return doc


def stack_file(
    stack: Stack,
    images: Mapping[str, ServiceImage],
    *,
    replicas: Mapping[str, int] | None = None,
    published_port: int | None = None,
    update: UpdateSettings | None = None,
    routing: str = "host",
    scrape_network: str | None = None,
) -> dict[str, Any]:
    """The whole stack file as a document (``yaml.safe_dump`` it to write).

    With ``scrape_network`` (an existing swarm-scoped bridge network, see ``host_network``),
    the scalable services join it as well as the overlay.
    """
    if routing not in ROUTING_MODES:
        raise UsageError(f"--routing {routing!r}: choose from {', '.join(ROUTING_MODES)}")
    replicas = replicas or {}
    update = update or UpdateSettings()
    services: dict[str, Any] = {}
    for service in stack.services.values():
        if service.built:
            image = images[service.name].ref
        elif service.image:
            image = service.image
        else:
            raise BackendError(f"service {service.name!r} has neither build nor image")
        count = replicas.get(service.name, service.replicas if service.replicas is not None else 1)
        services[service.name] = swarm_service(
            stack,
            service,
            image,
            replicas=count,
            published_port=published_port,
            update=update,
            routing=routing,
        )
        if scrape_network and _scalable(stack, service):
            services[service.name]["networks"].append(SCRAPE)
    doc: dict[str, Any] = {
        "version": STACK_FILE_VERSION,
        "services": services,
        "networks": {NETWORK: {"driver": "overlay", "attachable": True}},
    }
    if scrape_network:
        doc["networks"][SCRAPE] = {"external": True, "name": scrape_network}
    if stack.volumes:
        doc["volumes"] = {name: {} for name in stack.volumes}
    return doc


def _scalable(stack: Stack, service: StackService) -> bool:
    """Services the autoscaler manages: toolkit platform services (they serve /metrics),
    not the gateway."""
    return service.platform and service.main_port is not None and service is not stack.gateway


def require_swarm_manager() -> None:
    """Fail early, with what to do, when this engine cannot deploy stacks."""
    manager = _docker.run(["info", "--format", "{{.Swarm.ControlAvailable}}"], timeout_s=30).stdout.strip()
    if manager != "true":
        raise BackendError(
            "this Docker engine is not a swarm manager: run `docker swarm init` (or deploy from a manager)"
        )


def ensure_host_network(name: str) -> str:
    """Create the stack's swarm-scoped bridge network unless it exists; return its name."""
    network = host_network(name)
    found = _docker.run(["network", "ls", "--quiet", "--filter", f"name=^{network}$"], timeout_s=30).stdout
    if not found.strip():
        create = ["network", "create", "--driver", "bridge", "--scope", "swarm", "--attachable"]
        _docker.run([*create, "--label", f"{STACK_LABEL}={name}", network], timeout_s=60)
    return network


def write_stack_file(doc: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by `toolkit deploy swarm`; deploy with `docker stack deploy -c THIS_FILE NAME`.\n"
        + yaml.safe_dump(dict(doc), sort_keys=False),
        encoding="utf-8",
    )
    return path


def deploy(path: Path, name: str, *, timeout_s: float = 300) -> None:
    """``docker stack deploy`` the file, then wait until every service has converged."""
    _docker.run(
        ["stack", "deploy", "--compose-file", str(path), "--prune", "--with-registry-auth", name],
        timeout_s=120,
    )
    wait_converged(name, timeout_s=timeout_s)


def services_status(name: str) -> dict[str, dict[str, Any]]:
    """Per service of the stack: desired and running replicas, and the rolling-update state."""
    ids = _docker.run(
        ["service", "ls", "--quiet", "--filter", f"label={NAMESPACE_LABEL}={name}"], timeout_s=60
    ).stdout.split()
    if not ids:
        return {}
    inspected = json.loads(_docker.run(["service", "inspect", *ids], timeout_s=60).stdout)
    tasks = _docker.run(
        ["stack", "ps", name, "--filter", "desired-state=running", "--format", "{{.Name}} {{.CurrentState}}"],
        timeout_s=60,
    ).stdout.splitlines()
    status: dict[str, dict[str, Any]] = {}
    for service in inspected:
        full = service["Spec"]["Name"]
        running = sum(
            1
            for line in tasks
            if line.split(".", 1)[0] == full and line.split(" ", 1)[1].startswith("Running")
        )
        update = (service.get("UpdateStatus") or {}).get("State")
        status[full] = {
            "desired": int(((service["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0)),
            "running": running,
            "update": update,
        }
    return status


def wait_converged(name: str, *, timeout_s: float = 300, poll_s: float = 1.0) -> dict[str, dict[str, Any]]:
    """Wait until every service runs its desired count and no update is in progress.

    A rolled-back or paused update is a failure: the new version did not become healthy.
    """
    deadline = time.monotonic() + timeout_s
    status: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        status = services_status(name)
        failed = {
            s: v["update"] for s, v in status.items() if v["update"] in ("rollback_completed", "paused")
        }
        if failed:
            raise BackendError(f"stack {name}: update failed and was rolled back or paused: {failed}")
        if status and all(
            v["running"] == v["desired"] and v["update"] in (None, "completed") for v in status.values()
        ):
            return status
        time.sleep(poll_s)
    pending = {s: f"{v['running']}/{v['desired']} {v['update'] or ''}".strip() for s, v in status.items()}
    raise BackendError(f"stack {name} did not converge within {timeout_s:.0f} s: {pending}")


def remove(name: str, *, volumes: bool = False, timeout_s: float = 120) -> None:
    """``docker stack rm``, waiting until its tasks and network are gone (removal is async);
    with ``volumes``, also remove the stack's named volumes (a deliberate choice: data)."""
    require_swarm_manager()
    _docker.run(["stack", "rm", name], timeout_s=60)
    deadline = time.monotonic() + timeout_s
    label = f"label={NAMESPACE_LABEL}={name}"
    while time.monotonic() < deadline:
        containers = _docker.run(["ps", "--all", "--quiet", "--filter", label], timeout_s=30).stdout.split()
        networks = _docker.run(["network", "ls", "--quiet", "--filter", label], timeout_s=30).stdout.split()
        if not containers and not networks:
            break
        time.sleep(1)
    else:
        raise BackendError(f"stack {name} was not removed within {timeout_s:.0f} s")
    own = _docker.run(["network", "ls", "--quiet", "--filter", f"label={STACK_LABEL}={name}"], timeout_s=30)
    if own.stdout.split():
        _docker.run(["network", "rm", *own.stdout.split()], timeout_s=60)
    if volumes:
        names = _docker.run(["volume", "ls", "--quiet", "--filter", label], timeout_s=30).stdout.split()
        if names:
            _docker.run(["volume", "rm", *names], timeout_s=60)


def policy_replicas(policy_file: Path | None, stack: Stack) -> dict[str, int]:
    """Initial replicas from a scaling policy: each named service starts at its minimum."""
    if policy_file is None:
        return {}
    policy = load_policy(policy_file)
    return {name: policy.services[name].min_replicas for name in stack.services if name in policy.services}


def _previous_port(path: Path, gateway: str) -> int | None:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return int(doc["services"][gateway]["ports"][0]["published"])
    except (OSError, ValueError, TypeError, KeyError, IndexError, yaml.YAMLError):
        return None


@dataclass(frozen=True, slots=True)
class SwarmDeployment:
    name: str
    stack_file: Path
    url: str | None
    images: list[ServiceImage]
    services: dict[str, dict[str, Any]]
    deployed: bool
    scrape_network: str

    def to_json(self) -> dict[str, Any]:
        return {
            "scrape_network": self.scrape_network,
            "name": self.name,
            "stack_file": str(self.stack_file),
            "url": self.url,
            "images": [{"service": i.service, "ref": i.ref, "pushed": i.pushed} for i in self.images],
            "services": self.services,
            "deployed": self.deployed,
        }


def deploy_swarm(
    stack_dir: Path,
    *,
    name: str | None = None,
    registry: str | None = None,
    tag: str | None = None,
    build_args: Mapping[str, str] | None = None,
    port: int | None = None,
    routing: str = "host",
    policy_file: Path | None = None,
    out: Path | None = None,
    build: bool = True,
    apply: bool = True,
    timeout_s: float = 300,
) -> SwarmDeployment:
    """Build (and push to ``registry``) the images, write the stack file, deploy, wait.

    With ``build=False`` the images are expected to exist already under their version tags
    (``toolkit build`` computes the same ones); with ``apply=False`` nothing is deployed. The
    file goes to ``out`` or the state directory, never into the stack.
    """
    stack = load_stack(stack_dir)
    name = name or stack.project
    replicas = policy_replicas(policy_file, stack)
    if build:
        images = build_stack(
            stack, registry=registry, tag=tag, build_args=build_args, push=registry is not None
        )
    else:
        images = list(stack_images(stack, registry=registry, tag=tag, build_args=build_args or {}).values())
    path = out or state_dir("swarm", name) / "stack.yaml"
    if port is None and not any(p.published for p in stack.gateway.ports):
        # No fixed port in compose (a `toolkit new` service): keep the one chosen last time.
        port = _previous_port(path, stack.gateway.name) or free_port()
    if apply:
        require_swarm_manager()
    scrape = ensure_host_network(name) if apply else host_network(name)
    doc = stack_file(
        stack,
        {i.service: i for i in images},
        replicas=replicas,
        published_port=port,
        routing=routing,
        scrape_network=scrape,
    )
    write_stack_file(doc, path)
    published = [
        p["published"] for p in doc["services"][stack.gateway.name].get("ports", []) if p.get("published")
    ]
    url = f"http://127.0.0.1:{published[0]}" if published else None
    status: dict[str, dict[str, Any]] = {}
    if apply:
        deploy(path, name, timeout_s=timeout_s)
        status = services_status(name)
    return SwarmDeployment(name, path, url, images, status, apply, scrape)
