"""``toolkit up`` / ``toolkit down``: run a stack as an isolated environment, and remove it."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli._output import emit_json, info, json_option
from toolkit.deploy._envs import down as env_down
from toolkit.deploy._envs import up as env_up
from toolkit.deploy._images import parse_build_args

_stack_arg = click.argument("stack_dir", type=click.Path(path_type=Path), default=".")
_env_opt = click.option(
    "--env", "env", required=True, metavar="NAME", help="Environment name (dev, test, staging...)."
)


@click.command()
@_stack_arg
@_env_opt
@click.option(
    "--port", type=int, help="Host port of the gateway (default: the recorded one, else a free one)."
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Docker build argument (repeatable).",
)
@click.option(
    "--timeout", "timeout_s", type=float, default=600, show_default=True, help="Seconds to wait for healthy."
)
@json_option
def up(
    stack_dir: Path, env: str, port: int | None, build_args: tuple[str, ...], timeout_s: float, as_json: bool
) -> None:
    """Build and start STACK_DIR (default: .) as the isolated environment NAME.

    The environment is the compose project <project>-<NAME> with its own network, volumes and
    gateway port; it waits until every service is healthy and prints the gateway URL.
    """
    args = parse_build_args(build_args)
    info(f"starting environment {env}", quiet=as_json)
    environment = env_up(stack_dir, env, port=port, build_args=args, timeout_s=timeout_s)
    if as_json:
        emit_json("up", environment.to_json())
        return
    click.echo(f"{environment.project} is up: {environment.url}")


@click.command()
@_stack_arg
@_env_opt
@json_option
def down(stack_dir: Path, env: str, as_json: bool) -> None:
    """Stop environment NAME of STACK_DIR (default: .) and remove its containers, networks and volumes."""
    result = env_down(stack_dir, env)
    if as_json:
        emit_json("down", result)
        return
    click.echo(f"{result['project']} removed")
