"""The generated manifests against the autoscaler's Kubernetes backend, on the fake API.

No API server runs here, so the backend talks to ``FakeKubernetesAPI`` (tests/backends), loaded
with the Deployments ``toolkit deploy k8s`` wrote. This checks that the in-cluster autoscaler as
generated would work: its ``--selector`` picks exactly the application Deployments, the pods
of those Deployments are found through their selectors, and every request the backend sends
is allowed by the generated Role.
"""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from backends.fake_kubernetes import FakeKubernetesAPI, RecordedRequest, pod

from deploy.helpers import run_json
from toolkit.backends import BackendOptions, make_backend


def _verb(request: RecordedRequest) -> tuple[str, str, str]:
    """(apiGroup, resource, verb) of a request, as RBAC sees it."""
    path = request.path
    group = "" if path.startswith("/api/") else path.split("/")[2]
    parts = path.split("/namespaces/", 1)[1].split("/")[1:]  # resource[, name[, subresource]]
    resource = parts[0] + (f"/{parts[2]}" if len(parts) > 2 else "")
    named = len(parts) > 1
    verb = {"GET": "get" if named else "list", "POST": "create", "PUT": "update", "PATCH": "patch"}
    return group, resource, verb[request.method]


@pytest.fixture
def fake() -> Iterator[FakeKubernetesAPI]:
    api = FakeKubernetesAPI()
    api.start()
    yield api
    api.stop()


def test_generated_autoscaler_selects_scales_and_stays_within_its_role(
    shop_stack: Path, tmp_path: Path, fake: FakeKubernetesAPI
) -> None:
    policy = tmp_path / "scaling.yaml"
    policy.write_text("version: 1\nservices:\n  orders: {min_replicas: 2, max_replicas: 6}\n  catalog: {}\n")
    out = tmp_path / "k8s"
    run_json("deploy", "k8s", str(shop_stack), "--out", str(out), "--policy", str(policy))
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(out / "overlays" / "dev")], capture_output=True, text=True, check=True
    ).stdout
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(rendered) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    role = next(d for d in docs if d["kind"] == "Role")
    allowed = {
        (g, res, verb)
        for r in role["rules"]
        for g in r["apiGroups"]
        for res in r["resources"]
        for verb in r["verbs"]
    }
    namespace = deployments["orders"]["metadata"]["namespace"]
    args = deployments["toolkit-autoscaler"]["spec"]["template"]["spec"]["containers"][0]["args"]
    selector = args[args.index("--selector") + 1]

    for name, doc in deployments.items():
        doc = copy.deepcopy(doc)
        doc["status"] = {"replicas": doc["spec"]["replicas"], "readyReplicas": doc["spec"]["replicas"]}
        fake.add_deployment(doc)
        for index in range(doc["spec"]["replicas"]):
            replica = pod(f"{name}-{index}", namespace, name, f"10.0.{len(fake.pods)}.1")
            replica["metadata"]["labels"] = dict(doc["spec"]["template"]["metadata"]["labels"])
            replica["metadata"]["annotations"] = dict(
                doc["spec"]["template"]["metadata"].get("annotations", {})
            )
            fake.pods.append(replica)

    backend = make_backend(
        "kubernetes",
        BackendOptions(
            namespace=namespace, label_selector=selector, kubeconfig=str(fake.kubeconfig(tmp_path / "kc"))
        ),
    )
    snapshot = backend.snapshot()
    assert set(snapshot) == {"catalog", "orders"}  # not the autoscaler itself
    assert snapshot["orders"].spec_replicas == 2  # started at the policy's minimum
    assert [t.address for t in snapshot["orders"].replicas] == ["10.0.1.1:8000", "10.0.2.1:8000"]
    backend.scale("orders", 4)
    assert fake.deployments[(namespace, "orders")]["spec"]["replicas"] == 4
    lock = backend.lock()
    assert lock.try_acquire()
    assert lock.try_acquire()  # renew
    lock.release()

    used = {_verb(r) for r in fake.requests}
    assert ("apps", "deployments/scale", "patch") in used
    assert ("coordination.k8s.io", "leases", "create") in used
    assert used <= allowed, f"requests the Role does not allow: {used - allowed}"
    assert all(re.search(f"/namespaces/{namespace}/", r.path) for r in fake.requests)
