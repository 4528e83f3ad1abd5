"""HTTP routes of the users domain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from shop.common.errors import http_errors
from shop.users import service

router = APIRouter(prefix="/users", tags=["users"])


class NewUser(BaseModel):
    email: str
    name: str


class NewAddress(BaseModel):
    line1: str
    city: str
    country: str


@router.post("", status_code=201)
def create_user(body: NewUser) -> dict[str, Any]:
    with http_errors():
        return service.register(body.email, body.name)


@router.get("/{user_id}")
def read_user(user_id: str) -> dict[str, Any]:
    with http_errors():
        return service.require_user(user_id)


@router.post("/{user_id}/addresses", status_code=201)
def create_address(user_id: str, body: NewAddress) -> dict[str, Any]:
    with http_errors():
        return service.add_address(user_id, body.line1, body.city, body.country)


@router.get("/{user_id}/addresses")
def read_addresses(user_id: str) -> list[dict[str, Any]]:
    with http_errors():
        return service.list_addresses(user_id)
