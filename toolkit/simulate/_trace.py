"""Traffic traces: parsed from a file (or generated), resampled to one value per second.

A trace is the number of requests that arrive in each second. Files come in two shapes:

* CSV with a header, a timestamp column and a count column (one row per interval, e.g. the
  per-minute WorldCup 1998 trace). Timestamps are ISO-8601 date-times or numbers (seconds).
  The interval is the most common gap between rows; a row covers ``[t, t + interval)`` and a
  larger gap between rows is an interval with no requests (that is how per-interval logs are
  aggregated: an interval with no request has no row).
* a plain list of per-second counts, one number per line (``#`` comments allowed).

Spreading an interval's count over its seconds is done through the cumulative count, which is
linear inside each interval: every second receives its exact share, nothing is lost or
created, and the result is deterministic. ``poisson_seed`` then optionally draws each second
from a Poisson distribution with that mean (seeded, so still reproducible) to add the
per-second noise a real arrival process has.

``time_scale`` is a speed-up factor: 60 plays an hour of trace in a minute. Requests are kept,
so rates grow by the same factor; ``peak_rps`` then rescales the load so that the busiest
second has that many requests (applied before the optional Poisson draw).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from toolkit._errors import ConfigError
from toolkit._io import read_user_text

FloatArray = npt.NDArray[np.float64]

_TIME_NAMES = ("timestamp", "time", "period", "ts", "datetime", "date", "epoch", "second", "seconds", "t")
_COUNT_NAMES = ("count", "requests", "hits", "value", "n", "total")

SHAPES = ("step", "spike", "ramp", "daily", "noise")


@dataclass(frozen=True)
class Trace:
    """Requests arriving in each second of the simulated time (``rps[i]`` for second ``i``).

    ``interval_s`` is the resolution the source had before resampling (1 for per-second data),
    after ``time_scale``.
    """

    rps: FloatArray
    source: str
    interval_s: float = 1.0

    @property
    def duration_s(self) -> int:
        return int(self.rps.shape[0])

    @property
    def total_requests(self) -> float:
        return float(self.rps.sum())

    @property
    def peak_rps(self) -> float:
        return float(self.rps.max()) if self.duration_s else 0.0

    @property
    def mean_rps(self) -> float:
        return float(self.rps.mean()) if self.duration_s else 0.0

    def window(self, start_s: int = 0, duration_s: int | None = None) -> Trace:
        """The part of the trace from ``start_s`` lasting ``duration_s`` (to the end if None)."""
        if start_s < 0 or start_s >= self.duration_s:
            raise ConfigError(f"start {start_s} s is outside the trace (0..{self.duration_s - 1} s)")
        if duration_s is not None and duration_s <= 0:
            raise ConfigError(f"duration must be positive, got {duration_s} s")
        end = self.duration_s if duration_s is None else min(self.duration_s, start_s + duration_s)
        return replace(self, rps=self.rps[start_s:end].copy())

    def busiest_start_s(self, duration_s: int, align_s: int = 86_400) -> int:
        """Where the ``duration_s`` window with the most requests starts, among the starts at
        whole multiples of ``align_s`` (whole days by default) that leave it inside the trace
        (0 if the trace is shorter)."""
        if duration_s <= 0 or align_s <= 0:
            raise ConfigError(f"duration and alignment must be positive, got {duration_s} s, {align_s} s")
        starts = range(0, max(1, self.duration_s - duration_s + 1), align_s)
        return max(starts, key=lambda start: float(self.rps[start : start + duration_s].sum()))

    def rescaled(self, peak_rps: float) -> Trace:
        """The same shape with its busiest second at ``peak_rps``."""
        if not peak_rps > 0 or not math.isfinite(peak_rps):
            raise ConfigError(f"peak rps must be a positive number, got {peak_rps}")
        peak = self.peak_rps
        if peak <= 0:
            raise ConfigError("the trace has no requests at all, so it cannot be rescaled to a peak")
        return replace(self, rps=self.rps * (peak_rps / peak))

    def with_poisson(self, seed: int) -> Trace:
        """Each second drawn from a Poisson distribution with the trace's value as its mean."""
        rng = np.random.default_rng(seed)
        return replace(self, rps=rng.poisson(self.rps).astype(np.float64))


