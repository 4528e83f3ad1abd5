"""Kubernetes: a Deployment's replica count through its ``scale`` subresource.

One tick is two list calls whatever the number of services: the managed Deployments
(``spec.replicas`` is the count asked for, ``status.readyReplicas`` the ready one) and the
namespace's pods (matched to Deployments by their selector, for scrape addresses and
per-pod readiness). Scaling patches ``deployments/{name}/scale`` with a merge patch of
``spec.replicas``: exactly what ``kubectl scale`` and the HPA controller do, and it needs only
``get``/``patch`` on ``deployments/scale`` in the controller's Role. Kubernetes restores
deleted pods itself (``self_healing``).

Leader election uses a ``coordination.k8s.io/v1`` Lease: the holder renews it every tick; a
lease not renewed within its duration can be taken over; a concurrent takeover loses on the
Lease's ``resourceVersion`` (409) instead of producing two leaders.

Credentials: ``kubeconfig`` if given, else in-cluster service account, else ``~/.kube/config``.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from toolkit._errors import BackendError
from toolkit.backends import BackendOptions, LeaderLock, ServiceState
from toolkit.backends._engine import DEFAULT_METRICS_PORT
from toolkit.metrics import ReplicaTarget

PROMETHEUS_PORT_ANNOTATION = "prometheus.io/port"
PROMETHEUS_PATH_ANNOTATION = "prometheus.io/path"
DEFAULT_LEASE_NAME = "toolkit-autoscale"
MERGE_PATCH = "application/merge-patch+json"


def _api_client(kubeconfig: str | None) -> Any:
    """An ApiClient from the given kubeconfig, the in-cluster account, or ~/.kube/config."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return client.ApiClient(configuration)
        return config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, persist_config=False
        )
    except (ConfigException, OSError) as err:
        raise BackendError(f"no Kubernetes credentials: {err}") from err


