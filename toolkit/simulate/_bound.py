"""The cheapest any policy could be on a trace: a yardstick for the comparison table.

A clairvoyant policy knows every second's load in advance and has replicas that start
instantly, so in each second it runs exactly the fewest replicas that keep that second under
the SLO (below the model's ``rho_limit`` utilisation, never fewer than ``min_replicas``).
No real policy reaches it (start-up delays, forecast errors and whole replicas all cost),
but how far a policy is from it - and from the baseline - says how much room is left, and
whether a goal such as "25 % cheaper than HPA at the same SLO" is possible at all.
"""

from __future__ import annotations

import numpy as np

from toolkit.simulate._service import ServiceModel
from toolkit.simulate._trace import Trace


def clairvoyant_replica_seconds(trace: Trace, model: ServiceModel, min_replicas: int = 1) -> float | None:
    """Replica-seconds of the clairvoyant policy (see the module docstring); None when no load
    meets the SLO (a request alone takes longer), so every policy violates it."""
    rho_limit = model.curve().rho_limit
    if rho_limit <= 0.0:
        return None
    per_replica_rps = model.capacity_rps * rho_limit
    arrivals = trace.rps
    # strictly below the limit: rho_limit itself already violates
    needed = np.where(arrivals > 0.0, np.floor(arrivals / per_replica_rps) + 1.0, 0.0)
    return float(np.maximum(needed, float(min_replicas)).sum())
