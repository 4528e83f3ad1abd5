"""Replay traffic traces against scaling policies: cost and SLO before deploying.

The scalers are the controller's own (``toolkit.scale.make_scaler``); the simulator supplies
time, load and replicas. From Python::

    from toolkit.simulate import ServiceModel, compare, load_trace, simulate

    trace = load_trace("worldcup98-per-minute.csv", peak_rps=2000)
    model = ServiceModel(capacity_rps=100, startup_s=30, slo_s=0.5)
    print(compare(trace, ["hpa", "kpa", "static", "toolkit"], model).table())

    # tuning: any ServicePolicy (or a SimPolicy wrapping any Scaler) can be simulated
    from toolkit.scale import default_service_policy
    policy = default_service_policy("toolkit", target=70, max_replicas=80)
    result = simulate(trace, policy, model)
    result.summary.replica_seconds, result.summary.slo_violation_s

The model and its assumptions: docs/commands/simulate.md.
"""

from toolkit.simulate._compare import Comparison, compare, simulate
from toolkit.simulate._engine import METRICS, Series, SimPolicy, SimResult, Summary, Timeline
from toolkit.simulate._policies import POLICY_NAMES, STATIC, base_policy, static_policy
from toolkit.simulate._service import LatencyCurve, ServiceModel
from toolkit.simulate._trace import SHAPES, Trace, load_trace, synthetic_trace

__all__ = [
    "METRICS",
    "POLICY_NAMES",
    "SHAPES",
    "STATIC",
    "Comparison",
    "LatencyCurve",
    "Series",
    "ServiceModel",
    "SimPolicy",
    "SimResult",
    "Summary",
    "Timeline",
    "Trace",
    "base_policy",
    "compare",
    "load_trace",
    "simulate",
    "static_policy",
    "synthetic_trace",
]
