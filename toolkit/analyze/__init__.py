"""``toolkit analyze``: read a Python monolith and propose service boundaries.

    result = analyze("examples/shop")           # parse, resolve, partition, measure
    result.plan                                 # toolkit.analyze.plan.Plan (feed to split)
    result.metrics["plan"], result.metrics["naive"]

Pipeline (each stage in its own module): ``_files`` finds the modules, ``_scan`` parses each
file once and keeps its facts, ``_resolve`` links names across files into a ``Program``
(import graph, symbol edges, routes, models, table accesses), ``_partition`` proposes
services, ``_metrics`` measures the proposal against the naive split, ``_report`` writes the
report. The user's code is parsed, never imported or executed, and nothing is written inside
the analysed tree (the cache lives under ``~/.cache/toolkit/analyze``).
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from toolkit._errors import ConfigError
from toolkit.analyze._cache import AnalysisCache, default_cache_dir
from toolkit.analyze._files import SourceFile, discover
from toolkit.analyze._metrics import Metrics, compute
from toolkit.analyze._partition import Partition, group_of_factory, partition
from toolkit.analyze._resolve import Problem, Program, Route, build_program
from toolkit.analyze._scan import ModuleFacts, digest_of, scan_source
from toolkit.analyze.plan import ENTRY, SHARED, Call, Plan, Service, Source
from toolkit.analyze.plan import Route as PlanRoute

Progress = Callable[[list[SourceFile], str], AbstractContextManager[Iterable[SourceFile]]]


@dataclass(slots=True)
class Analysis:
    """The result of one analysis run."""

    root: Path
    packages: tuple[str, ...]
    program: Program
    partition: Partition
    naive: dict[str, str]
    plan: Plan
    metrics: dict[str, Metrics]
    timings_s: dict[str, float] = field(default_factory=dict)
    cached: str = "none"  # none | facts | result
    reparsed_files: int = 0

    @property
    def lines(self) -> int:
        return self.program.lines

    @property
    def problems(self) -> list[Problem]:
        return self.program.problems

    def tables(self) -> dict[str, TableUse]:
        """Per table: owning service, declaring models, and which modules read and write it."""
        owner = self.plan.table_owner()
        models: dict[str, list[str]] = {}
        for model in self.program.models:
            models.setdefault(model.table, []).append(model.symbol)
        return {
            table: TableUse(
                owner=owner.get(table),
                models=tuple(sorted(models.get(table, []))),
                accessed_by=tuple(sorted(self.program.table_access.get(table, Counter()))),
                written_by=tuple(sorted(self.program.table_writes.get(table, Counter()))),
            )
            for table in sorted(set(models) | set(self.program.table_access))
        }


@dataclass(frozen=True, slots=True)
class TableUse:
    owner: str | None
    models: tuple[str, ...]
    accessed_by: tuple[str, ...]
    written_by: tuple[str, ...]


def _no_progress(items: list[SourceFile], _label: str) -> AbstractContextManager[Iterable[SourceFile]]:
    return nullcontext(items)


def _read(source: SourceFile) -> bytes | None:
    try:
        with open(source.abs_path, "rb") as handle:  # noqa: PTH123 - hot loop, plain open is faster
            return handle.read()
    except OSError:
        return None


def _fingerprint(
    files: Iterable[SourceFile], index: dict[str, tuple[int, int, str]]
) -> tuple[dict[str, str], dict[str, bytes]]:
    """Content digest of every file, and the bytes of those that had to be read.

    Like git's index, a file whose size and modification time match the last run keeps its
    recorded digest without being read; any other file is read and hashed. ``index`` is
    updated in place.
    """
    digests: dict[str, str] = {}
    contents: dict[str, bytes] = {}
    for source in files:
        try:
            stat = os.stat(source.abs_path)  # noqa: PTH116 - hot loop
        except OSError:
            digests[source.rel_path] = ""
            continue
        known = index.get(source.rel_path)
        if known is not None and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
            digests[source.rel_path] = known[2]
            continue
        data = _read(source)
        digest = digest_of(data) if data is not None else ""
        if data is not None:
            contents[source.rel_path] = data
        digests[source.rel_path] = digest
        index[source.rel_path] = (stat.st_size, stat.st_mtime_ns, digest)
    return digests, contents


def analyze(
    path: str | Path,
    *,
    services: int | None = None,
    resolution: float | None = None,
    pins: Mapping[str, str] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> Analysis:
    """Analyse the monolith at ``path`` and propose a plan (see module docstring)."""
    started = time.perf_counter()
    tree = discover(path)
    cache = (
        AnalysisCache(Path(cache_dir) if cache_dir else default_cache_dir(), tree.root) if use_cache else None
    )
    timings: dict[str, float] = {"discover": time.perf_counter() - started}

    gc_was_enabled = gc.isenabled()
    gc.disable()  # parsing allocates millions of short-lived nodes; cyclic GC only slows it
    try:
        tick = time.perf_counter()
        index = cache.load_index() if cache else {}
        digests, contents = _fingerprint(tree.files, index)
        options = f"services={services};resolution={resolution};pins={sorted((pins or {}).items())}"
        key = hashlib.blake2b(
            "".join(f"{rel}\0{digest}\n" for rel, digest in digests.items()).encode() + options.encode(),
            digest_size=20,
        ).hexdigest()
        if cache is not None:
            hit = cache.load_result(key)
            if isinstance(hit, Analysis):
                hit.timings_s = {**timings, "fingerprint": time.perf_counter() - tick}
                hit.timings_s["total"] = time.perf_counter() - started
                hit.cached, hit.reparsed_files = "result", 0
                return hit
        old = cache.load_facts() if cache else {}
        facts: list[ModuleFacts] = []
        reparsed = 0
        with (progress or _no_progress)(list(tree.files), "parsing") as files:
            for source in files:
                previous: ModuleFacts | None = old.get(source.rel_path)
                digest = digests[source.rel_path]
                if (
                    previous is not None
                    and previous.digest == digest
                    and previous.module == source.module
                    and previous.is_package == source.is_package
                ):
                    facts.append(previous)
                    continue
                data = contents.pop(source.rel_path, None)
                if data is None:
                    data = _read(source)
                if data is None:
                    facts.append(
                        ModuleFacts(
                            source.module, source.rel_path, source.is_package, 0, digest, "unreadable"
                        )
                    )
                else:
                    facts.append(scan_source(source.module, source.rel_path, source.is_package, data))
                reparsed += 1
        timings["parse"] = time.perf_counter() - tick
        if cache is not None and (reparsed or len(old) != len(facts)):
            cache.store_facts({f.rel_path: f for f in facts})
            cache.store_index(index)

        tick = time.perf_counter()
        program = build_program(facts)
        timings["resolve"] = time.perf_counter() - tick
        tick = time.perf_counter()
        proposed = partition(program, services=services, resolution=resolution, pins=pins)
        timings["partition"] = time.perf_counter() - tick
        tick = time.perf_counter()
        naive = group_of_factory(program)
        metrics = {
            "plan": compute(program, proposed.assignment, frozenset({SHARED, ENTRY})),
            "naive": compute(program, naive),
        }
        plan = build_plan(program, proposed, tree.root, tree.packages)
        timings["metrics"] = time.perf_counter() - tick
    finally:
        if gc_was_enabled:
            gc.enable()
    program.modules = {name: facts.slim() for name, facts in program.modules.items()}
    result = Analysis(
        root=tree.root,
        packages=tree.packages,
        program=program,
        partition=proposed,
        naive=naive,
        plan=plan,
        metrics=metrics,
        cached="facts" if reparsed < len(facts) else "none",
        reparsed_files=reparsed,
    )
    if cache is not None:
        cache.store_result(key, result)
    timings["total"] = time.perf_counter() - started
    result.timings_s = timings
    return result


def build_plan(program: Program, proposed: Partition, root: Path, packages: tuple[str, ...]) -> Plan:
    """The plan document for a partition: modules, routes, tables and cross-service calls."""
    service_of = proposed.assignment
    routes: dict[str, list[Route]] = {s: [] for s in proposed.services}
    seen: set[tuple[str, str]] = set()
    for route in program.routes:
        service = service_of.get(route.handler_module)
        keys = {(m, route.path) for m in route.methods}
        if service not in routes or keys & seen:
            continue  # an unplaceable handler or a shadowed duplicate path: see program.problems
        seen |= keys
        routes[service].append(route)
    owned: dict[str, set[str]] = {s: set() for s in proposed.services}
    owner_of: dict[str, str] = {}
    for model in program.models:
        service = service_of.get(model.module)
        if service in owned and model.table not in owner_of:
            owned[service].add(model.table)
            owner_of[model.table] = service
    for table, by_module in sorted(program.table_access.items()):
        if table in owner_of:
            continue
        users = Counter({service_of[m]: c for m, c in by_module.items() if service_of.get(m) in owned})
        if users:
            owner = sorted(users, key=lambda s: (-users[s], s))[0]
            owned[owner].add(table)
            owner_of[table] = owner
    uses: dict[str, set[str]] = {s: set() for s in proposed.services}
    for table, by_module in program.table_access.items():
        for module in by_module:
            service = service_of.get(module)
            if service in uses and table in owner_of and owner_of[table] != service:
                uses[service].add(table)
    calls = []
    for (caller, callee), sites in sorted(program.calls.items()):
        a = service_of.get(caller.partition(":")[0])
        b = service_of.get(callee.partition(":")[0])
        if a in routes and b in routes and a != b:
            unique_sites = tuple(sorted(set(sites), key=_site_order))
            calls.append(Call(a, b, caller, callee, len(unique_sites), unique_sites))
    return Plan(
        source=Source(root=str(root), packages=packages, framework=program.framework, app=program.app),
        services=tuple(
            Service(
                name=s,
                modules=tuple(proposed.members(s)),
                routes=tuple(sorted({PlanRoute(r.path, r.methods, r.handler) for r in routes[s]})),
                tables=tuple(sorted(owned[s])),
                uses_tables=tuple(sorted(uses[s])),
            )
            for s in proposed.services
        ),
        shared_modules=tuple(sorted(proposed.shared)),
        entry_modules=tuple(sorted(proposed.entry)),
        calls=tuple(calls),
    )


def _site_order(site: str) -> tuple[str, int]:
    path, _, line = site.rpartition(":")
    return path, int(line)


def check_plan(plan: Plan, analysis: Analysis) -> None:
    """Check a (possibly hand-edited) plan against the analysed source: every module it names
    exists, and every route the analysis found is in exactly one service."""
    known = set(analysis.program.modules)
    for svc in plan.services:
        for i, module in enumerate(svc.modules):
            if module not in known:
                raise ConfigError(
                    f"unknown module {module} (not in {analysis.root})",
                    file=plan.file,
                    location=f"services.{svc.name}.modules[{i}]",
                )
    for section, modules in (("shared", plan.shared_modules), ("entry", plan.entry_modules)):
        for i, module in enumerate(modules):
            if module not in known:
                raise ConfigError(
                    f"unknown module {module} (not in {analysis.root})",
                    file=plan.file,
                    location=f"{section}.modules[{i}]",
                )
    placed = {(m, r.path): svc.name for svc in plan.services for r in svc.routes for m in r.methods}
    expected = {(m, r.path) for svc in analysis.plan.services for r in svc.routes for m in r.methods}
    for method, path in sorted(expected - placed.keys()):
        raise ConfigError(f"route {method} {path} is in no service", file=plan.file, location="services")


__all__ = ["Analysis", "TableUse", "analyze", "build_plan", "check_plan"]
