"""The demo's stages, in the order a team meets them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx

from toolkit import _docker
from toolkit.demo._context import DemoContext, StageResult
from toolkit.metrics._readings import parse_reading
from toolkit.scaffold import read_answers, render_service

DEMO_SERVICE = "demo-svc"
SCALED_REPLICAS = 3


def _requests_on(metrics_text: str, route: str) -> float:
    """Sum of ``http_requests_total`` over the series of one route template."""
    reading = parse_reading(metrics_text)
    return sum(value for labels, value in reading.requests.items() if ("route", route) in labels)


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
            _docker.compose_down([compose_file], project, env=env)
            ctx.say(f"removed project {project} (containers, network, volumes)")
    return result


Stage = Callable[[DemoContext], StageResult]

STAGES: dict[str, Stage] = {
    "service": stage_service,
}


def run_demo(ctx: DemoContext, stages: Sequence[str] | None = None) -> list[StageResult]:
    """Run the named stages (all, in order, by default) and return their results."""
    chosen = list(stages) if stages else list(STAGES)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for name in chosen:
        ctx.say(f"== {name} ==")
        results.append(STAGES[name](ctx))
    return results