def load_trace(
    path: str | Path,
    *,
    time_scale: float = 1.0,
    peak_rps: float | None = None,
    poisson_seed: int | None = None,
) -> Trace:
    """Read a trace file (CSV with timestamps, or per-second counts) into a per-second Trace.

    Raises ConfigError naming the file and line for anything malformed.
    """
    if not time_scale > 0 or not math.isfinite(time_scale):
        raise ConfigError(f"time scale must be a positive number, got {time_scale}")
    file = Path(path)
    text = read_user_text(file, "trace file")
    starts_s, counts, interval_s = _parse(text, file)
    rps = _per_second(starts_s / time_scale, counts, interval_s / time_scale)
    trace = Trace(rps=rps, source=str(file), interval_s=interval_s / time_scale)
    if peak_rps is not None:
        trace = trace.rescaled(peak_rps)
    if poisson_seed is not None:
        trace = trace.with_poisson(poisson_seed)
    return trace


def _parse(text: str, file: Path) -> tuple[FloatArray, FloatArray, float]:
    """(interval start times in s from the first, counts, interval in s) from a file's text."""
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        raise ConfigError("the trace is empty", file=file)
    first = lines[0][1]
    if "," not in first and _number(first) is not None:
        return _parse_plain(lines, file)
    return _parse_csv(lines, file)


def _parse_plain(lines: list[tuple[int, str]], file: Path) -> tuple[FloatArray, FloatArray, float]:
    counts = np.empty(len(lines), dtype=np.float64)
    for i, (n, line) in enumerate(lines):
        counts[i] = _count(line, file, n)
    return np.arange(len(lines), dtype=np.float64), counts, 1.0


def _parse_csv(lines: list[tuple[int, str]], file: Path) -> tuple[FloatArray, FloatArray, float]:
    header_n, header_line = lines[0]
    header = [h.strip().lower() for h in next(csv.reader(io.StringIO(header_line)))]
    if len(header) < 2:
        raise ConfigError(
            "expected a header with a timestamp and a count column", file=file, location=f"line {header_n}"
        )
    time_col = _column(header, _TIME_NAMES, 0)
    count_col = _column(header, _COUNT_NAMES, 1 if time_col != 1 else 0)
    if time_col == count_col:
        raise ConfigError("cannot tell the timestamp column from the count column", file=file)
    rows = lines[1:]
    if not rows:
        raise ConfigError("the trace has a header but no rows", file=file)
    times = np.empty(len(rows), dtype=np.float64)
    counts = np.empty(len(rows), dtype=np.float64)
    kind: str | None = None
    for i, ((n, _), fields) in enumerate(zip(rows, csv.reader([raw for _, raw in rows]), strict=True)):
        if len(fields) != len(header):
            raise ConfigError(
                f"expected {len(header)} fields like the header, found {len(fields)}",
                file=file,
                location=f"line {n}",
            )
        value, this_kind = _timestamp(fields[time_col].strip(), file, n)
        if kind is None:
            kind = this_kind
        elif this_kind != kind:
            raise ConfigError(
                f"timestamp is a {this_kind}, earlier rows are {kind}s", file=file, location=f"line {n}"
            )
        if i and value <= times[i - 1]:
            raise ConfigError(
                f"timestamp {fields[time_col].strip()!r} does not come after the previous row's",
                file=file,
                location=f"line {n}",
            )
        times[i] = value
        counts[i] = _count(fields[count_col], file, n)
    if len(rows) == 1:
        interval_s = 1.0
    else:
        gaps = Counter(np.diff(times).tolist())
        interval_s = float(gaps.most_common(1)[0][0])
    return times - times[0], counts, interval_s


def _column(header: list[str], names: tuple[str, ...], fallback: int) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    return fallback


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _count(text: str, file: Path, line: int) -> float:
    value = _number(text.strip())
    if value is None or value < 0:
        raise ConfigError(
            f"count {text.strip()!r} is not a non-negative number", file=file, location=f"line {line}"
        )
    return value


