"""Time in one place: timezone-aware UTC, serialised as ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite returns naive datetimes even for timezone=True columns
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()
