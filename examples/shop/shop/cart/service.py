"""Cart functions. ``get_cart`` and ``clear_cart`` are called by orders; adding an item asks
users (does the customer exist) and catalog (what does it cost)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from shop.cart.models import Cart, CartItem
from shop.catalog import service as catalog
from shop.common.db import session_scope
from shop.common.errors import ConflictError, InvalidInputError, NotFoundError
from shop.common.ids import new_id
from shop.common.money import line_total
from shop.users.service import get_user


def _cart_dict(user_id: str, cart: Cart | None, items: list[CartItem]) -> dict[str, Any]:
    lines = [
        {
            "product_id": item.product_id,
            "quantity": item.quantity,
            "unit_price_cents": item.unit_price_cents,
            "line_total_cents": line_total(item.unit_price_cents, item.quantity),
        }
        for item in sorted(items, key=lambda i: i.product_id)
    ]
    return {
        "user_id": user_id,
        "currency": cart.currency if cart else None,
        "items": lines,
        "total_cents": sum(line["line_total_cents"] for line in lines),
    }


def add_item(user_id: str, product_id: str, quantity: int) -> dict[str, Any]:
    if quantity <= 0:
        raise InvalidInputError("quantity must be positive")
    if get_user(user_id) is None:
        raise NotFoundError(f"user {user_id} not found")
    price = catalog.get_price(product_id)
    if price is None:
        raise NotFoundError(f"product {product_id} not found")
    with session_scope() as session:
        cart = session.scalar(select(Cart).where(Cart.user_id == user_id))
        if cart is None:
            cart = Cart(id=new_id("crt"), user_id=user_id, currency=price["currency"])
            session.add(cart)
            session.flush()
        elif cart.currency != price["currency"]:
            raise ConflictError(f"cart is in {cart.currency}, product is priced in {price['currency']}")
        item = session.scalar(
            select(CartItem).where(CartItem.cart_id == cart.id, CartItem.product_id == product_id)
        )
        if item is None:
            session.add(
                CartItem(
                    cart_id=cart.id,
                    product_id=product_id,
                    quantity=quantity,
                    unit_price_cents=price["price_cents"],
                )
            )
        else:
            item.quantity += quantity
            item.unit_price_cents = price["price_cents"]
        session.flush()
        items = list(session.scalars(select(CartItem).where(CartItem.cart_id == cart.id)))
        return _cart_dict(user_id, cart, items)


def remove_item(user_id: str, product_id: str) -> dict[str, Any]:
    with session_scope() as session:
        cart = session.scalar(select(Cart).where(Cart.user_id == user_id))
        if cart is None:
            raise NotFoundError(f"user {user_id} has no cart")
        deleted = session.execute(
            delete(CartItem).where(CartItem.cart_id == cart.id, CartItem.product_id == product_id)
        )
        if deleted.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFoundError(f"product {product_id} is not in the cart")
        items = list(session.scalars(select(CartItem).where(CartItem.cart_id == cart.id)))
        return _cart_dict(user_id, cart, items)


def get_cart(user_id: str) -> dict[str, Any]:
    """The user's cart (an empty one when none was started)."""
    with session_scope() as session:
        cart = session.scalar(select(Cart).where(Cart.user_id == user_id))
        items = list(session.scalars(select(CartItem).where(CartItem.cart_id == cart.id))) if cart else []
        return _cart_dict(user_id, cart, items)


def clear_cart(user_id: str) -> None:
    with session_scope() as session:
        cart = session.scalar(select(Cart).where(Cart.user_id == user_id))
        if cart is not None:
            session.execute(delete(CartItem).where(CartItem.cart_id == cart.id))
            session.delete(cart)