def _timestamp(text: str, file: Path, line: int) -> tuple[float, str]:
    """Seconds, and whether the column holds numbers or date-times (rows must not mix them)."""
    number = _number(text)
    if number is not None:
        return number, "number"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"timestamp {text!r} is neither a number of seconds nor an ISO-8601 date-time",
            file=file,
            location=f"line {line}",
        ) from None
    return moment.timestamp(), "date-time"


def _per_second(starts_s: FloatArray, counts: FloatArray, interval_s: float) -> FloatArray:
    """Spread each interval's count evenly over its seconds, exactly, via the cumulative count.

    Interval ``i`` covers ``[start_i, min(start_{i+1}, start_i + interval_s))``; the cumulative
    count rises linearly across it and stays flat in gaps. Sampling it at whole seconds and
    differencing gives each second its share, with the total preserved.
    """
    ends_s = np.minimum(np.append(starts_s[1:], np.inf), starts_s + interval_s)
    before = np.concatenate(([0.0], np.cumsum(counts)))
    xs = np.empty(2 * counts.shape[0])
    ys = np.empty_like(xs)
    xs[0::2], xs[1::2] = starts_s, ends_s
    ys[0::2], ys[1::2] = before[:-1], before[1:]
    duration_s = max(1, math.ceil(float(ends_s[-1]) - 1e-9))
    cumulative = np.interp(np.arange(duration_s + 1, dtype=np.float64), xs, ys)
    return np.diff(cumulative)


def synthetic_trace(
    shape: str,
    *,
    duration_s: int | None = None,
    base_rps: float = 100.0,
    peak_rps: float = 1000.0,
    seed: int = 1,
) -> Trace:
    """A generated trace of a named shape, for seeing how a policy reacts to one pattern.

    * ``step``: base load, then a jump to the peak at one third of the duration that stays.
    * ``spike``: base load with five one-minute bursts to the peak, evenly spaced.
    * ``ramp``: base rising linearly to the peak at the middle, then falling back.
    * ``daily``: two days of a smooth day/night cycle between base (night) and peak (afternoon).
    * ``noise``: a random walk around the middle of base and peak, with per-second jitter.

    Every shape is Poisson-sampled with ``seed``, so it is reproducible and has real noise.
    """
    if shape not in SHAPES:
        raise ConfigError(f"unknown synthetic shape {shape!r}; choose one of {', '.join(SHAPES)}")
    if not 0 <= base_rps <= peak_rps or peak_rps <= 0:
        raise ConfigError(f"need 0 <= base rps <= peak rps and peak > 0, got {base_rps} and {peak_rps}")
    if duration_s is None:
        duration_s = 2 * 86_400 if shape == "daily" else 3_600
    if duration_s < 60:
        raise ConfigError(f"a synthetic trace needs at least 60 s, got {duration_s}")
    t = np.arange(duration_s, dtype=np.float64)
    span = peak_rps - base_rps
    rng = np.random.default_rng(seed)
    if shape == "step":
        mean = np.where(t >= duration_s // 3, peak_rps, base_rps)
    elif shape == "spike":
        mean = np.full(duration_s, base_rps)
        for k in range(5):
            start = int((k + 0.5) * duration_s / 5)
            mean[start : start + 60] = peak_rps
    elif shape == "ramp":
        mean = base_rps + span * (1.0 - np.abs(2.0 * t / duration_s - 1.0))
    elif shape == "daily":
        # night minimum at 04:00, afternoon maximum at 16:00
        phase = 2.0 * np.pi * ((t % 86_400) - 4 * 3_600) / 86_400
        mean = base_rps + span * 0.5 * (1.0 - np.cos(phase))
    else:
        # mean-reverting random walk (per minute), clipped into [base, peak]
        steps = rng.normal(0.0, span * 0.08, size=duration_s // 60 + 1)
        level = np.empty_like(steps)
        level[0] = 0.5 * (base_rps + peak_rps)
        for i in range(1, steps.shape[0]):
            level[i] = level[i - 1] + steps[i] - 0.1 * (level[i - 1] - 0.5 * (base_rps + peak_rps))
        level = np.clip(level, base_rps, peak_rps)
        mean = np.repeat(level, 60)[:duration_s] * rng.lognormal(0.0, 0.1, size=duration_s)
    rps = rng.poisson(mean).astype(np.float64)
    return Trace(rps=rps, source=f"synthetic:{shape}", interval_s=1.0)
