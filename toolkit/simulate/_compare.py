"""Several policies on one trace, and the report: the side-by-side table and the JSON shape.

Policies run in separate processes when there is more than one core (each run is independent
and CPU-bound; the trace is shared with the workers by fork, not copied through a pipe).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from toolkit._errors import ConfigError
from toolkit.scale import ServicePolicy
from toolkit.simulate._bound import clairvoyant_replica_seconds
from toolkit.simulate._engine import SimPolicy, SimResult, Summary, run
from toolkit.simulate._policies import DEFAULT_TARGET_UTILISATION, PolicySpec, resolve, resolve_all
from toolkit.simulate._service import ServiceModel
from toolkit.simulate._trace import Trace

BASELINE = "hpa"

# (summary field, table label, format); the rows of the table, in order
ROWS: tuple[tuple[str, str, str], ...] = (
    ("replica_seconds", "replica-seconds (cost)", "{:,.0f}"),
    ("slo_violation_s", "SLO-violation seconds", "{:,d}"),
    ("dropped", "requests dropped", "{:,.0f}"),
    ("over_slo", "requests over SLO", "{:,.0f}"),
    ("scale_events", "scale events", "{:,d}"),
    ("max_replicas", "max replicas", "{:,d}"),
    ("mean_replicas", "mean replicas", "{:,.2f}"),
    ("mean_utilisation", "mean utilisation", "{:.0%}"),
)
# the figures that get a ratio to the baseline
RATIO_FIELDS = ("replica_seconds", "slo_violation_s", "dropped", "over_slo", "scale_events", "max_replicas")


@dataclass(frozen=True)
class Comparison:
    """The runs of several policies on one trace under one model."""

    trace: Trace
    model: ServiceModel
    results: tuple[SimResult, ...]
    baseline: str | None = BASELINE
    min_replicas: int = 1  # of the policies compared, for the lower bound

    @cached_property
    def bound_replica_seconds(self) -> float | None:
        """The clairvoyant lower bound (``_bound``); None if no load meets the SLO."""
        return clairvoyant_replica_seconds(self.trace, self.model, self.min_replicas)

    def result(self, name: str) -> SimResult:
        for result in self.results:
            if result.policy == name:
                return result
        raise KeyError(name)

    def ratios(self, name: str) -> dict[str, float | None] | None:
        """Each ratio field of ``name`` divided by the baseline's (None where that is 0)."""
        if self.baseline is None or self.baseline not in {r.policy for r in self.results}:
            return None
        base = self.result(self.baseline).summary
        mine = self.result(name).summary
        out: dict[str, float | None] = {}
        for field in RATIO_FIELDS:
            denominator = float(getattr(base, field))
            out[field] = float(getattr(mine, field)) / denominator if denominator else None
        return out

    def as_dict(self) -> dict[str, Any]:
        """The documented, stable JSON shape (docs/commands/simulate.md)."""
        trace = self.trace
        return {
            "trace": {
                "source": trace.source,
                "duration_s": trace.duration_s,
                "interval_s": trace.interval_s,
                "requests": trace.total_requests,
                "peak_rps": trace.peak_rps,
                "mean_rps": trace.mean_rps,
            },
            "model": {**asdict(self.model), "service_time_s": self.model.service_time_s},
            "baseline": self.baseline if self.ratios(self.results[0].policy) is not None else None,
            "bound": self._bound(),
            "policies": [
                {
                    "name": r.policy,
                    "description": r.description,
                    "summary": r.summary.as_dict(),
                    "ratios": self.ratios(r.policy),
                    "reasons": r.reasons,
                    "cpu_s": r.cpu_s,
                }
                for r in self.results
            ],
        }

    def _bound(self) -> dict[str, float | None] | None:
        """The clairvoyant replica-seconds and their ratio to the baseline's."""
        if self.bound_replica_seconds is None:
            return None
        ratio = None
        if self.ratios(self.results[0].policy) is not None:
            base = self.result(str(self.baseline)).summary.replica_seconds
            ratio = self.bound_replica_seconds / base if base else None
        return {"replica_seconds": self.bound_replica_seconds, "vs_baseline": ratio}

    def table(self) -> str:
        """Policies side by side; under each figure with a baseline, its ratio to it."""
        names = [r.policy for r in self.results]
        rows: list[list[str]] = [["", *names]]
        for field, label, fmt in ROWS:
            rows.append([label, *(fmt.format(getattr(r.summary, field)) for r in self.results)])
            if field in RATIO_FIELDS and self.ratios(names[0]) is not None:
                cells = []
                for name in names:
                    ratio = (self.ratios(name) or {}).get(field)
                    cells.append("-" if ratio is None else f"{ratio:.2f}x")
                rows.append([f"  vs {self.baseline}", *cells])
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
            )
            for row in rows
        ]
        bound = self._bound()
        if bound is None:
            lines.append("lower bound: none (no load meets the SLO: a request alone takes longer)")
        else:
            ratio = bound["vs_baseline"]
            versus = f" = {ratio:.2f}x {self.baseline}" if ratio is not None else ""
            lines.append(
                f"lower bound: {bound['replica_seconds']:,.0f} replica-seconds{versus} "
                "(knowing every second's load, replicas starting instantly, none over the SLO)"
            )
        capped = [
            f"{r.policy} {r.summary.violation_s_at_max:,d} of {r.summary.slo_violation_s:,d}"
            for r in self.results
            if r.summary.violation_s_at_max
        ]
        if capped:
            lines.append(
                f"at max_replicas: {', '.join(capped)} SLO-violation seconds; there the cap set the "
                "count, not the policy (raise max_replicas to compare the policies)"
            )
        return "\n".join(line.rstrip() for line in lines)


