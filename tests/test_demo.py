"""``toolkit demo`` without an engine: what a fresh machine sees from the README's first command.

The Docker path of every stage is covered where its parts are tested (scaffold, split,
controller end to end); here the offline path must still do the real offline work: generate,
analyze, split, simulate, and say what it would run.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from toolkit.demo._context import example_shop


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_offline_demo_generates_splits_and_explains(tmp_path: Path) -> None:
    shop = example_shop()
    before = _tree_digest(shop)
    stages_args = ["--stage", "service", "--stage", "split", "--stage", "autoscale"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit",
            "demo",
            "--no-docker",
            "--json",
            "--workdir",
            str(tmp_path / "d"),
            *stages_args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["command"] == "demo"
    assert doc["docker"] is False
    stages = {stage["name"]: stage for stage in doc["stages"]}
    assert list(stages) == ["service", "split", "autoscale"]
    assert all(not stage["ran_docker"] and stage["would_run"] for stage in stages.values())
    assert (tmp_path / "d" / "demo-svc" / "Dockerfile").is_file()
    split = stages["split"]["facts"]
    assert split["services"] == ["cart", "catalog", "orders", "payments", "users"]
    assert split["table_entropy"] == 0
    assert split["icp"] < split["naive_icp"]
    assert (tmp_path / "d" / "shop-split" / "compose.yaml").is_file()
    assert _tree_digest(shop) == before, "the demo wrote inside the example monolith"
