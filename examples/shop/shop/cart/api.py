"""HTTP routes of the cart domain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from shop.cart import service
from shop.common.errors import http_errors

router = APIRouter(prefix="/carts", tags=["cart"])


class NewItem(BaseModel):
    product_id: str
    quantity: int = 1


@router.get("/{user_id}")
def read_cart(user_id: str) -> dict[str, Any]:
    with http_errors():
        return service.get_cart(user_id)


@router.post("/{user_id}/items", status_code=201)
def add_item(user_id: str, body: NewItem) -> dict[str, Any]:
    with http_errors():
        return service.add_item(user_id, body.product_id, body.quantity)


@router.delete("/{user_id}/items/{product_id}")
def remove_item(user_id: str, product_id: str) -> dict[str, Any]:
    with http_errors():
        return service.remove_item(user_id, product_id)


@router.delete("/{user_id}", status_code=204)
def clear_cart(user_id: str) -> None:
    with http_errors():
        service.clear_cart(user_id)
