"""``toolkit simulate`` end to end through click: the report, --json shape, --plot, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["simulate", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    rows = ["timestamp,count"] + [
        f"{60 * i},{c}" for i, c in enumerate([600, 600, 6000, 30000, 30000, 6000, 600])
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


SUMMARY_KEYS = {
    "duration_s",
    "requests",
    "served",
    "dropped",
    "queued_at_end",
    "over_slo",
    "slo_violation_s",
    "replica_seconds",
    "mean_replicas",
    "max_replicas",
    "scale_events",
    "decisions",
    "mean_utilisation",
    "violation_s_at_max",
}


def test_json_shape(trace_file: Path) -> None:
    code, out, _ = run("--trace", str(trace_file), "--json", "--jobs", "1")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {
        "command",
        "schema_version",
        "trace",
        "model",
        "baseline",
        "bound",
        "policies",
        "plot",
    }
    assert doc["command"] == "simulate" and doc["baseline"] == "hpa" and doc["plot"] is None
    hpa_cost = doc["policies"][0]["summary"]["replica_seconds"]
    assert doc["bound"]["vs_baseline"] == pytest.approx(doc["bound"]["replica_seconds"] / hpa_cost)
    assert set(doc["trace"]) == {"source", "duration_s", "interval_s", "requests", "peak_rps", "mean_rps"}
    assert doc["trace"]["duration_s"] == 420 and doc["trace"]["requests"] == pytest.approx(73800)
    assert doc["model"]["capacity_rps"] == 100 and doc["model"]["service_time_s"] == pytest.approx(0.04)
    assert [p["name"] for p in doc["policies"]] == ["hpa", "kpa", "static", "toolkit"]
    for policy in doc["policies"]:
        assert set(policy) == {"name", "description", "summary", "ratios", "reasons", "cpu_s"}
        assert set(policy["summary"]) == SUMMARY_KEYS
        assert set(policy["ratios"]) == {
            "replica_seconds",
            "slo_violation_s",
            "dropped",
            "over_slo",
            "scale_events",
            "max_replicas",
        }
    hpa = doc["policies"][0]
    assert hpa["ratios"]["replica_seconds"] == 1.0
    static = doc["policies"][2]["summary"]
    assert static["replica_seconds"] == static["max_replicas"] * 420


def test_text_table_has_every_policy_and_ratio(trace_file: Path) -> None:
    code, out, _ = run("--trace", str(trace_file), "--compare", "hpa,static", "--jobs", "1")
    assert code == 0
    header = next(line for line in out.splitlines() if line.split() == ["hpa", "static"])
    assert header.startswith(" ")
    assert "replica-seconds (cost)" in out and "vs hpa" in out and "SLO-violation seconds" in out


def test_without_hpa_there_are_no_ratios(trace_file: Path) -> None:
    code, out, _ = run("--trace", str(trace_file), "--compare", "static", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["baseline"] is None and doc["policies"][0]["ratios"] is None


def test_model_flags_and_file(trace_file: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("model:\n  capacity_rps: 50\n  startup_s: 10\n", encoding="utf-8")
    code, out, _ = run(
        "--trace", str(trace_file), "--model", str(model), "--startup-s", "5", "--compare", "static", "--json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["model"]["capacity_rps"] == 50 and doc["model"]["startup_s"] == 5


def test_service_time_variation_reaches_the_model_and_toolkit(trace_file: Path) -> None:
    code, out, _ = run("--trace", str(trace_file), "--service-time-cv", "2", "--compare", "toolkit", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["model"]["service_time_cv"] == 2.0
    assert "service time cv 2" in doc["policies"][0]["description"]  # toolkit sizes for it


def test_policy_file_target_is_shared(trace_file: Path, tmp_path: Path) -> None:
    policy = tmp_path / "scaling.yaml"
    policy.write_text(
        "version: 1\nservices:\n  web:\n    algorithm: hpa\n    target: 50\n    max_replicas: 30\n",
        encoding="utf-8",
    )
    code, out, _ = run("--trace", str(trace_file), "--policy", str(policy), "--json", "--jobs", "1")
    assert code == 0, out
    descriptions = {p["name"]: p["description"] for p in json.loads(out)["policies"]}
    assert "target 50" in descriptions["hpa"] and "target 50" in descriptions["kpa"]
    assert "1-30 replicas" in descriptions["toolkit"]


def test_synthetic_shape_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "out.png"
    code, _, err = run(
        "--synthetic", "spike", "--duration-s", "900", "--plot", str(png), "--compare", "hpa,static"
    )
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run("--synthetic", "spike", "--duration-s", "900", "--plot", str(png))
    assert code == 2 and "--force" in err
    code, _, err = run("--synthetic", "spike", "--duration-s", "900", "--plot", str(png), "--force")
    assert code == 0


BAD = [
    pytest.param(["--trace", "{bad}"], "line 3", id="malformed-trace"),
    pytest.param(["--trace", "{missing}"], "not found", id="missing-trace"),
    pytest.param([], "exactly one of --trace", id="no-trace"),
    pytest.param(["--trace", "{good}", "--synthetic", "step"], "exactly one of --trace", id="two-traces"),
    pytest.param(
        ["--trace", "{good}", "--compare", "hpa,magic"], "unknown policy 'magic'", id="unknown-policy"
    ),
    pytest.param(["--trace", "{good}", "--compare", "hpa,hpa"], "named twice", id="duplicate-policy"),
    pytest.param(["--trace", "{good}", "--capacity-rps", "-1"], "model.capacity_rps", id="bad-capacity"),
    pytest.param(["--trace", "{good}", "--slo-quantile", "1.5"], "model.slo_quantile", id="bad-quantile"),
    pytest.param(["--trace", "{good}", "--time-scale", "0"], "time scale", id="bad-time-scale"),
    pytest.param(["--trace", "{good}", "--start-s", "99999"], "outside the trace", id="start-after-end"),
    pytest.param(["--trace", "{good}", "--policy", "{badpolicy}"], "max_replicas", id="bad-policy-file"),
    pytest.param(
        ["--trace", "{good}", "--service", "web"], "--service needs --policy", id="service-without-policy"
    ),
    pytest.param(
        ["--trace", "{good}", "--policy", "{promql}"], "cannot evaluate metric 'promql'", id="promql-policy"
    ),
    pytest.param(["--trace", "{good}", "--model", "{badmodel}"], "model.speed", id="unknown-model-key"),
    pytest.param(["--synthetic", "step", "--duration-s", "10"], "at least 60 s", id="short-synthetic"),
    pytest.param(
        ["--synthetic", "step", "--time-scale", "2"], "--time-scale applies", id="synthetic-time-scale"
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, trace_file: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t,count\n0,1\n60,many\n", encoding="utf-8")
    badpolicy = tmp_path / "p.yaml"
    badpolicy.write_text("services:\n  web:\n    min_replicas: 5\n    max_replicas: 2\n", encoding="utf-8")
    badmodel = tmp_path / "m.yaml"
    badmodel.write_text("speed: 3\n", encoding="utf-8")
    paths = {"bad": bad, "good": trace_file, "missing": tmp_path / "nope.csv", "badpolicy": badpolicy}
    paths["badmodel"] = badmodel
    promql = tmp_path / "q.yaml"
    promql.write_text(
        "services:\n  web:\n    metric: promql\n    query: up\n    target: 1\n", encoding="utf-8"
    )
    paths["promql"] = promql
    code, out, err = run(*(a.format(**paths) for a in args))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("max_replicas", "capped"),
    [
        pytest.param(3, True, id="cap-below-the-peak"),  # 3 x 100 rps < the 500 rps peak
        pytest.param(30, False, id="cap-above-the-peak"),
    ],
)
def test_violations_at_max_replicas_are_told_apart(
    trace_file: Path, tmp_path: Path, max_replicas: int, capped: bool
) -> None:
    """A policy file's cap, not the algorithm, limits every policy alike: the table says so."""
    policy = tmp_path / "scaling.yaml"
    policy.write_text(
        f"version: 1\nservices:\n  web:\n    algorithm: hpa\n    target: 70\n"
        f"    max_replicas: {max_replicas}\n",
        encoding="utf-8",
    )
    args = ("--trace", str(trace_file), "--policy", str(policy), "--jobs", "1")
    code, out, _ = run(*args, "--json")
    assert code == 0, out
    for p in json.loads(out)["policies"]:
        summary = p["summary"]
        assert not p["description"].startswith(p["name"] + ":")  # "hpa: hpa: ..." said it twice
        if p["name"] == "static" or not capped:
            assert summary["violation_s_at_max"] == 0
        else:
            assert 0 < summary["violation_s_at_max"] <= summary["slo_violation_s"]
    code, out, _ = run(*args)
    assert code == 0
    assert ("at max_replicas: hpa " in out) is capped
