"""``toolkit build``: build every service image of a stack with a version tag, optionally push."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli._output import emit_json, info, json_option
from toolkit.deploy._images import build_stack, check_registry, check_tag, parse_build_args
from toolkit.deploy._stack import load_stack


@click.command()
@click.argument("stack_dir", type=click.Path(path_type=Path), default=".")
@click.option(
    "--push", "registry", metavar="REGISTRY", help="Tag as REGISTRY/<project>-<service> and push there."
)
@click.option("--tag", help="Use this tag for every image instead of the computed version tag.")
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Docker build argument (repeatable).",
)
@json_option
def build(
    stack_dir: Path, registry: str | None, tag: str | None, build_args: tuple[str, ...], as_json: bool
) -> None:
    """Build the image of every service of STACK_DIR (default: .) with a version tag.

    The tag is the template version (when recorded) plus the last git commit of the service's
    directory, or a hash of its files when it is not committed; unchanged services keep their tag.
    """
    args = parse_build_args(build_args)
    if registry is not None:
        check_registry(registry)
    if tag is not None:
        check_tag(tag)
    stack = load_stack(stack_dir)
    info(f"building {len(stack.built_services)} image(s) of {stack.project}", quiet=as_json)
    images = build_stack(stack, registry=registry, tag=tag, build_args=args, push=registry is not None)
    if as_json:
        emit_json(
            "build",
            {
                "project": stack.project,
                "registry": registry,
                "images": [
                    {"service": i.service, "ref": i.ref, "tag": i.tag, "pushed": i.pushed, "digest": i.digest}
                    for i in images
                ],
            },
        )
        return
    for image in images:
        pushed = f"  pushed {image.digest or ''}".rstrip() if image.pushed else ""
        click.echo(f"{image.service:<20} {image.ref}{pushed}")
