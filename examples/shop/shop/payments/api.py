"""HTTP routes of the payments domain (read-only: charging happens through orders)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shop.common.errors import http_errors
from shop.payments import service

router = APIRouter(prefix="/payments", tags=["payments"])


@router.get("")
def list_payments(order_id: str) -> list[dict[str, Any]]:
    with http_errors():
        return service.payments_for_order(order_id)


@router.get("/{payment_id}")
def read_payment(payment_id: str) -> dict[str, Any]:
    with http_errors():
        return service.get_payment(payment_id)


@router.get("/{payment_id}/events")
def read_payment_events(payment_id: str) -> list[str]:
    with http_errors():
        return service.payment_history(payment_id)
