"""Money as integer cents plus an ISO currency code: exact arithmetic, JSON-friendly."""

from __future__ import annotations

from shop.common.errors import InvalidInputError

SUPPORTED_CURRENCIES = frozenset({"EUR", "USD", "GBP"})
TAX_RATE_PERCENT = 20


def check_currency(currency: str) -> str:
    code = currency.upper()
    if code not in SUPPORTED_CURRENCIES:
        raise InvalidInputError(f"unsupported currency {currency!r}")
    return code


def check_amount(amount_cents: int) -> int:
    if amount_cents < 0:
        raise InvalidInputError("amount must not be negative")
    return amount_cents


def line_total(unit_price_cents: int, quantity: int) -> int:
    return check_amount(unit_price_cents) * quantity


def tax_of(amount_cents: int, rate_percent: int = TAX_RATE_PERCENT) -> int:
    """Tax rounded half up to the cent."""
    return (amount_cents * rate_percent + 50) // 100


def format_amount(amount_cents: int, currency: str) -> str:
    return f"{amount_cents // 100}.{amount_cents % 100:02d} {currency}"
