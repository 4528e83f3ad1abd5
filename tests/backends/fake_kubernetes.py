"""FakeKubernetesAPI: an in-process fake of the few Kubernetes API endpoints the kubernetes
backend calls. No API server can run on this machine, so this is the one boundary faked.

It serves plain JSON over HTTP on 127.0.0.1, keeps Deployments, Pods and Leases in memory,
applies merge patches to ``deployments/{name}/scale``, enforces ``resourceVersion`` on Lease
updates (409 on conflict), and records every request (method, path, query, content type,
body, authorization) so tests can assert exactly what the backend sent.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any
    authorization: str | None


def deployment(
    name: str, namespace: str, replicas: int, ready: int, labels: dict[str, str]
) -> dict[str, Any]:
    pod_labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [{"name": "app", "image": f"{name}:1", "ports": [{"containerPort": 8000}]}]
                },
            },
        },
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def pod(
    name: str,
    namespace: str,
    app: str,
    ip: str,
    *,
    ready: bool = True,
    phase: str = "Running",
    terminating: bool = False,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app": app, "pod-template-hash": "abc"},
        "annotations": annotations or {},
    }
    if terminating:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "app", "image": f"{app}:1", "ports": [{"containerPort": 8000}]}]},
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


class FakeKubernetesAPI:
    """Start with ``start()``; ``kubeconfig(path)`` writes a kubeconfig pointing at it."""

    TOKEN = "fake-token"

    def __init__(self) -> None:
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.fail_with: int | None = None  # answer every request with this status
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": self.TOKEN}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    def add_deployment(self, doc: dict[str, Any]) -> None:
        self.deployments[(doc["metadata"]["namespace"], doc["metadata"]["name"])] = doc

    # --- request handling --------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if self.fail_with is not None:
            return self.fail_with, _status(self.fail_with, "injected failure")
        m = re.fullmatch(r"/apis/apps/v1/namespaces/([^/]+)/deployments", path)
        if m and method == "GET":
            selector = dict(
                part.split("=", 1) for part in (query.get("labelSelector", [""])[0]).split(",") if part
            )
            items = [
                d
                for (ns, _), d in sorted(self.deployments.items())
                if ns == m[1] and selector.items() <= d["metadata"].get("labels", {}).items()
            ]
            return 200, {"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {}, "items": items}
        m = re.fullmatch(r"/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)/scale", path)
        if m and method == "PATCH":
            found = self.deployments.get((m[1], m[2]))
            if found is None:
                return 404, _status(404, f'deployments.apps "{m[2]}" not found')
            found["spec"]["replicas"] = body["spec"]["replicas"]
            return 200, _scale(found)
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path)
        if m and method == "GET":
            items = [p for p in self.pods if p["metadata"]["namespace"] == m[1]]
            return 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}
        m = re.fullmatch(r"/apis/coordination.k8s.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?", path)
        if m:
            return self._lease(method, m[1], m[2], body)
        return 404, _status(404, f"the fake does not serve {method} {path}")

    def _lease(self, method: str, namespace: str, name: str | None, body: Any) -> tuple[int, Any]:
        if method == "GET" and name:
            found = self.leases.get((namespace, name))
            return (200, found) if found else (404, _status(404, f'leases "{name}" not found'))
        if method == "POST" and name is None:
            key = (namespace, body["metadata"]["name"])
            if key in self.leases:
                return 409, _status(409, "already exists")
            body["metadata"]["resourceVersion"] = "1"
            self.leases[key] = body
            return 201, body
        if method == "PUT" and name:
            stored = self.leases.get((namespace, name))
            if stored is None:
                return 404, _status(404, "not found")
            if body["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
                return 409, _status(409, "the object has been modified")
            body["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1)
            self.leases[(namespace, name)] = body
            return 200, body
        return 405, _status(405, "method not allowed")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                query = parse_qs(parts.query)
                with fake._lock:
                    fake.requests.append(
                        RecordedRequest(
                            self.command,
                            parts.path,
                            query,
                            self.headers.get("Content-Type"),
                            copy.deepcopy(body),
                            self.headers.get("Authorization"),
                        )
                    )
                    status, payload = fake._route(self.command, parts.path, query, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_PUT(self) -> None:
                self._serve()

            def do_PATCH(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _status(code: int, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message, "code": code}


def _scale(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": doc["metadata"]["name"], "namespace": doc["metadata"]["namespace"]},
        "spec": {"replicas": doc["spec"]["replicas"]},
        "status": {"replicas": doc["status"]["replicas"], "selector": "app=" + doc["metadata"]["name"]},
    }
