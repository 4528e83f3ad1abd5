"""Docker Swarm: a service's replica count through the Engine API.

One tick reads ``/services``, ``/tasks`` (desired state running) and this node's containers in
three requests whatever the number of services. Scaling is an optimistic update of the
service spec (``/services/{id}/update?version=N``) with only ``Mode.Replicated.Replicas``
changed, which is what ``docker service scale`` does; Swarm itself then keeps that many
tasks running, so a task killed from outside is replaced by Swarm.

Names: a policy names services by DNS labels (``orders``), but Swarm names a stack's services
``<stack>_<service>``. So each swarm service is known to the controller by (first that applies)
its ``toolkit.service`` label (every service ``toolkit deploy swarm`` writes carries it), its
name without the ``<stack>_`` prefix when a stack is given (``--stack``, which also restricts
the services to that ``com.docker.stack.namespace``), or its plain name. Two swarm services
known by one name is an error naming both, never a silent pick: the controller would otherwise
scale whichever came first.

Scrape addresses: for a task running on this node, its container's address from the engine
(reachable from the host on bridge-driver networks); for tasks on other nodes, the task's
network attachment address, reachable when the controller runs on the same overlay network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toolkit._errors import BackendError
from toolkit.backends import BackendOptions, LeaderLock, ServiceState
from toolkit.backends._engine import EngineClient, container_address, metrics_port
from toolkit.backends._filelock import FileLock, lock_path
from toolkit.metrics import ReplicaTarget

SERVICE_NAME_LABEL = "com.docker.swarm.service.name"
TASK_ID_LABEL = "com.docker.swarm.task.id"
NAMESPACE_LABEL = "com.docker.stack.namespace"  # set by `docker stack deploy`
TOOLKIT_SERVICE_LABEL = "toolkit.service"  # set on every service by `toolkit deploy swarm`


class SwarmBackend:
    """Replicated services of the swarm this engine belongs to (optionally filtered by label)."""

    name = "swarm"
    self_healing = True

    def __init__(self, options: BackendOptions, *, engine: EngineClient | None = None) -> None:
        self._options = options
        self._engine = engine or EngineClient(options.docker_host)

    def snapshot(self) -> Mapping[str, ServiceState]:
        services = {n: s for n, s in self._services().items() if _replicas_field(s) is not None}
        tasks = self._engine.get("/tasks", filters={"desired-state": ["running"]})
        containers = {
            c["Labels"].get(TASK_ID_LABEL): c
            for c in self._engine.get("/containers/json", filters={"label": [TASK_ID_LABEL]})
        }
        by_service: dict[str, list[Any]] = {s["ID"]: [] for s in services.values()}
        for task in tasks:
            if task.get("ServiceID") in by_service:
                by_service[task["ServiceID"]].append(task)
        result: dict[str, ServiceState] = {}
        for name, service in services.items():
            running = [t for t in by_service[service["ID"]] if t["Status"]["State"] == "running"]
            port = self._port(service)
            targets = []
            for task in sorted(running, key=lambda t: t.get("Slot", 0)):
                address = _task_address(task, containers.get(task["ID"]), port, self._options.network)
                if address is not None:
                    targets.append(ReplicaTarget(replica_id=task["ID"], address=address))
            result[name] = ServiceState(
                spec_replicas=int(_replicas_field(service) or 0),
                ready_replicas=len(running),
                replicas=tuple(targets),
            )
        return result

    def scale(self, service: str, replicas: int) -> None:
        """Set the replica count of the swarm service known as ``service`` (see ``policy_names``).

        The spec and its version come from the list read here, just before the update, so a
        change made in between makes the engine refuse the update instead of losing it.
        """
        current = self._services().get(service)
        if current is None:
            where = f" in stack {self._options.stack!r}" if self._options.stack else ""
            raise BackendError(f"no swarm service known as {service!r}{where}")
        full_name = current["Spec"]["Name"]
        if _replicas_field(current) is None:
            raise BackendError(
                f"swarm service {full_name!r} is not replicated (global mode cannot be scaled)"
            )
        spec = current["Spec"]
        spec["Mode"]["Replicated"]["Replicas"] = replicas
        self._engine.post(f"/services/{current['ID']}/update", spec, version=str(current["Version"]["Index"]))

    def lock(self) -> LeaderLock:
        parts = [f"stack={self._options.stack}" if self._options.stack else "", self._options.label_selector]
        scope = ",".join(p for p in parts if p) or "all-services"
        return FileLock(lock_path(self._options.lock_dir, "swarm", scope))

    def _services(self) -> dict[str, Any]:
        """The selected swarm services (one ``GET /services``), by the name the policy uses."""
        labels = [self._options.label_selector] if self._options.label_selector else []
        if self._options.stack:
            labels.append(f"{NAMESPACE_LABEL}={self._options.stack}")
        listed = self._engine.get("/services", filters={"label": labels} if labels else None)
        return policy_names(listed, self._options.stack)

    def _port(self, service: Mapping[str, Any]) -> int:
        spec = service["Spec"]
        labels = {**(spec.get("Labels") or {}), **(spec["TaskTemplate"]["ContainerSpec"].get("Labels") or {})}
        ports = [
            int(p["TargetPort"])
            for p in (spec.get("EndpointSpec") or {}).get("Ports") or []
            if p.get("Protocol", "tcp") == "tcp"
        ]
        return metrics_port(labels, ports, self._options.metrics_port)


def policy_name(service: Mapping[str, Any], stack: str | None) -> str:
    """The name a policy knows one swarm service by (``service`` as ``GET /services`` lists it)."""
    spec = service["Spec"]
    labels = spec.get("Labels") or {}
    label = labels.get(TOOLKIT_SERVICE_LABEL)
    if label:
        return str(label)
    name = str(spec["Name"])
    if stack and labels.get(NAMESPACE_LABEL) == stack and name.startswith(f"{stack}_"):
        return name.removeprefix(f"{stack}_")
    return name


def policy_names(services: Sequence[Mapping[str, Any]], stack: str | None) -> dict[str, Any]:
    """Each swarm service by its policy name (``policy_name``).

    Raises ``BackendError`` naming both swarm services when two share a policy name (two stacks
    deployed with the same service names and no ``stack`` to choose between them).
    """
    named: dict[str, Any] = {}
    for service in services:
        name = policy_name(service, stack)
        other = named.get(name)
        if other is not None:
            first, second = sorted((other["Spec"]["Name"], service["Spec"]["Name"]))
            hint = "" if stack else "; choose one stack with --stack"
            raise BackendError(f"swarm services {first!r} and {second!r} are both known as {name!r}{hint}")
        named[name] = service
    return named


def _replicas_field(service: Mapping[str, Any]) -> int | None:
    replicated = (service.get("Spec", {}).get("Mode") or {}).get("Replicated")
    return None if replicated is None else int(replicated.get("Replicas", 0))


def _task_address(
    task: Mapping[str, Any], container: Mapping[str, Any] | None, port: int, network: str | None
) -> str | None:
    if container is not None:
        return container_address(container, port, network)
    for attachment in task.get("NetworksAttachments") or []:
        if network and attachment["Network"]["Spec"]["Name"] != network:
            continue
        for cidr in attachment.get("Addresses") or []:
            return f"{cidr.split('/')[0]}:{port}"
    return None