_JOBS: list[tuple[Trace, SimPolicy, ServiceModel, bool]] = []


def _run_job(index: int) -> SimResult:
    trace, policy, model, keep = _JOBS[index]
    return run(trace, policy, model, keep_series=keep)


def run_all(
    trace: Trace, policies: Sequence[SimPolicy], model: ServiceModel, *, keep_series: bool, workers: int
) -> list[SimResult]:
    """Run each policy; in ``workers`` forked processes when that is more than one."""
    if workers <= 1 or len(policies) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [run(trace, p, model, keep_series=keep_series) for p in policies]
    _JOBS[:] = [(trace, p, model, keep_series) for p in policies]
    try:
        # heaviest first (most decisions), so the last job to start is a short one
        order = sorted(range(len(policies)), key=lambda i: -_decisions(trace, policies[i]))
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            done = dict(zip(order, pool.map(_run_job, order), strict=True))
    finally:
        _JOBS.clear()
    return [done[i] for i in range(len(policies))]


def _decisions(trace: Trace, policy: SimPolicy) -> float:
    return 0.0 if policy.scaler is None or math.isinf(policy.period_s) else trace.duration_s / policy.period_s


def check_names(names: Sequence[str]) -> None:
    """A comparison names each policy once, and at least one."""
    if not names:
        raise ConfigError("nothing to compare: name at least one policy")
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    if duplicates:
        raise ConfigError(f"policy {duplicates[0]!r} is named twice in the comparison")


def compare(
    trace: Trace,
    policies: Sequence[PolicySpec] = ("hpa", "kpa", "static", "toolkit"),
    model: ServiceModel | None = None,
    *,
    base: ServicePolicy | None = None,
    static_replicas: int | None = None,
    target_utilisation: float = DEFAULT_TARGET_UTILISATION,
    keep_series: bool = False,
    workers: int | None = None,
) -> Comparison:
    """Simulate every policy on ``trace`` and compare them (ratios to ``hpa`` if present).

    ``policies`` are names (``hpa``, ``kpa``, ``toolkit``, ``static``), ServicePolicy values or
    SimPolicy values; ``base`` is a policy file's service policy shared by the named ones
    (without it, they share a target of ``target_utilisation`` of a replica's capacity).
    ``workers`` defaults to the number of cores (at most one per policy).
    """
    model = model or ServiceModel()
    resolved = resolve_all(
        policies,
        trace,
        model,
        base=base,
        static_replicas=static_replicas,
        target_utilisation=target_utilisation,
    )
    check_names([p.name for p in resolved])
    count = workers if workers is not None else min(len(resolved), os.cpu_count() or 1)
    results = run_all(trace, resolved, model, keep_series=keep_series, workers=count)
    min_replicas = base.min_replicas if base is not None else 1
    return Comparison(trace=trace, model=model, results=tuple(results), min_replicas=min_replicas)


def simulate(
    trace: Trace,
    policy: PolicySpec = "toolkit",
    model: ServiceModel | None = None,
    *,
    base: ServicePolicy | None = None,
    static_replicas: int | None = None,
    target_utilisation: float = DEFAULT_TARGET_UTILISATION,
    keep_series: bool = False,
) -> SimResult:
    """Simulate one policy on ``trace`` (in this process). See ``compare`` for the arguments."""
    model = model or ServiceModel()
    resolved = resolve(
        policy,
        trace,
        model,
        base=base,
        static_replicas=static_replicas,
        target_utilisation=target_utilisation,
    )
    return run(trace, resolved, model, keep_series=keep_series)


__all__ = ["Comparison", "SimResult", "Summary", "compare", "simulate"]
