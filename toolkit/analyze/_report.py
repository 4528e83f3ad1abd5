"""The analysis report: ``report.md``, ``graph.svg`` and an interactive ``report.html``.

The picture is drawn here as plain SVG (no plotting dependency): each service is a cluster
of module dots on a ring, the shared library sits in the middle, and lines are dependencies
(darker = heavier). Every dot has a tooltip (module, service, lines); in the HTML page a click
on a legend entry highlights one service.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit._errors import TargetExistsError, UsageError
from toolkit.analyze._cache import is_inside
from toolkit.analyze.plan import ENTRY, SHARED

if TYPE_CHECKING:
    from toolkit.analyze import Analysis

REPORT_FILES = ("report.md", "graph.svg", "report.html")
MAX_EDGES_DRAWN = 2500
_SPECIAL_COLOURS = {SHARED: "#7f7f7f", ENTRY: "#222222"}
METRIC_ROWS = (
    ("sm", "Structural Modularity (SM)", "higher"),
    ("icp", "Inter-Call Percentage (ICP)", "lower"),
    ("ifn", "Interface Number (IFN)", "lower"),
    ("ned", "Non-Extreme Distribution (NED)", "lower"),
    ("turbo_mq", "TurboMQ", "higher"),
    ("table_entropy", "Table entropy (bits)", "lower"),
    ("cross_service_calls", "Cross-service call sites", "lower"),
    ("services", "Services", ""),
    ("modules", "Modules in services", ""),
)


def colour(index: int) -> str:
    """Distinct colours by walking the hue circle by the golden angle."""
    hue = (index * 137.508) % 360
    return f"hsl({hue:.0f},65%,45%)"


def service_colours(services: tuple[str, ...]) -> dict[str, str]:
    colours = {s: colour(i) for i, s in enumerate(services)}
    colours.update(_SPECIAL_COLOURS)
    return colours


def render_svg(analysis: Analysis, size_px: int = 1000) -> str:
    assignment = analysis.partition.assignment
    services = analysis.partition.services
    colours = service_colours(services)
    centre = size_px / 2
    ring = size_px * 0.34
    positions: dict[str, tuple[float, float]] = {}
    groups = [*services, SHARED, ENTRY]
    for index, place in enumerate(groups):
        members = sorted(m for m, s in assignment.items() if s == place)
        if not members:
            continue
        if place == SHARED:
            cx, cy = centre, centre
        elif place == ENTRY:
            cx, cy = centre, size_px * 0.05 + 10
        else:
            angle = 2 * math.pi * index / max(len(services), 1) - math.pi / 2
            cx, cy = centre + ring * math.cos(angle), centre + ring * math.sin(angle)
        spread = min(size_px * 0.13, 8 + 5 * math.sqrt(len(members)))
        for j, module in enumerate(members):
            # sunflower spiral: even spacing inside a disc
            r = spread * math.sqrt((j + 0.5) / len(members))
            theta = j * 2.39996
            positions[module] = (cx + r * math.cos(theta), cy + r * math.sin(theta))
    weights: Counter[tuple[str, str]] = Counter()
    for edges in (analysis.program.import_edges, analysis.program.ref_edges):
        for (a, b), count in edges.items():
            if a in positions and b in positions and a != b:
                weights[(min(a, b), max(a, b))] += count
    heaviest = max(weights.values(), default=1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size_px} {size_px + 40}" '
        f'width="{size_px}" height="{size_px + 40}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        '<g id="edges" stroke="#555">',
    ]
    for (a, b), w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_EDGES_DRAWN]:
        (x1, y1), (x2, y2) = positions[a], positions[b]
        cross = assignment.get(a) != assignment.get(b)
        opacity = 0.08 + 0.5 * math.sqrt(w / heaviest)
        dash = ' stroke-dasharray="4 3"' if cross else ""
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke-opacity="{opacity:.2f}"{dash}/>'
        )
    parts.append('</g><g id="nodes">')
    lines = {m: f.lines for m, f in analysis.program.modules.items()}
    for module, (x, y) in sorted(positions.items()):
        place = assignment[module]
        radius = 2.5 + min(9.0, math.sqrt(lines.get(module, 1)) / 4)
        parts.append(
            f'<circle class="svc-{html.escape(place)}" cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" '
            f'fill="{colours[place]}"><title>{html.escape(module)} ({html.escape(place)}, '
            f"{lines.get(module, 0)} lines)</title></circle>"
        )
    parts.append('</g><g id="labels" font-weight="bold">')
    for place in groups:
        points = [positions[m] for m, s in assignment.items() if s == place and m in positions]
        if not points:
            continue
        x = sum(p[0] for p in points) / len(points)
        y = max(p[1] for p in points) + 16
        parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" fill="{colours[place]}">'
            f"{html.escape(place)} ({len(points)})</text>"
        )
    legend_y = size_px + 25
    parts.append(
        f'</g><text x="10" y="{legend_y}" fill="#333">dots: modules (size ~ lines); '
        "lines: imports + references (dashed = crosses services); "
        "grey centre: shared library; black top: entry modules</text></svg>"
    )
    return "\n".join(parts)


def _fmt(value: float | int) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metrics_rows(analysis: Analysis) -> list[tuple[str, str, str, str]]:
    plan = analysis.metrics["plan"].as_dict()
    naive = analysis.metrics["naive"].as_dict()
    rows = []
    for key, label, better in METRIC_ROWS:
        rows.append((label, _fmt(plan[key]), _fmt(naive[key]), better))
    return rows


def render_markdown(analysis: Analysis) -> str:
    program, plan = analysis.program, analysis.plan
    out = [
        f"# Decomposition report: {', '.join(analysis.packages)}",
        "",
        f"Source: `{analysis.root}` — framework **{program.framework}**"
        + (f", app `{program.app}`" if program.app else ""),
        "",
        f"{len(program.modules)} modules, {analysis.lines} lines, {len(program.routes)} routes, "
        f"{len(program.models)} models/tables, {len(program.calls)} distinct cross-module call edges, "
        f"{len(program.problems)} problems. Analysis took {analysis.timings_s.get('total', 0.0):.2f} s.",
        "",
        "![service graph](graph.svg)",
        "",
        "## Quality: proposed plan vs naive split",
        "",
        "The naive split puts each top-level sub-package (or Django app) in its own service, with no "
        "shared library. Definitions: docs/metrics.md.",
        "",
        "| metric | proposed plan | naive split | better |",
        "|---|---:|---:|---|",
    ]
    out += [f"| {label} | {a} | {b} | {better} |" for label, a, b, better in metrics_rows(analysis)]
    out += [
        "",
        "## Services",
        "",
        "| service | modules | routes | tables owned | tables used from others |",
        "|---|---:|---:|---|---|",
    ]
    for svc in plan.services:
        out.append(
            f"| {svc.name} | {len(svc.modules)} | {len(svc.routes)} | {', '.join(svc.tables) or '—'} | "
            f"{', '.join(svc.uses_tables) or '—'} |"
        )
    out += [
        "",
        f"**Shared library** ({len(plan.shared_modules)} modules): "
        + (", ".join(f"`{m}`" for m in plan.shared_modules) or "none"),
        "",
        f"**Entry modules** ({len(plan.entry_modules)}): "
        + (", ".join(f"`{m}`" for m in plan.entry_modules) or "none"),
        "",
        "## Cross-service calls",
        "",
    ]
    if plan.calls:
        out += ["| from | to | caller | callee | sites |", "|---|---|---|---|---:|"]
        for call in plan.calls[:200]:
            out.append(
                f"| {call.from_service} | {call.to_service} | `{call.caller}` | `{call.callee}` "
                f"| {call.count} |"
            )
        if len(plan.calls) > 200:
            out.append(f"\n… and {len(plan.calls) - 200} more (all of them are in plan.yaml).")
    else:
        out.append("None: the services do not call each other's functions.")
    out += [
        "",
        "## Tables",
        "",
        "| table | owner | models | accessed by | written by |",
        "|---|---|---|---|---|",
    ]
    for table, use in analysis.tables().items():
        models = ", ".join(f"`{m}`" for m in use.models)
        out.append(
            f"| {table} | {use.owner or '—'} | {models} | {len(use.accessed_by)} modules | "
            f"{', '.join(use.written_by) or '—'} |"
        )
    out += ["", "## Routes by service", ""]
    for svc in plan.services:
        if svc.routes:
            out.append(
                f"- **{svc.name}**: "
                + ", ".join(f"`{'/'.join(r.methods)} {r.path}`" for r in svc.routes[:40])
            )
            if len(svc.routes) > 40:
                out[-1] += f" … ({len(svc.routes)} in all)"
    out += ["", "## Problems (reported, not fatal)", ""]
    if program.problems:
        kinds = Counter(p.kind for p in program.problems)
        out.append(", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())))
        out.append("")
        for problem in program.problems[:100]:
            where = f"{problem.rel_path}:{problem.line}" if problem.line else problem.rel_path
            out.append(f"- `{where}` {problem.kind}: {problem.detail}")
        if len(program.problems) > 100:
            out.append(f"- … {len(program.problems) - 100} more")
    else:
        out.append("None.")
    return "\n".join(out) + "\n"


def render_html(analysis: Analysis, svg: str) -> str:
    colours = service_colours(analysis.partition.services)
    legend = "".join(
        f'<li><a href="#" data-svc="{html.escape(s)}" style="color:{colours[s]}">{html.escape(s)}</a></li>'
        for s in [*analysis.partition.services, SHARED, ENTRY]
    )
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{a}</td><td>{b}</td><td>{better}</td></tr>"
        for label, a, b, better in metrics_rows(analysis)
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>toolkit analyze: {html.escape(", ".join(analysis.packages))}</title>
<style>body{{font-family:sans-serif;margin:1em}} .dim{{opacity:.12}}
td,th{{padding:2px 10px;text-align:right}} td:first-child{{text-align:left}}
ul{{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1em}}</style></head>
<body><h1>Proposed services for {html.escape(", ".join(analysis.packages))}</h1>
<p>Click a service to highlight it; click again to show all. Hover a dot for the module name.</p>
<ul id="legend">{legend}</ul>
{svg}
<h2>Proposed plan vs naive split</h2>
<table><tr><th>metric</th><th>proposed</th><th>naive</th><th>better</th></tr>{rows}</table>
<script>
let active = null;
document.querySelectorAll('#legend a').forEach(a => a.addEventListener('click', e => {{
  e.preventDefault();
  active = active === a.dataset.svc ? null : a.dataset.svc;
  document.querySelectorAll('#nodes circle').forEach(c => {{
    c.classList.toggle('dim', active !== null && !c.classList.contains('svc-' + active));
  }});
}}));
</script></body></html>
"""


def write_report(analysis: Analysis, directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the three report files; refuses to overwrite them without ``force`` and refuses
    any directory inside the analysed tree."""
    target = Path(directory)
    if is_inside(target, analysis.root):
        raise UsageError(f"refusing to write the report inside the analysed tree ({target})")
    existing = [target / name for name in REPORT_FILES if (target / name).exists()]
    if existing and not force:
        raise TargetExistsError(f"{existing[0]} exists (use --force to overwrite)")
    target.mkdir(parents=True, exist_ok=True)
    svg = render_svg(analysis)
    written = []
    for name, text in (
        ("report.md", render_markdown(analysis)),
        ("graph.svg", svg),
        ("report.html", render_html(analysis, svg)),
    ):
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
