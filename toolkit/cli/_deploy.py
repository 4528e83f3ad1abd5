"""``toolkit deploy``: take a stack beyond one machine (Docker Swarm, Kubernetes)."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli._output import emit_json, info, json_option
from toolkit.deploy._images import check_registry, check_tag, parse_build_args

_stack_arg = click.argument("stack_dir", type=click.Path(path_type=Path), default=".")
_registry_opt = click.option(
    "--registry", metavar="REGISTRY", help="Push images to REGISTRY (host[:port]) and reference them there."
)
_tag_opt = click.option("--tag", help="Image tag for every service instead of the computed version tags.")
_policy_opt = click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Scaling policy (scaling.yaml): initial replicas from min_replicas.",
)


@click.group()
def deploy() -> None:
    """Deploy a stack to Docker Swarm or write Kubernetes manifests for it."""


@deploy.command()
@_stack_arg
@_registry_opt
@_tag_opt
@_policy_opt
@click.option("--name", help="Stack name (default: the compose project name).")
@click.option("--port", type=int, help="Published port of the gateway (default: the one in compose.yaml).")
@click.option(
    "--routing",
    type=click.Choice(["host", "mesh"]),
    default="host",
    show_default=True,
    help="host: gateway port on its node, DNS round robin; mesh: Swarm routing mesh (needs IPVS).",
)
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE", help="Docker build argument.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Where to write the stack file.")
@click.option("--no-build", is_flag=True, help="Use images already built (and pushed) by `toolkit build`.")
@click.option("--no-apply", is_flag=True, help="Write the stack file only; do not deploy.")
@click.option(
    "--timeout", "timeout_s", type=float, default=300, show_default=True, help="Seconds to converge."
)
@json_option
def swarm(
    stack_dir: Path,
    registry: str | None,
    tag: str | None,
    policy_file: Path | None,
    name: str | None,
    port: int | None,
    routing: str,
    build_args: tuple[str, ...],
    out: Path | None,
    no_build: bool,
    no_apply: bool,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Build the images of STACK_DIR, write a Swarm stack file and `docker stack deploy` it.

    Waits until every service runs healthy. Deploying again rolls only the services whose
    image tag changed (start-first, rolled back automatically on failure).
    """
    from toolkit.deploy._swarm import deploy_swarm

    args = parse_build_args(build_args)
    if registry:
        check_registry(registry)
    if tag:
        check_tag(tag)
    info("building images and writing the stack file", quiet=as_json)
    result = deploy_swarm(
        stack_dir,
        name=name,
        registry=registry,
        tag=tag,
        build_args=args,
        port=port,
        routing=routing,
        policy_file=policy_file,
        out=out,
        build=not no_build,
        apply=not no_apply,
        timeout_s=timeout_s,
    )
    if as_json:
        emit_json("deploy swarm", result.to_json())
        return
    click.echo(f"stack file: {result.stack_file}")
    for service, state in sorted(result.services.items()):
        click.echo(f"{service:<30} {state['running']}/{state['desired']}")
    if result.deployed:
        click.echo(f"stack {result.name} is up" + (f": {result.url}" if result.url else ""))
        click.echo(f"replicas are reachable from this host for scraping on network {result.scrape_network}")


@deploy.command("swarm-rm")
@click.argument("name")
@click.option("--volumes", is_flag=True, help="Also remove the stack's named volumes (their data is lost).")
@json_option
def swarm_rm(name: str, volumes: bool, as_json: bool) -> None:
    """Remove the Swarm stack NAME and wait until its tasks and network are gone."""
    from toolkit.deploy._swarm import remove

    remove(name, volumes=volumes)
    if as_json:
        emit_json("deploy swarm-rm", {"name": name, "removed": True, "volumes_removed": volumes})
        return
    click.echo(f"stack {name} removed")


@deploy.command()
@_stack_arg
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Output directory.",
)
@_registry_opt
@_tag_opt
@_policy_opt
@click.option(
    "--hpa", is_flag=True, help="Also write HorizontalPodAutoscaler v2 objects equivalent to the policy."
)
@click.option("--keda", is_flag=True, help="Also write KEDA ScaledObjects equivalent to the policy.")
@click.option(
    "--env", "envs", multiple=True, metavar="NAME", help="Overlay per environment (default: dev, prod)."
)
@click.option(
    "--autoscaler-image", help="Image with toolkit installed (default: [REGISTRY/]toolkit:VERSION)."
)
@click.option(
    "--prometheus-url",
    default="http://prometheus.monitoring.svc:9090",
    show_default=True,
    help="Prometheus for KEDA triggers.",
)
@click.option("--ingress-class", default="nginx", show_default=True, help="ingressClassName of the Ingress.")
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="KEY=VALUE", help="As given to toolkit build."
)
@click.option("--force", is_flag=True, help="Replace a non-empty output directory.")
@json_option
def k8s(
    stack_dir: Path,
    out_dir: Path,
    registry: str | None,
    tag: str | None,
    policy_file: Path | None,
    hpa: bool,
    keda: bool,
    envs: tuple[str, ...],
    autoscaler_image: str | None,
    prometheus_url: str,
    ingress_class: str,
    build_args: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Write Kubernetes manifests for STACK_DIR to --out DIR (kustomize: base/ and overlays/ENV/).

    Images are referenced by the version tags `toolkit build --push REGISTRY` pushes. Apply
    with `kubectl apply -k DIR/overlays/ENV`.
    """
    from toolkit.deploy._envs import check_env_name
    from toolkit.deploy._k8s import DEFAULT_ENVS, deploy_k8s

    if registry:
        check_registry(registry)
    if tag:
        check_tag(tag)
    for env in envs:
        check_env_name(env)
    result = deploy_k8s(
        stack_dir,
        out_dir,
        registry=registry,
        tag=tag,
        build_args=parse_build_args(build_args),
        policy_file=policy_file,
        hpa=hpa,
        keda=keda,
        autoscaler_image=autoscaler_image,
        prometheus_url=prometheus_url,
        ingress_class=ingress_class,
        envs=envs or DEFAULT_ENVS,
        force=force,
    )
    if as_json:
        emit_json("deploy k8s", result.to_json())
        return
    for warning in result.warnings:
        info(f"warning: {warning}")
    for path in result.files:
        click.echo(str(path))
    click.echo(f"apply with: kubectl apply -k {out_dir}/overlays/{(envs or DEFAULT_ENVS)[0]}")
