"""Tables owned by the payments domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from shop.common.db import Base


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# An append-only audit trail, declared as a core Table (no mapped class) on purpose.
payment_events = Table(
    "payment_events",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payment_id", String(32), ForeignKey("payments.id"), index=True),
    Column("event", String(32)),
    Column("at", DateTime(timezone=True)),
)
