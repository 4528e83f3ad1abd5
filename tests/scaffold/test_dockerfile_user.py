"""The project's own Dockerfile rule: final USER numeric and not root."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit import VerificationError
from toolkit.scaffold import check_dockerfile_user, final_user

TWO_STAGES = "FROM base AS build\nUSER 10001\nRUN true\n\nFROM base\n"


@pytest.mark.parametrize(
    ("dockerfile", "user"),
    [
        pytest.param("FROM x\nUSER 10001\n", "10001", id="uid"),
        pytest.param("FROM x\nUSER 10001:10001\n", "10001:10001", id="uid-gid"),
        pytest.param("FROM x\nuser 5\n", "5", id="lowercase-instruction"),
        pytest.param("FROM x\nUSER 0\nUSER 7\n", "7", id="last-wins"),
        pytest.param(TWO_STAGES, None, id="build-stage-user-does-not-carry"),
        pytest.param(TWO_STAGES + "USER 42\n", "42", id="final-stage-user"),
        pytest.param("FROM x\n# USER 10001\n", None, id="comment-ignored"),
        pytest.param("FROM x\nRUN a \\\n  && USER=1 b\nUSER 9\n", "9", id="continuation-joined"),
    ],
)
def test_final_user(dockerfile: str, user: str | None) -> None:
    assert final_user(dockerfile) == user


@pytest.mark.parametrize(
    ("dockerfile", "problem"),
    [
        pytest.param("FROM x\n", "sets no USER", id="missing"),
        pytest.param("FROM x\nUSER 0\n", "root", id="root-uid"),
        pytest.param("FROM x\nUSER 0:10001\n", "root", id="root-uid-with-gid"),
        pytest.param("FROM x\nUSER root\n", "not numeric", id="root-name"),
        pytest.param("FROM x\nUSER app\n", "not numeric", id="name"),
        pytest.param("FROM x\nUSER ${UID}\n", "not numeric", id="variable"),
        pytest.param(TWO_STAGES, "sets no USER", id="only-build-stage"),
    ],
)
def test_check_refuses(tmp_path: Path, dockerfile: str, problem: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(dockerfile)
    with pytest.raises(VerificationError, match=problem):
        check_dockerfile_user(path)


def test_generated_dockerfile_passes(rendered: Path) -> None:
    assert check_dockerfile_user(rendered / "Dockerfile") == "10001:10001"
