"""Fixtures for the split tests: the example shop, its plan, and a tiny monolith built per test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from toolkit.analyze.plan import Plan, load_plan

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"
SHOP_PLAN = Path(__file__).with_name("shop-plan.yaml")


@pytest.fixture(scope="session")
def shop() -> Path:
    return SHOP


@pytest.fixture(scope="session")
def shop_plan() -> Plan:
    return load_plan(SHOP_PLAN)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> dedented text) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


#: A two-domain FastAPI monolith: ``billing`` calls functions of ``ledger``, one of which is
#: safe to call remotely and some of which are not (each for a different reason).
MINI_MONOLITH = {
    "requirements.txt": """
        fastapi==0.165.0
        uvicorn==0.54.0
    """,
    "mini/__init__.py": "",
    "mini/errors.py": """
        class NotFound(Exception):
            pass
    """,
    "mini/main.py": """
        from fastapi import FastAPI

        from mini.billing.api import router as billing_router
        from mini.ledger.api import router as ledger_router

        app = FastAPI(title="mini")
        app.include_router(billing_router)
        app.include_router(ledger_router)
    """,
    "mini/ledger/__init__.py": "",
    "mini/ledger/store.py": """
        from typing import Any

        from mini.errors import NotFound

        LIMIT = 3
        _BALANCES: dict[str, int] = {}


        def balance(account: str, *, default: int = 0) -> int:
            if account == "missing":
                raise NotFound(f"account {account} not found")
            return {"alice": 10}.get(account, default)


        def total(*accounts: str, bonus: int = 0, **weights: int) -> dict[str, Any]:
            return {"accounts": list(accounts), "bonus": bonus, "weights": weights}


        async def ping(word: str) -> str:
            return word.upper()


        def deposit(account: str, amount: int) -> int:
            _BALANCES[account] = _BALANCES.get(account, 0) + amount
            return _BALANCES[account]
    """,
    "mini/ledger/api.py": """
        from fastapi import APIRouter

        from mini.ledger import store

        router = APIRouter(prefix="/ledger")


        @router.get("/{account}")
        def read(account: str) -> dict[str, int]:
            return {"balance": store.balance(account)}
    """,
    "mini/billing/__init__.py": "",
    "mini/billing/api.py": """
        from fastapi import APIRouter

        from mini.ledger.store import LIMIT, balance, ping, total

        router = APIRouter(prefix="/billing")


        @router.get("/{account}")
        def bill(account: str) -> dict[str, int]:
            return {"due": balance(account) * LIMIT}
    """,
}

MINI_PLAN = """
version: 1
source: {root: ., packages: [mini], framework: fastapi, app: "mini.main:app"}
services:
  billing:
    modules: [mini.billing, mini.billing.api]
    routes: [{methods: [GET], path: "/billing/{account}", handler: "mini.billing.api:bill"}]
    tables: []
  ledger:
    modules: [mini.ledger, mini.ledger.api, mini.ledger.store]
    routes: [{methods: [GET], path: "/ledger/{account}", handler: "mini.ledger.api:read"}]
    tables: []
shared: {modules: [mini, mini.errors]}
entry: {modules: [mini.main]}
calls: []
"""


@pytest.fixture()
def mini(tmp_path: Path) -> tuple[Path, Plan]:
    """The tiny monolith under ``tmp_path/mini-src`` and its plan (written outside it)."""
    root = write_tree(tmp_path / "mini-src", MINI_MONOLITH)
    plan_file = tmp_path / "mini-plan.yaml"
    plan_file.write_text(MINI_PLAN, encoding="utf-8")
    return root, load_plan(plan_file)
