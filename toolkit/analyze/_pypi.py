"""Fetch a published project's source from PyPI to analyse it (tests and benchmarks use the
real monoliths this way; nothing is committed). Uses pip itself: ``pip download --no-deps``."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from toolkit._errors import OperationError


def fetch_package(spec: str, packages: list[str], into: Path, *, timeout_s: float = 600.0) -> Path:
    """Download the wheel for ``spec`` (once) and unpack its top-level ``packages`` under
    ``into/src``; returns that directory, a root holding the packages side by side."""
    wheels, src = into / "wheels", into / "src"
    if all((src / package).is_dir() for package in packages):
        return src
    name = spec.split("=")[0].split("<")[0].split(">")[0].strip().lower()
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q"]
    done = subprocess.run(
        [*command, "-d", str(wheels), spec], capture_output=True, text=True, timeout=timeout_s
    )
    if done.returncode != 0:
        raise OperationError(f"pip download {spec} failed: {done.stderr.strip().splitlines()[-1:]}")
    candidates = sorted(
        p for p in wheels.glob("*.whl") if p.name.lower().startswith(name.replace("-", "_") + "-")
    )
    candidates += sorted(p for p in wheels.glob("*.whl") if p.name.lower().startswith(name + "-"))
    if not candidates:
        raise OperationError(f"pip download {spec} produced no wheel in {wheels}")
    with zipfile.ZipFile(candidates[-1]) as archive:
        members = [m for m in archive.namelist() if m.split("/")[0] in packages]
        archive.extractall(src, members)
    return src
