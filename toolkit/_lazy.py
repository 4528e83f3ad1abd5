"""Registries of plug-ins by name ("module:attribute"), resolved only when one is used.

Metrics sources and scaling backends are chosen by name on the command line; importing a
module only when it is picked keeps ``--backend compose`` from paying for the Kubernetes
client. This is the one lookup every such registry uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from toolkit._errors import UsageError


def resolve(registry: Mapping[str, str], name: str, what: str) -> Any:
    """The attribute registered as ``name``; an unknown name is a one-line ``UsageError``."""
    target = registry.get(name)
    if target is None:
        raise UsageError(f"unknown {what} {name!r} (choose from {', '.join(sorted(registry))})")
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
