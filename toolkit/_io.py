"""Reading the user's own files (plans, policies, traces) with one kind of error.

Every such file is read here, so a missing or unreadable file reads the same way whichever
command was given it: a ``ConfigError`` naming the file, exit code 2.
"""

from __future__ import annotations

from pathlib import Path

from toolkit._errors import ConfigError


def read_user_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of ``path``; ``what`` names the file in errors (``"policy file"``)."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=file) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {what}: {err}", file=file) from None
