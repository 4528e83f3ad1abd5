"""toolkit split without Docker: what goes where, what becomes remote, what the output looks like."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit._errors import SourceTreeError, TargetExistsError, UsageError
from toolkit.analyze.plan import Plan
from toolkit.cli import main
from toolkit.scaffold import check_dockerfile_user
from toolkit.split import split
from toolkit.split._code import CodeIndex
from toolkit.split._layout import Route, ServicePlan, SplitPlan
from toolkit.split._prune import prune_module
from toolkit.split._remote import judge
from toolkit.split._stack import gateway_rules, merge_requirements, path_regex

from .conftest import write_tree


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------- the output as a whole


def test_same_input_gives_byte_identical_output(shop: Path, shop_plan: Plan, tmp_path: Path) -> None:
    first = split(shop, tmp_path / "a", shop_plan).out
    second = split(shop, tmp_path / "b", shop_plan).out
    assert _tree_digest(first) == _tree_digest(second)
    assert len(_tree_digest(first)) > 50


def test_split_writes_nothing_inside_the_monolith(shop: Path, shop_plan: Plan, tmp_path: Path) -> None:
    before = _tree_digest(shop)
    split(shop, tmp_path / "out", shop_plan)
    assert _tree_digest(shop) == before


@pytest.mark.parametrize(
    ("where", "error"),
    [
        pytest.param(lambda src: src / "out", UsageError, id="inside-source"),
        pytest.param(lambda src: src, UsageError, id="the-source-itself"),
        pytest.param(lambda src: src.parent, UsageError, id="contains-source"),
    ],
)
def test_out_may_not_overlap_the_monolith(mini: tuple[Path, Plan], where: object, error: type) -> None:
    root, plan = mini
    before = _tree_digest(root)
    with pytest.raises(error):
        split(root, where(root), plan)  # type: ignore[operator]
    assert _tree_digest(root) == before


def test_non_empty_out_needs_force_and_force_replaces_only_split_output(
    mini: tuple[Path, Plan], tmp_path: Path
) -> None:
    root, plan = mini
    out = tmp_path / "out"
    split(root, out, plan)
    (out / "stale.txt").write_text("from an older split", encoding="utf-8")
    with pytest.raises(TargetExistsError, match="--force"):
        split(root, out, plan)
    split(root, out, plan, force=True)
    assert not (out / "stale.txt").exists()
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(TargetExistsError, match="not a toolkit split output"):
        split(root, foreign, plan, force=True)
    assert (foreign / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_each_service_gets_its_code_the_shared_library_and_the_platform(
    shop: Path, shop_plan: Plan, tmp_path: Path
) -> None:
    out = split(shop, tmp_path / "out", shop_plan).out
    payments = out / "services" / "payments" / "src"
    # its own modules and the shared library, byte for byte
    for rel in ("shop/payments/service.py", "shop/payments/models.py", "shop/common/db.py"):
        assert (payments / rel).read_bytes() == (shop / rel).read_bytes()
    # nothing of the domains it does not call
    assert not (payments / "shop" / "orders").exists()
    assert not (payments / "shop" / "catalog").exists()
    # the platform module of `toolkit new`, unchanged
    platform = Path(__file__).resolve().parents[2] / "templates" / "service"
    template_platform = next(platform.glob("*/src/*/platform.py"))
    assert (payments / "payments" / "platform.py").read_bytes() == template_platform.read_bytes()
    # the app module keeps its line count and loses the other routers
    main_py = (payments / "shop" / "main.py").read_text(encoding="utf-8")
    original = (shop / "shop" / "main.py").read_text(encoding="utf-8")
    assert main_py.count("\n") == original.count("\n")
    assert "payments_router" in main_py
    assert "orders_router" not in main_py
    ast.parse(main_py)


def test_caller_gets_a_proxy_with_the_callee_signature(shop: Path, shop_plan: Plan, tmp_path: Path) -> None:
    out = split(shop, tmp_path / "out", shop_plan).out
    proxy = (out / "services/orders/src/shop/payments/service.py").read_text(encoding="utf-8")
    assert "def charge(order_id: str, amount_cents: int, currency: str, card_token: str)" in proxy
    assert "call(_PEER, _MODULE, 'charge'" in proxy
    internal = (out / "services/payments/src/_toolkit_split/internal.py").read_text(encoding="utf-8")
    assert '("shop.payments.service", "charge")' in internal
    report = (out / "SPLIT_REPORT.md").read_text(encoding="utf-8")
    assert "`POST /_internal/shop.payments.service/charge`" in report
    assert "shop/orders/service.py:101" in report  # the call site, from the plan


def test_compose_stack_wires_services_database_and_gateway(
    shop: Path, shop_plan: Plan, tmp_path: Path
) -> None:
    import yaml

    out = split(shop, tmp_path / "out", shop_plan).out
    compose = yaml.safe_load((out / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    published = sorted(name for name, svc in services.items() if svc.get("ports") and not svc.get("profiles"))
    assert published == ["gateway"]
    assert set(services) == {
        "gateway",
        "postgres",
        "prometheus",
        "cart",
        "catalog",
        "orders",
        "payments",
        "users",
    }
    orders = services["orders"]
    assert orders["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert orders["environment"]["PAYMENTS_URL"] == "http://payments:8000"
    assert orders["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert orders["deploy"]["resources"]["limits"]["memory"]
    assert services["prometheus"]["profiles"] == ["observability"]
    assert all(
        services["gateway"]["depends_on"][s]["condition"] == "service_healthy" for s in ("orders", "users")
    )
    prometheus = yaml.safe_load((out / "prometheus/prometheus.yml").read_text(encoding="utf-8"))
    assert sorted(job["job_name"] for job in prometheus["scrape_configs"]) == [
        "cart",
        "catalog",
        "orders",
        "payments",
        "users",
    ]
    requirements = (out / "services/orders/requirements.txt").read_text(encoding="utf-8")
    assert "SQLAlchemy==2.1.9" in requirements and "httpx==" in requirements
    assert all("==" in line for line in requirements.splitlines() if not line.startswith("#"))


@pytest.mark.parametrize(
    "dockerfile",
    ["gateway/Dockerfile", "postgres/Dockerfile", "prometheus/Dockerfile", "services/orders/Dockerfile"],
)
def test_generated_dockerfiles_pass_hadolint_and_run_as_numeric_non_root(
    shop: Path, shop_plan: Plan, tmp_path: Path, dockerfile: str
) -> None:
    out = split(shop, tmp_path / "out", shop_plan).out
    hadolint = Path(sys.executable).with_name("hadolint")
    done = subprocess.run([str(hadolint), str(out / dockerfile)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    check_dockerfile_user(out / dockerfile)


# --------------------------------------------------------------------------- remote or local


@pytest.mark.parametrize(
    ("source", "names", "problem"),
    [
        pytest.param("def f(a: int, b: str = 'x') -> dict[str, int]: ...", {"f"}, None, id="json-types"),
        pytest.param("async def f(a: list[int] | None) -> bool: ...", {"f"}, None, id="async-optional"),
        pytest.param("from typing import Any\ndef f(a: Any) -> Any: ...", {"f"}, None, id="any"),
        pytest.param("X = 'const'\ndef f() -> None: ...", {"X", "f"}, None, id="constant-copied"),
        pytest.param("def f(s: Session) -> int: ...", {"f"}, "parameter s is Session", id="session"),
        pytest.param("def f(a) -> int: ...", {"f"}, "parameter a has no annotation", id="unannotated"),
        pytest.param("def f(a: int): ...", {"f"}, "return value has no annotation", id="no-return"),
        pytest.param("def f(a: dict) -> list: ...", {"f"}, None, id="bare-containers"),
        pytest.param("def f(a: tuple[int, int]) -> int: ...", {"f"}, "tuple[int, int]", id="tuple"),
        pytest.param("def f(a: dict[int, str]) -> int: ...", {"f"}, "keys are strings", id="int-keys"),
        pytest.param("def f() -> int:\n    yield 1", {"f"}, "generator", id="generator"),
        pytest.param(
            "import functools\n@functools.cache\ndef f() -> int: ...", {"f"}, "decorated", id="decorated"
        ),
        pytest.param(
            "S = {}\ndef f() -> int:\n    return len(S)", {"f"}, "mutable state S", id="mutable-dict"
        ),
        pytest.param(
            "N = 0\ndef f() -> int:\n    global N\n    N += 1\n    return N",
            {"f"},
            "mutable state N",
            id="global",
        ),
        pytest.param("class C: ...", {"C"}, "is a class", id="class"),
        pytest.param("CACHE = {}", {"CACHE"}, "module-level state", id="state-itself"),
        pytest.param("def f() -> int: ...", {"*"}, "used as a value", id="whole-module"),
    ],
)
def test_remote_safety(tmp_path: Path, source: str, names: set[str], problem: str | None) -> None:
    write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": source})
    verdict = judge(CodeIndex.load(tmp_path, ["pkg"]).modules["pkg.m"], frozenset(names))
    if problem is None:
        assert verdict.remotable, verdict.reasons
    else:
        assert not verdict.remotable
        assert any(problem in text for _, text in verdict.reasons), verdict.reasons


def test_unsafe_call_keeps_a_local_copy_and_says_where(mini: tuple[Path, Plan], tmp_path: Path) -> None:
    root, plan = mini
    api = root / "mini/billing/api.py"
    api.write_text(api.read_text().replace("LIMIT, balance", "LIMIT, balance, deposit"), encoding="utf-8")
    result = split(root, tmp_path / "out", plan)
    billing = next(s for s in result.services if s.name == "billing")
    assert billing.local_copies == ("mini.ledger.store",)
    copied = (tmp_path / "out/services/billing/src/mini/ledger/store.py").read_bytes()
    assert copied == (root / "mini/ledger/store.py").read_bytes()
    report = (tmp_path / "out/SPLIT_REPORT.md").read_text(encoding="utf-8")
    assert "mini/ledger/store.py:24: deposit uses module-level mutable state _BALANCES" in report
    assert "imported at mini/billing/api.py:3" in report


@pytest.mark.parametrize(
    ("source", "foreign", "kept", "gone"),
    [
        pytest.param(
            "from a import r as ra\nfrom b import r as rb\napp.include(ra)\napp.include(rb)\n",
            {"b"},
            ["ra", "app.include(ra)"],
            ["rb"],
            id="router-import-and-use",
        ),
        pytest.param(
            "from b import r\nrouters = [r]\nfor x in routers:\n    app.include(x)\nprint('ok')\n",
            {"b"},
            ["print('ok')"],
            ["routers", "app.include"],
            id="transitive-names",
        ),
        pytest.param(
            "from a import x, y\nfrom mixed import keep, drop\nkeep()\ndrop()\n",
            {"mixed.drop"},
            ["from mixed import keep", "keep()"],
            ["drop"],
            id="mixed-import-rewritten",
        ),
        pytest.param(
            "async def lifespan():\n    from b import seed\n    seed()\n    yield\n",
            {"b"},
            ["yield"],
            ["seed"],
            id="inside-a-function",
        ),
    ],
)
def test_app_module_pruning(source: str, foreign: set[str], kept: list[str], gone: list[str]) -> None:
    tree = ast.parse(source)

    def resolve(node: ast.Import | ast.ImportFrom) -> list[str | None]:
        base = node.module if isinstance(node, ast.ImportFrom) else None
        out: list[str | None] = []
        for alias in node.names:
            target = f"{base}.{alias.name}" if base else alias.name
            out.append("other" if base in foreign or target in foreign else None)
        return out

    pruned, removed = prune_module(source.encode(), tree, resolve)
    text = pruned.decode()
    ast.parse(text)
    assert text.count("\n") == source.count("\n")
    for fragment in kept:
        assert fragment in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("pass", "#")))
    for fragment in gone:
        assert fragment not in code.replace("from mixed import keep", "")
    assert removed


# --------------------------------------------------------------------------- gateway and requirements


@pytest.mark.parametrize(
    ("path", "regex"),
    [
        pytest.param("/", "/", id="root"),
        pytest.param("/orders", "/orders/?", id="literal"),
        pytest.param("/orders/{order_id}/cancel", "/orders/[^/]+/cancel/?", id="param"),
        pytest.param("/files/{rest:path}", "/files/.*/?", id="path-param"),
        pytest.param("/a.b/{x}", r"/a\.b/[^/]+/?", id="escaped"),
    ],
)
def test_path_regex(path: str, regex: str) -> None:
    assert path_regex(path) == regex


def _plan(*services: tuple[str, list[tuple[str, str]]]) -> SplitPlan:
    return SplitPlan(
        packages=("p",),
        framework="fastapi",
        app="p.main:app",
        services=tuple(
            ServicePlan(
                name, (), tuple(Route((m,), path, f"p.{name}:h{i}") for i, (m, path) in enumerate(rs)), ()
            )
            for name, rs in services
        ),
        shared=(),
    )


def test_gateway_rules_prefer_literal_paths_and_split_by_method_only_when_needed() -> None:
    plan = _plan(
        ("catalog", [("GET", "/products/{id}"), ("GET", "/products/featured")]),
        ("search", [("GET", "/search")]),
        ("writer", [("POST", "/search"), ("GET", "/metrics")]),
    )
    rules = [(r.pattern, r.service) for r in gateway_rules(plan)]
    assert rules.index(("~^[A-Z]+ /products/featured/?$", "catalog")) < rules.index(
        ("~^[A-Z]+ /products/[^/]+/?$", "catalog")
    )
    assert ("~^(GET|HEAD) /search/?$", "search") in rules
    assert ("~^(POST) /search/?$", "writer") in rules
    assert not any("metrics" in pattern for pattern, _ in rules)


def test_requirements_keep_monolith_pins_and_add_the_platform(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {"requirements.txt": "-r base.txt\nfastapi==0.1.0\nrequests\n", "base.txt": "Flask==3.0.0\n"},
    )
    merged = merge_requirements(tmp_path, ["fastapi==0.165.0", "prometheus-client==0.26.0"], database=True)
    lines = merged.text.splitlines()[1:]
    assert lines == ["fastapi==0.1.0", "Flask==3.0.0", "prometheus-client==0.26.0", "requests"]
    notes = " ".join(merged.notes)
    assert "requests is not pinned" in notes
    assert "fastapi==0.1.0 from the monolith kept" in notes
    assert "no PostgreSQL driver" in notes
    with pytest.raises(SourceTreeError, match=r"no requirements\.txt"):
        merge_requirements(tmp_path / "nowhere", [], database=False)


# --------------------------------------------------------------------------- a real remote call


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CALLER_SCRIPT = """
import json
from _toolkit_split.remote import RemoteCallError
from mini.errors import NotFound
from mini.ledger import store

