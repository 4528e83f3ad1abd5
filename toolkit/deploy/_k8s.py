"""Kubernetes manifests for a stack, in a kustomize layout: ``base/`` plus ``overlays/<env>/``.

Per service of the stack (names and ports kept, so ``http://orders:8000`` in a service's
environment still reaches ``orders``):

* a Deployment: liveness ``/healthz`` and readiness ``/readyz`` probes, resources from the
  compose limits, a restricted ``securityContext`` (``runAsNonRoot`` with the numeric user of
  the Dockerfile's ``USER``, ``readOnlyRootFilesystem`` with an ``emptyDir`` on ``/tmp`` unless
  the service is labelled ``toolkit.read-only-root: "false"``, no privilege escalation, every
  capability dropped, the runtime's seccomp profile);
* a Service (ClusterIP) and a ConfigMap with its environment (variables whose names look like
  secrets go to a Secret instead);
* the gateway: an Ingress with the routes of the stack's nginx gateway;
* the in-cluster autoscaler: a Deployment running ``toolkit autoscale --backend kubernetes``
  with its policy in a ConfigMap, a ServiceAccount, and a Role limited to what the Kubernetes
  backend calls (list deployments and pods, patch ``deployments/scale``, and the leader lease);
* optionally (``hpa`` / ``keda``) the HorizontalPodAutoscaler v2 or KEDA ScaledObject closest to
  the policy, for users who prefer those to the toolkit controller.

Nothing here talks to a cluster: the output is files, validated offline in the tests.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit._errors import InvalidNameError, TargetExistsError, UsageError
from toolkit._version import __version__
from toolkit.deploy._images import ServiceImage, stack_images
from toolkit.deploy._nginx import Route, gateway_routes, manifest_routes
from toolkit.deploy._stack import Stack, StackService, format_memory, load_stack, resource_amounts
from toolkit.scale import (
    MetricKind,
    Policy,
    ScalingRules,
    SelectPolicy,
    ServicePolicy,
    load_policy,
    parse_policy,
)
from toolkit.split import MANIFEST as SPLIT_MANIFEST
from toolkit.split._run import read_manifest

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIALS)", re.IGNORECASE)
_URL_WITH_PASSWORD = re.compile(r"://[^/:@]+:[^/@]+@")

AUTOSCALER = "toolkit-autoscaler"
AUTOSCALE_LABEL = "toolkit.dev/autoscale"
POLICY_PATH = "/etc/toolkit/scaling.yaml"
TELEMETRY_PORT = 9108
DEFAULT_ENVS = ("dev", "prod")


@dataclass
class Manifests:
    """The files to write (path under the output directory -> documents) and what to tell."""

    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _labels(stack: Stack, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": stack.project}


def _meta(stack: Stack, name: str, **extra: Any) -> dict[str, Any]:
    labels = {**_labels(stack, name), "app.kubernetes.io/managed-by": "toolkit"}
    return {"name": name, "labels": labels, **extra}


def _cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def _resources(service: StackService) -> dict[str, Any]:
    """Limits from compose; requests from compose reservations, else equal to the limits
    (Guaranteed QoS, and a CPU request is what a CPU-based HPA measures against)."""
    limits, reservations = resource_amounts(service, _cpu, lambda b: format_memory(b, "i"))
    requests = {**limits, **reservations}
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def _is_secret(name: str, value: str) -> bool:
    return bool(_SECRET_NAME.search(name) or _URL_WITH_PASSWORD.search(value))


def _env_objects(stack: Stack, service: StackService) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ConfigMap/Secret documents, envFrom entries) for a service's environment."""
    plain = {k: v for k, v in service.environment.items() if not _is_secret(k, v)}
    secret = {k: v for k, v in service.environment.items() if _is_secret(k, v)}
    docs: list[dict[str, Any]] = []
    env_from: list[dict[str, Any]] = []
    if plain:
        name = f"{service.name}-env"
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(stack, name), "data": plain})
        env_from.append({"configMapRef": {"name": name}})
    if secret:
        name = f"{service.name}-secret"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _meta(stack, name),
                "type": "Opaque",
                "stringData": secret,
            }
        )
        env_from.append({"secretRef": {"name": name}})
    return docs, env_from


