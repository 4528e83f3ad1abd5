"""The picture of a comparison: load on top, then one panel per policy.

Each policy panel draws, against time, the replicas the load needs at full capacity (grey
area: load / capacity per replica) and the policy's ready replicas (its line); seconds that
violate the SLO are red marks along the bottom. Over- and under-provisioning read at a
glance: line above the grey is cost, grey above the line is risk. Values are per-bucket
maxima so short spikes stay visible on a month-long trace.

matplotlib is imported here only (the ``plot`` extra), with the Agg backend: no display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit._errors import TargetExistsError, UsageError
from toolkit.simulate._compare import Comparison

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def plot_comparison(comparison: Comparison, path: str | Path, *, force: bool = False) -> Path:
    """Write the comparison's PNG to ``path`` (refusing to overwrite unless ``force``)."""
    target = Path(path)
    if target.exists() and not force:
        raise TargetExistsError(f"{target} exists; pass --force to overwrite it")
    if not target.parent.is_dir():
        raise UsageError(f"directory {target.parent} does not exist")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'toolkit[plot]'") from None

    results = comparison.results
    capacity = comparison.model.capacity_rps
    first = results[0].timeline
    hours = first.bucket_s * np.arange(first.load_rps.shape[0]) / 3600.0
    unit, scale = ("days", 24.0) if hours[-1] > 72 else ("hours", 1.0)
    x = hours / scale
    fig, axes = plt.subplots(
        len(results) + 1,
        1,
        sharex=True,
        figsize=(12, 1.9 * (len(results) + 1) + 0.8),
        gridspec_kw={"hspace": 0.35},
    )
    top = axes[0]
    top.fill_between(x, first.load_rps, step="post", color="#999999", alpha=0.6, linewidth=0)
    top.set_ylabel("requests/s")
    top.set_title(
        f"{Path(comparison.trace.source).name}: load (max per {first.bucket_s} s)", loc="left", pad=14
    )
    need = first.load_rps / capacity
    ymax = max(float(need.max()), *(float(r.timeline.ready.max()) for r in results)) * 1.1 + 1
    for i, (ax, result) in enumerate(zip(axes[1:], results, strict=True)):
        colour = _COLOURS[i % len(_COLOURS)]
        line = result.timeline
        ax.fill_between(x, need, step="post", color="#bbbbbb", alpha=0.7, linewidth=0)
        ax.step(x, line.ready, where="post", color=colour, linewidth=1.3)
        bad = line.violation_s > 0
        if bad.any():
            ax.plot(
                x[bad], np.zeros(int(bad.sum())), "|", color="#d62728", markersize=9, label="SLO violated"
            )
        s = result.summary
        ratios = comparison.ratios(result.policy)
        cost = f"  ({ratios['replica_seconds']:.2f}x {comparison.baseline})" if ratios else ""
        ax.set_title(
            f"{result.policy}: {s.replica_seconds:,.0f} replica-s{cost}, "
            f"{s.slo_violation_s:,d} SLO-violation s, {s.scale_events:,d} scale events",
            loc="left",
            fontsize=10,
        )
        ax.set_ylim(-ymax * 0.04, ymax)
        ax.set_ylabel("replicas")
    axes[-1].legend(
        handles=[
            Patch(color="#bbbbbb", label="replicas needed at 100% (load / capacity)"),
            Line2D([], [], color="#333333", label="ready replicas (one colour per policy)"),
            Line2D(
                [], [], color="#d62728", marker="|", linestyle="", markersize=9, label="SLO-violating seconds"
            ),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.32),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    axes[-1].set_xlabel(unit)
    axes[-1].set_xlim(float(x[0]), float(x[-1]) if x[-1] > x[0] else 1.0)
    fig.savefig(target, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return target
