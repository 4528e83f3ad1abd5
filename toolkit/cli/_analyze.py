"""``toolkit analyze PATH``: propose service boundaries for a monolith, with measured quality."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click

from toolkit._errors import TargetExistsError, UsageError
from toolkit.analyze import Analysis, check_plan
from toolkit.analyze import analyze as run_analysis
from toolkit.analyze._cache import is_inside
from toolkit.analyze._files import SourceFile
from toolkit.analyze._report import metrics_rows, write_report
from toolkit.analyze.plan import dump_plan, load_plan, plan_to_dict
from toolkit.cli._output import emit_json, info, json_option


def _parse_pins(values: tuple[str, ...]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for value in values:
        module, sep, service = value.partition("=")
        if not sep or not module.strip() or not service.strip():
            raise UsageError(f"--pin {value!r}: expected MODULE=SERVICE, e.g. --pin shop.orders=orders")
        pins[module.strip()] = service.strip()
    return pins


def _progress_bar(items: list[SourceFile], label: str) -> AbstractContextManager[Iterable[SourceFile]]:
    return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)


def _write_plan(analysis: Analysis, out: Path, force: bool) -> None:
    if is_inside(out, analysis.root):
        raise UsageError(f"refusing to write {out} inside the analysed tree {analysis.root}")
    if out.exists() and not force:
        raise TargetExistsError(f"{out} exists (use --force to overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    # A relative root keeps the plan valid when the checkout moves along with it.
    root = os.path.relpath(analysis.root, out.resolve().parent)
    plan = replace(analysis.plan, source=replace(analysis.plan.source, root=Path(root).as_posix()))
    out.write_text(dump_plan(plan), encoding="utf-8")


def _payload(analysis: Analysis, written: list[str], plan_checked: str | None) -> dict[str, Any]:
    program = analysis.program
    return {
        "root": str(analysis.root),
        "packages": list(analysis.packages),
        "framework": program.framework,
        "app": program.app,
        "stats": {
            "modules": len(program.modules),
            "lines": analysis.lines,
            "routes": len(program.routes),
            "models": len(program.models),
            "tables": len(program.table_access),
            "call_edges": len(program.calls),
            "problems": len(program.problems),
        },
        "plan": plan_to_dict(analysis.plan),
        "tables": {name: asdict(use) for name, use in analysis.tables().items()},
        "metrics": {name: m.as_dict() for name, m in analysis.metrics.items()},
        "problems": [
            {"kind": p.kind, "path": p.rel_path, "line": p.line, "detail": p.detail} for p in program.problems
        ],
        "timings_s": {k: round(v, 4) for k, v in analysis.timings_s.items()},
        "cache": analysis.cached,
        "written": written,
        "plan_checked": plan_checked,
    }


def _print_text(analysis: Analysis, written: list[str], plan_checked: str | None) -> None:
    program, plan = analysis.program, analysis.plan
    click.echo(
        f"analysed {analysis.root}: {len(program.modules)} modules, {analysis.lines} lines, "
        f"framework {program.framework}, {len(program.routes)} routes, {len(program.models)} models, "
        f"{len(program.problems)} problems "
        f"({analysis.timings_s.get('total', 0.0):.2f} s, cache: {analysis.cached})"
    )
    width = max((len(s.name) for s in plan.services), default=7)
    click.echo(f"\nproposed services ({len(plan.services)}):")
    for svc in plan.services:
        tables = ", ".join(svc.tables) or "-"
        click.echo(
            f"  {svc.name:<{width}}  {len(svc.modules):>4} modules {len(svc.routes):>4} routes  "
            f"tables: {tables}"
        )
    click.echo(
        f"  shared library: {len(plan.shared_modules)} modules; entry: {', '.join(plan.entry_modules) or '-'}"
    )
    click.echo(
        f"  cross-service call sites: {sum(c.count for c in plan.calls)} "
        f"in {len(plan.calls)} caller/callee pairs"
    )
    click.echo(f"\n{'metric':<32}{'plan':>10}{'naive':>10}  better")
    for label, proposed, naive, better in metrics_rows(analysis):
        click.echo(f"{label:<32}{proposed:>10}{naive:>10}  {better}")
    if program.problems:
        click.echo(
            f"\n{len(program.problems)} problems reported (dynamic/star imports, syntax errors...): "
            "see --report or --json"
        )
    if plan_checked:
        click.echo(f"\nplan {plan_checked} is valid for this source tree")
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("\n(use --out plan.yaml to save the plan, --report DIR for the report with the graph)")


@click.command(name="analyze")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--services", "services", type=click.IntRange(min=1), help="Ask for exactly N services.")
@click.option(
    "--resolution",
    type=click.FloatRange(min=0.0, min_open=True),
    help="Louvain resolution (>1: more, smaller services).",
)
@click.option(
    "--pin",
    "pins",
    multiple=True,
    metavar="MODULE=SERVICE",
    help="Put a module or package in a named service (repeatable).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the plan (YAML) here.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write report.md, graph.svg and report.html here.",
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Validate this (hand-edited) plan against the source instead of trusting it blindly.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache directory (default ~/.cache/toolkit/analyze).",
)
@click.option("--no-cache", is_flag=True, help="Parse everything again and write no cache.")
@click.option("--force", is_flag=True, help="Overwrite an existing --out file or report files.")
@json_option
def analyze(
    path: Path,
    services: int | None,
    resolution: float | None,
    pins: tuple[str, ...],
    out: Path | None,
    report_dir: Path | None,
    plan_file: Path | None,
    cache_dir: Path | None,
    no_cache: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Read the monolith at PATH (parsed, never imported) and propose services.

    Builds the import and call graph, finds routes (Flask, FastAPI, Django) and models
    (SQLAlchemy, Django), partitions the modules with constraints, and compares the plan with
    the naive split by package on SM, ICP, IFN, NED, TurboMQ and table entropy.
    """
    if services is not None and resolution is not None:
        raise UsageError("--services and --resolution are exclusive: give one")
    pin_map = _parse_pins(pins)
    show_progress = not as_json and sys.stderr.isatty()
    analysis = run_analysis(
        path,
        services=services,
        resolution=resolution,
        pins=pin_map,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        progress=_progress_bar if show_progress else None,
    )
    plan_checked = None
    if plan_file is not None:
        check_plan(load_plan(plan_file), analysis)
        plan_checked = str(plan_file)
    written: list[str] = []
    if out is not None:
        _write_plan(analysis, out, force)
        written.append(str(out))
    if report_dir is not None:
        written += [str(p) for p in write_report(analysis, report_dir, force=force)]
    if as_json:
        emit_json("analyze", _payload(analysis, written, plan_checked))
    else:
        info(f"cache: {analysis.cached}, re-parsed {analysis.reparsed_files} files", quiet=not show_progress)
        _print_text(analysis, written, plan_checked)