def _pod_security(service: StackService, warnings: list[str]) -> tuple[dict[str, Any], bool]:
    """(pod securityContext, read-only root) for a service built by the stack."""
    uid = service.dockerfile_user()
    pod: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if uid is None:
        warnings.append(
            f"{service.name}: the Dockerfile's final USER is not numeric; Kubernetes will refuse to start "
            "it under runAsNonRoot until it is (USER 10001)"
        )
    elif uid == 0:
        warnings.append(f"{service.name}: the Dockerfile runs as root (USER 0); runAsNonRoot will refuse it")
    else:
        pod.update({"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid})
    default = "true" if service.platform else "false"
    read_only = service.labels.get("toolkit.read-only-root", default).lower() != "false"
    return pod, read_only


def _deployment(
    stack: Stack,
    service: StackService,
    image: str,
    *,
    replicas: int,
    env_from: list[dict[str, Any]],
    autoscaled: bool,
    warnings: list[str],
) -> dict[str, Any]:
    port = service.main_port
    container: dict[str, Any] = {"name": service.name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if service.raw.get("entrypoint"):
        container["command"] = list(service.raw["entrypoint"])
    if service.command:
        container["args"] = list(service.command)
    port_name = "http" if service.platform else "main"
    if port:
        container["ports"] = [{"name": port_name, "containerPort": port, "protocol": "TCP"}]
    if env_from:
        container["envFrom"] = env_from
    resources = _resources(service)
    if resources:
        container["resources"] = resources
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    pod_security: dict[str, Any] = {}
    container_security: dict[str, Any] = {"allowPrivilegeEscalation": False}
    annotations: dict[str, str] = {}
    if service.built:
        pod_security, read_only = _pod_security(service, warnings)
        container_security.update({"readOnlyRootFilesystem": read_only, "capabilities": {"drop": ["ALL"]}})
        scratch = ["/tmp", *service.tmpfs] if read_only else list(service.tmpfs)
        for index, path in enumerate(dict.fromkeys(scratch)):
            volumes.append(
                {"name": f"scratch-{index}", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
            )
            mounts.append({"name": f"scratch-{index}", "mountPath": path})
        if port and service.platform:
            probe = {
                "httpGet": {"path": "/healthz", "port": "http"},
                "periodSeconds": 10,
                "timeoutSeconds": 2,
            }
            container["livenessProbe"] = {**probe, "failureThreshold": 3}
            container["readinessProbe"] = {
                **probe,
                "httpGet": {"path": "/readyz", "port": "http"},
                "periodSeconds": 3,
                "failureThreshold": 2,
            }
            container["startupProbe"] = {**probe, "periodSeconds": 2, "failureThreshold": 30}
            annotations = {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(port),
                "prometheus.io/path": "/metrics",
            }
        else:
            _command_probes(container, service, port)
    else:
        warnings.append(
            f"{service.name}: third-party image {service.image} runs as its image decides (no runAsNonRoot); "
            "for a database prefer a managed service or an operator in production"
        )
        _command_probes(container, service, port)
    for volume, path in service.volumes:
        volumes.append({"name": volume, "persistentVolumeClaim": {"claimName": volume}})
        mounts.append({"name": volume, "mountPath": path})
    container["securityContext"] = container_security
    if mounts:
        container["volumeMounts"] = mounts
    grace = _seconds(service.raw.get("stop_grace_period"))
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
    }
    if grace:
        pod_spec["terminationGracePeriodSeconds"] = grace
    if pod_security:
        pod_spec["securityContext"] = pod_security
    if volumes:
        pod_spec["volumes"] = volumes
    labels = _labels(stack, service.name)
    strategy: dict[str, Any] = (
        {"type": "Recreate"}
        if service.volumes
        else {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    )
    meta = _meta(stack, service.name)
    if autoscaled:
        meta["labels"][AUTOSCALE_LABEL] = "true"
    template_meta: dict[str, Any] = {"labels": labels}
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels},
            "strategy": strategy,
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def _command_probes(container: dict[str, Any], service: StackService, port: int | None) -> None:
    """Probes for a service that is not a toolkit platform service (a gateway, a database):
    its compose healthcheck as an exec probe, else a TCP check of its port."""
    check = service.raw.get("healthcheck") or {}
    test = check.get("test") or []
    probe: dict[str, Any] | None = None
    if not check.get("disable") and len(test) > 1 and test[0] in ("CMD", "CMD-SHELL"):
        # The normalised test keeps compose's `$$` escape; Kubernetes runs it as is.
        words = [str(w).replace("$$", "$") for w in test[1:]]
        command = words if test[0] == "CMD" else ["sh", "-c", " ".join(words)]
        probe = {"exec": {"command": command}, "timeoutSeconds": _seconds(check.get("timeout")) or 5}
    elif port:
        probe = {"tcpSocket": {"port": "main"}}
    if probe is None:
        return
    container["livenessProbe"] = {**probe, "periodSeconds": 10, "failureThreshold": 3}
    container["readinessProbe"] = {**probe, "periodSeconds": 5, "failureThreshold": 2}
    start_s = _seconds(check.get("start_period")) or 30
    container["startupProbe"] = {**probe, "periodSeconds": 2, "failureThreshold": max(1, start_s // 2)}


def _seconds(value: Any) -> int | None:
    """Compose durations (``"30s"``, ``"1m30s"``, or nanoseconds) in whole seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return max(1, round(value / 1e9))
    total = 0.0
    for amount, unit in re.findall(r"([\d.]+)(ms|h|m|s)", str(value)):
        total += float(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return max(1, round(total)) if total else None


def _service(stack: Stack, service: StackService) -> dict[str, Any]:
    port = service.main_port
    assert port is not None
    name = "http" if service.platform else "main"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(stack, service.name),
        "spec": {
            "selector": _labels(stack, service.name),
            "ports": [{"name": name, "port": port, "targetPort": name, "protocol": "TCP"}],
        },
    }


def _pvc(stack: Stack, volume: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(stack, volume),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _ingress(stack: Stack, routes: Sequence[Route], ingress_class: str) -> dict[str, Any]:
    paths = [
        {
            "path": r.path,
            "pathType": "Exact" if r.exact else "Prefix",
            "backend": {"service": {"name": r.service, "port": {"number": r.port}}},
        }
        for r in routes
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(stack, stack.project),
        "spec": {"ingressClassName": ingress_class, "rules": [{"http": {"paths": paths}}]},
    }


def _autoscaler(stack: Stack, policy_text: str, image: str, selector: str) -> list[dict[str, Any]]:
    """ServiceAccount, Role, RoleBinding, policy ConfigMap and Deployment of the controller."""
    meta = _meta(stack, AUTOSCALER)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": meta,
        "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch", "update"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "update"],
            },
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": AUTOSCALER},
        # "default" makes the base valid on its own; an overlay's namespace replaces it.
        "subjects": [{"kind": "ServiceAccount", "name": AUTOSCALER, "namespace": "default"}],
    }
    policy = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(stack, f"{AUTOSCALER}-policy"),
        "data": {"scaling.yaml": policy_text},
    }
    labels = _labels(stack, AUTOSCALER)
    args = [
        "autoscale",
        "--backend",
        "kubernetes",
        "--namespace",
        "$(POD_NAMESPACE)",
        "--selector",
        selector,
        "--policy",
        POLICY_PATH,
        "--listen",
        f"0.0.0.0:{TELEMETRY_PORT}",
    ]
    probe = {"httpGet": {"path": "/healthz", "port": "telemetry"}, "periodSeconds": 10}
    container = {
        "name": "autoscaler",
        "image": image,
        "command": ["toolkit"],
        "args": args,
        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "ports": [{"name": "telemetry", "containerPort": TELEMETRY_PORT, "protocol": "TCP"}],
        "livenessProbe": probe,
        "readinessProbe": probe,
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "policy", "mountPath": "/etc/toolkit", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},  # one leader at a time; the lease guards overlaps
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(TELEMETRY_PORT),
                    },
                },
                "spec": {
                    "serviceAccountName": AUTOSCALER,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "policy", "configMap": {"name": f"{AUTOSCALER}-policy"}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    return [account, role, binding, policy, deployment]


# --- HPA v2 and KEDA equivalents of the policy --------------------------------------------

# Per-pod metric names a Prometheus adapter exposes to the HPA (see docs/targets/kubernetes.md).
HPA_POD_METRICS: dict[MetricKind, str] = {
    MetricKind.RPS_PER_REPLICA: "http_requests_per_second",
    MetricKind.INFLIGHT_PER_REPLICA: "http_requests_in_flight",
    MetricKind.LATENCY_P95_S: "http_request_duration_seconds_p95",
}


def _quantity(value: float) -> str:
    """A Kubernetes quantity for a metric target (milli-units when not whole)."""
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def _behavior_rules(rules: ScalingRules) -> dict[str, Any]:
    select = {SelectPolicy.MAX: "Max", SelectPolicy.MIN: "Min", SelectPolicy.DISABLED: "Disabled"}
    return {
        "stabilizationWindowSeconds": round(rules.stabilization_window_s),
        "selectPolicy": select[rules.select_policy],
        "policies": [
            {
                "type": "Pods" if p.type.value == "pods" else "Percent",
                "value": p.value,
                "periodSeconds": p.period_s,
            }
            for p in rules.policies
        ],
    }


def _behavior(sp: ServicePolicy) -> dict[str, Any]:
    return {"scaleUp": _behavior_rules(sp.scale_up), "scaleDown": _behavior_rules(sp.scale_down)}


def _approximation_notes(name: str, sp: ServicePolicy, target: str, warnings: list[str]) -> None:
    if sp.algorithm != "hpa":
        warnings.append(
            f"{name}: {target} reproduces the policy's bounds and behavior, not the {sp.algorithm} algorithm"
        )
    if abs(sp.tolerance - 0.1) > 1e-9:
        warnings.append(f"{name}: tolerance {sp.tolerance} is cluster-wide in {target} (default 0.1)")
    if sp.min_replicas < 1:
        warnings.append(f"{name}: min_replicas 0 needs scale to zero; {target} uses 1")


def _hpa(stack: Stack, name: str, sp: ServicePolicy, warnings: list[str]) -> dict[str, Any] | None:
    if sp.metric is MetricKind.PROMQL:
        warnings.append(
            f"{name}: a raw PromQL metric has no HPA equivalent; use --keda or the toolkit controller"
        )
        return None
    _approximation_notes(name, sp, "the HPA", warnings)
    metric: dict[str, Any]
    if sp.metric is MetricKind.CPU_PERCENT:
        # Percent of one core per pod, as an average value in cores: exact, whatever the request.
        metric = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "AverageValue", "averageValue": _cpu(sp.target / 100)},
            },
        }
    else:
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": HPA_POD_METRICS[sp.metric]},
                "target": {"type": "AverageValue", "averageValue": _quantity(sp.target)},
            },
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(stack, name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": max(1, sp.min_replicas),
            "maxReplicas": sp.max_replicas,
            "metrics": [metric],
            "behavior": _behavior(sp),
        },
    }


def keda_query(kind: MetricKind, service: str, window_s: int = 60) -> str:
    """The PromQL a KEDA trigger uses for a metric kind (pods labelled by the Prometheus
    ``labelmap`` of ``app.kubernetes.io/name``)."""
    sel = f'{{app_kubernetes_io_name="{service}"}}'
    if kind is MetricKind.RPS_PER_REPLICA:
        return f"sum(rate(http_requests_total{sel}[{window_s}s]))"
    if kind is MetricKind.INFLIGHT_PER_REPLICA:
        return f"sum(http_requests_in_flight{sel})"
    if kind is MetricKind.LATENCY_P95_S:
        buckets = f"rate(http_request_duration_seconds_bucket{sel}[{window_s}s])"
        return f"histogram_quantile(0.95, sum by (le) ({buckets}))"
    raise ValueError(kind)


def _keda(
    stack: Stack, name: str, sp: ServicePolicy, prometheus_url: str, warnings: list[str]
) -> dict[str, Any]:
    _approximation_notes(name, sp, "KEDA", warnings)
    trigger: dict[str, Any]
    if sp.metric is MetricKind.CPU_PERCENT:
        trigger = {"type": "cpu", "metricType": "AverageValue", "metadata": {"value": _cpu(sp.target / 100)}}
    else:
        # Totals over all pods compare per pod (AverageValue); a per-replica value (latency, a
        # raw query) compares as is (Value), as the policy's target is per replica.
        total = sp.metric in (MetricKind.RPS_PER_REPLICA, MetricKind.INFLIGHT_PER_REPLICA)
        query = sp.query if sp.metric is MetricKind.PROMQL and sp.query else keda_query(sp.metric, name)
        trigger = {
            "type": "prometheus",
            "metricType": "AverageValue" if total else "Value",
            "metadata": {"serverAddress": prometheus_url, "query": query, "threshold": f"{sp.target:g}"},
        }
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _meta(stack, name),
        "spec": {
            "scaleTargetRef": {"name": name},
            "pollingInterval": max(1, round(sp.period_s)),
            "minReplicaCount": sp.min_replicas,
            "maxReplicaCount": sp.max_replicas,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior(sp)}},
            "triggers": [trigger],
        },
    }


# --- the whole layout ----------------------------------------------------------------------


def _check_names(stack: Stack) -> None:
    for name in [*stack.services, *stack.volumes]:
        if not _DNS_LABEL.match(name):
            raise InvalidNameError(
                f"{name!r} is not a valid Kubernetes name (a DNS-1123 label: a-z, 0-9, '-')"
            )


def render(
    stack: Stack,
    images: Mapping[str, ServiceImage],
    *,
    policy: Policy | None,
    policy_text: str | None,
    autoscaler_image: str,
    hpa: bool = False,
    keda: bool = False,
    prometheus_url: str = "http://prometheus.monitoring.svc:9090",
    ingress_class: str = "nginx",
    envs: Sequence[str] = DEFAULT_ENVS,
) -> Manifests:
    """Every manifest of the layout, as documents per file."""
    if hpa and keda:
        raise UsageError("--hpa and --keda both scale the same Deployments: choose one")
    _check_names(stack)
    out = Manifests()
    gateway = stack.gateway
    app_names = set(stack.services)
    routes: list[Route] = []
    deploy_gateway = True
    if len(stack.services) > 1:
        backends = app_names - {gateway.name}
        if (stack.directory / SPLIT_MANIFEST).is_file():
            routes, problems = manifest_routes(read_manifest(stack.directory), backends)
        elif gateway.built and gateway.build_context is not None:
            routes, problems = gateway_routes(gateway.build_context, backends)
        else:
            problems = []
        out.warnings += [f"gateway: {p}" for p in problems]
        deploy_gateway = not routes
    if not routes and gateway.main_port:
        routes = [Route(path="/", exact=False, service=gateway.name, port=gateway.main_port)]
    scaled = [
        s.name
        for s in stack.services.values()
        if s.platform
        and s.main_port
        and (s.name != gateway.name or len(stack.services) == 1)
        and (policy is None or s.name in policy.services)
    ]
    if policy is None or policy_text is None:
        # No policy given: every scalable service on the defaults (edit the ConfigMap later).
        policy_text = yaml.safe_dump(
            {"version": 1, "services": {name: {} for name in scaled}}, sort_keys=False
        )
        policy = parse_policy(yaml.safe_load(policy_text))
    resources: list[str] = []
    for service in stack.services.values():
        if service.name == gateway.name and not deploy_gateway:
            continue
        if service.built:
            image = images[service.name].ref
        elif service.image:
            image = service.image
        else:
            raise UsageError(f"service {service.name!r} has neither build nor image")
        if service.built and service.main_port is None:
            out.warnings.append(f"{service.name}: no container port (expose or ports) — no Service or probes")
        env_docs, env_from = _env_objects(stack, service)
        sp = policy.policy_for(service.name) if policy else None
        start = sp.min_replicas if sp and service.name in scaled else (service.replicas or 1)
        docs = [
            *env_docs,
            _deployment(
                stack,
                service,
                image,
                replicas=max(1, start),
                env_from=env_from,
                autoscaled=service.name in scaled,
                warnings=out.warnings,
            ),
        ]
        if service.main_port:
            docs.append(_service(stack, service))
        docs += [_pvc(stack, volume) for volume, _ in service.volumes]
        out.files[f"base/{service.name}.yaml"] = docs
        resources.append(f"{service.name}.yaml")
    out.files["base/ingress.yaml"] = [_ingress(stack, routes, ingress_class)]
    resources.append("ingress.yaml")
    selector = f"app.kubernetes.io/part-of={stack.project},{AUTOSCALE_LABEL}=true"
    out.files["base/autoscaler.yaml"] = _autoscaler(stack, policy_text, autoscaler_image, selector)
    resources.append("autoscaler.yaml")
    if hpa or keda:
        extra: list[dict[str, Any]] = []
        for name in scaled:
            sp = policy.policy_for(name)
            doc = (
                _hpa(stack, name, sp, out.warnings)
                if hpa
                else _keda(stack, name, sp, prometheus_url, out.warnings)
            )
            if doc is not None:
                extra.append(doc)
        file = "hpa.yaml" if hpa else "keda.yaml"
        out.files[f"base/{file}"] = extra
        resources.append(file)
        out.warnings.append(
            f"{'HPA' if hpa else 'KEDA'} and the toolkit autoscaler must not both scale a Deployment: "
            "the autoscaler Deployment is written with 0 replicas"
        )
        autoscaler = out.files["base/autoscaler.yaml"][-1]
        autoscaler["spec"]["replicas"] = 0
    out.files["base/kustomization.yaml"] = [
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "labels": [{"pairs": {"app.kubernetes.io/part-of": stack.project}}],
            "resources": resources,
        }
    ]
    for env in envs:
        out.files[f"overlays/{env}/kustomization.yaml"] = [_overlay(stack, env, images)]
    return out


def _overlay(stack: Stack, env: str, images: Mapping[str, ServiceImage]) -> dict[str, Any]:
    """One environment: its own namespace, a label, and the place to pin image tags per env."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": f"{stack.project}-{env}",
        "resources": ["../../base", "namespace.yaml"],
        "labels": [{"pairs": {"toolkit.dev/env": env}, "includeSelectors": False}],
        "images": [
            {"name": i.repository, "newTag": i.tag} for i in sorted(images.values(), key=lambda i: i.service)
        ],
    }


def write(manifests: Manifests, stack: Stack, out_dir: Path, *, force: bool = False) -> list[Path]:
    """Write the layout under ``out_dir`` (refusing a non-empty one without ``force``)."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise TargetExistsError(f"{out_dir} is not empty (use --force to replace it)")
        shutil.rmtree(out_dir)
    written: list[Path] = []
    header = f"# Written by toolkit {__version__} (`toolkit deploy k8s`) for stack {stack.project}.\n"
    for rel, docs in sorted(manifests.files.items()):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
        written.append(path)
        if rel.startswith("overlays/"):
            env = path.parent.name
            namespace = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": f"{stack.project}-{env}", "labels": {"toolkit.dev/env": env}},
            }
            ns_path = path.parent / "namespace.yaml"
            ns_path.write_text(header + yaml.safe_dump(namespace, sort_keys=False), encoding="utf-8")
            written.append(ns_path)
    return written


@dataclass(frozen=True, slots=True)
class K8sResult:
    out_dir: Path
    files: list[Path]
    warnings: list[str]
    images: list[ServiceImage]

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "files": [str(p.relative_to(self.out_dir)) for p in self.files],
            "warnings": self.warnings,
            "images": [{"service": i.service, "ref": i.ref} for i in self.images],
        }


def deploy_k8s(
    stack_dir: Path,
    out_dir: Path,
    *,
    registry: str | None = None,
    tag: str | None = None,
    build_args: Mapping[str, str] | None = None,
    policy_file: Path | None = None,
    hpa: bool = False,
    keda: bool = False,
    autoscaler_image: str | None = None,
    prometheus_url: str = "http://prometheus.monitoring.svc:9090",
    ingress_class: str = "nginx",
    envs: Sequence[str] = DEFAULT_ENVS,
    force: bool = False,
) -> K8sResult:
    """Write the kustomize layout for the stack in ``stack_dir`` to ``out_dir``.

    Image references are the version tags ``toolkit build --push REGISTRY`` pushes (computed
    the same way, so nothing is built here); ``build_args`` must match the build's.
    """
    stack = load_stack(stack_dir)
    if out_dir.resolve().is_relative_to(stack.directory):
        raise UsageError(f"--out {out_dir} is inside the stack directory; write the manifests elsewhere")
    images = stack_images(stack, registry=registry, tag=tag, build_args=build_args or {})
    policy = load_policy(policy_file) if policy_file else None
    policy_text = policy_file.read_text(encoding="utf-8") if policy_file else None
    image = autoscaler_image or (
        f"{registry}/toolkit:{__version__}" if registry else f"toolkit:{__version__}"
    )
    manifests = render(
        stack,
        images,
        policy=policy,
        policy_text=policy_text,
        autoscaler_image=image,
        hpa=hpa,
        keda=keda,
        prometheus_url=prometheus_url,
        ingress_class=ingress_class,
        envs=envs,
    )
    files = write(manifests, stack, out_dir, force=force)
    return K8sResult(out_dir, files, manifests.warnings, list(images.values()))
