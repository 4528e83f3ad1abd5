"""HTTP routes of the orders domain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from shop.common.errors import http_errors
from shop.orders import service

router = APIRouter(prefix="/orders", tags=["orders"])


class NewOrder(BaseModel):
    user_id: str
    card_token: str = "tok_visa"


@router.post("", status_code=201)
def create_order(body: NewOrder) -> dict[str, Any]:
    with http_errors():
        return service.place_order(body.user_id, body.card_token)


@router.get("")
def list_orders(user_id: str) -> list[dict[str, Any]]:
    with http_errors():
        return service.list_orders(user_id)


@router.get("/{order_id}")
def read_order(order_id: str) -> dict[str, Any]:
    with http_errors():
        return service.get_order(order_id)


@router.post("/{order_id}/cancel")
def cancel_order(order_id: str) -> dict[str, Any]:
    with http_errors():
        return service.cancel_order(order_id)
