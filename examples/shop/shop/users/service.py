"""User accounts. ``get_user`` is what other domains call (returns a dict or None)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shop.common import clock
from shop.common.db import session_scope
from shop.common.errors import ConflictError, InvalidInputError, NotFoundError
from shop.common.ids import new_id
from shop.users.models import Address, User


def _user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "created_at": clock.iso(user.created_at)}


def register(email: str, name: str) -> dict[str, Any]:
    if "@" not in email:
        raise InvalidInputError(f"invalid email {email!r}")
    with session_scope() as session:
        if session.scalar(select(User).where(User.email == email.lower())) is not None:
            raise ConflictError(f"email {email} already registered")
        user = User(id=new_id("usr"), email=email.lower(), name=name, created_at=clock.utcnow())
        session.add(user)
        session.flush()
        return _user_dict(user)


def get_user(user_id: str) -> dict[str, Any] | None:
    with session_scope() as session:
        user = session.get(User, user_id)
        return _user_dict(user) if user is not None else None


def require_user(user_id: str) -> dict[str, Any]:
    user = get_user(user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    return user


def add_address(user_id: str, line1: str, city: str, country: str) -> dict[str, Any]:
    require_user(user_id)
    if len(country) != 2:
        raise InvalidInputError("country must be a two-letter code")
    with session_scope() as session:
        address = Address(id=new_id("adr"), user_id=user_id, line1=line1, city=city, country=country.upper())
        session.add(address)
        return {
            "id": address.id,
            "user_id": user_id,
            "line1": line1,
            "city": city,
            "country": address.country,
        }


def list_addresses(user_id: str) -> list[dict[str, Any]]:
    require_user(user_id)
    with session_scope() as session:
        rows = session.scalars(select(Address).where(Address.user_id == user_id).order_by(Address.id))
        return [
            {"id": a.id, "user_id": a.user_id, "line1": a.line1, "city": a.city, "country": a.country}
            for a in rows
        ]
