"""The example shop: the analysis must agree with what the running app and its ORM declare,
and the plan must put each domain in its own service with table entropy 0 and a lower ICP
than the naive split."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from toolkit.analyze import Analysis, analyze, check_plan
from toolkit.analyze._partition import group_of_factory
from toolkit.analyze.plan import dump_plan, parse_plan

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
DOMAINS = sorted(p.name for p in (SHOP / "shop").iterdir() if (p / "models.py").is_file())


def _modules_in(package: str) -> set[str]:
    files = (SHOP / "shop" / package).glob("*.py")
    return {f"shop.{package}.{p.stem}" for p in files if p.stem != "__init__"}


@pytest.fixture(scope="module")
def shop_runtime(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The real shop, imported in this test process only to serve as an oracle."""
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('db') / 'shop.db'}")
    sys.path.insert(0, str(SHOP))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the example's tree
    try:
        import shop.main
    finally:
        sys.path.remove(str(SHOP))
        sys.dont_write_bytecode = False
    return shop.main


def test_routes_match_the_running_app(shop_analysis: Analysis, shop_runtime: object) -> None:
    """The app's own OpenAPI document lists every route with its method and endpoint name."""
    schema = shop_runtime.app.openapi()  # type: ignore[attr-defined]
    expected = {
        (method.upper(), path, operation["operationId"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    found = {(m, r.path) for r in shop_analysis.program.routes for m in r.methods}
    assert found == {(method, path) for method, path, _ in expected}
    operation = {(method, path): op for method, path, op in expected}
    for route in shop_analysis.program.routes:
        assert operation[(route.methods[0], route.path)].startswith(route.handler.rpartition(":")[2] + "_")


def test_tables_match_the_orm_metadata(shop_analysis: Analysis, shop_runtime: object) -> None:
    from shop.common.db import Base  # type: ignore[import-not-found]

    assert {m.table for m in shop_analysis.program.models} == set(Base.metadata.tables)


def test_each_domain_is_its_own_service(shop_analysis: Analysis) -> None:
    plan = shop_analysis.plan
    assert len(plan.services) == len(DOMAINS)
    for svc in plan.services:
        domains = {m.split(".")[1] for m in svc.modules}
        assert len(domains) == 1, f"{svc.name} mixes {domains}"
        (domain,) = domains
        assert svc.name == domain
        assert set(svc.modules) == _modules_in(domain) | {f"shop.{domain}"}


def test_quality_beats_the_naive_split(shop_analysis: Analysis) -> None:
    plan, naive = shop_analysis.metrics["plan"], shop_analysis.metrics["naive"]
    assert plan.table_entropy == 0
    assert plan.icp < naive.icp
    assert plan.cross_service_calls < naive.cross_service_calls
    assert plan.sm > naive.sm


def test_common_code_is_shared_and_main_is_the_entry(shop_analysis: Analysis) -> None:
    plan = shop_analysis.plan
    assert _modules_in("common") <= set(plan.shared_modules)
    assert plan.entry_modules == ("shop.main",)
    assert plan.source.app == "shop.main:app"
    assert plan.source.framework == "fastapi"


def test_every_cross_service_call_is_listed_with_its_line(shop_analysis: Analysis) -> None:
    calls = {(c.caller, c.callee): c for c in shop_analysis.plan.calls}
    charge = calls[("shop.orders.service:place_order", "shop.payments.service:charge")]
    (site,) = charge.sites
    path, line = site.rsplit(":", 1)
    source_line = (SHOP / path).read_text().splitlines()[int(line) - 1]
    assert "payments.charge(" in source_line
    owner = shop_analysis.plan.module_owner()
    for call in shop_analysis.plan.calls:
        assert owner[call.caller.partition(":")[0]] == call.from_service != call.to_service
        assert owner[call.callee.partition(":")[0]] == call.to_service


def test_table_ownership_follows_the_models(shop_analysis: Analysis) -> None:
    owner = shop_analysis.plan.module_owner()
    tables = shop_analysis.plan.table_owner()
    for model in shop_analysis.program.models:
        assert tables[model.table] == owner[model.module]
    assert all(not svc.uses_tables for svc in shop_analysis.plan.services)


def test_plan_round_trips_and_checks_against_the_source(shop_analysis: Analysis) -> None:
    text = dump_plan(shop_analysis.plan)
    again = parse_plan(text)
    assert dump_plan(again) == text
    check_plan(again, shop_analysis)


def test_analysis_is_deterministic(shop_analysis: Analysis, tmp_path: Path) -> None:
    fresh = analyze(SHOP, use_cache=False)
    assert dump_plan(fresh.plan) == dump_plan(shop_analysis.plan)
    assert fresh.metrics == shop_analysis.metrics


def test_naive_split_groups_by_domain_package(shop_analysis: Analysis) -> None:
    groups = group_of_factory(shop_analysis.program)
    assert {groups[f"shop.{d}.service"] for d in DOMAINS} == set(DOMAINS)
    assert groups["shop.common.money"] == "common"
