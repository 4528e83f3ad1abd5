"""SPLIT_REPORT.md: what went where, which calls became HTTP, and what could not be split."""

from __future__ import annotations

from collections.abc import Iterable

from toolkit.analyze.plan import Call
from toolkit.split._code import CodeIndex
from toolkit.split._layout import Layout, Route, SplitPlan
from toolkit.split._prune import Removed


def _cell(items: Iterable[str]) -> str:
    joined = ", ".join(f"`{i}`" for i in items)
    return joined or "-"


def report_markdown(
    *,
    source_name: str,
    spec: SplitPlan,
    layout: Layout,
    index: CodeIndex,
    pruned: dict[str, list[Removed]],
    shadowed: list[tuple[str, Route]],
    requirement_notes: tuple[str, ...],
    database: bool,
    calls: tuple[Call, ...],
) -> str:
    app_rel = index.modules[spec.app_module].rel_path
    lines = [
        f"# Split report: {source_name}",
        "",
        f"{len(spec.services)} services behind one nginx gateway"
        + (
            ", sharing one PostgreSQL server (each service creates and uses its own tables)"
            if database
            else ""
        )
        + ".",
        "",
        f"Every service runs the monolith's app `{spec.app}` with the other services' routers removed",
        "and their routes dropped, wrapped by the platform module every `toolkit new` service has.",
        "",
        "| service | routes | modules kept | tables | calls out over HTTP | functions served to others |",
        "|---|---|---|---|---|---|",
    ]
    for service in spec.services:
        svc = layout.services[service.name]
        lines.append(
            f"| {service.name} | {len(service.routes)} | {len(svc.local)} | {_cell(service.tables)} "
            f"| {_cell(sorted(svc.proxies))} | {_cell(f'{m}.{f}' for m, f in layout.exposed[service.name])} |"
        )
    lines += ["", "## Routes", ""]
    for service in spec.services:
        lines.append(f"### {service.name}")
        lines.append("")
        for route in sorted(service.routes, key=lambda r: (r.path, r.methods)):
            lines.append(f"- `{' '.join(route.methods)} {route.path}` -> `{route.handler}`")
        if not service.routes:
            lines.append("- (no routes: reached only by other services)")
        lines.append("")
    lines += _remote_section(spec, layout, index, calls)
    lines += _not_split_section(layout)
    lines += ["## The app module in each service", ""]
    lines.append(
        f"`{app_rel}` is copied into every service with the statements that reach other services "
        "replaced by `pass` (line numbers kept):"
    )
    lines.append("")
    for service in spec.services:
        removed = pruned.get(service.name, [])
        text = "; ".join(f"line {r.lineno} `{r.text}`" for r in removed) or "nothing removed"
        lines.append(f"- {service.name}: {text}")
    lines.append("")
    if shadowed:
        lines += ["## Routes answered by the platform", ""]
        for name, route in shadowed:
            lines.append(
                f"- `{route.path}` (`{route.handler}`, service {name}): the platform endpoint of the same "
                "path answers it in the split service"
                + ("; the gateway never exposes it." if route.path == "/metrics" else ".")
            )
        lines.append("")
    lines += [
        "## Things to know",
        "",
        "- A remote call runs in its own transaction in the callee: a caller that rolls back after",
        "  a remote call does not undo what the call did (the monolith shared one process, not one",
        "  transaction, so the shop's own code already commits per function).",
        "- Only connection failures are retried by the remote-call client; a call that timed out",
        "  after being sent is not retried (it may have run). The gateway retries only idempotent",
        "  requests on another replica.",
        "- Configuration is by environment: `DATABASE_URL`, `<PEER>_URL`, `TOOLKIT_REMOTE_TIMEOUT_S`.",
    ]
    lines += [f"- {note}" for note in requirement_notes]
    return "\n".join(lines) + "\n"


def _remote_section(spec: SplitPlan, layout: Layout, index: CodeIndex, calls: tuple[Call, ...]) -> list[str]:
    lines = ["## Remote calls generated", ""]
    rows: list[str] = []
    for service in spec.services:
        for module, proxy in sorted(layout.services[service.name].proxies.items()):
            for function in proxy.functions:
                symbol = f"{module}:{function.name}"
                sites = sorted(
                    {
                        s
                        for c in calls
                        if c.callee == symbol and c.from_service == service.name
                        for s in c.sites
                    }
                )
                where = f"{index.modules[module].rel_path}:{function.node.lineno}"
                rows.append(
                    f"| {service.name} | {proxy.peer} | `{module}.{function.name}` ({where}) "
                    f"| `POST /_internal/{module}/{function.name}` | {', '.join(sites) or '-'} |"
                )
    if rows:
        lines += [
            "Each function below keeps its signature in the caller (a proxy module replaces the callee's",
            "module there) and runs in its owner behind an internal endpoint.",
            "",
            "| caller | callee | function | endpoint | call sites (from the plan) |",
            "|---|---|---|---|---|",
            *rows,
        ]
    else:
        lines.append("None: no service calls a function of another one.")
    lines.append("")
    return lines


def _not_split_section(layout: Layout) -> list[str]:
    lines = ["## Not split (local copies kept)", ""]
    if not layout.findings:
        return [*lines, "Nothing: every cross-service call could be made remote.", ""]
    for finding in layout.findings:
        lines.append(
            f"- service {finding.service} keeps a local copy of `{finding.module}` "
            f"(owned by {finding.owner}), "
            f"imported at {finding.importer_site}, because:"
        )
        lines += [f"  - {reason}" for reason in finding.reasons]
    lines.append("")
    return lines
