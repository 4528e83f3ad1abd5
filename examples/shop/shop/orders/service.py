"""Order functions: the busiest cross-domain caller (cart, catalog, payments, users)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shop.cart.service import clear_cart, get_cart
from shop.catalog.service import release_stock, reserve_stock
from shop.common import clock
from shop.common.db import session_scope
from shop.common.errors import ConflictError, InvalidInputError, NotFoundError, PaymentRequiredError
from shop.common.ids import new_id
from shop.common.money import line_total, tax_of
from shop.orders.models import Order, OrderLine
from shop.payments import service as payments
from shop.users.service import get_user


def _order_dict(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "currency": order.currency,
        "subtotal_cents": order.subtotal_cents,
        "tax_cents": order.tax_cents,
        "total_cents": order.total_cents,
        "payment_id": order.payment_id,
        "created_at": clock.iso(order.created_at),
        "lines": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
                "line_total_cents": line_total(line.unit_price_cents, line.quantity),
            }
            for line in order.lines
        ],
    }


def _release_all(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        release_stock(line["product_id"], line["quantity"])


def _set_status(order_id: str, status: str, payment_id: str | None) -> dict[str, Any]:
    with session_scope() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise NotFoundError(f"order {order_id} not found")
        order.status = status
        order.payment_id = payment_id
        session.flush()
        return _order_dict(order)


def place_order(user_id: str, card_token: str) -> dict[str, Any]:
    """Reserve stock for every cart line, record the order, charge it, empty the cart.

    A declined card leaves an order in ``payment_failed`` with its stock released.
    """
    if get_user(user_id) is None:
        raise NotFoundError(f"user {user_id} not found")
    cart = get_cart(user_id)
    lines: list[dict[str, Any]] = cart["items"]
    if not lines:
        raise InvalidInputError("cart is empty")
    reserved: list[dict[str, Any]] = []
    for line in lines:
        if not reserve_stock(line["product_id"], line["quantity"]):
            _release_all(reserved)
            raise ConflictError(f"not enough stock for product {line['product_id']}")
        reserved.append(line)
    subtotal = sum(line_total(line["unit_price_cents"], line["quantity"]) for line in lines)
    tax = tax_of(subtotal)
    order_id = new_id("ord")
    with session_scope() as session:
        session.add(
            Order(
                id=order_id,
                user_id=user_id,
                status="pending",
                currency=cart["currency"],
                subtotal_cents=subtotal,
                tax_cents=tax,
                total_cents=subtotal + tax,
                created_at=clock.utcnow(),
                lines=[
                    OrderLine(
                        product_id=line["product_id"],
                        quantity=line["quantity"],
                        unit_price_cents=line["unit_price_cents"],
                    )
                    for line in lines
                ],
            )
        )
    payment = payments.charge(order_id, subtotal + tax, cart["currency"], card_token)
    if payment["status"] != "captured":
        _release_all(lines)
        _set_status(order_id, "payment_failed", payment["id"])
        raise PaymentRequiredError(f"payment for order {order_id} was declined")
    clear_cart(user_id)
    return _set_status(order_id, "paid", payment["id"])


def get_order(order_id: str) -> dict[str, Any]:
    with session_scope() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise NotFoundError(f"order {order_id} not found")
        return _order_dict(order)


def list_orders(user_id: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = session.scalars(
            select(Order).where(Order.user_id == user_id).order_by(Order.created_at, Order.id)
        )
        return [_order_dict(o) for o in rows]


def cancel_order(order_id: str) -> dict[str, Any]:
    """Refund a paid order and put its stock back."""
    order = get_order(order_id)
    if order["status"] != "paid":
        raise ConflictError(f"order {order_id} is {order['status']}, only paid orders can be cancelled")
    payments.refund(order["payment_id"])
    _release_all(order["lines"])
    return _set_status(order_id, "cancelled", order["payment_id"])
