"""``toolkit simulate``: replay a traffic trace against scaling policies, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from toolkit._errors import ConfigError, UsageError
from toolkit.cli._output import emit_json, info, json_option
from toolkit.scale import ServicePolicy, load_policy
from toolkit.simulate import (
    POLICY_NAMES,
    SHAPES,
    Comparison,
    ServiceModel,
    Trace,
    compare,
    load_trace,
    synthetic_trace,
)
from toolkit.simulate._compare import check_names
from toolkit.simulate._policies import resolve_all

# CLI flag -> ServiceModel field (flags override the --model file)
MODEL_FLAGS = (
    "capacity_rps",
    "service_time_s",
    "service_time_cv",
    "workers",
    "startup_s",
    "scrape_interval_s",
    "rate_window_s",
    "slo_s",
    "slo_quantile",
    "slo_kind",
    "queue_limit",
    "initial_replicas",
)


def trace_options(func: Any) -> Any:
    """The trace options, shared with ``toolkit loadtest``."""
    for option in reversed(
        (
            click.option(
                "--trace",
                "trace_path",
                type=click.Path(dir_okay=False, path_type=Path),
                help="CSV with a timestamp and a count column, or one per-second count per line.",
            ),
            click.option(
                "--time-scale",
                type=float,
                default=1.0,
                show_default=True,
                help="Speed-up: 60 plays an hour of trace in a minute (requests are kept).",
            ),
            click.option(
                "--peak-rps", type=float, help="Rescale the load so its busiest second has this rate."
            ),
            click.option(
                "--start-s", type=int, default=0, show_default=True, help="Skip this much of the trace."
            ),
            click.option("--duration-s", type=int, help="Use only this much of the trace (after --start-s)."),
            click.option("--poisson-seed", type=int, help="Draw each second from a Poisson law (seeded)."),
        )
    ):
        func = option(func)
    return func


def model_options(func: Any) -> Any:
    """The policy-file and service-model options, shared with ``toolkit loadtest``."""
    for option in reversed(
        (
            click.option(
                "--policy",
                "policy_path",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Scaling policy file; its service's metric, target and bounds are used by every policy.",
            ),
            click.option("--service", help="The service of --policy to simulate (needed if it has several)."),
            click.option(
                "--model",
                "model_path",
                type=click.Path(dir_okay=False, path_type=Path),
                help="YAML file of service-model settings (the flags below override it).",
            ),
            click.option(
                "--capacity-rps", type=float, help="Requests/s one replica serves at saturation [100]."
            ),
            click.option(
                "--service-time-s",
                type=float,
                help="Mean service time of a request (instead of --capacity-rps).",
            ),
            click.option(
                "--service-time-cv",
                type=float,
                help="Service time's std / mean: 1 exponential [1], 0 all alike, else lognormal.",
            ),
            click.option("--workers", type=int, help="Requests one replica serves at once [4]."),
            click.option("--startup-s", type=float, help="Seconds from scale-up to a ready replica [30]."),
            click.option(
                "--scrape-interval-s", type=float, help="Metrics scrape interval [the controller period]."
            ),
            click.option(
                "--rate-window-s", type=float, help="Rate window of the metric [the controller period]."
            ),
            click.option("--slo-s", type=float, help="Latency (or queueing delay) SLO in seconds [0.5]."),
            click.option(
                "--slo-quantile",
                type=float,
                help="Share of each second's requests that must meet the SLO [0.95].",
            ),
            click.option(
                "--slo-kind",
                type=click.Choice(["latency", "queueing"]),
                help="What the SLO bounds [latency].",
            ),
            click.option(
                "--queue-limit", type=int, help="Requests queued per replica before dropping [100]."
            ),
            click.option(
                "--initial-replicas", type=int, help="Replicas ready at t=0 for the scaling policies."
            ),
            click.option(
                "--target-utilisation",
                type=float,
                default=0.7,
                show_default=True,
                help="Without --policy: the per-replica target as a share of capacity.",
            ),
        )
    ):
        func = option(func)
    return func


def read_trace(
    trace_path: Path | None,
    synthetic: str | None,
    *,
    time_scale: float,
    peak_rps: float | None,
    start_s: int,
    duration_s: int | None,
    poisson_seed: int | None,
    base_rps: float | None = None,
) -> Trace:
    """The trace the options describe (a file, or a synthetic shape), windowed and scaled."""
    if (trace_path is None) == (synthetic is None):
        raise UsageError("give exactly one of --trace FILE or --synthetic SHAPE")
    if synthetic is not None:
        if time_scale != 1.0:
            raise UsageError("--time-scale applies to --trace files; set --duration-s for a synthetic shape")
        peak = peak_rps if peak_rps is not None else 1000.0
        base = base_rps if base_rps is not None else peak / 10.0
        trace = synthetic_trace(
            synthetic, duration_s=duration_s, base_rps=base, peak_rps=peak, seed=poisson_seed or 1
        )
        return trace.window(start_s) if start_s else trace
    assert trace_path is not None
    trace = load_trace(trace_path, time_scale=time_scale)
    if start_s or duration_s is not None:
        trace = trace.window(start_s, duration_s)
    if peak_rps is not None:
        trace = trace.rescaled(peak_rps)
    if poisson_seed is not None:
        trace = trace.with_poisson(poisson_seed)
    return trace


def read_model(model_path: Path | None, flags: dict[str, Any]) -> ServiceModel:
    """The service model: the --model file's settings, overridden by the flags given."""
    values: dict[str, Any] = {}
    file = str(model_path) if model_path is not None else None
    if model_path is not None:
        try:
            document = yaml.safe_load(model_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("model file not found", file=file) from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read model file: {_first_line(err)}", file=file) from None
        if isinstance(document, dict) and set(document) == {"model"}:
            document = document["model"]
        if not isinstance(document, dict):
            raise ConfigError("a model file is a mapping of model settings", file=file)
        values.update(document)
    given = {name: value for name, value in flags.items() if value is not None}
    if "capacity_rps" in given:
        values.pop("service_time_s", None)
    if "service_time_s" in given:
        values.pop("capacity_rps", None)
    values.update(given)
    return ServiceModel.from_mapping(values, file=file)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def service_policy(policy_path: Path | None, service: str | None) -> ServicePolicy | None:
    """The policy-file service policy the comparison shares (None without a file)."""
    if policy_path is None:
        if service is not None:
            raise UsageError("--service needs --policy FILE")
        return None
    policy = load_policy(policy_path)
    if service is None:
        if len(policy.services) == 1:
            return next(iter(policy.services.values()))
        if policy.services:
            raise UsageError(
                f"{policy_path} has several services ({', '.join(sorted(policy.services))}); "
                "choose one with --service"
            )
        return policy.defaults
    if service not in policy.services:
        known = ", ".join(sorted(policy.services)) or "none"
        raise UsageError(f"{policy_path} has no service {service!r} (services: {known})")
    return policy.policy_for(service)


def policy_names(text: str) -> list[str]:
    """The policies of a comma-separated list, each one the simulator knows."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in POLICY_NAMES]
    if unknown:
        raise UsageError(f"unknown policy {unknown[0]!r}; choose from {', '.join(POLICY_NAMES)}")
    return names


def print_report(comparison: Comparison, title: str) -> None:
    model = comparison.model
    trace = comparison.trace
    click.echo(title)
    click.echo(
        f"trace {trace.source}: {trace.duration_s:,d} s, {trace.total_requests:,.0f} requests, "
        f"peak {trace.peak_rps:,.0f} rps, mean {trace.mean_rps:,.1f} rps"
    )
    click.echo(
        f"model: {model.capacity_rps:g} rps per replica ({model.workers} workers"
        + (f", service time cv {model.service_time_cv:g}" if model.service_time_cv != 1 else "")
        + "), "
        f"start-up {model.startup_s:g} s, SLO p{model.slo_quantile * 100:g} {model.slo_kind} "
        f"<= {model.slo_s:g} s, queue {model.queue_limit}/replica"
    )
    for result in comparison.results:
        click.echo(f"  {result.policy}: {result.description}")
    click.echo("")
    click.echo(comparison.table())


@click.command()
@trace_options
@click.option(
    "--synthetic", type=click.Choice(SHAPES), help="Generate a trace of this shape instead of --trace."
)
@click.option("--base-rps", type=float, help="Synthetic traces: the low level (default: peak / 10).")
@click.option(
    "--compare",
    "compare_names",
    default="hpa,kpa,static,toolkit",
    show_default=True,
    help="Comma-separated policies: hpa, kpa, toolkit, static.",
)
@model_options
@click.option("--static-replicas", type=int, help="Replica count of the static policy [sized for the peak].")
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG here."
)
@click.option("--force", is_flag=True, help="Overwrite the --plot file if it exists.")
@click.option("--jobs", type=int, help="Processes to run policies in [one per core].")
@json_option
def simulate(
    trace_path: Path | None,
    time_scale: float,
    peak_rps: float | None,
    start_s: int,
    duration_s: int | None,
    poisson_seed: int | None,
    synthetic: str | None,
    base_rps: float | None,
    compare_names: str,
    policy_path: Path | None,
    service: str | None,
    model_path: Path | None,
    target_utilisation: float,
    static_replicas: int | None,
    plot_path: Path | None,
    force: bool,
    jobs: int | None,
    as_json: bool,
    **model_flags: Any,
) -> None:
    """Replay a traffic trace against scaling policies and compare cost and SLO side by side.

    The policies are the controller's own decision code (hpa, kpa, toolkit) plus a static
    baseline; the service model (capacity, start-up delay, metrics delay, SLO) is explained
    in docs/commands/simulate.md.
    """
    names = policy_names(compare_names)
    check_names(names)
    trace = read_trace(
        trace_path,
        synthetic,
        time_scale=time_scale,
        peak_rps=peak_rps,
        start_s=start_s,
        duration_s=duration_s,
        poisson_seed=poisson_seed,
        base_rps=base_rps,
    )
    model = read_model(model_path, {k: model_flags[k] for k in MODEL_FLAGS})
    base = service_policy(policy_path, service)
    if plot_path is not None and plot_path.exists() and not force:
        raise UsageError(f"{plot_path} exists; pass --force to overwrite it")
    # resolved before the progress line, so a policy that cannot be simulated is the only output
    policies = resolve_all(
        names,
        trace,
        model,
        base=base,
        static_replicas=static_replicas,
        target_utilisation=target_utilisation,
    )
    info(f"simulating {', '.join(names)} over {trace.duration_s:,d} s of trace", quiet=as_json)
    comparison = compare(trace, policies, model, workers=jobs)
    if plot_path is not None:
        from toolkit.simulate._plot import plot_comparison

        plot_comparison(comparison, plot_path, force=force)
        info(f"plot written to {plot_path}", quiet=as_json)
    if as_json:
        emit_json("simulate", {**comparison.as_dict(), "plot": str(plot_path) if plot_path else None})
        return
    print_report(comparison, "toolkit simulate")
