"""The one registry of scaling algorithms: name -> factory binding a policy to a scaler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolkit._errors import ConfigError
from toolkit.scale._hpa import HpaScaler
from toolkit.scale._kpa import KpaScaler
from toolkit.scale._model import Scaler
from toolkit.scale._policy import ALGORITHM_NAMES, ServicePolicy
from toolkit.scale._toolkit import ToolkitScaler

SCALERS: dict[str, Callable[[ServicePolicy], Scaler[Any]]] = {
    "hpa": HpaScaler,
    "kpa": KpaScaler,
    "toolkit": ToolkitScaler,
}
ALGORITHMS: tuple[str, ...] = tuple(SCALERS)
assert ALGORITHMS == ALGORITHM_NAMES, "the registry and the policy schema must name the same algorithms"


def make_scaler(policy: ServicePolicy) -> Scaler[Any]:
    """The scaler of ``policy.algorithm`` with the policy bound."""
    try:
        factory = SCALERS[policy.algorithm]
    except KeyError:
        raise ConfigError(
            f"unknown algorithm {policy.algorithm!r}; expected one of {', '.join(ALGORITHMS)}",
            location="algorithm",
        ) from None
    return factory(policy)
