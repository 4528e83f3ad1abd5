"""The scaling policy: what each service scales on, within which bounds, with which algorithm.

A policy file is YAML (schema: ``toolkit/scale/policy.schema.json``, published as
``docs/policy.schema.json``)::

    version: 1
    defaults:
      algorithm: toolkit
      max_replicas: 20
    services:
      orders:
        metric: rps_per_replica
        target: 40
        scale_down: {stabilization_window_s: 120}

A service's effective policy is layered: the built-in defaults of its algorithm (so an
``hpa`` service gets exactly the Kubernetes defaults), then ``defaults``, then the service's
own settings; nested mappings (``scale_up``, ``kpa``...) merge key by key, lists replace.

Checking happens in two steps that never drift apart: the JSON Schema (structure, types,
ranges, unknown keys) and then the semantic checks of ``check_service_policy`` (relations
between fields, such as ``min_replicas <= max_replicas``) on the merged result. Both raise
``ConfigError`` carrying the file and the exact path (``services.orders.max_replicas``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

import jsonschema
import yaml

from toolkit._errors import ConfigError
from toolkit._io import read_user_text
from toolkit.scale._queueing import slo_utilisation

AlgorithmName = Literal["hpa", "kpa", "toolkit"]
ALGORITHM_NAMES: tuple[AlgorithmName, ...] = ("hpa", "kpa", "toolkit")


class MetricKind(StrEnum):
    """What one replica reports; the policy ``target`` is in the same unit."""

    RPS_PER_REPLICA = "rps_per_replica"  # requests per second served by the replica
    INFLIGHT_PER_REPLICA = "inflight_per_replica"  # requests being served right now
    LATENCY_P95_S = "latency_p95_s"  # 95th percentile latency, seconds
    CPU_PERCENT = "cpu_percent"  # CPU use of the replica, percent of one core
    PROMQL = "promql"  # the per-replica value of ``ServicePolicy.query``


class SelectPolicy(StrEnum):
    """HPA ``selectPolicy``: which of several rate policies wins."""

    MAX = "max"  # the policy allowing the largest change
    MIN = "min"  # the policy allowing the smallest change
    DISABLED = "disabled"  # no scaling in this direction at all


class RateType(StrEnum):
    PODS = "pods"
    PERCENT = "percent"


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """At most ``value`` replicas (or percent of the count at the start of the period) per
    ``period_s`` seconds: HPA's ``HPAScalingPolicy``."""

    type: RateType
    value: int
    period_s: int


@dataclass(frozen=True, slots=True)
class ScalingRules:
    """HPA's ``HPAScalingRules`` for one direction."""

    stabilization_window_s: float
    policies: tuple[RatePolicy, ...]
    select_policy: SelectPolicy = SelectPolicy.MAX


@dataclass(frozen=True, slots=True)
class KpaParams:
    """Knative KPA parameters; defaults are Knative's ``config-autoscaler`` defaults."""

    stable_window_s: float = 60.0
    panic_window_s: float = 6.0  # Knative: panic-window-percentage 10% of the stable window
    panic_threshold: float = 2.0  # Knative: panic-threshold-percentage 200%
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_to_zero_grace_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ToolkitParams:
    """Parameters of toolkit's own algorithm (see docs/scaling-algorithms.md for the why)."""

    startup_s: float = 20.0
    forecast_window_s: float = 60.0
    panic_threshold: float = 2.0
    capacity: float | None = None
    scale_to_zero_grace_s: float = 30.0
    slo_s: float | None = None  # with capacity: size replicas for this latency SLO
    slo_quantile: float = 0.95
    concurrency: int = 1  # requests a replica serves at once
    service_time_cv: float = 1.0  # std / mean of a request's service time: 1 exponential
    # how old the demand figure is (scrape interval + rate window); None: the metrics source's
    metrics_delay_s: float | None = None


def with_metrics_delay(policy: ServicePolicy, delay_s: float) -> ServicePolicy:
    """``policy`` with toolkit's unset ``metrics_delay_s`` taken from the metrics source (the
    controller's, or the simulator's model); a value written in the policy file stays."""
    if policy.algorithm != "toolkit" or policy.toolkit.metrics_delay_s is not None:
        return policy
    return dataclasses.replace(policy, toolkit=dataclasses.replace(policy.toolkit, metrics_delay_s=delay_s))


# Below this utilisation an SLO is taken as unreachable: a request alone already misses it.
MIN_SLO_UTILISATION = 0.01


