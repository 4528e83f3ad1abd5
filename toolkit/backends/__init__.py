"""Scaling backends: where replica counts are read and set, behind one interface.

The controller asks the backend once per tick for the state of every service at once
(``snapshot``: the service list, spec and ready counts and the replicas' scrape addresses, in
one or two Engine API or Kubernetes list calls, never one per service), decides, and
calls ``scale`` only for services whose count changes. Nothing is cached between ticks: the
backend is the source of truth, so a restarted controller loses nothing and a replica removed
from outside shows up on the next read.

``lock`` returns the leader lock that keeps two controllers on the same target from fighting
(an ``fcntl`` file lock on one host for compose and swarm, a ``coordination.k8s.io`` Lease on
Kubernetes).

Backends are registered by name in ``BACKENDS`` (the one place) and imported lazily, so the
compose path never imports the Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from toolkit._lazy import resolve
from toolkit.metrics import ReplicaTarget


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One service as the backend sees it now.

    ``spec_replicas`` is the count currently asked for (compose: containers that exist and are
    not stopped; swarm and kubernetes: the service's/Deployment's replica field);
    ``ready_replicas`` those serving (running and, if they have a healthcheck, healthy);
    ``replicas`` the running replicas with the addresses their ``/metrics`` answer on.
    """

    spec_replicas: int
    ready_replicas: int
    replicas: tuple[ReplicaTarget, ...] = ()


class LeaderLock(Protocol):
    """Held by at most one controller at a time; ``try_acquire`` also renews."""

    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...

    def describe(self) -> str: ...


class Backend(Protocol):
    """A place where services run and can be scaled."""

    name: str
    # True when the backend itself keeps the asked-for count running (Swarm, Kubernetes);
    # False for compose, where the controller is the only thing that restores a lost replica.
    self_healing: bool

    def snapshot(self) -> Mapping[str, ServiceState]: ...

    def scale(self, service: str, replicas: int) -> None: ...

    def lock(self) -> LeaderLock: ...


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """Options a backend may use; each backend reads the ones it needs."""

    project: str | None = None  # compose project (required for compose)
    stack: str | None = None  # swarm: only this stack's services, known without the "<stack>_" prefix
    namespace: str = "default"  # kubernetes
    label_selector: str = ""  # kubernetes: which Deployments are managed; swarm: label filter
    kubeconfig: str | None = None  # kubernetes: None = in-cluster, then ~/.kube/config
    lease_name: str | None = None  # kubernetes: the Lease used as the leader lock
    docker_host: str = "unix:///var/run/docker.sock"
    lock_dir: str | None = None  # compose/swarm lock files; None = the runtime dir
    metrics_port: int | None = None  # override the port replicas serve /metrics on
    network: str | None = None  # compose/swarm: the network whose replica addresses to scrape


# name -> "module:class". The one place backends are registered.
BACKENDS: dict[str, str] = {
    "compose": "toolkit.backends.compose:ComposeBackend",
    "swarm": "toolkit.backends.swarm:SwarmBackend",
    "kubernetes": "toolkit.backends.kubernetes:KubernetesBackend",
}


def make_backend(name: str, options: BackendOptions | None = None) -> Backend:
    """Build the backend registered as ``name``."""
    factory = resolve(BACKENDS, name, "backend")
    backend: Backend = factory(options or BackendOptions())
    return backend


__all__ = ["BACKENDS", "Backend", "BackendOptions", "LeaderLock", "ServiceState", "make_backend"]
