"""HTTP routes of the catalog domain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from shop.catalog import service
from shop.common.errors import http_errors

router = APIRouter(prefix="/catalog", tags=["catalog"])


class NewCategory(BaseModel):
    name: str


class NewProduct(BaseModel):
    sku: str
    name: str
    price_cents: int
    currency: str = "EUR"
    stock: int = 0
    category_id: str | None = None


@router.post("/categories", status_code=201)
def create_category(body: NewCategory) -> dict[str, Any]:
    with http_errors():
        return service.create_category(body.name)


@router.post("/products", status_code=201)
def create_product(body: NewProduct) -> dict[str, Any]:
    with http_errors():
        return service.create_product(
            body.sku, body.name, body.price_cents, body.currency, body.stock, body.category_id
        )


@router.get("/products")
def list_products(category_id: str | None = None) -> list[dict[str, Any]]:
    with http_errors():
        return service.list_products(category_id)


@router.get("/products/{product_id}")
def read_product(product_id: str) -> dict[str, Any]:
    with http_errors():
        return service.get_product(product_id)
