"""The project's own Dockerfile rule: the final stage runs as a numeric, non-root user.

hadolint checks many things but not this one. A numeric ``USER`` (``10001`` or
``10001:10001``) is required because Kubernetes' ``runAsNonRoot`` can only verify a numeric
uid, and a name may resolve to 0 in some base image; the user must be set in the final stage
(a user set in a build stage does not carry over). ``toolkit new`` and ``toolkit split`` both
check every Dockerfile they write with ``check_dockerfile_user``.
"""

from __future__ import annotations

import re
from pathlib import Path

from toolkit._errors import VerificationError

_USER_VALUE = re.compile(r"(?P<uid>\d+)(?::(?P<gid>\d+))?")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    if pending.strip():
        keyword, _, args = pending.strip().partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def final_user(dockerfile_text: str) -> str | None:
    """The ``USER`` in effect in the last stage, or None if that stage sets none."""
    user: str | None = None
    for keyword, args in _instructions(dockerfile_text):
        if keyword == "FROM":
            user = None  # every stage starts from its base image's user
        elif keyword == "USER":
            user = args
    return user


def check_dockerfile_user(dockerfile: Path) -> str:
    """Return the final stage's user if it is numeric and not 0; else raise
    ``VerificationError`` naming the file and the problem."""
    try:
        text = dockerfile.read_text(encoding="utf-8")
    except OSError as err:
        raise VerificationError(f"{dockerfile}: cannot read ({err.strerror})") from err
    user = final_user(text)
    if user is None:
        raise VerificationError(
            f"{dockerfile}: the final stage sets no USER, so it runs as the base image's user"
        )
    match = _USER_VALUE.fullmatch(user)
    if match is None:
        raise VerificationError(f"{dockerfile}: final USER {user!r} is not numeric (use uid or uid:gid)")
    if int(match["uid"]) == 0:
        raise VerificationError(f"{dockerfile}: final USER {user!r} is root (uid 0)")
    return user
