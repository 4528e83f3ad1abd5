"""``toolkit analyze`` end to end through the CLI: outputs, exit codes, the cache, and never
writing inside the analysed tree."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from toolkit.analyze import analyze
from toolkit.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["analyze", *args])
    return result.exit_code, result.stdout, result.stderr


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture
def shop_copy(shop_root: Path, tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(shop_root, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


def test_json_output_writes_plan_and_report_outside_the_tree(shop_copy: Path, tmp_path: Path) -> None:
    before = _snapshot(shop_copy)
    out, report = tmp_path / "out" / "plan.yaml", tmp_path / "report"
    code, stdout, _ = _run(
        str(shop_copy),
        "--out",
        str(out),
        "--report",
        str(report),
        "--cache-dir",
        str(tmp_path / "c"),
        "--json",
    )
    assert code == 0
    doc = json.loads(stdout)
    assert doc["command"] == "analyze"
    assert sorted(doc["plan"]["services"]) == ["cart", "catalog", "orders", "payments", "users"]
    assert doc["metrics"]["plan"]["icp"] < doc["metrics"]["naive"]["icp"]
    payments = doc["tables"]["payments"]
    assert (payments["owner"], payments["written_by"]) == ("payments", ["shop.payments.service"])
    assert doc["tables"]["orders"]["written_by"] == ["shop.orders.service"]
    assert _snapshot(shop_copy) == before
    plan = yaml.safe_load(out.read_text())
    assert (out.parent / plan["source"]["root"]).resolve() == shop_copy.resolve()
    svg = ET.parse(report / "graph.svg").getroot()
    circles = svg.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == doc["stats"]["modules"]
    assert "| Inter-Call Percentage (ICP) |" in (report / "report.md").read_text()
    assert "<svg" in (report / "report.html").read_text()


def test_text_output_lists_services_and_metrics(shop_root: Path, tmp_path: Path) -> None:
    code, stdout, _ = _run(str(shop_root), "--cache-dir", str(tmp_path))
    assert code == 0
    assert "proposed services (5)" in stdout
    assert "Table entropy (bits)" in stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--services", "2", "--resolution", "1.0"], "exclusive"),
        (["--pin", "shop.orders"], "MODULE=SERVICE"),
        (["--pin", "shop.nothing=x"], "no module or package"),
        (["--services", "0"], "--services"),
    ],
    ids=["services-and-resolution", "pin-without-service", "pin-unknown-module", "zero-services"],
)
def test_bad_options_exit_2(shop_root: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    code, _, stderr = _run(str(shop_root), "--cache-dir", str(tmp_path), *extra)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr


def test_refuses_to_write_inside_the_tree(shop_copy: Path, tmp_path: Path) -> None:
    code, _, stderr = _run(
        str(shop_copy), "--out", str(shop_copy / "plan.yaml"), "--cache-dir", str(tmp_path)
    )
    assert code == 2
    assert "inside the analysed tree" in stderr
    assert not (shop_copy / "plan.yaml").exists()
    code, _, stderr = _run(str(shop_copy), "--cache-dir", str(shop_copy / ".cache"))
    assert code == 2
    assert not (shop_copy / ".cache").exists()


def test_existing_plan_needs_force(shop_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    out.write_text("mine\n")
    code, _, stderr = _run(str(shop_root), "--out", str(out), "--cache-dir", str(tmp_path / "c"))
    assert code == 2
    assert "--force" in stderr
    assert out.read_text() == "mine\n"
    code, _, _ = _run(str(shop_root), "--out", str(out), "--force", "--cache-dir", str(tmp_path / "c"))
    assert code == 0
    assert out.read_text().startswith("# toolkit decomposition plan")


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = _run(str(tmp_path / "absent"))
    assert code == 2
    assert "no such file or directory" in stderr


def test_hand_edited_plan_is_checked_against_the_source(shop_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    assert _run(str(shop_root), "--out", str(out), "--cache-dir", str(tmp_path / "c"))[0] == 0
    doc = yaml.safe_load(out.read_text())
    doc["services"]["orders"]["modules"][0] = "shop.orders.views"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc))
    code, _, stderr = _run(str(shop_root), "--plan", str(broken), "--cache-dir", str(tmp_path / "c"))
    assert code == 2
    assert "services.orders.modules[0]" in stderr
    assert "unknown module shop.orders.views" in stderr
    doc = yaml.safe_load(out.read_text())
    del doc["services"]["payments"]["routes"][0]
    broken.write_text(yaml.safe_dump(doc))
    code, _, stderr = _run(str(shop_root), "--plan", str(broken), "--cache-dir", str(tmp_path / "c"))
    assert code == 2
    assert "is in no service" in stderr


def test_cache_reuses_unchanged_files_and_results(shop_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = analyze(shop_copy, cache_dir=cache)
    assert (first.cached, first.reparsed_files) == ("none", len(first.program.modules))
    second = analyze(shop_copy, cache_dir=cache)
    assert second.cached == "result"
    assert second.plan == first.plan
    service = shop_copy / "shop" / "cart" / "service.py"
    service.write_text(service.read_text() + "\n\ndef extra() -> int:\n    return 1\n")
    third = analyze(shop_copy, cache_dir=cache)
    assert (third.cached, third.reparsed_files) == ("facts", 1)
    assert "extra" in third.program.modules["shop.cart.service"].definitions
    other_options = analyze(shop_copy, cache_dir=cache, services=2)
    assert other_options.cached == "facts"
    assert len(other_options.plan.services) == 2
