"""Trace files: what parses, what each malformed line is reported as, and the resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import require_path

from toolkit._errors import ConfigError
from toolkit.simulate import SHAPES, Trace, load_trace, synthetic_trace


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = [
    pytest.param(
        "period,count\n1998-04-30 21:30:00,60\n1998-04-30 21:31:00,120\n",
        [1.0] * 60 + [2.0] * 60,
        id="iso-per-minute",
    ),
    pytest.param("time,requests\n0,10\n10,20\n", [1.0] * 10 + [2.0] * 10, id="numeric-seconds-named-columns"),
    pytest.param("count,timestamp\n4,100\n8,102\n", [2.0, 2.0, 4.0, 4.0], id="columns-in-any-order"),
    pytest.param("t,n\n0,2\n2,2\n6,2\n", [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0], id="gap-has-no-requests"),
    pytest.param("# per second\n3\n\n5\n0\n", [3.0, 5.0, 0.0], id="plain-list-with-comment-and-blank"),
    pytest.param("2.5\n", [2.5], id="plain-single-value"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_traces_resample_to_seconds(tmp_path: Path, text: str, expected: list[float]) -> None:
    trace = load_trace(write(tmp_path, text))
    assert trace.rps.tolist() == pytest.approx(expected)


BAD = [
    pytest.param("t,count\n0,5\n60,abc\n", "line 3", "not a non-negative number", id="count-not-a-number"),
    pytest.param("t,count\n0,5\n60,-1\n", "line 3", "not a non-negative number", id="negative-count"),
    pytest.param("t,count\n0,5\n60,nan\n", "line 3", "not a non-negative number", id="nan-count"),
    pytest.param("t,count\n60,5\n0,5\n", "line 3", "does not come after", id="time-goes-back"),
    pytest.param("t,count\n0,5\n0,5\n", "line 3", "does not come after", id="duplicate-time"),
    pytest.param("t,count\n0,5\nyesterday,5\n", "line 3", "neither a number", id="bad-timestamp"),
    pytest.param("t,count\n0,5\n60,5,7\n", "line 3", "expected 2 fields", id="extra-field"),
    pytest.param(
        "t,count\n0,5\n1998-04-30 21:30:00,5\n", "line 3", "earlier rows are numbers", id="mixed-times"
    ),
    pytest.param("1\n2\nthree\n", "line 3", "not a non-negative number", id="plain-list-bad-line"),
    pytest.param("count\n", "line 1", "expected a header", id="one-column-header"),
    pytest.param("t,count\n", None, "header but no rows", id="header-only"),
    pytest.param("\n# nothing\n", None, "empty", id="empty"),
]


@pytest.mark.parametrize(("text", "location", "message"), BAD)
def test_malformed_traces_name_the_line(
    tmp_path: Path, text: str, location: str | None, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_trace(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    if location is not None:
        assert caught.value.location == location


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_trace(tmp_path / "absent.csv")


def test_time_scale_keeps_requests_and_compresses_time(tmp_path: Path) -> None:
    path = write(tmp_path, "t,count\n0,600\n60,1200\n")
    normal = load_trace(path)
    fast = load_trace(path, time_scale=4.0)
    slow = load_trace(path, time_scale=0.5)
    assert normal.duration_s == 120
    assert fast.duration_s == 30
    assert slow.duration_s == 240
    for trace in (normal, fast, slow):
        assert trace.total_requests == pytest.approx(1800.0)
    assert fast.peak_rps == pytest.approx(4 * normal.peak_rps)


def test_uneven_time_scale_spreads_exactly(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, "t,count\n0,70\n7,70\n"), time_scale=2.0)
    # 7 s intervals become 3.5 s: second 3 is half in each interval
    assert trace.rps.tolist() == pytest.approx([20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0])
    assert trace.total_requests == pytest.approx(140.0)


def test_peak_rescale_and_seeded_poisson(tmp_path: Path) -> None:
    path = write(tmp_path, "t,count\n0,600\n60,1200\n")
    scaled = load_trace(path, peak_rps=500.0)
    assert scaled.peak_rps == pytest.approx(500.0)
    assert scaled.rps[0] == pytest.approx(250.0)
    one = load_trace(path, peak_rps=500.0, poisson_seed=7)
    two = load_trace(path, peak_rps=500.0, poisson_seed=7)
    other = load_trace(path, peak_rps=500.0, poisson_seed=8)
    assert np.array_equal(one.rps, two.rps)
    assert not np.array_equal(one.rps, other.rps)
    assert np.all(one.rps == np.round(one.rps))
    assert one.mean_rps == pytest.approx(scaled.mean_rps, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"time_scale": 0.0}, "time scale", id="zero-time-scale"),
        pytest.param({"time_scale": float("inf")}, "time scale", id="infinite-time-scale"),
        pytest.param({"peak_rps": -5.0}, "peak rps", id="negative-peak"),
    ],
)
def test_bad_scaling_arguments(tmp_path: Path, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_trace(write(tmp_path, "1\n2\n"), **kwargs)


def test_window_selects_seconds() -> None:
    trace = synthetic_trace("ramp", duration_s=600, base_rps=10, peak_rps=100)
    part = trace.window(100, 50)
    assert part.duration_s == 50
    assert np.array_equal(part.rps, trace.rps[100:150])
    with pytest.raises(ConfigError, match="outside the trace"):
        trace.window(600)


@pytest.mark.parametrize("shape", SHAPES)
def test_synthetic_shapes_are_reproducible_and_bounded(shape: str) -> None:
    one = synthetic_trace(shape, base_rps=50, peak_rps=500, seed=3)
    two = synthetic_trace(shape, base_rps=50, peak_rps=500, seed=3)
    assert np.array_equal(one.rps, two.rps)
    assert one.duration_s == (172_800 if shape == "daily" else 3_600)
    # Poisson noise around a mean within [base, peak]
    assert 40 <= one.mean_rps <= 500
    assert one.peak_rps >= 0.9 * (500 if shape != "noise" else 275)


def test_step_shape_steps_at_one_third() -> None:
    trace = synthetic_trace("step", duration_s=900, base_rps=10, peak_rps=1000)
    assert trace.rps[:300].mean() == pytest.approx(10, rel=0.2)
    assert trace.rps[300:].mean() == pytest.approx(1000, rel=0.05)


def test_unknown_shape() -> None:
    with pytest.raises(ConfigError, match="unknown synthetic shape"):
        synthetic_trace("sawtooth")


def test_real_worldcup_trace_parses() -> None:
    path = require_path(
        Path(__file__).resolve().parents[3] / "shared" / "traces" / "worldcup98-per-minute.csv",
        "the shared WorldCup 1998 trace",
    )
    trace = load_trace(path)
    counts = np.loadtxt(path, delimiter=",", skiprows=1, usecols=1)
    assert trace.total_requests == pytest.approx(float(counts.sum()))
    assert trace.interval_s == 60.0


@pytest.mark.parametrize(
    ("rps", "duration_s", "align_s", "expected"),
    [
        pytest.param([1, 1, 5, 5, 1, 1], 2, 2, 2, id="aligned-busiest"),
        pytest.param([1, 5, 5, 1, 1, 1], 2, 2, 0, id="unaligned-peak-is-not-a-start"),
        pytest.param([9, 1, 1, 1, 1, 1], 2, 1, 0, id="first"),
        pytest.param([1, 1, 1, 1, 1, 9], 2, 1, 4, id="last-that-fits"),
        pytest.param([1, 2], 5, 1, 0, id="shorter-than-the-window"),
    ],
)
def test_busiest_start(rps: list[float], duration_s: int, align_s: int, expected: int) -> None:
    trace = Trace(rps=np.array(rps, dtype=np.float64), source="t")
    assert trace.busiest_start_s(duration_s, align_s) == expected
