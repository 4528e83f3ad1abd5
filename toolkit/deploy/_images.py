"""Service images: a version tag per service, built on the engine, pushed to a registry.

The tag says which source an image was built from, so a rolling update only touches what
changed:

* ``<template version>-`` first, when the service records the template it was rendered from;
* then ``g<commit>``: the last git commit that touched the service's build context, when the
  context is in a git repository and has no uncommitted changes there;
* otherwise ``h<hash>``: a hash of the build context's files (what ``docker build`` sees);
* then ``-a<hash>`` when build arguments are given (another base image is another image).

So an unchanged service keeps its tag across builds, and a changed one gets a new tag.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from toolkit import _docker
from toolkit._errors import UsageError
from toolkit.deploy._stack import Stack, StackService, template_answers

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REGISTRY_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)*$")
_ALWAYS_IGNORED = (".git", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache")


@dataclass(frozen=True, slots=True)
class ServiceImage:
    """The image of one service: its reference, and what happened to it."""

    service: str
    repository: str  # e.g. 127.0.0.1:5000/shop-orders
    tag: str
    pushed: bool = False
    digest: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def parse_build_args(pairs: Iterable[str]) -> dict[str, str]:
    """``K=V`` strings from the command line into a mapping (a usage error names a bad one)."""
    args: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--build-arg {pair!r}: expected KEY=VALUE")
        args[key] = value
    return args


def check_registry(registry: str) -> str:
    """A registry is ``host[:port][/namespace]``, without scheme or trailing slash."""
    if not _REGISTRY_RE.match(registry):
        raise UsageError(f"--registry {registry!r}: expected host[:port][/namespace], e.g. 127.0.0.1:5000")
    return registry


def check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise UsageError(
            f"--tag {tag!r}: a tag is letters, digits, '_', '.', '-' (at most 128, not starting with . or -)"
        )
    return tag


def repository_name(stack: Stack, service: StackService, registry: str | None) -> str:
    """``[REGISTRY/]<project>-<service>``: one repository per service, named after the stack."""
    name = f"{stack.project}-{service.name}"
    return f"{registry}/{name}" if registry else name


def service_tag(service: StackService, build_args: Mapping[str, str]) -> str:
    """The version tag of one service's image (see the module docstring for the scheme)."""
    assert service.build_context is not None
    parts: list[str] = []
    answers = template_answers(service.build_context)
    if answers:
        version = answers.get("template_version")
        if isinstance(version, str) and version:
            parts.append(re.sub(r"[^A-Za-z0-9_.]", "_", version))
    parts.append(_git_version(service.build_context) or "h" + context_hash(service.build_context))
    if build_args:
        digest = hashlib.sha256(repr(sorted(build_args.items())).encode()).hexdigest()
        parts.append("a" + digest[:6])
    return "-".join(parts)[:128]


def _git_version(context: Path) -> str | None:
    """``g<short commit>`` of the last commit touching ``context``, if it is clean in git."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(context), *args], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    if git("rev-parse", "--is-inside-work-tree") != "true":
        return None
    status = git("status", "--porcelain", "--untracked-files=all", "--", ".")
    if status is None or status:
        return None  # uncommitted changes: the commit does not describe the content
    commit = git("log", "-1", "--format=%h", "--", ".")
    return f"g{commit}" if commit else None


def context_hash(context: Path) -> str:
    """A hash of the files ``docker build`` would send (names and bytes), 12 hex digits."""
    patterns = _dockerignore(context)
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        rel = path.relative_to(context).as_posix()
        if any(part in _ALWAYS_IGNORED for part in rel.split("/")) or _ignored(rel, patterns):
            continue
        digest.update(rel.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def _dockerignore(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    """``.dockerignore`` semantics, enough for hashing: last matching pattern wins, ``!`` negates."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/").removeprefix("**/")
        if (
            fnmatch.fnmatch(rel, pat)
            or fnmatch.fnmatch(rel, pat + "/*")
            or fnmatch.fnmatch(rel.split("/")[-1], pat)
        ):
            ignored = not negate
    return ignored


def stack_images(
    stack: Stack, *, registry: str | None, tag: str | None, build_args: Mapping[str, str]
) -> dict[str, ServiceImage]:
    """The image each built service of the stack would get, without building anything."""
    return {
        s.name: ServiceImage(s.name, repository_name(stack, s, registry), tag or service_tag(s, build_args))
        for s in stack.built_services
    }


def build_stack(
    stack: Stack,
    *,
    registry: str | None = None,
    tag: str | None = None,
    build_args: Mapping[str, str] | None = None,
    push: bool = False,
    timeout_s: float = 900,
) -> list[ServiceImage]:
    """Build (and with ``push``, push) every built service's image; return what was made.

    Build arguments from compose (``build.args``) apply, overridden by ``build_args``.
    """
    build_args = dict(build_args or {})
    images = stack_images(stack, registry=registry, tag=tag, build_args=build_args)
    results: list[ServiceImage] = []
    for service in stack.built_services:
        image = images[service.name]
        compose_args = (service.raw.get("build") or {}).get("args") or {}
        args = {**{k: str(v) for k, v in compose_args.items() if v is not None}, **build_args}
        assert service.dockerfile_path is not None and service.build_context is not None
        _docker.build_image(
            service.build_context,
            tags=[image.ref],
            dockerfile=service.dockerfile_path,
            build_args=args,
            timeout_s=timeout_s,
        )
        if push:
            digest = _docker.push_image(image.ref, timeout_s=timeout_s)
            image = ServiceImage(image.service, image.repository, image.tag, pushed=True, digest=digest)
        results.append(image)
    return results