def slo_utilisation_of(params: ToolkitParams) -> float | None:
    """The utilisation at which a replica's latency quantile reaches ``params.slo_s`` (an
    M/G/c replica, c = ``concurrency``, service time ``concurrency / capacity`` with variation
    ``service_time_cv``: ``toolkit.scale._queueing``); None without both an SLO and a capacity."""
    if params.slo_s is None or params.capacity is None:
        return None
    service_time_s = params.concurrency / params.capacity
    return slo_utilisation(
        params.concurrency,
        service_time_s,
        params.slo_s,
        1.0 - params.slo_quantile,
        False,
        params.service_time_cv,
    )


def slo_reachable(params: ToolkitParams) -> bool:
    """False when ``params`` set an SLO that a request alone already misses (no load meets it)."""
    limit = slo_utilisation_of(params)
    return limit is None or limit >= MIN_SLO_UTILISATION


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """The effective, validated scaling policy of one service.

    ``target`` is per replica, in the unit of ``metric``. ``period_s`` is how often the loop
    (or the simulator) calls the scaler's ``decide``.
    """

    algorithm: AlgorithmName
    metric: MetricKind
    target: float
    min_replicas: int
    max_replicas: int
    tolerance: float
    period_s: float
    scale_up: ScalingRules
    scale_down: ScalingRules
    query: str | None = None
    kpa: KpaParams = field(default_factory=KpaParams)
    toolkit: ToolkitParams = field(default_factory=ToolkitParams)


@dataclass(frozen=True)
class Policy:
    """A whole policy file: the defaults plus the services it names."""

    defaults: ServicePolicy
    services: Mapping[str, ServicePolicy]
    file: str | None = None

    def policy_for(self, service: str) -> ServicePolicy:
        """The service's own policy, or the defaults for a service the file does not name."""
        return self.services.get(service, self.defaults)


# --- built-in defaults ---------------------------------------------------------------------

# Kubernetes HPA v2 defaults (pkg/apis/autoscaling/v2/defaults.go): scale up without a
# window, by max(4 pods, 100%) per 15 s; scale down after a 300 s window by up to 100% per
# 15 s (the window comes from --horizontal-pod-autoscaler-downscale-stabilization).
_HPA_UP = ScalingRules(0.0, (RatePolicy(RateType.PODS, 4, 15), RatePolicy(RateType.PERCENT, 100, 15)))
_HPA_DOWN = ScalingRules(300.0, (RatePolicy(RateType.PERCENT, 100, 15),))
# toolkit: up at once (a 10x jump per period is allowed), down gradually: the highest
# recommendation of the last 120 s, and at most half the replicas per 30 s.
_TOOLKIT_UP = ScalingRules(0.0, (RatePolicy(RateType.PERCENT, 900, 5), RatePolicy(RateType.PODS, 10, 5)))
_TOOLKIT_DOWN = ScalingRules(120.0, (RatePolicy(RateType.PERCENT, 50, 30),))

_DEFAULT_PERIOD_S: dict[str, float] = {"hpa": 15.0, "kpa": 2.0, "toolkit": 5.0}

_BUILTIN_COMMON: dict[str, Any] = {
    "metric": MetricKind.RPS_PER_REPLICA,
    "target": 10.0,
    "min_replicas": 1,
    "max_replicas": 10,
    "tolerance": 0.1,
}


def _builtin(algorithm: AlgorithmName) -> ServicePolicy:
    up, down = (_TOOLKIT_UP, _TOOLKIT_DOWN) if algorithm == "toolkit" else (_HPA_UP, _HPA_DOWN)
    return ServicePolicy(
        algorithm=algorithm,
        period_s=_DEFAULT_PERIOD_S[algorithm],
        scale_up=up,
        scale_down=down,
        **_BUILTIN_COMMON,
    )