out = {
    "balance": store.balance("alice"),
    "default_kept_remote": store.balance("bob"),
    "default_given": store.balance("bob", default=7),
    "varargs": store.total("a", "b", bonus=2, x=1),
    "constant": store.LIMIT,
    "is_proxy": getattr(store, "__toolkit_proxy__", None),
}
import asyncio
out["async"] = asyncio.run(store.ping("hi"))
try:
    store.balance("missing")
except NotFound as err:
    out["raised"] = ["NotFound", str(err)]
print(json.dumps(out))
"""


def test_remote_call_round_trip_between_two_generated_services(
    mini: tuple[Path, Plan], tmp_path: Path
) -> None:
    root, plan = mini
    out = split(root, tmp_path / "out", plan).out
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PYTHONPATH": str(out / "services/ledger/src"),
        "LOG_LEVEL": "warning",
    }
    server = subprocess.Popen([sys.executable, "-m", "ledger"], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        caller_env = {
            **os.environ,
            "PYTHONPATH": str(out / "services/billing/src"),
            "LEDGER_URL": f"http://127.0.0.1:{port}",
        }
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(CALLER_SCRIPT)],
            env=caller_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = json.loads(done.stdout)
    assert result == {
        "balance": 10,
        "default_kept_remote": 0,
        "default_given": 7,
        "varargs": {"accounts": ["a", "b"], "bonus": 2, "weights": {"x": 1}},
        "constant": 3,
        "is_proxy": "ledger",
        "async": "HI",
        "raised": ["NotFound", "account missing not found"],
    }


def test_unreachable_peer_is_a_clear_remote_call_error(mini: tuple[Path, Plan], tmp_path: Path) -> None:
    root, plan = mini
    out = split(root, tmp_path / "out", plan).out
    script = (
        "from _toolkit_split.remote import RemoteCallError\n"
        "from mini.ledger import store\n"
        "try:\n    store.balance('alice')\nexcept RemoteCallError as err:\n    print(err)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(out / "services/billing/src"),
        "LEDGER_URL": f"http://127.0.0.1:{_free_port()}",
        "TOOLKIT_REMOTE_CONNECT_RETRIES": "0",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert "mini.ledger.store.balance in service ledger: ConnectError" in done.stdout


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--out", "{src}/x"], "inside the monolith", id="out-inside"),
        pytest.param(["--out", "{tmp}/full"], "not empty", id="non-empty"),
        pytest.param(["--out", "{tmp}/o", "--plan", "{tmp}/bad.yaml"], "bad.yaml", id="bad-plan"),
    ],
)
def test_cli_refuses_bad_input_with_one_line_and_exit_2(
    mini: tuple[Path, Plan], tmp_path: Path, args: list[str], message: str
) -> None:
    root, _ = mini
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("version: 1\nservices: 3\n", encoding="utf-8")
    argv = ["split", str(root), *(a.format(src=root, tmp=tmp_path) for a in args)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_json_output(mini: tuple[Path, Plan], tmp_path: Path) -> None:
    root, _ = mini
    result = CliRunner().invoke(
        main,
        [
            "split",
            str(root),
            "--plan",
            str(tmp_path / "mini-plan.yaml"),
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["command"] == "split"
    assert {s["name"]: s["remote_modules"] for s in doc["services"]} == {
        "billing": ["mini.ledger.store"],
        "ledger": [],
    }
    assert doc["database"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(["--scale", "orders"], "invalid --scale 'orders'", id="scale-without-count"),
        pytest.param(["--scale", "orders=0"], "invalid --scale 'orders=0'", id="scale-zero"),
        pytest.param([], "not a toolkit split output", id="not-a-split"),
    ],
)
def test_verify_refuses_bad_input_before_touching_docker(
    mini: tuple[Path, Plan], tmp_path: Path, extra: list[str], message: str
) -> None:
    root, _ = mini
    result = CliRunner().invoke(main, ["verify", str(root), str(tmp_path), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_app_module_keeps_imports_that_are_not_route_registrations(
    mini: tuple[Path, Plan], tmp_path: Path
) -> None:
    root, plan = mini
    main_py = root / "mini/main.py"
    main_py.write_text(
        main_py.read_text(encoding="utf-8")
        .replace(
            "from fastapi import FastAPI\n",
            "from fastapi import FastAPI\n\nfrom mini.ledger.store import LIMIT\n",
        )
        .replace('FastAPI(title="mini")', 'FastAPI(title=f"mini {LIMIT}")'),
        encoding="utf-8",
    )
    out = split(root, tmp_path / "out", plan).out
    billing_main = (out / "services/billing/src/mini/main.py").read_text(encoding="utf-8")
    assert "from mini.ledger.store import LIMIT" in billing_main  # used for the title: kept
    assert 'FastAPI(title=f"mini {LIMIT}")' in billing_main
    assert "from mini.ledger.api import router" not in billing_main  # a registration: removed
    assert "app.include_router(ledger_router)" not in billing_main
    store_proxy = (out / "services/billing/src/mini/ledger/store.py").read_text(encoding="utf-8")
    assert "LIMIT = 3" in store_proxy and "__toolkit_proxy__" in store_proxy
