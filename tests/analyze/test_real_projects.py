"""Real monoliths nobody here wrote, downloaded from PyPI at test time (nothing committed).

FlaskBB (Flask + SQLAlchemy), pretalx (Django), Indico (a large Flask + SQLAlchemy app) and
Django itself: the analysis must finish without errors, find the routes and models that
their source declares, and produce a valid plan with metrics. The expected routes and tables
below were read from each project's source (views, URLconfs, ``__tablename__``, Django
models), not from this tool's output.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from toolkit.analyze import Analysis, analyze, check_plan
from toolkit.analyze._pypi import fetch_package
from toolkit.analyze.plan import dump_plan, parse_plan

pytestmark = pytest.mark.slow

PROJECTS = {
    # id: (pip spec, top-level package, framework, minimum routes, minimum models, routes, tables)
    "flaskbb": (
        "flaskbb==2.0.2",
        "flaskbb",
        "flask",
        80,
        12,
        {
            ("GET", "/user/<username>", "flaskbb.user.views:UserProfile"),
            ("GET", "/", "flaskbb.forum.views:ForumIndex"),
        },
        {"users", "posts", "topics", "forums", "groups_users"},
    ),
    "pretalx": (
        "pretalx==2025.2.2",
        "pretalx",
        "django",
        100,
        30,
        {("ANY", "/orga/login/", "pretalx.orga.views.auth:LoginView")},
        {"submission_submission", "event_event", "person_user"},
    ),
    "indico": (
        "indico==3.2.9",
        "indico",
        "flask",
        500,
        100,
        set(),
        {"users", "events", "contributions", "registrations"},
    ),
    "django": ("django==5.2.*", "django", "django", 0, 10, set(), {"auth_user", "django_session"}),
}


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pypi")


@pytest.mark.parametrize("project", sorted(PROJECTS), ids=sorted(PROJECTS))
def test_real_monolith(project: str, downloads: Path, tmp_path: Path) -> None:
    spec, package, framework, min_routes, min_models, routes, tables = PROJECTS[project]
    root = fetch_package(spec, [package], downloads / project)
    analysis: Analysis = analyze(root, cache_dir=tmp_path / "cache")
    program = analysis.program

    assert program.framework == framework
    assert not [p for p in program.problems if p.kind in ("syntax-error", "undecodable")]
    assert len(program.routes) >= min_routes
    assert len(program.models) >= min_models
    found_routes = {(m, r.path, r.handler) for r in program.routes for m in r.methods}
    assert routes <= found_routes
    assert tables <= {m.table for m in program.models}

    text = dump_plan(analysis.plan)
    check_plan(parse_plan(text), analysis)
    assert len(analysis.plan.services) >= 2
    for name in ("plan", "naive"):
        metrics = analysis.metrics[name]
        assert 0.0 <= metrics.icp <= 1.0
        assert 0.0 <= metrics.ned <= 1.0
        assert all(math.isfinite(v) for v in metrics.as_dict().values())
    assert analysis.metrics["plan"].icp < analysis.metrics["naive"].icp

    again = analyze(root, cache_dir=tmp_path / "cache")
    assert again.cached == "result"
    assert dump_plan(again.plan) == text
