"""The demo's stages, in the order a team meets them."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np

from toolkit import _docker
from toolkit._errors import DockerError
from toolkit.demo._context import DemoContext, StageResult, example_shop, find_trace
from toolkit.metrics._readings import parse_reading
from toolkit.scaffold import read_answers, render_service

if TYPE_CHECKING:
    from toolkit.simulate._loadtest import LoadReport

DEMO_SERVICE = "demo-svc"
SCALED_REPLICAS = 3
DEMO_STACK = "tkt-demo-shop"


def _requests_on(metrics_text: str, route: str) -> float:
    """Sum of ``http_requests_total`` over the series of one route template."""
    reading = parse_reading(metrics_text)
    return sum(value for labels, value in reading.requests.items() if ("route", route) in labels)


def _remove(ctx: DemoContext, files: list[Path], project: str, env: dict[str, str]) -> None:
    """Take a project down; a failure here is reported, never raised over the error that
    may have brought us here."""
    try:
        _docker.compose_down(files, project, env=env)
        ctx.say(f"removed project {project} (containers, network, volumes)")
    except DockerError as err:
        ctx.say(f"could not remove project {project}: {err}")


def stage_service(ctx: DemoContext) -> StageResult:
    """``toolkit new``, then build, start, probe, scale to three and remove the service."""
    target = render_service(DEMO_SERVICE, ctx.workdir, force=True)
    port = int(read_answers(target)["answers"]["port"])
    compose_file = target / "compose.yaml"
    project = f"tkt-demo-{DEMO_SERVICE}"
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    ctx.say(f"generated {target} ({len(files)} files: app, Dockerfile, compose.yaml, tests)")
    result = StageResult("service", ran_docker=ctx.docker, facts={"path": str(target), "files": len(files)})
    env = {"BASE_IMAGE": ctx.base_image}
    if not ctx.docker:
        result.would_run = [
            f"BASE_IMAGE={ctx.base_image} docker compose -f {compose_file} -p {project} up --build --wait",
            f"curl http://$(docker compose -p {project} port {DEMO_SERVICE} {port})/healthz",
            f"docker compose -f {compose_file} -p {project} up --wait "
            f"--scale {DEMO_SERVICE}={SCALED_REPLICAS}",
            f"docker compose -p {project} down --volumes",
        ]
        return result
    try:
        ctx.say(f"building the image on {ctx.base_image} and starting it (docker compose up --build --wait)")
        started = time.monotonic()
        _docker.compose_up([compose_file], project, build=True, env=env)
        result.facts["build_and_start_s"] = round(time.monotonic() - started, 1)
        address = _docker.compose([compose_file], project, ["port", DEMO_SERVICE, str(port)], env=env)
        base_url = "http://" + address.stdout.strip()
        with httpx.Client(base_url=base_url, timeout=10.0) as client:
            health = client.get("/healthz")
            ctx.say(f"GET {base_url}/healthz -> {health.status_code} {health.text.strip()}")
            for item in range(1, 6):
                client.get(f"/items/{item}").raise_for_status()
            counted = _requests_on(client.get("/metrics").text, "/items/{item_id}")
            ctx.say(
                f"5 requests to /items/{{item_id}}: "
                f'http_requests_total{{route="/items/{{item_id}}"}} = {counted:g}'
            )
        result.facts.update(healthz_status=health.status_code, example_route_requests_counted=counted)
        ctx.say(f"scaling to {SCALED_REPLICAS} replicas (docker compose up --scale, waits for healthy)")
        _docker.compose_up([compose_file], project, scale={DEMO_SERVICE: SCALED_REPLICAS}, env=env)
        healthy = [
            c
            for c in _docker.compose_ps([compose_file], project, DEMO_SERVICE)
            if c.get("Health") == "healthy"
        ]
        ctx.say(f"{len(healthy)} healthy replicas: {', '.join(sorted(str(c.get('Name')) for c in healthy))}")
        result.facts["healthy_replicas"] = len(healthy)
    finally:
        if not ctx.keep:
            _remove(ctx, [compose_file], project, env)
    return result


def _order_through(client: httpx.Client) -> dict[str, object]:
    """One customer journey through the gateway: product, user, cart, order, payment.

    It crosses every service of the split shop (orders calls catalog, cart and payments
    over HTTP), so an answer here shows the generated remote calls work.
    """
    tag = uuid.uuid4().hex[:8]
    product = client.post(
        "/catalog/products",
        json={
            "sku": f"demo-{tag}",
            "name": "Demo widget",
            "price_cents": 1250,
            "currency": "EUR",
            "stock": 5,
        },
    )
    product.raise_for_status()
    user = client.post("/users", json={"email": f"demo-{tag}@example.com", "name": "Demo"})
    user.raise_for_status()
    user_id, product_id = user.json()["id"], product.json()["id"]
    client.post(f"/carts/{user_id}/items", json={"product_id": product_id, "quantity": 2}).raise_for_status()
    order = client.post("/orders", json={"user_id": user_id})
    order.raise_for_status()
    body: dict[str, object] = order.json()
    payment = client.get(f"/payments/{body['payment_id']}")
    payment.raise_for_status()
    stock = client.get(f"/catalog/products/{product_id}").json()["stock"]
    return {
        "order_status": body["status"],
        "total_cents": body["total_cents"],
        "payment_status": payment.json()["status"],
        "stock_left": stock,
    }


def stage_split(ctx: DemoContext) -> StageResult:
    """``toolkit analyze`` and ``toolkit split`` on the example shop, then run the stack."""
    from toolkit.analyze import analyze
    from toolkit.split import split, stack_down, stack_up

    shop = example_shop()
    analysis = analyze(shop)
    plan_metrics, naive_metrics = analysis.metrics["plan"], analysis.metrics["naive"]
    services = sorted(svc.name for svc in analysis.plan.services)
    ctx.say(
        f"analyzed {shop}: {analysis.lines} lines, {len(analysis.program.routes)} routes -> "
        f"services {', '.join(services)}"
    )
    ctx.say(
        f"  ICP {plan_metrics.icp:.3f} (naive split {naive_metrics.icp:.3f}), "
        f"table entropy {plan_metrics.table_entropy:.3f}, "
        f"cross-service call sites {plan_metrics.cross_service_calls}"
    )
    out = ctx.workdir / "shop-split"
    result = split(shop, out, plan=analysis.plan, force=True)
    ctx.say(f"split into {out}: {len(result.services)} services, gateway, database: {result.files} files")
    stage = StageResult(
        "split",
        ran_docker=ctx.docker,
        facts={
            "services": services,
            "icp": plan_metrics.icp,
            "naive_icp": naive_metrics.icp,
            "table_entropy": plan_metrics.table_entropy,
            "out": str(out),
        },
    )
    if not ctx.docker:
        stage.would_run = [
            f"BASE_IMAGE={ctx.base_image} docker compose -f {out / 'compose.yaml'} up --build --wait",
            "a customer journey through the gateway: product, user, cart, order, payment",
        ]
        return stage
    ctx.say("building and starting the stack (one image per service, nginx gateway, PostgreSQL)")
    started = time.monotonic()
    stack = stack_up(out, project=DEMO_STACK, base_image=ctx.base_image)
    stage.facts["build_and_start_s"] = round(time.monotonic() - started, 1)
    ctx.stack = stack
    ctx.say(f"gateway at {stack.gateway_url}")
    try:
        with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as client:
            journey = _order_through(client)
        ctx.say(
            f"order through the gateway: {journey['order_status']}, total {journey['total_cents']} cents, "
            f"payment {journey['payment_status']}, stock left {journey['stock_left']}"
        )
        stage.facts["journey"] = journey
    except BaseException:
        stack_down(stack)
        ctx.stack = None
        raise
    if "autoscale" not in ctx.next_stages and not ctx.keep:
        stack_down(stack)
        ctx.stack = None
        ctx.say(f"removed project {stack.project}")
    return stage


# The autoscale stage's policy: toolkit's own algorithm on requests per second per replica,
# with a short scale-down window so the way back down fits in a demo.
DEMO_SCALED_SERVICE = "catalog"
DEMO_POLICY: dict[str, object] = {
    "version": 1,
    "services": {
        DEMO_SCALED_SERVICE: {
            "algorithm": "toolkit",
            "metric": "rps_per_replica",
            "target": 5,
            "min_replicas": 1,
            "max_replicas": 4,
            "period_s": 3,
            "scale_down": {
                "stabilization_window_s": 15,
                "policies": [{"type": "percent", "value": 100, "period_s": 3}],
            },
        }
    },
}
LOAD_RPS = 20.0
LOAD_S = 45.0
SETTLE_TIMEOUT_S = 120.0


def _drive_load(url: str, reports: list[LoadReport]) -> None:
    """``LOAD_RPS`` requests per second for ``LOAD_S`` seconds, open loop, through the
    loadtest generator (``hey`` when installed, else httpx in this process)."""
    from toolkit.simulate import ServiceModel, Trace
    from toolkit.simulate._loadtest import run_load

    trace = Trace(np.full(int(LOAD_S), LOAD_RPS), source="demo constant load")
    generator = "hey" if shutil.which("hey") else "httpx"
    reports.append(run_load(trace, url, ServiceModel(), generator=generator))


def stage_autoscale(ctx: DemoContext) -> StageResult:
    """Run the controller on the split shop, load one service, watch it scale up and down."""
    stage = StageResult("autoscale", ran_docker=ctx.docker, facts={"service": DEMO_SCALED_SERVICE})
    if not ctx.docker:
        stage.would_run = [
            f"toolkit autoscale --backend compose -p {DEMO_STACK} --policy scaling.yaml",
            f"{LOAD_RPS:g} requests/s at /catalog/products for {LOAD_S:g} s: {DEMO_SCALED_SERVICE} scales "
            "from 1 to 4 replicas, then back to 1 when the load stops",
            "toolkit simulate shows the same decisions offline (next stage)",
        ]
        return stage
    from toolkit.backends import BackendOptions, make_backend
    from toolkit.metrics import make_source
    from toolkit.scale import parse_policy
    from toolkit.scale.controller import Controller, TickReport

    if ctx.stack is None:
        stage_split(ctx)
    assert ctx.stack is not None
    stack = ctx.stack
    backend = make_backend("compose", BackendOptions(project=stack.project))
    controller = Controller(
        backend, make_source("scrape"), parse_policy(DEMO_POLICY, file="demo policy"), log=lambda _: None
    )
    started = time.monotonic()
    history: list[tuple[float, int]] = []

    def show(report: TickReport) -> None:
        for row in report.services:
            elapsed_s = time.monotonic() - started
            history.append((elapsed_s, row.desired))
            value = "-" if row.metric_value is None else f"{row.metric_value:5.1f}"
            ctx.say(
                f"  t={elapsed_s:5.1f}s {row.service}: {row.current} -> {row.desired} replicas "
                f"({value} rps/replica, {row.reason})"
            )

    stop = threading.Event()
    reports: list[LoadReport] = []
    loop = threading.Thread(target=controller.run, args=(stop,), kwargs={"on_tick": show}, daemon=True)
    load = threading.Thread(
        target=_drive_load,
        args=(f"{stack.gateway_url}/catalog/products", reports),
        daemon=True,
    )
    ctx.say(
        f"controller every {controller.period_s:g} s; "
        f"{LOAD_RPS:g} requests/s at /catalog/products for {LOAD_S:g} s"
    )
    loop.start()
    load.start()
    try:
        load.join()
        peak = max((n for _, n in history), default=1)
        statuses = reports[0].status_counts if reports else {}
        latency_s = reports[0].latency_s if reports else {}
        p95_s = latency_s.get("p95")
        ctx.say(
            f"load stopped: responses by status {statuses}, p95 latency "
            f"{'-' if p95_s is None else f'{p95_s * 1000:.0f} ms'}; waiting for the way back down"
        )
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline and (not history or history[-1][1] > 1):
            time.sleep(1.0)
    finally:
        stop.set()
        loop.join(timeout=30)
    stage.facts.update(
        peak_replicas=peak,
        final_replicas=history[-1][1] if history else None,
        responses_by_status=reports[0].status_counts if reports else {},
        latency_s=reports[0].latency_s if reports else {},
        seconds=round(time.monotonic() - started, 1),
    )
    return stage


def stage_simulate(ctx: DemoContext) -> StageResult:
    """Compare scaling policies on a day of real traffic (or a synthetic day) offline."""
    from toolkit.simulate import ServiceModel, compare, load_trace, synthetic_trace

    trace_file = find_trace()
    if trace_file is not None:
        trace = load_trace(trace_file, peak_rps=2000).window(46 * 86_400, 86_400)
        source = f"{trace_file.name}, day 47 (rescaled to a 2000 requests/s peak)"
    else:
        trace = synthetic_trace("daily", duration_s=86_400, base_rps=100, peak_rps=2000)
        source = "a synthetic day (no trace file found)"
    comparison = compare(trace, ("hpa", "kpa", "static", "toolkit"), ServiceModel())
    ctx.say(f"simulated {source}:")
    for line in comparison.table().splitlines():
        ctx.say(f"  {line}")
    return StageResult("simulate", ran_docker=False, facts={"trace": source, **comparison.as_dict()})


Stage = Callable[[DemoContext], StageResult]

STAGES: dict[str, Stage] = {
    "service": stage_service,
    "split": stage_split,
    "autoscale": stage_autoscale,
    "simulate": stage_simulate,
}


def run_demo(ctx: DemoContext, stages: Sequence[str] | None = None) -> list[StageResult]:
    """Run the named stages (all, in order, by default) and return their results."""
    chosen = list(stages) if stages else list(STAGES)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for index, name in enumerate(chosen):
            ctx.next_stages = tuple(chosen[index + 1 :])
            ctx.say(f"== {name} ==")
            result = STAGES[name](ctx)
            for line in result.would_run:
                ctx.say(f"  would run: {line}")
            results.append(result)
    finally:
        if ctx.stack is not None and not ctx.keep:
            from toolkit.split import stack_down

            stack_down(ctx.stack)
            ctx.say(f"removed project {ctx.stack.project}")
            ctx.stack = None
    return results
