"""Proposing services: community detection on the weighted module graph, with constraints.

The graph's nodes are modules; an edge's weight is the number of import statements plus the
number of static references (calls and uses) between two modules, plus a bonus when both
touch the same table (data that is used together should live together) and a small
structural weight between a module and its package. Louvain community detection
(``networkx.community.louvain_communities``, seeded, so the result is deterministic) finds
densely connected groups; then the constraints are applied:

* utility modules used by many groups and holding no routes or tables become the ``shared``
  library (copied into every service) instead of gluing services together;
* composition roots (the app object's module, the root URLconf, WSGI/ASGI entry points) are
  ``entry`` modules: every service gets its own, so they belong to none;
* ``--pin MODULE=SERVICE`` fixes modules (or whole packages) to a named service (and a
  community made mostly of modules pinned to one service joins it);
* ``--services N`` raises the resolution until Louvain finds at least N communities, then
  merges the most connected pairs down to N; ``--resolution R`` is passed to Louvain.

Every route's handler module is in exactly one service by construction (a module is in one
place), and a table is owned by the service of the module that declares it.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from toolkit._errors import UsageError
from toolkit.analyze._resolve import Program
from toolkit.analyze.plan import ENTRY, SHARED

TABLE_WEIGHT = 4.0
STRUCTURE_WEIGHT = 1.0
SEED = 7
_ENTRY_NAMES = frozenset({"wsgi", "asgi", "manage", "__main__"})


@dataclass(frozen=True, slots=True)
class Partition:
    """module -> service name, plus the two special places ``shared`` and ``entry``."""

    assignment: Mapping[str, str]
    services: tuple[str, ...]
    shared: frozenset[str] = field(default_factory=frozenset)
    entry: frozenset[str] = field(default_factory=frozenset)

    def members(self, service: str) -> list[str]:
        return sorted(m for m, s in self.assignment.items() if s == service)


class PinError(UsageError):
    """A ``--pin`` names a module that does not exist or a service name that is invalid."""


def domain_depths(modules: Iterable[str]) -> dict[str, int]:
    """For each module, the depth of the component that names its domain.

    Start at the top-level packages; descend into a package while it is the only one, or while
    one child holds most of the modules (``indico.modules.<domain>``, ``src.app.<domain>``), so
    groups are the sub-packages a person would call the domains.
    """
    parts_of = {m: m.split(".") for m in modules}
    depth_of_prefix: dict[tuple[str, ...], int] = {}

    def expand(prefix: tuple[str, ...]) -> None:
        depth_of_prefix[prefix] = len(prefix)
        under = [p for p in parts_of.values() if len(p) > len(prefix) and tuple(p[: len(prefix)]) == prefix]
        counts = Counter(p[len(prefix)] for p in under)
        if not counts:
            return
        top, n = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        level = len(prefix)
        grandchildren = {p[level + 1] for p in under if p[level] == top and len(p) > level + 1}
        if (len(counts) == 1 or n > 0.5 * len(under)) and len(grandchildren) >= 2:
            expand((*prefix, top))

    expand(())
    depths: dict[str, int] = {}
    for module, parts in parts_of.items():
        depth = 0
        for prefix, d in depth_of_prefix.items():
            if len(parts) > d and tuple(parts[:d]) == prefix:
                depth = max(depth, d)
        depths[module] = depth
    return depths


def group_of_factory(program: Program) -> dict[str, str]:
    """module -> its 'naive' group: its Django app, else its domain sub-package."""
    apps = sorted(program.installed_apps, key=len, reverse=True)
    depths = domain_depths(program.modules)
    groups: dict[str, str] = {}
    for module in program.modules:
        app = next((a for a in apps if module == a or module.startswith(a + ".")), None)
        if app is not None:
            groups[module] = app.rsplit(".", 1)[-1]
        else:
            groups[module] = module.split(".")[depths[module]]
    return groups


def _dns_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not label or not label[0].isalpha():
        label = "svc-" + label
    return label[:63].rstrip("-")


def _edge_weights(program: Program) -> Counter[tuple[str, str]]:
    """Undirected weights (sorted pair) from imports and references."""
    weights: Counter[tuple[str, str]] = Counter()
    for edges in (program.import_edges, program.ref_edges):
        for (a, b), count in edges.items():
            if a != b:
                weights[(a, b) if a < b else (b, a)] += count
    return weights


def _route_modules(program: Program) -> set[str]:
    return {r.handler_module for r in program.routes}


def _model_modules(program: Program) -> set[str]:
    return {m.module for m in program.models}


def find_entry(program: Program) -> set[str]:
    """Composition roots without route handlers of their own."""
    routes = _route_modules(program)
    imported = {b for (_a, b) in program.import_edges}
    entry = set(program.entry_modules)
    for module in program.modules:
        if module.rsplit(".", 1)[-1] in _ENTRY_NAMES and module not in imported:
            entry.add(module)
    return {m for m in entry if m in program.modules and m not in routes}


def find_shared(program: Program, groups: Mapping[str, str], entry: set[str]) -> set[str]:
    """Utility modules used across many groups that hold no routes or tables, plus the
    internal modules they import (a shared library must not depend on a service)."""
    blocked = _route_modules(program) | _model_modules(program) | entry
    n_groups = len(set(groups.values()))
    threshold = max(3, math.ceil(0.2 * n_groups))
    users: dict[str, set[str]] = defaultdict(set)
    for edges in (program.import_edges, program.ref_edges):
        for a, b in edges:
            if groups[a] != groups[b] and a not in entry:
                users[b].add(groups[a])
    imports: dict[str, set[str]] = defaultdict(set)
    for a, b in program.import_edges:
        imports[a].add(b)
    candidates = {m for m, used_by in users.items() if len(used_by) >= threshold}
    if program.settings_module:  # Django settings are read by every app
        candidates.add(program.settings_module)
    shared: set[str] = set()
    for candidate in sorted(candidates):
        if candidate in blocked or candidate in shared:
            continue
        closure, stack = {candidate}, [candidate]
        while stack:
            for dep in imports[stack.pop()]:
                if dep not in closure and dep not in shared:
                    closure.add(dep)
                    stack.append(dep)
        if closure & blocked:
            continue
        shared |= closure
    return shared


def _parse_pins(pins: Mapping[str, str], modules: set[str]) -> dict[str, str]:
    pinned: dict[str, str] = {}
    for target, service in sorted(pins.items()):
        if _dns_label(service) != service:
            raise PinError(f"--pin {target}={service}: service name must be a DNS-1123 label like 'orders'")
        if service in (SHARED, ENTRY):
            raise PinError(f"--pin {target}={service}: '{service}' is reserved")
        matched = [m for m in modules if m == target or m.startswith(target + ".")]
        if not matched:
            raise PinError(f"--pin {target}={service}: no module or package named {target!r} in the source")
        for module in matched:
            pinned[module] = service
    return pinned


def _louvain(graph: object, resolution: float) -> list[set[str]]:
    import networkx as nx

    communities = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=SEED)
    return sorted((set(c) for c in communities), key=lambda c: (-len(c), min(c)))


def _merge_to(graph: object, communities: list[set[str]], target: int) -> list[set[str]]:
    """Merge the pair with the strongest connection (normalised by size) until ``target`` remain."""
    import networkx as nx

    assert isinstance(graph, nx.Graph)
    communities = [set(c) for c in communities]
    while len(communities) > max(target, 1):
        index = {m: i for i, c in enumerate(communities) for m in c}
        between: Counter[tuple[int, int]] = Counter()
        for a, b, data in graph.edges(data=True):
            i, j = index[a], index[b]
            if i != j:
                between[(min(i, j), max(i, j))] += data.get("weight", 1.0)
        if between:
            (i, j), _ = max(
                between.items(),
                key=lambda kv: (
                    kv[1] / math.sqrt(len(communities[kv[0][0]]) * len(communities[kv[0][1]])),
                    -kv[0][0],
                    -kv[0][1],
                ),
            )
        else:  # disconnected: merge the two smallest
            order = sorted(range(len(communities)), key=lambda k: (len(communities[k]), min(communities[k])))
            i, j = sorted(order[:2])
        communities[i] |= communities[j]
        del communities[j]
    return sorted(communities, key=lambda c: (-len(c), min(c)))


def _fold(graph: object, communities: list[set[str]], packages: set[str]) -> list[set[str]]:
    """Join each community made only of package ``__init__`` modules to its closest neighbour:
    alone it would not be a service (see ``_place_packages``), and it must not count as one."""
    import networkx as nx

    assert isinstance(graph, nx.Graph)
    result = [set(c) for c in communities]
    for community in [c for c in result if c <= packages]:
        ties: Counter[int] = Counter()
        for node in community:
            for neighbour, data in graph[node].items():
                for index, other in enumerate(result):
                    if other is not community and neighbour in other:
                        ties[index] += data.get("weight", 1.0)
        if ties:
            target = sorted(ties, key=lambda k: (-ties[k], k))[0]
            result[target] |= community
            community.clear()
    return sorted((c for c in result if c), key=lambda c: (-len(c), min(c)))


def _communities(
    graph: object, services: int | None, resolution: float | None, packages: set[str]
) -> list[set[str]]:
    """Louvain at the given resolution; for a service count, raise the resolution until there
    are at least N communities (a few doublings), then merge the closest pairs down to N."""
    if services is None:
        return _fold(graph, _louvain(graph, resolution if resolution is not None else 1.0), packages)
    found = _fold(graph, _louvain(graph, 1.0), packages)
    level = 1.0
    for _ in range(8):
        if len(found) >= services:
            break
        level *= 2
        found = _fold(graph, _louvain(graph, level), packages)
    return _merge_to(graph, found, services) if len(found) > services else found


def partition(
    program: Program,
    *,
    services: int | None = None,
    resolution: float | None = None,
    pins: Mapping[str, str] | None = None,
) -> Partition:
    import networkx as nx

    if services is not None and services < 1:
        raise UsageError("--services must be at least 1")
    if resolution is not None and resolution <= 0:
        raise UsageError("--resolution must be positive")
    modules = set(program.modules)
    groups = group_of_factory(program)
    pinned = _parse_pins(pins or {}, modules)
    entry = find_entry(program) - set(pinned)
    shared = find_shared(program, groups, entry) - set(pinned)
    nodes = sorted(modules - shared - entry)
    node_set = set(nodes)

    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    for (a, b), weight in sorted(_edge_weights(program).items()):
        if a in node_set and b in node_set:
            graph.add_edge(a, b, weight=float(weight))
    for table_model in program.models:
        owner = table_model.module
        for module, count in sorted(program.table_access.get(table_model.table, Counter()).items()):
            if module != owner and module in node_set and owner in node_set:
                _add_weight(graph, module, owner, TABLE_WEIGHT * count)
    for module in nodes:
        parent = module.rpartition(".")[0]
        if parent in node_set:
            _add_weight(graph, module, parent, STRUCTURE_WEIGHT)

    packages = {m for m in nodes if program.modules[m].is_package}
    communities = _communities(graph, services, resolution, packages) if nodes else []

    # Pins override Louvain for the pinned modules; a community made mostly (by lines) of
    # modules pinned to one service takes that service's name for its other modules too.
    assignment: dict[str, str] = {}
    names = _name_communities(communities, groups, program, pinned)
    for community, name in zip(communities, names, strict=True):
        for module in community:
            assignment[module] = pinned.get(module, name)
    for module in shared:
        assignment[module] = SHARED
    for module in entry:
        assignment[module] = ENTRY
    _place_packages(assignment, program)
    service_names = tuple(sorted({s for s in assignment.values() if s not in (SHARED, ENTRY)}))
    return Partition(
        assignment=dict(sorted(assignment.items())),
        services=service_names,
        shared=frozenset(m for m, s in assignment.items() if s == SHARED),
        entry=frozenset(m for m, s in assignment.items() if s == ENTRY),
    )


def _add_weight(graph: object, a: str, b: str, weight: float) -> None:
    import networkx as nx

    assert isinstance(graph, nx.Graph)
    if graph.has_edge(a, b):
        graph[a][b]["weight"] += weight
    else:
        graph.add_edge(a, b, weight=weight)


def _name_communities(
    communities: list[set[str]], groups: Mapping[str, str], program: Program, pinned: Mapping[str, str]
) -> list[str]:
    """Name each community after its dominant group (weighted by lines), unique and DNS-safe.

    A pin's service name goes to the community that would carry that name anyway (so
    ``--pin shop.cart.service=orders`` moves one module into the orders service), else to a
    community made mostly (by lines) of modules pinned to it.
    """
    bases: list[str] = []
    subs: list[str] = []
    for community in communities:
        weight: Counter[str] = Counter()
        sub: Counter[str] = Counter()
        for module in community:
            lines = program.modules[module].lines
            group = groups.get(module, module)
            weight[group] += lines
            parts = module.split(".")
            after = parts.index(group) + 1 if group in parts else len(parts) - 1
            sub[parts[after] if after < len(parts) else parts[-1]] += lines
        bases.append(_dns_label(sorted(weight, key=lambda g: (-weight[g], g))[0]) if weight else "service")
        subs.append(sorted(sub, key=lambda x: (-sub[x], x))[0] if sub else "")
    claimed: dict[int, str] = {}
    for service in sorted(set(pinned.values())):
        same_name = [i for i, base in enumerate(bases) if base == service and i not in claimed]
        if same_name:
            claimed[same_name[0]] = service  # communities are sorted largest first
            continue
        for index, community in enumerate(communities):
            pinned_lines = sum(program.modules[m].lines for m in community if pinned.get(m) == service)
            if index not in claimed and pinned_lines * 2 > sum(program.modules[m].lines for m in community):
                claimed[index] = service
                break
    taken = set(pinned.values()) | {SHARED, ENTRY}
    names: list[str] = []
    for index, base in enumerate(bases):
        if index in claimed:
            names.append(claimed[index])
            continue
        name = base
        if name in taken:
            name = _dns_label(f"{base}-{subs[index]}")
        counter = 2
        while name in taken:
            name = f"{base}-{counter}"
            counter += 1
        taken.add(name)
        names.append(name)
    return names


def _place_packages(assignment: dict[str, str], program: Program) -> None:
    """A package ``__init__`` whose sub-modules are spread over several places runs in each of
    them (importing ``a.b`` runs ``a/__init__``), so it belongs to the shared library."""
    children: dict[str, set[str]] = defaultdict(set)
    for module, place in assignment.items():
        parts = module.split(".")
        for i in range(1, len(parts)):
            children[".".join(parts[:i])].add(place)
    for package, places in children.items():
        if package in assignment and program.modules[package].is_package:
            own = assignment[package]
            if len(places | {own}) > 1 and own != ENTRY:
                assignment[package] = SHARED
