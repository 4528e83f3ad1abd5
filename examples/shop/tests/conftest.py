"""Fixtures for the shop's suite.

Every test creates the data it needs through the HTTP API with unique values, and asserts only
on what it created, so the suite runs unchanged against a live deployment
(``SHOP_BASE_URL=http://127.0.0.1:8080 pytest``) that other tests or users also write to.
Without ``SHOP_BASE_URL`` the app runs in-process on a fresh SQLite file.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

SHOP_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    base_url = os.environ.get("SHOP_BASE_URL")
    if base_url:
        with httpx.Client(base_url=base_url, timeout=30.0) as live:
            yield live
        return
    db_file = tmp_path_factory.mktemp("shopdb") / "shop.db"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_file}"
    sys.path.insert(0, str(SHOP_ROOT))
    from fastapi.testclient import TestClient
    from shop.main import app

    with TestClient(app) as in_process:
        yield in_process


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_user(client: httpx.Client) -> Callable[..., dict[str, Any]]:
    def create(name: str = "Ada") -> dict[str, Any]:
        response = client.post("/users", json={"email": f"{unique('u')}@example.com", "name": name})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    return create


@pytest.fixture
def make_product(client: httpx.Client) -> Callable[..., dict[str, Any]]:
    def create(
        price_cents: int = 1000, stock: int = 10, currency: str = "EUR", **extra: Any
    ) -> dict[str, Any]:
        body = {"sku": unique("sku"), "name": "Widget", "price_cents": price_cents, "currency": currency}
        body.update(stock=stock, **extra)
        response = client.post("/catalog/products", json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    return create


@pytest.fixture
def fill_cart(client: httpx.Client) -> Callable[..., dict[str, Any]]:
    def add(user_id: str, product_id: str, quantity: int = 1) -> dict[str, Any]:
        response = client.post(
            f"/carts/{user_id}/items", json={"product_id": product_id, "quantity": quantity}
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    return add
