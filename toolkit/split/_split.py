"""``split()``: a monolith and a plan in, a directory with services, gateway and stack out.

The whole output is computed in memory as ``relative path -> bytes`` (sorted, no timestamps,
no absolute paths), then written to a staging directory next to ``out`` and moved into place,
so the same input gives byte-identical output and a failure leaves nothing half-written.
Nothing is ever written inside the monolith's tree.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from toolkit._errors import SourceTreeError, TargetExistsError, UsageError
from toolkit.analyze.plan import Plan, load_plan
from toolkit.scaffold import package_name_for, render_service
from toolkit.split._code import CodeIndex, Module, import_target
from toolkit.split._codegen import RUNTIME_PACKAGE, app_module, proxy_module, render
from toolkit.split._layout import Layout, SplitPlan, plan_layout, split_plan_from
from toolkit.split._prune import Removed, bound_name, prune_module, registration_only
from toolkit.split._report import report_markdown
from toolkit.split._stack import (
    blocked_platform_paths,
    gateway_rules,
    merge_requirements,
    read_requirement_lines,
    shadowed_routes,
    uses_database,
)

#: The manifest every split output carries: what verify and the stack helpers read, and the
#: marker that lets ``--force`` replace a previous output (and nothing else).
MANIFEST = "split.json"
SERVICE_PORT = 8000
GATEWAY_PORT = 8080
PYTHON_VERSION = "3.12"
MANIFEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class ServiceResult:
    name: str
    package: str
    routes: int
    modules: int
    tables: tuple[str, ...]
    remote_modules: tuple[str, ...]  # modules this service reaches over HTTP
    exposed: tuple[str, ...]  # "module.function" other services call here
    local_copies: tuple[str, ...]  # other services' modules copied because not remotable


@dataclass(frozen=True, slots=True)
class SplitResult:
    out: Path
    project: str
    services: tuple[ServiceResult, ...]
    database: bool
    files: int
    findings: int
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "project": self.project,
            "database": "postgres" if self.database else None,
            "files": self.files,
            "not_split": self.findings,
            "notes": list(self.notes),
            "services": [
                {
                    "name": s.name,
                    "package": s.package,
                    "routes": s.routes,
                    "modules": s.modules,
                    "tables": list(s.tables),
                    "remote_modules": list(s.remote_modules),
                    "exposed": list(s.exposed),
                    "local_copies": list(s.local_copies),
                }
                for s in self.services
            ],
        }


def _project_name(source: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", source.name.lower()).strip("-")
    return name or "monolith"


def _check_paths(source: Path, out: Path, force: bool) -> None:
    if not source.is_dir():
        raise SourceTreeError(f"{source} is not a directory")
    if out == source or out.is_relative_to(source):
        raise UsageError(f"--out {out} is inside the monolith {source}: toolkit split never writes there")
    if source.is_relative_to(out):
        raise UsageError(f"--out {out} contains the monolith {source}: choose a directory of its own")
    if out.exists() and not out.is_dir():
        raise TargetExistsError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise TargetExistsError(f"{out} is not empty; use --force to replace a previous split output")
        if not (out / MANIFEST).is_file():
            raise TargetExistsError(
                f"{out} is not empty and holds no {MANIFEST} (not a toolkit split output): "
                "refusing to replace it even with --force"
            )


def split(source: Path, out: Path, plan: Plan | None = None, force: bool = False) -> SplitResult:
    """Split the monolith at ``source`` into services in ``out`` following ``plan``.

    Without a plan, ``source`` must hold ``plan.yaml`` or the analyzer is run on it.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    _check_paths(source, out, force)
    if plan is None:
        plan = _default_plan(source)
    files, result_services, notes, findings, database = _generate(source, plan)
    project = _project_name(source)
    _write(out, files)
    return SplitResult(out, project, result_services, database, len(files), findings, notes)


def _default_plan(source: Path) -> Plan:
    """``plan.yaml`` next to the code if the user keeps one there, else a fresh analysis."""
    candidate = source / "plan.yaml"
    if candidate.is_file():
        return load_plan(candidate)
    from toolkit.analyze import analyze

    return analyze(source).plan


def _write(out: Path, files: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".toolkit-split-", dir=out.parent))
    try:
        for rel, data in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if rel.endswith(".sh"):
                path.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _service_package(name: str, packages: tuple[str, ...]) -> str:
    """The service's own Python package; never the same as one of the monolith's packages."""
    package = package_name_for(name)
    top = {p.split(".")[0] for p in packages} | {RUNTIME_PACKAGE}
    return f"{package}_service" if package in top else package


