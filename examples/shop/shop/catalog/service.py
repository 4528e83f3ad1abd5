"""Catalog functions. ``get_price``, ``reserve_stock`` and ``release_stock`` are called by
other domains, so they take and return plain JSON values."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shop.catalog.models import Category, Product, StockLevel
from shop.common.db import session_scope
from shop.common.errors import ConflictError, InvalidInputError, NotFoundError
from shop.common.ids import new_id
from shop.common.money import check_amount, check_currency, format_amount


def _product_dict(product: Product, on_hand: int) -> dict[str, Any]:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "price_cents": product.price_cents,
        "currency": product.currency,
        "price": format_amount(product.price_cents, product.currency),
        "category_id": product.category_id,
        "stock": on_hand,
    }


def create_category(name: str) -> dict[str, Any]:
    with session_scope() as session:
        if session.scalar(select(Category).where(Category.name == name)) is not None:
            raise ConflictError(f"category {name!r} exists")
        category = Category(id=new_id("cat"), name=name)
        session.add(category)
        return {"id": category.id, "name": name}


def create_product(
    sku: str, name: str, price_cents: int, currency: str, stock: int, category_id: str | None = None
) -> dict[str, Any]:
    check_amount(price_cents)
    code = check_currency(currency)
    if stock < 0:
        raise InvalidInputError("stock must not be negative")
    with session_scope() as session:
        if session.scalar(select(Product).where(Product.sku == sku)) is not None:
            raise ConflictError(f"sku {sku!r} exists")
        if category_id is not None and session.get(Category, category_id) is None:
            raise NotFoundError(f"category {category_id} not found")
        product = Product(
            id=new_id("prd"),
            sku=sku,
            name=name,
            price_cents=price_cents,
            currency=code,
            category_id=category_id,
        )
        session.add(product)
        session.flush()
        session.add(StockLevel(product_id=product.id, on_hand=stock))
        return _product_dict(product, stock)


def get_product(product_id: str) -> dict[str, Any]:
    with session_scope() as session:
        product = session.get(Product, product_id)
        if product is None:
            raise NotFoundError(f"product {product_id} not found")
        level = session.get(StockLevel, product_id)
        return _product_dict(product, level.on_hand if level else 0)


def list_products(category_id: str | None = None) -> list[dict[str, Any]]:
    with session_scope() as session:
        query = select(Product).order_by(Product.sku)
        if category_id is not None:
            query = query.where(Product.category_id == category_id)
        products = list(session.scalars(query))
        levels = {lvl.product_id: lvl.on_hand for lvl in session.scalars(select(StockLevel))}
        return [_product_dict(p, levels.get(p.id, 0)) for p in products]


def get_price(product_id: str) -> dict[str, Any] | None:
    """Unit price of a product, or None when it does not exist."""
    with session_scope() as session:
        product = session.get(Product, product_id)
        if product is None:
            return None
        return {"product_id": product.id, "price_cents": product.price_cents, "currency": product.currency}


def reserve_stock(product_id: str, quantity: int) -> bool:
    """Take ``quantity`` units out of stock; False (nothing changed) when not enough is left."""
    with session_scope() as session:
        level = session.get(StockLevel, product_id, with_for_update=True)
        if level is None or level.on_hand < quantity:
            return False
        level.on_hand -= quantity
        return True


def release_stock(product_id: str, quantity: int) -> None:
    """Put units back (an order was cancelled or its payment failed)."""
    with session_scope() as session:
        level = session.get(StockLevel, product_id, with_for_update=True)
        if level is not None:
            level.on_hand += quantity
