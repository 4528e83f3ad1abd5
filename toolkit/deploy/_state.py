"""Where toolkit keeps what it started (environments, Swarm stack files): never in the stack.

A stack directory is the user's source tree, so nothing is written there. State lives under
``$TOOLKIT_STATE_DIR`` if set, else ``$XDG_STATE_HOME/toolkit``, else ``~/.local/state/toolkit``.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any


def state_dir(*parts: str) -> Path:
    """The state directory (created), optionally a sub-directory of it."""
    root = os.environ.get("TOOLKIT_STATE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_STATE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".local" / "state") / "toolkit"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically, so a crash never leaves half a state file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
