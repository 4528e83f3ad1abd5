"""``toolkit deploy k8s``: the kustomize layout, validated offline.

No Kubernetes API server can run here, so the manifests are checked with what works offline:
``kubectl kustomize`` renders every overlay, ``kubernetes-validate`` checks every object
against the Kubernetes 1.30 schemas (strict: unknown fields are errors), and ``kubectl label
--local --dry-run=client`` decodes them with kubectl's own types. (``kubectl apply
--dry-run=client`` needs an API server for discovery even with ``--validate=false``.)
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.helpers import FIXTURE_TEMPLATE_VERSION, run_cli, run_json
from toolkit.deploy._nginx import Route, manifest_routes, parse_routes
from toolkit.scaffold import render_service

K8S_VERSION = "1.30.0"
SERVICES = {"catalog", "orders"}


def _render(out: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` an overlay and return its objects."""
    text = subprocess.run(
        ["kubectl", "kustomize", str(out)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _validate(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.fixture
def manifests(shop_stack: Path, tmp_path: Path) -> Path:
    out = tmp_path / "k8s"
    run_json("deploy", "k8s", str(shop_stack), "--out", str(out), "--registry", "registry.example:5000")
    return out


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_overlay_renders_validates_and_decodes(manifests: Path, env: str) -> None:
    docs = _render(manifests / "overlays" / env)
    _validate(docs)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        f"{_project(docs)}-{env}"
    }
    rendered = manifests.parent / f"{env}.yaml"
    rendered.write_text(yaml.safe_dump_all(docs))
    names = subprocess.run(
        ["kubectl", "label", "--local", "--dry-run=client", "-o", "name", "-f", str(rendered), "checked=yes"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(names) == len(docs)


def _project(docs: list[dict[str, Any]]) -> str:
    labelled = [d for d in docs if "app.kubernetes.io/part-of" in d["metadata"].get("labels", {})]
    return str(labelled[0]["metadata"]["labels"]["app.kubernetes.io/part-of"])


@pytest.mark.parametrize(("service", "uid"), [("catalog", 10001), ("orders", 10002)])
def test_deployments_run_as_the_dockerfile_user_with_a_restricted_context(
    manifests: Path, service: str, uid: int
) -> None:
    deployment = _by_kind(_render(manifests / "base"), "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    container = pod["containers"][0]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"name": "scratch-0", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["limits"] == {"cpu": "250m", "memory": "64Mi"}
    assert container["image"].startswith(
        f"registry.example:5000/{_project([deployment])}-{service}:{FIXTURE_TEMPLATE_VERSION}-h"
    )
    assert container["envFrom"] == [{"configMapRef": {"name": f"{service}-env"}}]


def test_read_only_root_can_be_turned_off_by_label(shop_stack: Path, tmp_path: Path) -> None:
    compose = shop_stack / "compose.yaml"
    compose.write_text(
        compose.read_text().replace('toolkit.read-only-root: "true"', 'toolkit.read-only-root: "false"')
    )
    run_json("deploy", "k8s", str(shop_stack), "--out", str(tmp_path / "k"))
    catalog = _by_kind(_render(tmp_path / "k" / "base"), "Deployment")["catalog"]
    container = catalog["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert all(m["mountPath"] != "/tmp" for m in container["volumeMounts"])


def test_gateway_becomes_an_ingress_and_is_not_deployed(manifests: Path) -> None:
    docs = _render(manifests / "base")
    assert set(_by_kind(docs, "Deployment")) == SERVICES | {"toolkit-autoscaler"}
    assert set(_by_kind(docs, "Service")) == SERVICES
    (ingress,) = _by_kind(docs, "Ingress").values()
    paths = {
        (p["path"], p["pathType"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths == {("/catalog/", "Prefix", "catalog", 8000), ("/orders/", "Prefix", "orders", 8000)}


def test_secret_looking_environment_goes_to_a_secret(shop_stack: Path, tmp_path: Path) -> None:
    compose = shop_stack / "compose.yaml"
    compose.write_text(
        compose.read_text().replace(
            "      SERVICE_NAME: orders\n",
            "      SERVICE_NAME: orders\n"
            "      DATABASE_URL: postgresql://app:pw@db/app\n"
            "      API_TOKEN: t\n",
        )
    )
    run_json("deploy", "k8s", str(shop_stack), "--out", str(tmp_path / "k"))
    docs = _render(tmp_path / "k" / "base")
    assert _by_kind(docs, "Secret")["orders-secret"]["stringData"] == {
        "API_TOKEN": "t",
        "DATABASE_URL": "postgresql://app:pw@db/app",
    }
    assert _by_kind(docs, "ConfigMap")["orders-env"]["data"] == {"SERVICE_NAME": "orders"}


def test_autoscaler_has_exactly_the_permissions_the_kubernetes_backend_uses(manifests: Path) -> None:
    docs = _render(manifests / "base")
    role = _by_kind(docs, "Role")["toolkit-autoscaler"]
    rules = {
        (r["apiGroups"][0], res, verb) for r in role["rules"] for res in r["resources"] for verb in r["verbs"]
    }
    for needed in [
        ("apps", "deployments", "list"),
        ("apps", "deployments", "get"),
        ("apps", "deployments/scale", "get"),
        ("apps", "deployments/scale", "patch"),
        ("", "pods", "list"),
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    ]:
        assert needed in rules
    assert not any(verb in ("delete", "*") for _, _, verb in rules)
    controller = _by_kind(docs, "Deployment")["toolkit-autoscaler"]
    pod = controller["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "toolkit-autoscaler"
    args = pod["containers"][0]["args"]
    assert args[:3] == ["autoscale", "--backend", "kubernetes"]
    selector = dict(kv.split("=") for kv in args[args.index("--selector") + 1].split(","))
    # The selector picks exactly the application Deployments, not the controller itself.
    selected = {
        name
        for name, d in _by_kind(docs, "Deployment").items()
        if selector.items() <= d["metadata"]["labels"].items()
    }
    assert selected == SERVICES
    policy = yaml.safe_load(_by_kind(docs, "ConfigMap")["toolkit-autoscaler-policy"]["data"]["scaling.yaml"])
    assert set(policy["services"]) == SERVICES


POLICY = """\
version: 1
services:
  orders:
    algorithm: hpa
    metric: {metric}
    target: {target}
    min_replicas: 2
    max_replicas: 7
    scale_down: {{stabilization_window_s: 60}}
"""


@pytest.mark.parametrize(
    ("metric", "target", "expected"),
    [
        ("rps_per_replica", 40, {"type": "Pods", "name": "http_requests_per_second", "value": "40"}),
        ("inflight_per_replica", 2.5, {"type": "Pods", "name": "http_requests_in_flight", "value": "2500m"}),
        (
            "latency_p95_s",
            0.25,
            {"type": "Pods", "name": "http_request_duration_seconds_p95", "value": "250m"},
        ),
        ("cpu_percent", 70, {"type": "Resource", "name": "cpu", "value": "700m"}),
    ],
    ids=["rps", "inflight", "latency", "cpu"],
)
def test_hpa_mirrors_the_policy(
    shop_stack: Path, tmp_path: Path, metric: str, target: float, expected: dict[str, str]
) -> None:
    policy = tmp_path / "scaling.yaml"
    policy.write_text(POLICY.format(metric=metric, target=target))
    run_json("deploy", "k8s", str(shop_stack), "--out", str(tmp_path / "k"), "--policy", str(policy), "--hpa")
    docs = _render(tmp_path / "k" / "overlays" / "prod")
    _validate(docs)
    hpas = _by_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {"orders"}  # only services the policy names
    spec = hpas["orders"]["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 7)
    (m,) = spec["metrics"]
    body = m["pods"] if m["type"] == "Pods" else m["resource"]
    name = body["metric"]["name"] if m["type"] == "Pods" else body["name"]
    assert {"type": m["type"], "name": name, "value": body["target"]["averageValue"]} == expected
    # HPA defaults of the hpa algorithm, with the policy's own scale-down window.
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert spec["behavior"]["scaleUp"]["policies"] == [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ]
    assert _by_kind(docs, "Deployment")["orders"]["spec"]["replicas"] == 2
    # The HPA owns scaling then: the toolkit controller is written stopped.
    assert _by_kind(docs, "Deployment")["toolkit-autoscaler"]["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("metric", "trigger_type", "metric_type", "query_part"),
    [
        ("rps_per_replica", "prometheus", "AverageValue", "rate(http_requests_total"),
        ("latency_p95_s", "prometheus", "Value", "histogram_quantile(0.95"),
        ("cpu_percent", "cpu", "AverageValue", None),
    ],
    ids=["rps", "latency", "cpu"],
)
def test_keda_scaled_object_mirrors_the_policy(
    shop_stack: Path, tmp_path: Path, metric: str, trigger_type: str, metric_type: str, query_part: str | None
) -> None:
    policy = tmp_path / "scaling.yaml"
    policy.write_text(POLICY.format(metric=metric, target=50))
    run_json(
        "deploy", "k8s", str(shop_stack), "--out", str(tmp_path / "k"), "--policy", str(policy), "--keda"
    )
    docs = _render(tmp_path / "k" / "overlays" / "dev")
    _validate([d for d in docs if d["kind"] != "ScaledObject"])  # a CRD: not in the core schemas
    scaled = _by_kind(docs, "ScaledObject")["orders"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["scaleTargetRef"]) == (
        2,
        7,
        {"name": "orders"},
    )
    (trigger,) = spec["triggers"]
    assert (trigger["type"], trigger["metricType"]) == (trigger_type, metric_type)
    if query_part:
        assert query_part in trigger["metadata"]["query"]
        assert trigger["metadata"]["threshold"] == "50"
    assert (
        spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
            "stabilizationWindowSeconds"
        ]
        == 60
    )


@pytest.mark.parametrize(
    ("conf", "routes", "problem"),
    [
        ("location /a/ { proxy_pass http://orders:8000; }", [Route("/a/", False, "orders", 8000)], None),
        (
            "location = /x { set $u http://orders:9000; proxy_pass $u; }",
            [Route("/x", True, "orders", 9000)],
            None,
        ),
        (
            "upstream up_o { server orders:8001; } server { location / { proxy_pass http://up_o; } }",
            [Route("/", False, "orders", 8001)],
            None,
        ),
        ("location ~ ^/r { proxy_pass http://orders:8000; }", [], "regular expressions"),
        (
            "location /p/ { proxy_pass http://orders:8000/v2/; }",
            [Route("/p/", False, "orders", 8000)],
            "rewrites",
        ),
        ("location /e/ { proxy_pass http://example.com; }", [], "not a service"),
        ("location /healthz { return 200; }  # proxy_pass http://orders:1;", [], None),
    ],
    ids=["direct", "variable-exact", "upstream", "regex", "rewrite", "foreign-host", "no-proxy-and-comment"],
)
def test_nginx_routes(conf: str, routes: list[Route], problem: str | None) -> None:
    found, problems = parse_routes(conf, {"orders"})
    assert found == routes
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hpa", "--keda"], "choose one"),
        (["--env", "Prod"], "--env"),
        (["--registry", "https://r"], "expected host[:port]"),
    ],
    ids=["hpa-and-keda", "bad-env", "registry-scheme"],
)
def test_bad_input_exits_2(shop_stack: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("deploy", "k8s", str(shop_stack), "--out", str(tmp_path / "k"), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_non_empty_output_needs_force_and_stack_dir_is_refused(shop_stack: Path, tmp_path: Path) -> None:
    out = tmp_path / "k"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    result = run_cli("deploy", "k8s", str(shop_stack), "--out", str(out))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (out / "mine.txt").read_text() == "keep"
    result = run_cli("deploy", "k8s", str(shop_stack), "--out", str(shop_stack / "k8s"))
    assert result.exit_code == 2 and "inside the stack" in result.stderr
    assert not (shop_stack / "k8s").exists()
    assert run_cli("deploy", "k8s", str(shop_stack), "--out", str(out), "--force").exit_code == 0
    assert not (out / "mine.txt").exists()


def test_generated_service_from_toolkit_new(tmp_path: Path) -> None:
    """A one-service stack from ``toolkit new``: the service is its own entry (Ingress on /),
    its Dockerfile's numeric user is used, and its image tag starts with the template version."""
    name = f"tkt-k8s-{uuid.uuid4().hex[:6]}"
    service_dir = render_service(name, tmp_path / "src")
    doc = run_json("deploy", "k8s", str(service_dir), "--out", str(tmp_path / "k"))
    (image,) = doc["images"]
    answers = yaml.safe_load((service_dir / ".toolkit.json").read_text())
    assert image["ref"].split(":")[-1].startswith(f"{answers['template_version']}-h")
    docs = _render(tmp_path / "k" / "overlays" / "dev")
    _validate(docs)
    deployment = _by_kind(docs, "Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["containers"][0]["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert pod["terminationGracePeriodSeconds"] == 30
    (ingress,) = _by_kind(docs, "Ingress").values()
    (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert (path["path"], path["backend"]["service"]["name"]) == ("/", name)


@pytest.mark.parametrize(
    ("services", "expected", "problem"),
    [
        (
            {"orders": ["/orders", "/orders/{id}", "/orders/{id}/cancel"], "users": ["/users/{id}"]},
            [Route("/orders", False, "orders", 8000), Route("/users", False, "users", 8000)],
            None,
        ),
        (
            {"catalog": ["/shop/products", "/shop/products/{id}"], "cart": ["/shop/cart/{user}"]},
            [
                Route("/shop/cart", False, "cart", 8000),
                Route("/shop/products", False, "catalog", 8000),
                Route("/shop/products", True, "catalog", 8000),
            ],
            None,
        ),
        (
            {"a": ["/things"], "b": ["/things"]},
            [Route("/things", True, "a", 8000)],
            "split by method",
        ),
    ],
    ids=["one-owner-per-segment", "shared-segment", "method-split"],
)
def test_split_manifest_routes(
    services: dict[str, list[str]], expected: list[Route], problem: str | None
) -> None:
    manifest = {
        "services": {
            name: {"port": 8000, "routes": [{"path": p, "methods": ["GET"]} for p in paths]}
            for name, paths in services.items()
        }
    }
    routes, problems = manifest_routes(manifest, set(services))
    assert routes == expected
    assert (problems == []) if problem is None else (problem in problems[0])


def test_a_built_database_gets_its_exposed_port_and_its_compose_healthcheck(
    shop_stack: Path, tmp_path: Path
) -> None:
    (shop_stack / "db").mkdir()
    (shop_stack / "db" / "Dockerfile").write_text(
        "ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\nUSER 10003:10003\nEXPOSE 5432\n"
    )
    compose = shop_stack / "compose.yaml"
    compose.write_text(
        compose.read_text().replace(
            "volumes:\n  catalog-data: {}\n",
            "  db:\n"
            "    build: {context: ./db}\n"
            "    healthcheck:\n"
            '      test: ["CMD-SHELL", "pg_isready --username $$PGUSER"]\n'
            "      start_period: 20s\n"
            "volumes:\n  catalog-data: {}\n",
        )
    )
    run_json("deploy", "k8s", str(shop_stack), "--out", str(tmp_path / "k"))
    docs = _render(tmp_path / "k" / "base")
    _validate(docs)
    db = _by_kind(docs, "Deployment")["db"]
    container = db["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "main", "containerPort": 5432, "protocol": "TCP"}]
    assert container["readinessProbe"]["exec"]["command"] == ["sh", "-c", "pg_isready --username $PGUSER"]
    assert container["startupProbe"]["failureThreshold"] == 10  # 20 s start period at 2 s
    # Not a platform service: no read-only root by default, not autoscaled, still non-root.
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert "toolkit.dev/autoscale" not in db["metadata"]["labels"]
    assert db["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10003
    assert _by_kind(docs, "Service")["db"]["spec"]["ports"][0]["port"] == 5432
