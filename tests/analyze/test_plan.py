"""The plan file: round trip, determinism, and one precise error per broken rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolkit import ConfigError
from toolkit.analyze.plan import dump_plan, load_plan, parse_plan, plan_to_dict

VALID: dict[str, Any] = {
    "version": 1,
    "source": {"root": ".", "packages": ["shop"], "framework": "fastapi", "app": "shop.main:app"},
    "services": {
        "orders": {
            "modules": ["shop.orders", "shop.orders.api", "shop.orders.service"],
            "routes": [{"methods": ["POST"], "path": "/orders", "handler": "shop.orders.api:create_order"}],
            "tables": ["orders", "order_lines"],
        },
        "payments": {
            "modules": ["shop.payments.api", "shop.payments.service"],
            "routes": [{"methods": ["GET"], "path": "/payments/{id}", "handler": "shop.payments.api:read"}],
            "tables": ["payments"],
            "uses_tables": [],
        },
    },
    "shared": {"modules": ["shop.common.db", "shop.common.money"]},
    "calls": [
        {
            "caller": "shop.orders.service:place_order",
            "callee": "shop.payments.service:charge",
            "from": "orders",
            "to": "payments",
            "count": 1,
            "sites": ["shop/orders/service.py:42"],
        }
    ],
}


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_round_trip_is_lossless_and_byte_stable(tmp_path: Path) -> None:
    plan = load_plan(_write(tmp_path, VALID))
    text = dump_plan(plan)
    again = parse_plan(text)
    assert plan_to_dict(again) == plan_to_dict(plan)
    assert dump_plan(again) == text
    assert plan.module_owner()["shop.common.db"] == "shared"
    assert plan.module_owner()["shop.orders.api"] == "orders"
    assert plan.table_owner() == {"orders": "orders", "order_lines": "orders", "payments": "payments"}
    assert plan.calls[0].sites == ("shop/orders/service.py:42",)


def test_dump_is_sorted_whatever_the_input_order(tmp_path: Path) -> None:
    shuffled = copy.deepcopy(VALID)
    shuffled["services"] = dict(reversed(list(shuffled["services"].items())))
    shuffled["services"]["orders"]["modules"].reverse()
    shuffled["services"]["orders"]["tables"].reverse()
    assert dump_plan(parse_plan(yaml.safe_dump(shuffled))) == dump_plan(parse_plan(yaml.safe_dump(VALID)))


def test_relative_root_resolves_against_the_plan_file(tmp_path: Path) -> None:
    doc = copy.deepcopy(VALID)
    doc["source"]["root"] = "../src"
    plan = load_plan(_write(tmp_path, doc))
    assert plan.source.resolve_root(plan.file) == (tmp_path / "../src").resolve()


Mutation = Callable[[dict[str, Any]], object]


def _set(path: str, value: object) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def _delete(path: str) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for part in parents:
            node = node[part]
        del node[last]

    return apply


CASES = [
    ("bad-version", _set("version", 2), "version", "unsupported plan version"),
    ("no-services", _delete("services"), None, "missing required key 'services'"),
    ("unknown-top-key", _set("servics", {}), "servics", "unknown key"),
    ("bad-service-name", _set("services/Orders_Svc", {"modules": ["x"]}), "services.Orders_Svc", "DNS-1123"),
    ("reserved-shared", _set("services/shared", {"modules": ["x"]}), "services.shared", "reserved"),
    ("empty-modules", _set("services/orders/modules", []), "services.orders.modules", "at least one module"),
    (
        "bad-module-name",
        _set("services/orders/modules/1", "shop..api"),
        "services.orders.modules[1]",
        "module name",
    ),
    (
        "module-twice-in-service",
        _set("services/orders/modules/2", "shop.orders"),
        "services.orders.modules[2]",
        "listed twice",
    ),
    (
        "module-in-two-services",
        _set("services/payments/modules/0", "shop.orders.service"),
        "services.payments.modules[0]",
        "also in service 'orders'",
    ),
    (
        "module-shared-and-service",
        _set("services/payments/modules/0", "shop.common.db"),
        "services.payments.modules[0]",
        "also in the shared library",
    ),
    (
        "route-in-two-services",
        _set(
            "services/payments/routes/0",
            {"methods": ["POST"], "path": "/orders", "handler": "shop.payments.api:x"},
        ),
        "services.payments.routes[0]",
        "also in service 'orders'",
    ),
    (
        "handler-outside-service",
        _set("services/orders/routes/0/handler", "shop.payments.api:read"),
        "services.orders.routes[0].handler",
        "not in service 'orders'",
    ),
    (
        "bad-method",
        _set("services/orders/routes/0/methods", ["FETCH"]),
        "services.orders.routes[0].methods[0]",
        "FETCH",
    ),
    (
        "relative-path",
        _set("services/orders/routes/0/path", "orders"),
        "services.orders.routes[0].path",
        "start with",
    ),
    (
        "table-two-owners",
        _set("services/payments/tables", ["payments", "orders"]),
        "services.payments.tables[1]",
        "also owned by service 'orders'",
    ),
    (
        "uses-unowned-table",
        _set("services/payments/uses_tables", ["ledger"]),
        "services.payments.uses_tables[0]",
        "not owned by any service",
    ),
    ("call-unknown-service", _set("calls/0/to", "billing"), "calls[0].to", "unknown service 'billing'"),
    (
        "call-callee-elsewhere",
        _set("calls/0/callee", "shop.orders.service:charge"),
        "calls[0].callee",
        "not in service 'payments'",
    ),
    ("call-count-mismatch", _set("calls/0/count", 3), "calls[0].count", "1 sites are listed"),
    ("call-bad-site", _set("calls/0/sites", ["service.py"]), "calls[0].sites[0]", "path:line"),
    ("bad-framework", _set("source/framework", "bottle"), "source.framework", "unknown framework"),
    ("services-not-mapping", _set("services", ["orders"]), "services", "non-empty mapping"),
    ("reserved-entry", _set("services/entry", {"modules": ["x"]}), "services.entry", "reserved"),
    (
        "module-in-entry-and-service",
        _set("entry", {"modules": ["shop.orders.api"]}),
        "services.orders.modules[1]",
        "also in the entry modules",
    ),
    (
        "module-in-entry-and-shared",
        _set("entry", {"modules": ["shop.common.db"]}),
        "entry.modules[0]",
        "also in the shared library",
    ),
]


@pytest.mark.parametrize(("mutate", "location", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_plans_name_the_exact_place(
    tmp_path: Path, mutate: Mutation, location: str | None, message: str
) -> None:
    doc = copy.deepcopy(VALID)
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError) as caught:
        load_plan(path)
    assert caught.value.location == location
    assert message in caught.value.detail
    assert caught.value.file == str(path)


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        ("", None, "empty"),
        ("version: [1\n", "line 2", "not valid YAML"),
        ("- 1\n", None, "expected a mapping"),
    ],
    ids=["empty", "broken-yaml", "top-level-list"],
)
def test_unparseable_plans(tmp_path: Path, text: str, location: str | None, message: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_plan(path)
    assert caught.value.location == location
    assert message in caught.value.detail


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_plan(tmp_path / "absent.yaml")
