"""The monolith's entry point: one FastAPI app with every domain's router.

Run it with ``uvicorn shop.main:app``. Tables are created at startup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shop.cart.api import router as cart_router
from shop.catalog.api import router as catalog_router
from shop.common.db import init_db
from shop.orders.api import router as orders_router
from shop.payments.api import router as payments_router
from shop.users.api import router as users_router


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    init_db()
    yield


app = FastAPI(title="shop", lifespan=lifespan)
app.include_router(catalog_router)
app.include_router(users_router)
app.include_router(cart_router)
app.include_router(orders_router)
app.include_router(payments_router)
