"""``toolkit new NAME``: scaffold a containerized microservice."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit._errors import UsageError
from toolkit.cli._output import emit_json, info, json_option
from toolkit.scaffold import read_answers, render_service


@click.command()
@click.argument("name")
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Directory in which the project directory NAME is created.",
)
@click.option("--port", type=int, default=8000, show_default=True, help="Port the service listens on.")
@click.option(
    "--python-version",
    default="3.12",
    show_default=True,
    help="Python of the default base image (python:VERSION-slim).",
)
@click.option("--force", is_flag=True, help="Render over an existing NAME directory (other files are kept).")
@click.option("--interactive", is_flag=True, help="Prompt for every template variable.")
@json_option
def new(
    name: str,
    output_dir: Path,
    port: int,
    python_version: str,
    force: bool,
    interactive: bool,
    as_json: bool,
) -> None:
    """Create the service project NAME: a FastAPI app with health, readiness and Prometheus
    metrics, a Dockerfile, compose.yaml and its own tests.

    NAME must be a DNS-1123 label: lowercase letters, digits and '-', starting with a letter,
    at most 63 characters.
    """
    if interactive and as_json:
        # cookiecutter prompts on stdout, which --json reserves for the one JSON document.
        raise UsageError("--interactive and --json cannot be combined: the prompts would corrupt the JSON")
    target = render_service(
        name,
        output_dir,
        port=port,
        python_version=python_version,
        force=force,
        interactive=interactive,
    )
    record = read_answers(target)
    answers = record["answers"]
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    service = answers["service_name"]
    if as_json:
        emit_json(
            "new",
            {
                "path": str(target.resolve()),
                "service_name": service,
                "package": answers["__package_name"],
                "port": int(answers["port"]),
                "python_version": answers["python_version"],
                "template_version": record["template_version"],
                "files": files,
            },
        )
        return
    click.echo(str(target))
    info(
        f"created {service} ({len(files)} files). Next:\n"
        f"  cd {target}\n"
        f"  docker compose up --build --wait\n"
        f'  curl "http://$(docker compose port {service} {answers["port"]})/items/1"\n'
        f"  docker compose down --volumes"
    )
