"""``toolkit loadtest``: replay a slice of a trace as real HTTP load, report like simulate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from toolkit._errors import UsageError
from toolkit.cli._output import emit_json, info, json_option
from toolkit.cli._simulate import (
    MODEL_FLAGS,
    model_options,
    policy_names,
    print_report,
    read_model,
    read_trace,
    service_policy,
    trace_options,
)
from toolkit.simulate import Comparison
from toolkit.simulate._compare import check_names, compare
from toolkit.simulate._loadtest import MEASURED, backend_reader, check_load, run_load
from toolkit.simulate._policies import resolve_all


@click.command()
@trace_options
@click.option("--target", required=True, help="URL to send the load to (loopback only, e.g. the gateway).")
@click.option(
    "--max-rps", type=float, required=True, help="Rescale the slice so its busiest second has this rate."
)
@click.option("--timeout-s", type=float, default=10.0, show_default=True, help="Per-request timeout.")
@click.option(
    "--max-inflight", type=int, default=512, show_default=True, help="Requests outstanding at most."
)
@click.option(
    "--backend",
    "backend_name",
    type=click.Choice(["compose", "swarm"]),
    help="Read the replica count of --scale-service from this backend during the run.",
)
@click.option("--project", help="Compose project of --scale-service (compose backend).")
@click.option("--scale-service", help="The service whose replica count is recorded.")
@click.option("--sample-s", type=float, default=1.0, show_default=True, help="Seconds between replica reads.")
@click.option(
    "--simulate",
    "simulate_names",
    default="",
    help="Also simulate these policies (comma-separated) on the same slice, for the gap.",
)
@click.option(
    "--generator",
    type=click.Choice(["hey", "httpx"]),
    default="hey",
    show_default=True,
    help="Load generator: hey (Go, fast) or httpx (in-process, open loop, tens of rps).",
)
@click.option("--static-replicas", type=int, help="Replica count of a simulated static policy.")
@model_options
@json_option
def loadtest(
    trace_path: Path | None,
    time_scale: float,
    peak_rps: float | None,
    start_s: int,
    duration_s: int | None,
    poisson_seed: int | None,
    target: str,
    max_rps: float,
    timeout_s: float,
    max_inflight: int,
    backend_name: str | None,
    project: str | None,
    scale_service: str | None,
    sample_s: float,
    simulate_names: str,
    generator: str,
    static_replicas: int | None,
    policy_path: Path | None,
    service: str | None,
    model_path: Path | None,
    target_utilisation: float,
    as_json: bool,
    **model_flags: Any,
) -> None:
    """Replay a compressed slice of a trace as HTTP load against a running stack.

    The slice (--start-s, --duration-s, after --time-scale) is rescaled to peak at
    --max-rps and sent open-loop to --target (loopback only). Latency percentiles, errors
    and, with --backend, the replica count over time are reported in the same table as
    `toolkit simulate`; --simulate puts simulated policies beside the measured run, with
    their ratio to it (the gap).
    """
    if trace_path is None:
        raise UsageError("--trace FILE is required")
    if duration_s is None:
        raise UsageError("--duration-s is required: a load test is bounded in time")
    if peak_rps is not None:
        raise UsageError("use --max-rps to set the load level of a load test")
    if (backend_name is None) != (scale_service is None):
        raise UsageError("--backend and --scale-service go together")
    names = policy_names(simulate_names)
    check_names([MEASURED, *names])
    trace = read_trace(
        trace_path,
        None,
        time_scale=time_scale,
        peak_rps=max_rps,
        start_s=start_s,
        duration_s=duration_s,
        poisson_seed=poisson_seed,
    )
    model = read_model(model_path, {k: model_flags[k] for k in MODEL_FLAGS})
    base = service_policy(policy_path, service)
    check_load(trace, target, max_inflight)
    # resolved before any load is sent, so a policy that cannot be simulated fails at once
    policies = resolve_all(
        names,
        trace,
        model,
        base=base,
        static_replicas=static_replicas,
        target_utilisation=target_utilisation,
    )
    reader = None
    if backend_name is not None and scale_service is not None:
        reader = backend_reader(backend_name, project, scale_service)
    info(
        f"sending {trace.total_requests:,.0f} requests over {trace.duration_s} s "
        f"(peak {trace.peak_rps:,.0f} rps) to {target}",
        quiet=as_json,
    )
    report = run_load(
        trace,
        target,
        model,
        timeout_s=timeout_s,
        max_inflight=max_inflight,
        read_replicas=reader,
        sample_s=sample_s,
    )
    simulated = compare(trace, policies, model).results if policies else ()
    comparison = Comparison(trace=trace, model=model, results=(report.result, *simulated), baseline=MEASURED)
    if as_json:
        emit_json(
            "loadtest",
            {
                **comparison.as_dict(),
                "target": target,
                "latency_s": report.latency_s,
                "status_counts": report.status_counts,
                "unsent": report.unsent,
                "replicas_measured": report.replicas_measured,
            },
        )
        return
    print_report(comparison, "toolkit loadtest")
    latency = report.latency_s
    shown = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in latency.items() if v is not None) or "no responses"
    click.echo("")
    click.echo(f"measured latency: {shown}")
    click.echo("responses: " + ", ".join(f"{k}: {v:,d}" for k, v in report.status_counts.items()))
    if not report.replicas_measured:
        click.echo(
            "replica figures of the measured run are 0: pass --backend and --scale-service to record them"
        )
