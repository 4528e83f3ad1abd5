"""Payment functions. ``charge`` and ``refund`` are called by orders with plain values and
return plain dicts: a declined card is a result (``status: declined``), not an exception."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from shop.common import clock
from shop.common.db import session_scope
from shop.common.errors import ConflictError, NotFoundError
from shop.common.ids import new_id
from shop.common.money import check_amount, check_currency, format_amount
from shop.payments.models import Payment, payment_events

DECLINING_CARD_TOKEN = "tok_decline"


def _payment_dict(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "order_id": payment.order_id,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "amount": format_amount(payment.amount_cents, payment.currency),
        "status": payment.status,
        "created_at": clock.iso(payment.created_at),
    }


def charge(order_id: str, amount_cents: int, currency: str, card_token: str) -> dict[str, Any]:
    """Charge a card; the processor is simulated: ``tok_decline`` is always declined."""
    check_amount(amount_cents)
    code = check_currency(currency)
    status = "declined" if card_token == DECLINING_CARD_TOKEN else "captured"
    with session_scope() as session:
        payment = Payment(
            id=new_id("pay"),
            order_id=order_id,
            amount_cents=amount_cents,
            currency=code,
            status=status,
            created_at=clock.utcnow(),
        )
        session.add(payment)
        session.flush()
        session.execute(insert(payment_events).values(payment_id=payment.id, event=status, at=clock.utcnow()))
        return _payment_dict(payment)


def refund(payment_id: str) -> dict[str, Any]:
    with session_scope() as session:
        payment = session.get(Payment, payment_id, with_for_update=True)
        if payment is None:
            raise NotFoundError(f"payment {payment_id} not found")
        if payment.status != "captured":
            raise ConflictError(f"payment {payment_id} is {payment.status}, cannot refund")
        payment.status = "refunded"
        session.execute(
            insert(payment_events).values(payment_id=payment.id, event="refunded", at=clock.utcnow())
        )
        return _payment_dict(payment)


def get_payment(payment_id: str) -> dict[str, Any]:
    with session_scope() as session:
        payment = session.get(Payment, payment_id)
        if payment is None:
            raise NotFoundError(f"payment {payment_id} not found")
        return _payment_dict(payment)


def payments_for_order(order_id: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = session.scalars(
            select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at)
        )
        return [_payment_dict(p) for p in rows]


def payment_history(payment_id: str) -> list[str]:
    get_payment(payment_id)
    with session_scope() as session:
        rows = session.execute(
            select(payment_events.c.event)
            .where(payment_events.c.payment_id == payment_id)
            .order_by(payment_events.c.id)
        )
        return [row.event for row in rows]
