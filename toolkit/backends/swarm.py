"""Docker Swarm: a service's replica count through the Engine API.

One tick reads ``/services``, ``/tasks`` (desired state running) and this node's containers in
three requests whatever the number of services. Scaling is an optimistic update of the
service spec (``/services/{id}/update?version=N``) with only ``Mode.Replicated.Replicas``
changed, which is what ``docker service scale`` does; Swarm itself then keeps that many
tasks running, so a task killed from outside is replaced by Swarm.

Scrape addresses: for a task running on this node, its container's address from the engine
(reachable from the host on bridge-driver networks); for tasks on other nodes, the task's
network attachment address, reachable when the controller runs on the same overlay network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolkit._errors import BackendError
from toolkit.backends import BackendOptions, LeaderLock, ServiceState
from toolkit.backends._engine import EngineClient, container_address, metrics_port
from toolkit.backends._filelock import FileLock, lock_path
from toolkit.metrics import ReplicaTarget

SERVICE_NAME_LABEL = "com.docker.swarm.service.name"
TASK_ID_LABEL = "com.docker.swarm.task.id"


class SwarmBackend:
    """Replicated services of the swarm this engine belongs to (optionally filtered by label)."""

    name = "swarm"
    self_healing = True

    def __init__(self, options: BackendOptions, *, engine: EngineClient | None = None) -> None:
        self._options = options
        self._engine = engine or EngineClient(options.docker_host)

    def snapshot(self) -> Mapping[str, ServiceState]:
        filters = {"label": [self._options.label_selector]} if self._options.label_selector else None
        listed = self._engine.get("/services", filters=filters)
        services = [s for s in listed if _replicas_field(s) is not None]
        tasks = self._engine.get("/tasks", filters={"desired-state": ["running"]})
        containers = {
            c["Labels"].get(TASK_ID_LABEL): c
            for c in self._engine.get("/containers/json", filters={"label": [TASK_ID_LABEL]})
        }
        by_service: dict[str, list[Any]] = {s["ID"]: [] for s in services}
        for task in tasks:
            if task.get("ServiceID") in by_service:
                by_service[task["ServiceID"]].append(task)
        result: dict[str, ServiceState] = {}
        for service in services:
            running = [t for t in by_service[service["ID"]] if t["Status"]["State"] == "running"]
            port = self._port(service)
            targets = []
            for task in sorted(running, key=lambda t: t.get("Slot", 0)):
                address = _task_address(task, containers.get(task["ID"]), port, self._options.network)
                if address is not None:
                    targets.append(ReplicaTarget(replica_id=task["ID"], address=address))
            result[service["Spec"]["Name"]] = ServiceState(
                spec_replicas=int(_replicas_field(service) or 0),
                ready_replicas=len(running),
                replicas=tuple(targets),
            )
        return result

    def scale(self, service: str, replicas: int) -> None:
        current = self._engine.get(f"/services/{service}")
        spec = current["Spec"]
        if _replicas_field(current) is None:
            raise BackendError(f"swarm service {service!r} is not replicated (global mode cannot be scaled)")
        spec["Mode"]["Replicated"]["Replicas"] = replicas
        self._engine.post(f"/services/{current['ID']}/update", spec, version=str(current["Version"]["Index"]))

    def lock(self) -> LeaderLock:
        scope = self._options.label_selector or "all-services"
        return FileLock(lock_path(self._options.lock_dir, "swarm", scope))

    def _port(self, service: Mapping[str, Any]) -> int:
        spec = service["Spec"]
        labels = {**(spec.get("Labels") or {}), **(spec["TaskTemplate"]["ContainerSpec"].get("Labels") or {})}
        ports = [
            int(p["TargetPort"])
            for p in (spec.get("EndpointSpec") or {}).get("Ports") or []
            if p.get("Protocol", "tcp") == "tcp"
        ]
        return metrics_port(labels, ports, self._options.metrics_port)


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
