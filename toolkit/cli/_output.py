"""Output helpers shared by every command: one way to print JSON, one way to print text.

Every command that reports something accepts ``--json``; its output is then exactly one JSON
document on stdout (sorted keys, a ``"command"`` field naming the command and a
``"schema_version"``), and human chatter goes to stderr or is suppressed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

JSON_SCHEMA_VERSION = 1

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """The ``--json`` flag, spelled the same way on every command."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text."
    )(func)


def emit_json(command: str, payload: dict[str, Any]) -> None:
    """Print the command's result as one JSON document with the common envelope fields."""
    doc = {"command": command, "schema_version": JSON_SCHEMA_VERSION, **payload}
    click.echo(json.dumps(doc, indent=2, sort_keys=True, default=str))


def info(message: str, *, quiet: bool = False) -> None:
    """Human progress text: to stderr, so stdout stays clean for pipes and ``--json``."""
    if not quiet:
        click.echo(message, err=True)
