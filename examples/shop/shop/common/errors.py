"""Domain errors, and the one place they become HTTP responses.

Service functions raise these; each router wraps its calls in ``http_errors()`` so a router
works the same inside the monolith and inside a split service (no app-level handler needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException


class DomainError(Exception):
    status_code = 400


class NotFoundError(DomainError):
    status_code = 404


class ConflictError(DomainError):
    status_code = 409


class InvalidInputError(DomainError):
    status_code = 422


class PaymentRequiredError(DomainError):
    status_code = 402


@contextmanager
def http_errors() -> Iterator[None]:
    try:
        yield
    except DomainError as err:
        raise HTTPException(status_code=err.status_code, detail=str(err)) from err
