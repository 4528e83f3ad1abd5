"""Service names: DNS-1123 labels, and the Python package name derived from one.

A service name becomes a compose service, a container host name, a Kubernetes object name
and a directory, so it must be a DNS-1123 label (what Kubernetes requires of Service names):
lowercase letters, digits and '-', at most 63 characters, starting with a letter and not
ending with '-'. That rule also rules out path tricks such as ``../x`` or ``a/b``.
"""

from __future__ import annotations

import keyword
import re
import sys

from toolkit._errors import InvalidNameError

MAX_NAME_LENGTH = 63
_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# Top-level modules the generated project imports or uses itself, besides the stdlib.
_RESERVED = frozenset(
    {"conftest", "tests", "fastapi", "uvicorn", "prometheus_client", "starlette", "pydantic"}
)


def validate_service_name(name: str) -> str:
    """Return ``name`` if it is a DNS-1123 label starting with a letter, else raise
    ``InvalidNameError`` saying which rule it breaks."""
    if not name:
        raise InvalidNameError("service name is empty")
    shown = name if len(name) <= 70 else name[:67] + "..."
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"invalid service name {shown!r}: {len(name)} characters, at most {MAX_NAME_LENGTH} allowed"
        )
    if _LABEL.fullmatch(name) is None:
        raise InvalidNameError(
            f"invalid service name {shown!r}: use lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-' (a DNS-1123 label)"
        )
    return name


def package_name_for(service_name: str) -> str:
    """The importable package of a service: '-' becomes '_', and a name that would shadow a
    standard-library module or be a keyword (``json``, ``import``) gets ``_service`` appended,
    since the package is imported by that name inside the image."""
    package = service_name.replace("-", "_")
    if package in sys.stdlib_module_names or keyword.iskeyword(package) or package in _RESERVED:
        package = f"{package}_service"
    return package
