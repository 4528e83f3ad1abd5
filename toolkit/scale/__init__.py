"""Scaling: the policy file and the pure decision code shared by the controller and the simulator.

    policy = load_policy("scaling.yaml")
    scaler = make_scaler(policy.policy_for("orders"))
    state = scaler.initial_state()
    decision, state = scaler.decide(state, observation, now_s)

Algorithms (``ALGORITHMS``): ``hpa`` (Kubernetes HPA v2, exact), ``kpa`` (Knative KPA) and
``toolkit`` (ours). See docs/policy.md and docs/scaling-algorithms.md.
"""

from toolkit.scale._model import Decision, Observation, Reason, ReplicaSample, Scaler
from toolkit.scale._policy import (
    KpaParams,
    MetricKind,
    Policy,
    RatePolicy,
    RateType,
    ScalingRules,
    SelectPolicy,
    ServicePolicy,
    ToolkitParams,
    default_service_policy,
    load_policy,
    parse_policy,
    policy_schema,
)
from toolkit.scale._registry import ALGORITHMS, make_scaler
from toolkit.scale._toolkit import per_replica_sizing

__all__ = [
    "ALGORITHMS",
    "Decision",
    "KpaParams",
    "MetricKind",
    "Observation",
    "Policy",
    "RatePolicy",
    "RateType",
    "Reason",
    "ReplicaSample",
    "Scaler",
    "ScalingRules",
    "SelectPolicy",
    "ServicePolicy",
    "ToolkitParams",
    "default_service_policy",
    "load_policy",
    "make_scaler",
    "parse_policy",
    "per_replica_sizing",
    "policy_schema",
]
