"""Proof that a split stack behaves like its monolith: same requests, same answers, route by route.

The monolith runs in a container built from the same base image as the services (its own
requirements, its own default database), the split stack runs behind its gateway, and the
same sequence of requests goes to both:

* generated from the route inventory: the monolith's OpenAPI document gives every operation
  with its parameters and body schema; requests are ordered so collections are created
  before they are read (``POST /users`` before ``GET /users/{user_id}``), and a path
  parameter after a collection takes the id the last ``POST`` to that collection returned
  *on the same side*;
* plus the user's recorded requests (JSON lines ``{"method", "path", "json"?, "headers"?}``),
  where ``${N.field}`` is replaced by ``field`` of the response to request N on that side.

Two answers are equal when the status codes are equal and the JSON bodies are equal after
(a) ids are renamed in order of first appearance on each side (``id`` and ``*_id`` values,
and those same ids where they appear inside text such as an error detail: generated ids
differ between two runs by nature, but the correspondence must hold: the n-th new id of the
monolith must sit where the n-th new id of the stack sits) and (b) the fields the user names
as volatile (``--ignore-field created_at``) are removed. Nothing else is ignored.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from toolkit import _docker
from toolkit._errors import ConfigError, SourceTreeError, VerificationError
from toolkit.split._run import RunningStack, read_manifest, stack_down, stack_up, wait_http
from toolkit.split._stack import read_requirement_lines

MONOLITH_PORT = 8000
_MIN_ID_IN_TEXT = 6  # shorter ids (1, 42) are not searched for inside text: too many false hits
_PLACEHOLDER = re.compile(r"\$\{(\d+)\.([A-Za-z0-9_.]+)\}")
_PHASE_ACTION = 3  # POST to an item (``/orders/{id}/cancel``) and unknown methods
_PHASES = {"POST": 0, "GET": 1, "HEAD": 1, "PUT": 2, "PATCH": 2, "DELETE": 4}


@dataclass(frozen=True, slots=True)
class Request:
    route: str  # "POST /orders/{order_id}/cancel": what parity is reported against
    method: str
    path: str  # may hold {param} (generated) or ${N.field} (recorded) to fill per side
    json_body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    collection: str | None = None  # a POST to this collection: remember the returned id


@dataclass(slots=True)
class RouteParity:
    route: str
    requests: int = 0
    same_status: int = 0
    same_body: int = 0
    first_difference: str | None = None

    @property
    def equal(self) -> bool:
        return self.requests == self.same_status == self.same_body

    def to_json(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "requests": self.requests,
            "same_status": self.same_status,
            "same_body": self.same_body,
            "equal": self.equal,
            "first_difference": self.first_difference,
        }


@dataclass(slots=True)
class ParityReport:
    routes: list[RouteParity] = field(default_factory=list)
    untested_routes: list[str] = field(default_factory=list)

    @property
    def parity_percent(self) -> float:
        if not self.routes:
            return 0.0
        return 100.0 * sum(1 for r in self.routes if r.equal) / len(self.routes)

    def to_json(self) -> dict[str, Any]:
        return {
            "parity_percent": round(self.parity_percent, 2),
            "routes": [r.to_json() for r in self.routes],
            "untested_routes": self.untested_routes,
            "requests": sum(r.requests for r in self.routes),
        }


# --------------------------------------------------------------------------- requests


def _sample(schema: Mapping[str, Any], spec: Mapping[str, Any], name: str = "") -> Any:
    """A small valid value for a JSON schema (following $ref into the OpenAPI components)."""
    if "$ref" in schema:
        ref = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _sample(spec.get("components", {}).get("schemas", {}).get(ref, {}), spec, name)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _sample(options[0], spec, name)
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if kind == "object":
        props = schema.get("properties", {})
        required = schema.get("required", list(props))
        return {k: _sample(props[k], spec, k) for k in required if k in props}
    if kind == "array":
        return [_sample(schema.get("items", {}), spec, name)]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return max(1.0, float(schema.get("minimum", 1.0)))
    if kind == "boolean":
        return True
    if "email" in name or schema.get("format") == "email":
        return "sample@example.com"
    return f"sample-{name}" if name else "sample"


def requests_from_openapi(spec: Mapping[str, Any], routes: Sequence[tuple[str, str]]) -> list[Request]:
    """One sample request per route (``(METHOD, path)``) the OpenAPI document describes."""
    out: list[Request] = []
    paths = spec.get("paths", {})
    for method, path in routes:
        operation = paths.get(path, {}).get(method.lower())
        if operation is None:
            continue
        params: list[tuple[str, str]] = []
        for param in operation.get("parameters", []):
            if param.get("in") == "query" and param.get("required"):
                params.append((param["name"], str(_sample(param.get("schema", {}), spec, param["name"]))))
        body = None
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            body = _sample(content["application/json"].get("schema", {}), spec)
        collection = path if method == "POST" and _is_collection(path, routes) else None
        out.append(Request(f"{method} {path}", method, path, body, (), tuple(params), collection))
    return sorted(out, key=_replay_order)


def _is_collection(path: str, routes: Sequence[tuple[str, str]]) -> bool:
    """A POST path is a collection (it creates items) when items live under it (``/users`` and
    ``/users/{id}``) or it can be listed (``GET /users``); ``/orders/{id}/cancel`` is an action."""
    base = path.rstrip("/")
    return any(p.startswith(base + "/{") or (m == "GET" and p.rstrip("/") == base) for m, p in routes)


def _replay_order(request: Request) -> tuple[int, int, str, str]:
    """Create collections first (shallow before nested), then read, update, act, and delete."""
    if request.method == "POST" and not request.collection:
        phase = _PHASE_ACTION
    else:
        phase = _PHASES.get(request.method, _PHASE_ACTION)
    return (phase, request.path.count("/"), request.path, request.method)


def read_recorded(path: Path) -> list[Request]:
    """Recorded requests: one JSON object per line with method, path, and optional json/headers."""
    out: list[Request] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            doc = json.loads(line)
            method, target = str(doc["method"]).upper(), str(doc["path"])
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"not a request object: {err}", file=path, location=f"line {number}") from err
        headers = tuple(sorted((str(k), str(v)) for k, v in dict(doc.get("headers", {})).items()))
        route = str(doc.get("route", f"{method} {target.split('?')[0]}"))
        out.append(Request(route, method, target, doc.get("json"), headers))
    return out


# --------------------------------------------------------------------------- comparing


class _Side:
    """One system under test: its client, the ids it returned, its answers so far."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30.0)
        self.collections: dict[str, str] = {}
        self.answers: list[Any] = []
        self.ids: dict[str, str] = {}

    def fill(self, request: Request) -> str:
        path = _PLACEHOLDER.sub(lambda m: str(self._answer_field(int(m.group(1)), m.group(2))), request.path)

        def param(match: re.Match[str]) -> str:
            prefix = path[: match.start()].rstrip("/")
            return self.collections.get(prefix, f"sample-{match.group(1)}")

        return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}", param, path)

    def fill_body(self, value: Any) -> Any:
        """``${N.field}`` inside a JSON body: a whole-string reference keeps the value's type."""
        if isinstance(value, dict):
            return {k: self.fill_body(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill_body(v) for v in value]
        if isinstance(value, str):
            whole = _PLACEHOLDER.fullmatch(value)
            if whole:
                return self._answer_field(int(whole.group(1)), whole.group(2))
            return _PLACEHOLDER.sub(lambda m: str(self._answer_field(int(m.group(1)), m.group(2))), value)
        return value

    def _answer_field(self, index: int, dotted: str) -> Any:
        value = self.answers[index] if index < len(self.answers) else None
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def send(self, request: Request) -> tuple[int, Any]:
        response = self.client.request(
            request.method,
            self.fill(request),
            json=self.fill_body(request.json_body),
            headers=dict(request.headers),
            params=dict(request.params) or None,  # an empty dict would drop the path's own query
        )
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        self.answers.append(body)
        if request.collection and isinstance(body, dict) and isinstance(body.get("id"), str | int):
            self.collections[request.collection.rstrip("/")] = str(body["id"])
        return response.status_code, body

    def learn_ids(self, value: Any, key: str = "") -> None:
        """Number the ids of an answer (``id``/``*_id`` values) in order of first appearance."""
        if isinstance(value, dict):
            for k, v in value.items():
                self.learn_ids(v, k)
        elif isinstance(value, list):
            for v in value:
                self.learn_ids(v, key)
        elif (
            (key == "id" or key.endswith("_id"))
            and isinstance(value, str | int)
            and not isinstance(value, bool)
        ):
            self.ids.setdefault(str(value), f"<id{len(self.ids) + 1}>")

    def canonical(self, value: Any, ignore: frozenset[str], key: str = "") -> Any:
        """Known ids renamed (as values, and inside text such as error details); ignored fields dropped."""
        if isinstance(value, dict):
            return {k: self.canonical(v, ignore, k) for k, v in sorted(value.items()) if k not in ignore}
        if isinstance(value, list):
            return [self.canonical(v, ignore, key) for v in value]
        if isinstance(value, bool) or not isinstance(value, str | int):
            return value
        if str(value) in self.ids and (key == "id" or key.endswith("_id") or isinstance(value, str)):
            return self.ids[str(value)]
        if isinstance(value, str):
            for known, name in self.ids.items():
                if len(known) >= _MIN_ID_IN_TEXT and known in value:
                    value = value.replace(known, name)
        return value


def compare(
    requests: Sequence[Request], monolith_url: str, stack_url: str, ignore_fields: Sequence[str] = ()
) -> ParityReport:
    """Send every request to both systems in turn and compare status codes and bodies."""
    ignore = frozenset(ignore_fields)
    monolith, stack = _Side(monolith_url), _Side(stack_url)
    by_route: dict[str, RouteParity] = {}
    answers: list[tuple[Request, int, Any, int, Any]] = []
    try:
        for request in requests:
            status_a, body_a = monolith.send(request)
            status_b, body_b = stack.send(request)
            answers.append((request, status_a, body_a, status_b, body_b))
            monolith.learn_ids(body_a)
            stack.learn_ids(body_b)
    finally:
        monolith.client.close()
        stack.client.close()
    # Compared once every id is known: an error detail may name an id that a later answer
    # shows (a declined order's id is listed afterwards).
    for request, status_a, body_a, status_b, body_b in answers:
        parity = by_route.setdefault(request.route, RouteParity(request.route))
        canon_a, canon_b = monolith.canonical(body_a, ignore), stack.canonical(body_b, ignore)
        parity.requests += 1
        parity.same_status += status_a == status_b
        parity.same_body += canon_a == canon_b
        if parity.first_difference is None and (status_a != status_b or canon_a != canon_b):
            parity.first_difference = (
                f"{request.method} {request.path}: monolith {status_a} {_short(canon_a)} "
                f"vs split {status_b} {_short(canon_b)}"
            )
    return ParityReport(routes=sorted(by_route.values(), key=lambda r: r.route))


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- running


@contextmanager
def run_monolith(source: Path, app: str, *, base_image: str, timeout_s: float = 600.0) -> Iterator[str]:
    """Build the monolith into an image from ``base_image`` and run it; yields its base URL.

    The build context is a temporary copy (requirements and packages), so nothing is written
    inside the monolith's tree; the container and image are removed afterwards.
    """
    requirements = source / "requirements.txt"
    if not requirements.is_file():
        raise SourceTreeError(f"no requirements.txt in {source}")
    module = app.partition(":")[0]
    top = module.split(".")[0]
    tag = f"tkt-verify-monolith-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="toolkit-verify-") as tmp:
        context = Path(tmp)
        lines = read_requirement_lines(requirements)
        if not any(line.lower().startswith("uvicorn") for line in lines):
            raise SourceTreeError(f"{requirements} does not pin uvicorn, needed to serve {app}")
        (context / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        package = source / top
        if package.is_dir():
            shutil.copytree(package, context / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source / f"{top}.py", context / f"{top}.py")
        copy_line = f"COPY {top} /app/{top}\n" if package.is_dir() else f"COPY {top}.py /app/{top}.py\n"
        (context / "Dockerfile").write_text(
            "ARG BASE_IMAGE=python:3.12-slim\n"
            "FROM ${BASE_IMAGE}\n"
            "COPY requirements.txt /tmp/requirements.txt\n"
            "RUN python3 -m venv /opt/venv"
            " && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt\n"
            + copy_line
            + "RUN mkdir -p /data && chown 10001:10001 /data\n"
            "ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app\n"
            "WORKDIR /data\n"
            "USER 10001:10001\n"
            f'CMD ["uvicorn", "{app}", "--host", "0.0.0.0", "--port", "{MONOLITH_PORT}"]\n',
            encoding="utf-8",
        )
        _docker.build_image(context, tags=[tag], build_args={"BASE_IMAGE": base_image}, timeout_s=timeout_s)
    container = _docker.run(
        ["run", "--detach", "--name", tag, "--publish", f"127.0.0.1::{MONOLITH_PORT}", tag]
    ).stdout.strip()
    try:
        port = _docker.run(["port", container, str(MONOLITH_PORT)]).stdout.split()[0].rpartition(":")[2]
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/openapi.json", timeout_s=60)
        yield url
    finally:
        _docker.run(["rm", "--force", "--volumes", container], check=False)
        _docker.run(["image", "rm", "--force", tag], check=False)


def route_inventory(out: Path) -> list[tuple[str, str]]:
    """Every ``(METHOD, path)`` of the split (from its split.json), sorted."""
    manifest = read_manifest(out)
    return sorted(
        (method, route["path"])
        for service in manifest["services"].values()
        for route in service["routes"]
        for method in route["methods"]
    )


def verify(
    monolith: Path,
    out: Path,
    *,
    base_image: str,
    scale: Mapping[str, int] | None = None,
    recorded: Path | None = None,
    ignore_fields: Sequence[str] = (),
    project: str | None = None,
    keep: bool = False,
) -> tuple[ParityReport, RunningStack | None]:
    """Start the monolith and the split stack, replay the same requests on both, compare.

    Returns the parity report and, with ``keep``, the still-running stack (else None).
    """
    monolith, out = Path(monolith).resolve(), Path(out).resolve()
    manifest = read_manifest(out)
    recorded_requests = read_recorded(recorded) if recorded is not None else []
    with run_monolith(monolith, str(manifest["app"]), base_image=base_image) as monolith_url:
        spec = httpx.get(f"{monolith_url}/openapi.json", timeout=10).json()
        inventory = route_inventory(out)
        generated = requests_from_openapi(spec, inventory)
        # A project of its own, so verifying never touches a stack the user runs from ``out``.
        own_project = project or f"{manifest['project']}-verify"
        stack = stack_up(out, project=own_project, base_image=base_image, scale=scale)
        try:
            report = compare([*generated, *recorded_requests], monolith_url, stack.gateway_url, ignore_fields)
        finally:
            if not keep:
                stack_down(stack)
    tested = {r.route for r in report.routes}
    report.untested_routes = [f"{m} {p}" for m, p in inventory if f"{m} {p}" not in tested]
    if not report.routes:
        raise VerificationError("no request could be generated or read: nothing was compared")
    return report, (stack if keep else None)
