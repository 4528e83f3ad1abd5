"""``toolkit split PATH --out DIR`` and ``toolkit verify MONOLITH STACK_DIR``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from toolkit._errors import UsageError, VerificationError
from toolkit.analyze.plan import load_plan
from toolkit.cli._output import emit_json, info, json_option

DEFAULT_BASE_IMAGE = os.environ.get("TOOLKIT_BASE_IMAGE", "python:3.12-slim")


def _parse_scale(values: tuple[str, ...]) -> dict[str, int]:
    scale: dict[str, int] = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not name or not count.isdigit() or int(count) < 1:
            raise UsageError(f"invalid --scale {value!r}: use SERVICE=N with N >= 1 (e.g. orders=3)")
        scale[name] = int(count)
    return scale


def _verify_options(func: Any) -> Any:
    """The options ``split --verify`` and ``verify`` share, spelled once."""
    options = [
        click.option(
            "--base-image",
            default=DEFAULT_BASE_IMAGE,
            show_default=True,
            help="Python base image every image is built FROM (env TOOLKIT_BASE_IMAGE).",
        ),
        click.option(
            "--scale", multiple=True, metavar="SERVICE=N", help="Replicas of a service (repeatable)."
        ),
        click.option(
            "--requests",
            "recorded",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Recorded requests to replay too: JSON lines {method, path, json?, headers?}.",
        ),
        click.option(
            "--ignore-field",
            multiple=True,
            metavar="NAME",
            help="A volatile JSON field to leave out of body comparisons (repeatable), e.g. created_at.",
        ),
        click.option("--keep", is_flag=True, help="Leave the split stack running after verification."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_verify(
    monolith: Path,
    out: Path,
    *,
    base_image: str,
    scale: tuple[str, ...],
    recorded: Path | None,
    ignore_field: tuple[str, ...],
    keep: bool,
    quiet: bool,
) -> dict[str, Any]:
    """Run the verification with the options of ``_verify_options`` and print its outcome."""
    from toolkit.split import verify

    info("verifying: building and starting the monolith and the split stack (takes a while)", quiet=quiet)
    report, stack = verify(
        monolith,
        out,
        base_image=base_image,
        scale=_parse_scale(scale),
        recorded=recorded,
        ignore_fields=ignore_field,
        keep=keep,
    )
    doc = report.to_json()
    if stack is not None:
        doc["gateway_url"] = stack.gateway_url
        doc["project"] = stack.project
    if not quiet:
        for route in report.routes:
            mark = "ok  " if route.equal else "DIFF"
            click.echo(
                f"{mark} {route.route:<45} {route.same_status}/{route.requests} status, "
                f"{route.same_body}/{route.requests} body"
            )
            if route.first_difference:
                click.echo(f"     {route.first_difference}")
        for route_name in report.untested_routes:
            click.echo(f"skip {route_name} (no sample request: not in the monolith's OpenAPI document)")
        click.echo(f"route parity: {report.parity_percent:.1f}% of {len(report.routes)} routes")
        if stack is not None:
            click.echo(f"stack left running: {stack.gateway_url} (project {stack.project})")
    return doc


@click.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The plan (from `toolkit analyze --out plan.yaml`); default: analyze PATH first.",
)
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (never inside PATH).",
)
@click.option("--force", is_flag=True, help="Replace DIR if it holds a previous split output.")
@click.option("--verify", "run_verify", is_flag=True, help="Then start both in Docker and compare answers.")
@_verify_options
@json_option
def split(
    path: Path,
    plan_file: Path | None,
    out: Path,
    force: bool,
    run_verify: bool,
    as_json: bool,
    **verify_options: Any,
) -> None:
    """Split the monolith at PATH into services, a gateway and a compose stack in DIR.

    Each service gets its modules, what they import and the shared library, copied
    unchanged, wrapped by the platform of `toolkit new`; calls to functions of other
    services become HTTP calls. Nothing is written inside PATH. See SPLIT_REPORT.md in DIR.
    """
    from toolkit.split import split as run_split

    plan = load_plan(plan_file) if plan_file is not None else None
    result = run_split(path, out, plan, force)
    doc = result.to_json()
    if not as_json:
        click.echo(str(result.out))
        for svc in result.services:
            remote = f", calls {len(svc.remote_modules)} module(s) remotely" if svc.remote_modules else ""
            click.echo(f"  {svc.name:<16} {svc.routes:>3} routes, {svc.modules:>3} modules{remote}")
        info(f"{result.files} files; {result.findings} call(s) kept local (see SPLIT_REPORT.md)")
        for note in result.notes:
            info(f"note: {note}")
    if run_verify:
        doc["verify"] = _run_verify(path, result.out, quiet=as_json, **verify_options)
    if as_json:
        emit_json("split", doc)
    if run_verify and doc["verify"]["parity_percent"] < 100.0:
        raise VerificationError(f"route parity {doc['verify']['parity_percent']}% (not 100%)")
    if not run_verify:
        info(f"next: cd {result.out} && docker compose up --build --wait", quiet=as_json)


@click.command()
@click.argument("monolith", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("stack_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_verify_options
@json_option
def verify(monolith: Path, stack_dir: Path, as_json: bool, **verify_options: Any) -> None:
    """Start MONOLITH and the split stack in STACK_DIR in Docker, send both the same requests
    and print route parity (same status codes and JSON bodies, route by route).

    Exit code 1 when parity is below 100%.
    """
    doc = _run_verify(monolith, stack_dir, quiet=as_json, **verify_options)
    if as_json:
        emit_json("verify", doc)
    if doc["parity_percent"] < 100.0:
        raise VerificationError(f"route parity {doc['parity_percent']}% (not 100%)")
