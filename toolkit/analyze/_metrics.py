"""Quality metrics of a partition, as reported by the decomposition literature.

Definitions, formulas and sources are in docs/metrics.md; each function below cites the
metric it computes. Modules placed in the shared library or among the entry modules are not
part of any service: a call into the shared library is an in-process library call in every
service, so edges touching those modules are left out of every metric. The naive baseline has
no shared library, so the same calls count there as inter-service calls; that difference is
exactly what extracting a shared library buys.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from toolkit.analyze._resolve import Program

NED_MIN_MODULES = 5
NED_MAX_MODULES = 20


@dataclass(frozen=True, slots=True)
class Metrics:
    services: int
    modules: int
    sm: float  # Structural Modularity, higher is better
    icp: float  # Inter-Call Percentage, lower is better
    ifn: float  # Interface Number, lower is better
    ned: float  # Non-Extreme Distribution, lower is better
    turbo_mq: float  # TurboMQ, higher is better
    table_entropy: float  # mean per-table entropy of accesses over services, 0 is best
    cross_service_calls: int  # static call sites crossing services, lower is better

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def compute(
    program: Program, assignment: Mapping[str, str], excluded: frozenset[str] = frozenset()
) -> Metrics:
    """Metrics for ``assignment`` (module -> service); services named in ``excluded`` (such
    as ``shared`` and ``entry``) are not services and their modules are left out."""
    service_of = {m: s for m, s in assignment.items() if s not in excluded}
    members: dict[str, list[str]] = defaultdict(list)
    for module, service in service_of.items():
        members[service].append(module)
    services = sorted(members)
    k = len(services)
    n = len(service_of)

    # Dependency edges (directed, weighted by imports + references) between service modules.
    weights: Counter[tuple[str, str]] = Counter()
    for edges in (program.import_edges, program.ref_edges):
        for (a, b), count in edges.items():
            if a != b and a in service_of and b in service_of:
                weights[(a, b)] += count
    intra_edges: Counter[str] = Counter()  # distinct module pairs (for SM)
    inter_edges: Counter[tuple[str, str]] = Counter()
    intra_weight: Counter[str] = Counter()  # weights (for TurboMQ)
    out_weight: Counter[str] = Counter()
    in_weight: Counter[str] = Counter()
    for (a, b), w in weights.items():
        sa, sb = service_of[a], service_of[b]
        if sa == sb:
            intra_edges[sa] += 1
            intra_weight[sa] += w
        else:
            inter_edges[(min(sa, sb), max(sa, sb))] += 1
            out_weight[sa] += w
            in_weight[sb] += w

    # SM (Jin et al. 2019): mean cohesion minus mean pairwise coupling.
    cohesion = sum(intra_edges[s] / len(members[s]) ** 2 for s in services) / k if k else 0.0
    pairs = k * (k - 1) / 2
    coupling = (
        sum(count / (2 * len(members[a]) * len(members[b])) for (a, b), count in inter_edges.items()) / pairs
        if pairs
        else 0.0
    )
    sm = cohesion - coupling

    # TurboMQ (Mitchell & Mancoridis, Bunch): sum of cluster factors.
    turbo = 0.0
    for s in services:
        mu = intra_weight[s]
        if mu:
            turbo += 2 * mu / (2 * mu + out_weight[s] + in_weight[s])

    # ICP (Kalia et al. 2021, Mono2Micro) and IFN (Jin et al. 2019) over static call sites.
    total_calls = 0
    inter_calls = 0
    interfaces: dict[str, set[str]] = defaultdict(set)
    for (caller, callee), sites in program.calls.items():
        a, b = caller.partition(":")[0], callee.partition(":")[0]
        if a not in service_of or b not in service_of:
            continue
        total_calls += len(sites)
        if service_of[a] != service_of[b]:
            inter_calls += len(sites)
            interfaces[service_of[b]].add(callee)
    icp = inter_calls / total_calls if total_calls else 0.0
    ifn = sum(len(interfaces[s]) for s in services) / k if k else 0.0

    # NED (Desai et al. 2021, CoGCN; Mono2Micro): share of modules in services of extreme size.
    typical = sum(len(members[s]) for s in services if NED_MIN_MODULES <= len(members[s]) <= NED_MAX_MODULES)
    ned = 1 - typical / n if n else 0.0

    return Metrics(
        services=k,
        modules=n,
        sm=sm,
        icp=icp,
        ifn=ifn,
        ned=ned,
        turbo_mq=turbo,
        table_entropy=table_entropy(program, service_of),
        cross_service_calls=inter_calls,
    )


def table_entropy(program: Program, service_of: Mapping[str, str]) -> float:
    """Mean over tables of the Shannon entropy (bits) of static accesses by service, after
    CARGO (Nitin et al. 2022): 0 when every table is touched by a single service."""
    entropies = []
    for _table, by_module in sorted(program.table_access.items()):
        by_service: Counter[str] = Counter()
        for module, count in by_module.items():
            if module in service_of:
                by_service[service_of[module]] += count
        total = sum(by_service.values())
        if not total:
            continue
        entropies.append(-sum((c / total) * math.log2(c / total) for c in by_service.values() if c))
    return sum(entropies) / len(entropies) if entropies else 0.0
