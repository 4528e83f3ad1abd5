"""``toolkit split``: a monolith and a plan in; services, a gateway and a compose stack out.

    split(source, out, plan=None, force=False) -> SplitResult     generate the stack directory
    stack_up(out, ...) -> RunningStack / stack_down(stack)        run it (Docker Compose)
    probe(stack) -> [(path, status)]                              GET the parameterless routes
    verify(monolith, out, ...) -> ParityReport                    same requests, same answers?

See docs/commands/split.md for the layout of the output and docs/gateway.md for the gateway.
"""

from toolkit.split._run import RunningStack, probe, stack_down, stack_up
from toolkit.split._split import MANIFEST, ServiceResult, SplitResult, split
from toolkit.split._verify import ParityReport, RouteParity, verify

__all__ = [
    "MANIFEST",
    "ParityReport",
    "RouteParity",
    "RunningStack",
    "ServiceResult",
    "SplitResult",
    "probe",
    "split",
    "stack_down",
    "stack_up",
    "verify",
]
