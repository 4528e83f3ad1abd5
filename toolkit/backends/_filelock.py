"""The leader lock for backends whose controllers share one host: an ``fcntl`` file lock.

Two controllers for the same compose project (or swarm) would fight: one scales up while the
other, with a different policy, scales down. ``flock`` is released by the kernel when the
holder dies, so a crashed controller never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from pathlib import Path


def lock_path(lock_dir: str | None, backend: str, scope: str) -> Path:
    """Where the lock for ``backend``/``scope`` lives: the given dir, the runtime dir, or tmp."""
    base = Path(lock_dir or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    safe_scope = re.sub(r"[^A-Za-z0-9_.-]", "_", scope) or "default"
    return base / f"toolkit-autoscale-{backend}-{safe_scope}.lock"


class FileLock:
    """Non-blocking exclusive ``flock``; ``try_acquire`` is idempotent once held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def describe(self) -> str:
        return f"file lock {self.path}"
