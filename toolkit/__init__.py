"""toolkit: from one Python monolith to containerized microservices that scale with traffic.

The public API is small and re-exported here; everything in modules whose name starts with
an underscore is private. Heavy subsystems (analysis, scaling backends, the simulator) are
imported from their own packages on use, so ``import toolkit`` and the CLI stay fast.
"""

from toolkit._errors import (
    BackendError,
    ConfigError,
    DockerError,
    InvalidNameError,
    MetricsError,
    OperationError,
    SourceTreeError,
    TargetExistsError,
    ToolkitError,
    UsageError,
    VerificationError,
)
from toolkit._version import __version__

__all__ = [
    "BackendError",
    "ConfigError",
    "DockerError",
    "InvalidNameError",
    "MetricsError",
    "OperationError",
    "SourceTreeError",
    "TargetExistsError",
    "ToolkitError",
    "UsageError",
    "VerificationError",
    "__version__",
]
