"""What every demo stage receives and returns."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import toolkit

if TYPE_CHECKING:
    from toolkit.split import RunningStack

LOCAL_BASE_IMAGE = "local/python:3.11-bookworm"


@dataclass
class DemoContext:
    """Where the demo works and how it talks.

    ``workdir`` receives everything the demo generates (never the user's source tree);
    ``docker`` says whether an engine answered; ``say`` prints a line of narration.
    """

    workdir: Path
    docker: bool
    base_image: str
    say: Callable[[str], None]
    keep: bool = False
    stack: RunningStack | None = None  # the split stack a stage left running for the next
    next_stages: tuple[str, ...] = ()


@dataclass
class StageResult:
    """The outcome of one stage, as figures a script can read (``--json``)."""

    name: str
    ran_docker: bool
    facts: dict[str, Any] = field(default_factory=dict)
    would_run: list[str] = field(default_factory=list)


def default_base_image() -> str:
    """The base image generated Dockerfiles are built FROM in the demo.

    ``TOOLKIT_BASE_IMAGE`` wins; otherwise the locally built image from
    ``scripts/provision-docker.sh`` when it exists (machines with no registry), else the
    image users expect (``python:3.12-slim``).
    """
    chosen = os.environ.get("TOOLKIT_BASE_IMAGE")
    if chosen:
        return chosen
    probe = subprocess.run(
        ["docker", "image", "inspect", LOCAL_BASE_IMAGE], capture_output=True, check=False, timeout=30
    )
    return LOCAL_BASE_IMAGE if probe.returncode == 0 else "python:3.12-slim"


def example_shop() -> Path:
    """The bundled example monolith (``examples/shop`` beside the package in a checkout)."""
    here = Path(toolkit.__file__).resolve().parent.parent / "examples" / "shop"
    if not here.is_dir():
        raise toolkit.SourceTreeError(
            f"example monolith not found at {here}: run the demo from a checkout of the toolkit repository"
        )
    return here


TRACE_NAME = "worldcup98-per-minute.csv"


def find_trace() -> Path | None:
    """A real traffic trace for the simulate stage: ``TOOLKIT_TRACE``, else the WorldCup 1998
    trace in ``shared/traces`` beside the checkout, else None (a synthetic day is used)."""
    chosen = os.environ.get("TOOLKIT_TRACE")
    if chosen:
        return Path(chosen)
    checkout = Path(toolkit.__file__).resolve().parent.parent
    candidate = checkout.parent / "shared" / "traces" / TRACE_NAME
    return candidate if candidate.is_file() else None