def _calling(what: str, call: Callable[[], Any]) -> Any:
    """Run one API call; any failure becomes a one-line BackendError naming the call."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return call()
    except ApiException as err:
        raise BackendError(f"Kubernetes API: {what}: {err.status} {err.reason}") from err
    except HTTPError as err:
        raise BackendError(f"Kubernetes API unreachable: {what}: {err}") from err


class KubernetesBackend:
    """Deployments of one namespace (optionally filtered by a label selector)."""

    name = "kubernetes"
    self_healing = True

    def __init__(self, options: BackendOptions, *, api_client: Any = None) -> None:
        from kubernetes import client

        self._options = options
        self._api = api_client or _api_client(options.kubeconfig)
        self._apps = client.AppsV1Api(self._api)
        self._core = client.CoreV1Api(self._api)
        self._coordination = client.CoordinationV1Api(self._api)

    def snapshot(self) -> Mapping[str, ServiceState]:
        ns, selector = self._options.namespace, self._options.label_selector
        deployments = _calling(
            "list deployments",
            lambda: self._apps.list_namespaced_deployment(ns, label_selector=selector or None),
        ).items
        pods = _calling("list pods", lambda: self._core.list_namespaced_pod(ns)).items
        result: dict[str, ServiceState] = {}
        for deployment in deployments:
            match = dict(deployment.spec.selector.match_labels or {})
            members = [
                p
                for p in pods
                if match
                and match.items() <= (p.metadata.labels or {}).items()
                and p.metadata.deletion_timestamp is None
            ]
            targets = []
            for pod in sorted(members, key=lambda p: p.metadata.name):
                if pod.status is None or pod.status.pod_ip is None or pod.status.phase != "Running":
                    continue
                annotations = pod.metadata.annotations or {}
                targets.append(
                    ReplicaTarget(
                        replica_id=pod.metadata.name,
                        address=f"{pod.status.pod_ip}:{self._pod_port(pod, annotations)}",
                        ready=_pod_ready(pod),
                        metrics_path=annotations.get(PROMETHEUS_PATH_ANNOTATION, "/metrics"),
                    )
                )
            result[deployment.metadata.name] = ServiceState(
                spec_replicas=int(deployment.spec.replicas if deployment.spec.replicas is not None else 1),
                ready_replicas=int((deployment.status and deployment.status.ready_replicas) or 0),
                replicas=tuple(targets),
            )
        return result

    def scale(self, service: str, replicas: int) -> None:
        ns = self._options.namespace
        _calling(
            f"scale deployment {service}",
            lambda: self._apps.patch_namespaced_deployment_scale(
                service, ns, {"spec": {"replicas": replicas}}, _content_type=MERGE_PATCH
            ),
        )

    def lock(self) -> LeaderLock:
        name = self._options.lease_name or DEFAULT_LEASE_NAME
        return KubernetesLease(self._coordination, self._options.namespace, name)

    def _pod_port(self, pod: Any, annotations: Mapping[str, str]) -> int:
        if self._options.metrics_port is not None:
            return self._options.metrics_port
        annotated = annotations.get(PROMETHEUS_PORT_ANNOTATION, "")
        if annotated.isdigit():
            return int(annotated)
        for container in pod.spec.containers or []:
            for port in container.ports or []:
                if (port.protocol or "TCP") == "TCP":
                    return int(port.container_port)
        return DEFAULT_METRICS_PORT


def _pod_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


class KubernetesLease:
    """Leader election on a ``coordination.k8s.io/v1`` Lease (client-go's rules, simplified)."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        name: str,
        *,
        duration_s: int = 30,
        identity: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._name = name
        self.duration_s = duration_s
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._clock = clock
        self._held = False

    def try_acquire(self) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        try:
            lease = self._api.read_namespaced_lease(self._name, self._namespace)
        except ApiException as err:
            if err.status != 404:
                raise BackendError(
                    f"Kubernetes API: read lease {self._name}: {err.status} {err.reason}"
                ) from err
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=self._name, namespace=self._namespace),
                spec=self._spec(now, acquire_time=now, transitions=0),
            )
            return self._write("create", lambda: self._api.create_namespaced_lease(self._namespace, body))
        spec = lease.spec
        holder = spec.holder_identity if spec else None
        renewed = spec.renew_time if spec else None
        duration_s = (spec.lease_duration_seconds if spec else None) or self.duration_s
        expired = renewed is None or (now - renewed).total_seconds() > duration_s
        if holder not in (None, "", self.identity) and not expired:
            self._held = False
            return False
        taking_over = holder != self.identity
        transitions = ((spec.lease_transitions if spec else None) or 0) + (1 if taking_over else 0)
        acquired = now if taking_over else (spec.acquire_time if spec else now)
        lease.spec = self._spec(now, acquire_time=acquired, transitions=transitions)
        return self._write(
            "renew", lambda: self._api.replace_namespaced_lease(self._name, self._namespace, lease)
        )

    def _spec(self, now: datetime, *, acquire_time: datetime | None, transitions: int) -> Any:
        from kubernetes import client

        return client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self.duration_s,
            acquire_time=acquire_time,
            renew_time=now,
            lease_transitions=transitions,
        )

    def _write(self, what: str, call: Callable[[], Any]) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            call()
        except ApiException as err:
            if err.status == 409:  # someone else wrote the lease first: they lead
                self._held = False
                return False
            raise BackendError(
                f"Kubernetes API: {what} lease {self._name}: {err.status} {err.reason}"
            ) from err
        self._held = True
        return True

    def release(self) -> None:
        """Hand the lease over at once (holder cleared) instead of making others wait it out."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        if not self._held:
            return
        try:
            lease = self._api.read_namespaced_lease(self._name, self._namespace)
            if lease.spec and lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                lease.spec.renew_time = None
                self._api.replace_namespaced_lease(self._name, self._namespace, lease)
        except (ApiException, HTTPError):
            pass  # best effort on shutdown: the lease expires by itself anyway
        self._held = False

    def describe(self) -> str:
        return f"lease {self._namespace}/{self._name} as {self.identity}"