def default_service_policy(algorithm: str = "toolkit", **overrides: Any) -> ServicePolicy:
    """The built-in policy of ``algorithm`` with ``overrides`` (field name -> value) applied,
    checked like a file would be (``ConfigError`` with the field as location)."""
    if algorithm not in ALGORITHM_NAMES:
        raise ConfigError(f"unknown algorithm {algorithm!r}; expected one of {', '.join(ALGORITHM_NAMES)}")
    names = {f.name for f in dataclasses.fields(ServicePolicy)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown policy field {unknown[0]!r}", location=unknown[0])
    if isinstance(overrides.get("metric"), str):
        try:
            overrides["metric"] = MetricKind(overrides["metric"])
        except ValueError:
            kinds = ", ".join(k.value for k in MetricKind)
            raise ConfigError(
                f"unknown metric {overrides['metric']!r}; expected one of {kinds}", location="metric"
            ) from None
    base = _builtin(algorithm)
    policy = dataclasses.replace(base, **overrides)
    check_service_policy(policy, location="")
    return policy


# --- the schema ----------------------------------------------------------------------------


@cache
def policy_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file (the one copy; docs/policy.schema.json is this)."""
    text = resources.files("toolkit.scale").joinpath("policy.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _location(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path)


def _schema_errors(document: Any, file: str | None) -> None:
    """Validate against the schema and raise the first error (by document order) precisely."""
    validator = jsonschema.Draft202012Validator(policy_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    err = errors[0]
    path: list[str | int] = list(err.absolute_path)
    message = err.message
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {})) if isinstance(err.schema, dict) else set()
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            path.append(extra[0])
            hint = f"; allowed: {', '.join(sorted(allowed))}" if allowed else ""
            message = f"unknown key {extra[0]!r}{hint}"
    elif err.validator == "required" and isinstance(err.validator_value, list):
        missing = [k for k in err.validator_value if isinstance(err.instance, dict) and k not in err.instance]
        if missing:
            path.append(missing[0])
            message = f"required key {missing[0]!r} is missing"
    elif "propertyNames" in err.absolute_schema_path:
        path.append(str(err.instance))
        message = f"service name {err.instance!r} is not a DNS-1123 label (lowercase letters, digits, '-')"
    raise ConfigError(message, file=file, location=_location(path) or None)


# --- building ServicePolicy values from mappings ---------------------------------------------


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _rules(raw: Mapping[str, Any], base: ScalingRules) -> ScalingRules:
    policies = base.policies
    if "policies" in raw:
        policies = tuple(
            RatePolicy(RateType(p["type"]), int(p["value"]), int(p["period_s"])) for p in raw["policies"]
        )
    return ScalingRules(
        stabilization_window_s=float(raw.get("stabilization_window_s", base.stabilization_window_s)),
        policies=policies,
        select_policy=SelectPolicy(raw.get("select_policy", base.select_policy)),
    )


_P = TypeVar("_P", KpaParams, ToolkitParams)


def _params(raw: Mapping[str, Any], base: _P) -> _P:
    # YAML writes 30 for 30.0; float fields get floats, int fields (concurrency) stay int
    values: dict[str, Any] = {
        k: (float(v) if isinstance(v, int | float) and not isinstance(getattr(base, k), int) else v)
        for k, v in raw.items()
    }
    return dataclasses.replace(base, **values)


def _service_from(raw: Mapping[str, Any]) -> ServicePolicy:
    """A ServicePolicy from a schema-valid (merged) mapping; unset fields take the built-in
    defaults of the resolved algorithm."""
    algorithm: AlgorithmName = raw.get("algorithm", "toolkit")
    base = _builtin(algorithm)
    return ServicePolicy(
        algorithm=algorithm,
        metric=MetricKind(raw.get("metric", base.metric)),
        query=raw.get("query"),
        target=float(raw.get("target", base.target)),
        min_replicas=int(raw.get("min_replicas", base.min_replicas)),
        max_replicas=int(raw.get("max_replicas", base.max_replicas)),
        tolerance=float(raw.get("tolerance", base.tolerance)),
        period_s=float(raw.get("period_s", base.period_s)),
        scale_up=_rules(raw.get("scale_up", {}), base.scale_up),
        scale_down=_rules(raw.get("scale_down", {}), base.scale_down),
        kpa=_params(raw.get("kpa", {}), base.kpa),
        toolkit=_params(raw.get("toolkit", {}), base.toolkit),
    )


def check_service_policy(
    policy: ServicePolicy,
    *,
    location: str,
    file: str | None = None,
    origin: Mapping[str, str] | None = None,
) -> None:
    """Semantic checks the schema cannot express. ``location`` prefixes the field path;
    ``origin`` maps a top-level field to the prefix where it was actually set (so an error on
    a value inherited from ``defaults`` points there)."""

    def fail(field_path: str, message: str) -> None:
        top = field_path.split(".", 1)[0]
        prefix = (origin or {}).get(top, location)
        where = f"{prefix}.{field_path}" if prefix else field_path
        raise ConfigError(message, file=file, location=where)

    if policy.algorithm not in ALGORITHM_NAMES:
        fail("algorithm", f"unknown algorithm {policy.algorithm!r}")
    if not policy.target > 0:
        fail("target", f"target must be > 0, got {policy.target}")
    if policy.min_replicas < 0:
        fail("min_replicas", f"min_replicas must be >= 0, got {policy.min_replicas}")
    if policy.max_replicas < 1:
        fail("max_replicas", f"max_replicas must be >= 1, got {policy.max_replicas}")
    if policy.min_replicas > policy.max_replicas:
        fail(
            "max_replicas",
            f"max_replicas ({policy.max_replicas}) is below min_replicas ({policy.min_replicas})",
        )
    if policy.min_replicas == 0 and policy.algorithm == "hpa":
        fail(
            "min_replicas",
            "hpa cannot scale to zero (Kubernetes HPAScaleToZero is alpha); use kpa or toolkit for that",
        )
    if not 0 <= policy.tolerance < 1:
        fail("tolerance", f"tolerance must be in [0, 1), got {policy.tolerance}")
    if not policy.period_s > 0:
        fail("period_s", f"period_s must be > 0, got {policy.period_s}")
    if policy.metric is MetricKind.PROMQL and not policy.query:
        fail("query", "metric promql needs a 'query' (a PromQL expression with one value per replica)")
    if policy.metric is not MetricKind.PROMQL and policy.query is not None:
        fail("query", f"'query' is only used with metric promql, not {policy.metric.value}")
    for name in ("scale_up", "scale_down"):
        rules: ScalingRules = getattr(policy, name)
        if not rules.policies:
            fail(f"{name}.policies", "at least one rate policy is needed")
        if rules.stabilization_window_s < 0:
            fail(f"{name}.stabilization_window_s", "stabilization_window_s must be >= 0")
        for i, rate in enumerate(rules.policies):
            if rate.value < 1 or not 1 <= rate.period_s <= 1800:
                fail(f"{name}.policies.{i}", "a rate policy needs value >= 1 and 1 <= period_s <= 1800")
    kpa = policy.kpa
    if kpa.panic_window_s > kpa.stable_window_s:
        fail(
            "kpa.panic_window_s",
            f"panic_window_s ({kpa.panic_window_s}) must not exceed stable_window_s ({kpa.stable_window_s})",
        )
    if kpa.max_scale_up_rate <= 1 or kpa.max_scale_down_rate <= 1:
        fail("kpa", "max_scale_up_rate and max_scale_down_rate must be > 1")
    if kpa.panic_window_s < policy.period_s and policy.algorithm == "kpa":
        fail(
            "kpa.panic_window_s",
            f"panic_window_s ({kpa.panic_window_s}) is shorter than period_s ({policy.period_s}): "
            "the panic window would hold no observation",
        )
    tk = policy.toolkit
    if tk.capacity is not None and tk.capacity < policy.target and policy.algorithm == "toolkit":
        fail(
            "toolkit.capacity",
            f"capacity ({tk.capacity}) is below target ({policy.target}): a replica would saturate before "
            "reaching its target",
        )
    if tk.slo_s is not None and policy.algorithm == "toolkit":
        if tk.capacity is None:
            fail("toolkit.slo_s", "slo_s needs toolkit.capacity (what one replica serves at saturation)")
        if policy.metric is not MetricKind.RPS_PER_REPLICA:
            fail(
                "toolkit.slo_s",
                "slo_s sizing needs metric rps_per_replica (capacity in requests per second), "
                f"not {policy.metric.value}",
            )
        if not slo_reachable(tk):
            fail(
                "toolkit.slo_s",
                f"no load meets p{tk.slo_quantile * 100:g} <= {tk.slo_s:g} s: a request alone takes longer "
                f"(mean service time concurrency / capacity = {tk.concurrency / (tk.capacity or 1):.3g} s)",
            )
    if tk.forecast_window_s < 2 * policy.period_s and policy.algorithm == "toolkit":
        fail(
            "toolkit.forecast_window_s",
            f"forecast_window_s ({tk.forecast_window_s}) must span two periods ({policy.period_s} s)",
        )


# --- files ---------------------------------------------------------------------------------


def parse_policy(document: Any, *, file: str | Path | None = None) -> Policy:
    """Validate a loaded YAML/JSON document and build the ``Policy``."""
    file_str = str(file) if file is not None else None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError("a policy file must be a mapping with 'defaults' and/or 'services'", file=file_str)
    document = _plain(document)
    _schema_errors(document, file_str)
    defaults_raw: Mapping[str, Any] = document.get("defaults") or {}
    defaults = _service_from(defaults_raw)
    check_service_policy(defaults, location="defaults", file=file_str)
    services: dict[str, ServicePolicy] = {}
    for name, own in (document.get("services") or {}).items():
        own = own or {}
        merged = _deep_merge(defaults_raw, own)
        policy = _service_from(merged)
        origin = {key: ("defaults" if key not in own else f"services.{name}") for key in merged}
        check_service_policy(policy, location=f"services.{name}", file=file_str, origin=origin)
        services[name] = policy
    return Policy(defaults=defaults, services=MappingProxyType(services), file=file_str)


def _plain(document: Any) -> Any:
    """YAML mappings as dicts with string keys, so the schema sees what the user wrote."""
    if isinstance(document, Mapping):
        return {str(k): _plain(v) for k, v in document.items()}
    if isinstance(document, list):
        return [_plain(v) for v in document]
    return document


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file (YAML, or JSON which is YAML too)."""
    path = Path(path)
    text = read_user_text(path, "policy file")
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else None
        raise ConfigError(f"not valid YAML: {err.problem or err}", file=path, location=where) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", file=path) from None
    return parse_policy(document, file=path)
