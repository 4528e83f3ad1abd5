"""``toolkit demo``: the whole journey on the bundled example, narrated."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from toolkit import _docker
from toolkit.cli._output import emit_json, info, json_option
from toolkit.demo import STAGES, DemoContext, run_demo
from toolkit.demo._context import default_base_image


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("toolkit-demo"),
    show_default=True,
    help="Directory that receives everything the demo generates.",
)
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(sorted(STAGES)),
    help="Run only this stage (repeatable). Default: all, in order.",
)
@click.option("--no-docker", is_flag=True, help="Do not use a Docker engine even if one is reachable.")
@click.option(
    "--base-image", default=None, help="Image generated Dockerfiles build FROM (default: see docs)."
)
@click.option("--keep", is_flag=True, help="Leave the started stacks running.")
@json_option
def demo(
    workdir: Path, stages: tuple[str, ...], no_docker: bool, base_image: str | None, keep: bool, as_json: bool
) -> None:
    """Run the journey on the bundled example: generate a service, split the example
    monolith, autoscale it under load, and compare scaling policies on a real trace.

    With a Docker engine it builds and runs everything, then cleans up; without one it
    generates the files and prints what would run.
    """
    docker = not no_docker and _docker.engine_available()
    image = base_image or (default_base_image() if docker else "python:3.12-slim")
    if not docker:
        why = "--no-docker given" if no_docker else "no Docker engine reachable"
        info(f"{why}: generating files and showing what would run", quiet=as_json)
    ctx = DemoContext(
        workdir=workdir.resolve(),
        docker=docker,
        base_image=image,
        say=lambda m: info(m, quiet=as_json),
        keep=keep,
    )
    results = run_demo(ctx, stages)
    if as_json:
        emit_json(
            "demo",
            {"docker": docker, "workdir": str(workdir.resolve()), "stages": [asdict(r) for r in results]},
        )
