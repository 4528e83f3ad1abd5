"""``toolkit autoscale``: run the scaling controller against compose, swarm or kubernetes."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from toolkit.backends import BACKENDS, BackendOptions, make_backend
from toolkit.cli._output import emit_json, info, json_option
from toolkit.metrics import SOURCES, SourceOptions, make_source
from toolkit.scale import load_policy
from toolkit.scale._telemetry import TelemetryServer, parse_listen
from toolkit.scale.controller import Controller, TickReport


@click.command()
@click.option(
    "--backend",
    "backend_name",
    type=click.Choice(sorted(BACKENDS)),
    default="compose",
    show_default=True,
    help="Where the services run.",
)
@click.option("--project", "-p", help="Compose project name (compose backend).")
@click.option(
    "--stack",
    default=None,
    help="swarm: manage only this stack's services, named in the policy without the '<stack>_' prefix.",
)
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scaling policy YAML (schema: docs/policy.schema.json).",
)
@click.option(
    "--metrics",
    "metrics_name",
    type=click.Choice(sorted(SOURCES)),
    default="scrape",
    show_default=True,
    help="scrape: read every replica's /metrics directly; prometheus: query a Prometheus server.",
)
@click.option("--prometheus-url", default="http://127.0.0.1:9090", show_default=True)
@click.option(
    "--prometheus-selector",
    default="",
    help="Label matchers added to every query, e.g. 'project=\"shop\"'.",
)
@click.option(
    "--rate-window-s",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Prometheus rate() window (at least two scrape intervals).",
)
@click.option(
    "--period-s",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Decide every N seconds for every service (default: each service's policy period_s).",
)
@click.option("--namespace", default="default", show_default=True, help="Kubernetes namespace.")
@click.option(
    "--selector", default="", help="Label selector of the managed Deployments (k8s) or services (swarm)."
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Default: in-cluster, then ~/.kube/config.",
)
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535), default=None, help="Port replicas serve /metrics on."
)
@click.option(
    "--network",
    default=None,
    help="compose/swarm: scrape replicas at their address on this network (default: the first).",
)
@click.option(
    "--lock-dir", type=click.Path(file_okay=False), default=None, help="Where compose/swarm lock files live."
)
@click.option("--dry-run", is_flag=True, help="Decide and log, never change a replica count.")
@click.option("--once", is_flag=True, help="Run one tick, print it and exit.")
@click.option(
    "--listen",
    default="127.0.0.1:9108",
    show_default=True,
    help="HOST:PORT of the controller's /metrics and /healthz (not started with --once).",
)
@json_option
@click.pass_context
def autoscale(
    ctx: click.Context,
    backend_name: str,
    project: str | None,
    stack: str | None,
    policy_path: Path,
    metrics_name: str,
    prometheus_url: str,
    prometheus_selector: str,
    rate_window_s: float,
    period_s: float | None,
    namespace: str,
    selector: str,
    kubeconfig: str | None,
    metrics_port: int | None,
    network: str | None,
    lock_dir: str | None,
    dry_run: bool,
    once: bool,
    listen: str,
    as_json: bool,
) -> None:
    """Scale each service of the policy from its traffic, until stopped (SIGTERM or Ctrl-C).

    Every decision is one JSON line on stderr (service, current, desired, metric value,
    reason). Missing or stale metrics never scale down; backend errors are retried with
    backoff; a lock (compose/swarm) or Lease (kubernetes) keeps a second controller on standby.

    \b
    toolkit autoscale -p shop --policy scaling.yaml
    toolkit autoscale -p shop --policy scaling.yaml --metrics prometheus \\
        --prometheus-selector 'project="shop"'
    toolkit autoscale --backend swarm --policy scaling.yaml --once --dry-run --json
    toolkit autoscale --backend swarm --stack shop --network shop-host --policy scaling.yaml
    toolkit autoscale --backend kubernetes --namespace shop --policy scaling.yaml
    """
    if not once:
        parse_listen(listen)  # a bad --listen is a usage error before anything starts
    policy = load_policy(policy_path)
    backend = make_backend(
        backend_name,
        BackendOptions(
            project=project,
            stack=stack,
            namespace=namespace,
            label_selector=selector,
            kubeconfig=kubeconfig,
            lock_dir=lock_dir,
            metrics_port=metrics_port,
            network=network,
        ),
    )
    source = make_source(
        metrics_name,
        SourceOptions(
            prometheus_url=prometheus_url,
            prometheus_selector=prometheus_selector,
            rate_window_s=rate_window_s,
        ),
    )
    controller = Controller(backend, source, policy, dry_run=dry_run, period_override_s=period_s)
    header: dict[str, Any] = {
        "backend": backend_name,
        "metrics": metrics_name,
        "dry_run": dry_run,
        "period_s": controller.period_s,
        "services": sorted(policy.services),
    }
    if once:
        try:
            report = controller.tick()
        finally:
            controller.close()
        _print_report(report, header, as_json)
        if report.errors:
            ctx.exit(1)
        return
    last: list[TickReport] = []
    stop = threading.Event()
    server = TelemetryServer(controller.telemetry, controller.health, listen)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()  # the tick in progress completes; the loop stops before the next

    def remember(report: TickReport) -> None:
        last[:] = [report]

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    info(
        f"autoscaling {', '.join(header['services'])} on {backend_name} every {controller.period_s:g} s"
        f"{' (dry run)' if dry_run else ''}; controller metrics at http://{server.address}/metrics",
        quiet=as_json,
    )
    try:
        ticks = controller.run(stop, on_tick=remember)
    finally:
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    info(f"stopped after {ticks} ticks", quiet=as_json)
    if as_json:
        emit_json("autoscale", {**header, "ticks": ticks, "last_tick": last[0].as_dict() if last else None})


def _print_report(report: TickReport, header: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json("autoscale", {**header, "ticks": 1, "last_tick": report.as_dict()})
        return
    if not report.leader:
        click.echo("standby: another controller holds the lock")
    for s in report.services:
        value = "none" if s.metric_value is None else f"{s.metric_value:.3g}"
        action = "scaled" if s.acted else ("would scale" if s.desired != s.current else "kept")
        why = f"{s.reason}; {s.metric}={value}; ready {s.ready}"
        click.echo(f"{s.service}: {action} {s.current} -> {s.desired} ({why})")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