def _platform_files(name: str, package: str, source_name: str) -> tuple[dict[str, bytes], list[str]]:
    """The service template rendered for ``name`` (the same template ``toolkit new`` uses).

    Returns its files minus the example app, its tests and its one-service compose.yaml (the
    monolith's code and the stack's compose.yaml take their place), and
    the pins of the template's dev requirements (httpx for the remote-call client).
    """
    with tempfile.TemporaryDirectory(prefix="toolkit-split-render-") as tmp:
        root = render_service(
            name,
            Path(tmp),
            port=SERVICE_PORT,
            python_version=PYTHON_VERSION,
            extra_context={
                "__package_name": package,
                "description": f"Service {name} of {source_name}, split from the monolith by toolkit split.",
            },
        )
        files: dict[str, bytes] = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if rel.startswith("tests/") or rel in (f"src/{package}/app.py", "README.md", "compose.yaml"):
                continue
            files[rel] = path.read_bytes()
        dev_pins = read_requirement_lines(root / "requirements-dev.txt")
        runtime_pins = read_requirement_lines(root / "requirements.txt")
    wanted = {"httpx", "httpcore", "certifi", "h11", "idna", "anyio", "sniffio"}
    extra = [line for line in dev_pins if line.split("==")[0].lower() in wanted]
    return files, runtime_pins + extra


def _generate(
    source: Path, plan: Plan
) -> tuple[dict[str, bytes], tuple[ServiceResult, ...], tuple[str, ...], int, bool]:
    spec = split_plan_from(plan)
    index = CodeIndex.load(source, list(spec.packages))
    layout = plan_layout(index, spec)
    database = uses_database(index, spec)
    project = _project_name(source)
    files: dict[str, bytes] = {}
    results: list[ServiceResult] = []
    pruned: dict[str, list[Removed]] = {}
    platform_lines: list[str] = []
    packages: dict[str, str] = {}
    for service in spec.services:
        package = _service_package(service.name, spec.packages)
        packages[service.name] = package
        rendered, platform_lines = _platform_files(service.name, package, source.name)
        files.update({f"services/{service.name}/{rel}": data for rel, data in rendered.items()})
    requirements = merge_requirements(source, platform_lines, database=database)
    for service in spec.services:
        base = f"services/{service.name}"
        service_files, removed = _service_code(index, spec, layout, service.name, packages[service.name])
        pruned[service.name] = removed
        files.update({f"{base}/{rel}": data for rel, data in service_files.items()})
        files[f"{base}/requirements.txt"] = requirements.text.encode()
        svc_layout = layout.services[service.name]
        results.append(
            ServiceResult(
                name=service.name,
                package=packages[service.name],
                routes=len(service.routes),
                modules=len(svc_layout.local),
                tables=service.tables,
                remote_modules=tuple(sorted(svc_layout.proxies)),
                exposed=tuple(f"{m}.{f}" for m, f in layout.exposed[service.name]),
                local_copies=tuple(sorted(svc_layout.foreign_copies)),
            )
        )
    files.update(_stack_files(spec, layout, project, source.name, packages, database))
    files["SPLIT_REPORT.md"] = report_markdown(
        source_name=source.name,
        spec=spec,
        layout=layout,
        index=index,
        pruned=pruned,
        shadowed=shadowed_routes(spec),
        requirement_notes=requirements.notes,
        database=database,
        calls=plan.calls,
    ).encode()
    files[MANIFEST] = (
        json.dumps(_manifest(spec, project, packages, database), indent=2, sort_keys=True) + "\n"
    ).encode()
    ordered = dict(sorted(files.items()))
    return ordered, tuple(results), requirements.notes, len(layout.findings), database


def _service_code(
    index: CodeIndex, spec: SplitPlan, layout: Layout, service: str, package: str
) -> tuple[dict[str, bytes], list[Removed]]:
    """The monolith's code as this service has it: copies, the pruned app module, proxies."""
    svc = layout.services[service]
    files: dict[str, bytes] = {}
    removed: list[Removed] = []
    for name in svc.local:
        module = index.modules[name]
        data = module.source
        if name == spec.app_module:
            data, removed = prune_module(data, module.tree, _foreign_resolver(index, spec, module, service))
        files[f"src/{module.rel_path}"] = data
    for name, proxy in svc.proxies.items():
        rel = index.modules[name].rel_path
        files[f"src/{rel}"] = proxy_module(proxy, str(rel)).encode()
    files.update(_package_data(index, svc.local))
    files.update(_distribution_metadata(index.root))
    exposed = layout.exposed[service]
    files[f"src/{RUNTIME_PACKAGE}/__init__.py"] = render("runtime/__init__.py.j2", service=service).encode()
    files[f"src/{RUNTIME_PACKAGE}/remote.py"] = render("runtime/remote.py.j2").encode()
    files[f"src/{RUNTIME_PACKAGE}/internal.py"] = render("runtime/internal.py.j2", exposed=exposed).encode()
    other = [r.handler for s in spec.services if s.name != service for r in s.routes]
    files[f"src/{package}/app.py"] = app_module(
        service=service, app_ref=spec.app, other_handlers=other
    ).encode()
    files["README.md"] = render(
        "service/README.md.j2",
        service=service,
        package=package,
        routes=[r for s in spec.services if s.name == service for r in s.routes],
        port=SERVICE_PORT,
    ).encode()
    return files, removed


