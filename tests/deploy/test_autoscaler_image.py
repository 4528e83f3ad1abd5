"""The image `toolkit deploy k8s` runs as the in-cluster autoscaler: built from the repository's
own Dockerfile, it must run toolkit as a numeric non-root user under the name the manifests use."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import __version__
from toolkit.scaffold import check_dockerfile_user

REPO = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint_and_runs_as_numeric_non_root() -> None:
    hadolint = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert hadolint.returncode == 0, hadolint.stdout + hadolint.stderr
    assert check_dockerfile_user(REPO / "Dockerfile") == "10001:10001"


@pytest.fixture(scope="module")
def image(base_image: str) -> Iterator[str]:
    tag = f"tkt-toolkit-{uuid.uuid4().hex[:8]}:{__version__}"
    subprocess.run(
        ["docker", "build", "--quiet", "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag, str(REPO)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    yield tag
    subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True, check=False)


@pytest.mark.docker
def test_image_runs_toolkit_autoscale_as_uid_10001(image: str) -> None:
    version = subprocess.run(
        ["docker", "run", "--rm", image, "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in version.stdout
    uid = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", image, "-u"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert uid.stdout.strip() == "10001"
    # The in-cluster command line of the generated Deployment parses in the image.
    usage = subprocess.run(
        ["docker", "run", "--rm", image, "autoscale", "--backend", "nosuch"], capture_output=True, text=True
    )
    assert usage.returncode == 2
    assert "'nosuch' is not one of" in usage.stderr
