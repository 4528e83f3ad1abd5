"""Each metric on a graph small enough to compute by hand (formulas: docs/metrics.md)."""

from __future__ import annotations

from collections import Counter

import pytest

from toolkit.analyze._metrics import compute
from toolkit.analyze._resolve import Program
from toolkit.analyze._scan import ModuleFacts


def _program() -> Program:
    modules = {m: ModuleFacts(m, m.replace(".", "/") + ".py", False, 10, "x") for m in ("a.x", "a.y", "b.z")}
    program = Program(modules=modules)
    program.import_edges = Counter({("a.x", "a.y"): 1, ("a.x", "b.z"): 1})
    program.calls = {("a.x:f", "a.y:g"): ["a/x.py:1", "a/x.py:2"], ("a.x:f", "b.z:h"): ["a/x.py:3"]}
    program.table_access = {"t": Counter({"a.y": 3, "b.z": 1}), "u": Counter({"a.x": 2})}
    return program


CASES = [
    (
        "two-services",
        {"a.x": "A", "a.y": "A", "b.z": "B"},
        # SM: cohesion (1/2^2 + 0/1^2)/2 = 0.125; coupling 1/(2*2*1) = 0.25 over 1 pair
        {"sm": -0.125, "icp": 1 / 3, "ifn": 0.5, "ned": 1.0, "turbo_mq": 2 / 3, "cross_service_calls": 1},
        # t: p = (3/4, 1/4) -> 0.8113 bits; u: 0 bits; mean
        (0.811278 + 0.0) / 2,
    ),
    (
        "one-service",
        {"a.x": "A", "a.y": "A", "b.z": "A"},
        {"sm": 2 / 9, "icp": 0.0, "ifn": 0.0, "ned": 1.0, "turbo_mq": 1.0, "cross_service_calls": 0},
        0.0,
    ),
    (
        "shared-module-excluded",
        {"a.x": "A", "a.y": "A", "b.z": "shared"},
        {"sm": 1 / 4, "icp": 0.0, "ifn": 0.0, "ned": 1.0, "turbo_mq": 1.0, "cross_service_calls": 0},
        0.0,
    ),
]


@pytest.mark.parametrize(
    ("assignment", "expected", "entropy"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_metrics_by_hand(assignment: dict[str, str], expected: dict[str, float], entropy: float) -> None:
    metrics = compute(_program(), assignment, frozenset({"shared"}))
    for name, value in expected.items():
        assert getattr(metrics, name) == pytest.approx(value), name
    assert metrics.table_entropy == pytest.approx(entropy, abs=1e-5)


def test_ned_counts_services_of_typical_size() -> None:
    modules = {f"m{i}": ModuleFacts(f"m{i}", f"m{i}.py", False, 1, "x") for i in range(12)}
    program = Program(modules=modules)
    assignment = {f"m{i}": "big" if i < 6 else f"tiny{i}" for i in range(12)}
    # 6 of 12 modules sit in a service of 5..20 modules
    assert compute(program, assignment).ned == pytest.approx(0.5)