def _foreign_resolver(
    index: CodeIndex, spec: SplitPlan, module: Module, service: str
) -> Callable[[ast.Import | ast.ImportFrom], list[str | None]]:
    """For the app module: which of its imports are other services' route registrations.

    Only an import whose name the app uses solely to register routes is removed; any other
    import of another service's module stays, and is served like any import (proxy or copy).
    """
    registrations = registration_only(module.tree)

    def resolve(node: ast.Import | ast.ImportFrom) -> list[str | None]:
        owners: list[str | None] = []
        for alias in node.names:
            target = import_target(index, module, node, alias)
            owner = spec.owner(target) if target is not None else None
            name = bound_name(alias)
            removable = name is not None and name in registrations and owner not in (None, service)
            owners.append(owner if removable else None)
        return owners

    return resolve


def _package_data(index: CodeIndex, local: list[str]) -> dict[str, bytes]:
    """Non-Python files inside the kept packages (templates, static files, data)."""
    files: dict[str, bytes] = {}
    for name in local:
        module = index.modules[name]
        if not module.is_package:
            continue
        directory = index.root / PurePosixPath(module.rel_path).parent
        for path in sorted(directory.iterdir()):
            if (
                path.is_file()
                and path.suffix not in (".py", ".pyc", ".pyo")
                and not path.name.startswith(".")
            ):
                files[f"src/{path.relative_to(index.root).as_posix()}"] = path.read_bytes()
            elif (
                path.is_dir()
                and not (path / "__init__.py").exists()
                and not path.name.startswith((".", "__"))
            ):
                for data_file in sorted(p for p in path.rglob("*") if p.is_file()):
                    if "__pycache__" not in data_file.parts:
                        files[f"src/{data_file.relative_to(index.root).as_posix()}"] = data_file.read_bytes()
    return files


def _distribution_metadata(root: Path) -> dict[str, bytes]:
    """``*.dist-info`` folders at the source root (an unpacked wheel has one): code that asks
    ``importlib.metadata`` for its own version needs them next to its package."""
    files: dict[str, bytes] = {}
    for folder in sorted(root.glob("*.dist-info")):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            files[f"src/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return files


def _stack_files(
    spec: SplitPlan, layout: Layout, project: str, source_name: str, packages: dict[str, str], database: bool
) -> dict[str, bytes]:
    peers = {name: sorted({p.peer for p in svc.proxies.values()}) for name, svc in layout.services.items()}
    services = [{"name": s.name, "package": packages[s.name], "peers": peers[s.name]} for s in spec.services]
    db_name = re.sub(r"[^a-z0-9_]", "_", project)
    context: dict[str, Any] = {
        "project": project,
        "source_name": source_name,
        "services": services,
        "port": SERVICE_PORT,
        "database": database,
        "database_name": db_name,
    }
    files = {
        "compose.yaml": render("compose.yaml.j2", **context),
        "gateway/Dockerfile": render("gateway/Dockerfile.j2", **context),
        "gateway/healthcheck.py": render("gateway/healthcheck.py.j2", **context),
        "gateway/nginx.conf": render(
            "gateway/nginx.conf.j2",
            rules=gateway_rules(spec),
            blocked_exact=blocked_platform_paths(spec),
            **context,
        ),
        "prometheus/Dockerfile": render("prometheus/Dockerfile.j2", **context),
        "prometheus/prometheus.yml": render(
            "prometheus/prometheus.yml.j2", **{**context, "services": [s["name"] for s in services]}
        ),
    }
    if database:
        files["postgres/Dockerfile"] = render("postgres/Dockerfile.j2", **context)
        files["postgres/entrypoint.sh"] = render("postgres/entrypoint.sh.j2", **context)
    return {rel: text.encode() for rel, text in files.items()}


def _manifest(spec: SplitPlan, project: str, packages: dict[str, str], database: bool) -> dict[str, Any]:
    return {
        "version": MANIFEST_VERSION,
        "project": project,
        "app": spec.app,
        "gateway": {"service": "gateway", "port": GATEWAY_PORT},
        "database": "postgres" if database else None,
        "services": {
            s.name: {
                "package": packages[s.name],
                "port": SERVICE_PORT,
                "routes": [
                    {"methods": list(r.methods), "path": r.path, "handler": r.handler} for r in s.routes
                ],
            }
            for s in spec.services
        },
    }
