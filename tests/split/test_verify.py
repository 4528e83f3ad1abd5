"""Route parity without Docker: request generation from a real OpenAPI document, and the
comparison against real HTTP servers that differ in ids, timestamps or behaviour."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from toolkit._errors import ConfigError
from toolkit.split._verify import Request, compare, read_recorded, requests_from_openapi


@pytest.fixture(scope="module")
def shop_openapi(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shop's OpenAPI document, produced by the shop's own app in a separate process."""
    done = subprocess.run(
        [sys.executable, "-c", "import json; from shop.main import app; print(json.dumps(app.openapi()))"],
        env={**os.environ, "PYTHONPATH": str(shop)},
        cwd=tmp_path_factory.mktemp("openapi"),
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(done.stdout)
    assert isinstance(doc, dict)
    return doc


def test_one_request_per_route_collections_first(shop_openapi: dict[str, Any]) -> None:
    inventory = sorted(
        (method.upper(), path)
        for path, ops in shop_openapi["paths"].items()
        for method in ops
        if path != "/healthz"
    )
    requests = requests_from_openapi(shop_openapi, inventory)
    assert sorted(r.route for r in requests) == sorted(f"{m} {p}" for m, p in inventory)
    order = [r.route for r in requests]
    assert order.index("POST /users") < order.index("GET /users/{user_id}")
    assert order.index("POST /catalog/products") < order.index("GET /catalog/products/{product_id}")
    assert order.index("GET /orders/{order_id}") < order.index("POST /orders/{order_id}/cancel")
    assert order[-1].startswith("DELETE")
    new_user = next(r for r in requests if r.route == "POST /users")
    assert new_user.json_body == {"email": "sample@example.com", "name": "sample-name"}
    listing = next(r for r in requests if r.route == "GET /orders")
    assert dict(listing.params) == {"user_id": "sample-user_id"}


class _Things(BaseHTTPRequestHandler):
    """A tiny JSON API: POST /things creates {id, name, created_at}; GET /things/{id} reads it."""

    prefix = "a"
    broken_get = False

    def log_message(self, *args: object) -> None:
        return

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        server: Any = self.server
        thing = {
            "id": f"{self.prefix}{next(server.ids)}",
            "name": body.get("name"),
            "created_at": time.time(),
        }
        server.things[thing["id"]] = thing
        self._send(201, thing)

    def do_GET(self) -> None:
        server: Any = self.server
        thing = server.things.get(self.path.rsplit("/", 1)[-1])
        if thing is None or self.broken_get:
            self._send(404, {"detail": "Not Found"})
        else:
            self._send(200, thing)


@pytest.fixture()
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(prefix: str, *, broken_get: bool = False) -> str:
        handler = type("Handler", (_Things,), {"prefix": prefix, "broken_get": broken_get})
        server: Any = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.ids, server.things = itertools.count(1), {}
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()


REQUESTS = [
    Request("POST /things", "POST", "/things", {"name": "x"}, collection="/things"),
    Request("GET /things/{thing_id}", "GET", "/things/{thing_id}"),
]


@pytest.mark.parametrize(
    ("other", "ignore", "parity"),
    [
        pytest.param({"prefix": "zz-"}, ("created_at",), 100.0, id="ids-differ-timestamps-ignored"),
        pytest.param({"prefix": "zz-"}, (), 0.0, id="timestamps-differ-when-not-ignored"),
        pytest.param({"prefix": "zz-", "broken_get": True}, ("created_at",), 50.0, id="broken-read"),
    ],
)
def test_parity_renames_ids_and_ignores_only_named_fields(
    serve: Any, other: dict[str, Any], ignore: tuple[str, ...], parity: float
) -> None:
    report = compare(REQUESTS, serve("a"), serve(**other), ignore)
    assert report.parity_percent == parity
    assert [r.requests for r in report.routes] == [1, 1]
    for route in report.routes:
        assert (route.first_difference is None) == route.equal


def test_recorded_requests_refer_to_earlier_answers(serve: Any, tmp_path: Path) -> None:
    recorded = tmp_path / "requests.jsonl"
    recorded.write_text(
        '{"method": "POST", "path": "/things", "json": {"name": "y"}}\n'
        "# a comment\n"
        '{"method": "GET", "path": "/things/${0.id}", "route": "GET /things/{id}"}\n',
        encoding="utf-8",
    )
    report = compare(read_recorded(recorded), serve("a"), serve("b"), ("created_at",))
    assert report.parity_percent == 100.0
    assert {r.route: r.same_status for r in report.routes} == {"POST /things": 1, "GET /things/{id}": 1}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "/x"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        read_recorded(bad)


def test_ids_are_matched_by_position_also_inside_text() -> None:
    from toolkit.split._verify import _Side

    monolith, stack = _Side("http://unused"), _Side("http://unused")
    answers_a = [
        {"detail": "order ord_aaaaaaaa was declined"},
        [{"id": "ord_aaaaaaaa", "user_id": "usr_1111111"}],
    ]
    answers_b = [
        {"detail": "order ord_bbbbbbbb was declined"},
        [{"id": "ord_bbbbbbbb", "user_id": "usr_2222222"}],
    ]
    for a, b in zip(answers_a, answers_b, strict=True):
        monolith.learn_ids(a)
        stack.learn_ids(b)
    none: frozenset[str] = frozenset()
    assert [monolith.canonical(a, none) for a in answers_a] == [stack.canonical(b, none) for b in answers_b]
    assert monolith.canonical(answers_a[0], none) == {"detail": "order <id1> was declined"}
    # the same id must come back where the monolith returned it: another id is a difference
    first_a, second_a = {"id": "ord_a1", "user_id": "usr_u1"}, {"id": "ord_a1"}
    first_b, second_b = {"id": "ord_b1", "user_id": "usr_v1"}, {"id": "usr_v1"}
    left, right = _Side("http://unused"), _Side("http://unused")
    for side, answers in ((left, (first_a, second_a)), (right, (first_b, second_b))):
        for answer in answers:
            side.learn_ids(answer)
    assert left.canonical(first_a, none) == right.canonical(first_b, none)
    assert left.canonical(second_a, none) != right.canonical(second_b, none)
