"""The click layer: parses arguments, calls the library, maps exceptions to exit codes.

Nothing below this package exits or prints a traceback. Commands are registered by name in
``COMMANDS`` and imported only when invoked, so ``toolkit new`` does not pay for importing
the Kubernetes client or the analysis engine.

Exit codes: 0 success; 1 the job failed (``OperationError``); 2 bad input (``UsageError``,
and click's own usage errors); 130 interrupted.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from toolkit._errors import ToolkitError
from toolkit._version import __version__

# name -> "module:attribute". The one place commands are registered.
COMMANDS: dict[str, str] = {
    "split": "toolkit.cli._split:split",
    "verify": "toolkit.cli._split:verify",
    "new": "toolkit.cli._new:new",
    "analyze": "toolkit.cli._analyze:analyze",
    "autoscale": "toolkit.cli._autoscale:autoscale",
    "simulate": "toolkit.cli._simulate:simulate",
    "loadtest": "toolkit.cli._loadtest:loadtest",
    "demo": "toolkit.cli._demo:demo",
    "build": "toolkit.cli._build:build",
    "up": "toolkit.cli._up:up",
    "down": "toolkit.cli._up:down",
    "deploy": "toolkit.cli._deploy:deploy",
}


class _LazyGroup(click.Group):
    """A group that imports each command's module only when that command is used, and
    reports every error, click's own usage errors included, as one line on stderr."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as err:
            if type(err).__name__ == "NoArgsIsHelpError" and err.ctx is not None:
                click.echo(err.ctx.get_help())  # bare ``toolkit``: the help, not an error
                sys.exit(0)
            where = err.ctx.command_path if err.ctx is not None else "toolkit"
            click.echo(f"error: {_one_line(err.format_message())} (see '{where} --help')", err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"error: {_one_line(err.format_message())}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ToolkitError as err:
            click.echo(f"error: {_one_line(str(err))}", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _one_line(message: str) -> str:
    """Errors are one line on stderr: join a multi-line message with '; '."""
    parts = [p.strip() for p in message.strip().splitlines() if p.strip()]
    return "; ".join(parts) if parts else "unknown error"


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="toolkit")
def main() -> None:
    """Take a Python monolith to containerized microservices that scale with traffic.

    \b
    toolkit new NAME          scaffold a containerized microservice
    toolkit analyze PATH      propose service boundaries for a monolith
    toolkit split PATH        generate the services, a gateway and a compose stack
    toolkit verify M STACK    compare the monolith's and the stack's answers
    toolkit autoscale         run the scaling controller
    toolkit simulate          replay a traffic trace against scaling policies
    toolkit loadtest          replay a trace as real HTTP load, beside the simulation
    toolkit build | up | down build images, run isolated environments
    toolkit deploy            Docker Swarm stacks and Kubernetes manifests
    toolkit demo              run the whole journey on the bundled example

    Errors: one line on stderr; exit 2 for bad input, 1 when the job fails.
    """


def run() -> None:  # pragma: no cover - thin wrapper for ``python -m toolkit``
    main(prog_name="toolkit")
    sys.exit(0)
