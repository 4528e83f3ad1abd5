"""Identifiers: random, prefixed by kind, so a log line says what an id refers to."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    """``new_id("ord")`` -> ``ord_3f2a...``: unique without a database round trip."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) > len(prefix) + 1
