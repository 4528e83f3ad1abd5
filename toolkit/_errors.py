"""The one exception tree every part of toolkit raises.

The library never exits and never prints tracebacks: it raises one of these, and only the
CLI layer (``toolkit.cli``) turns them into a one-line message and an exit code.

    ToolkitError                      base of everything toolkit raises on purpose
    ├── UsageError                    the user's input is wrong (exit code 2)
    │   ├── InvalidNameError          a service/project name is not a DNS-1123 label
    │   ├── TargetExistsError         refusing to overwrite something without --force
    │   ├── ConfigError               a policy, plan or trace file is invalid
    │   └── SourceTreeError           a monolith path is missing or unreadable as a whole
    └── OperationError                something failed while doing the job (exit code 1)
        ├── DockerError               the Docker engine or CLI failed or is unreachable
        ├── BackendError              a scaling backend (compose, swarm, kubernetes) failed
        ├── MetricsError              a metrics source failed or returned nothing usable
        └── VerificationError         a generated artefact did not behave as required

``ConfigError`` carries where the problem is (file, and a path inside it such as
``services.orders.max_replicas``) so messages can point at the exact field.
"""

from __future__ import annotations

from pathlib import Path


class ToolkitError(Exception):
    """Base class: anything toolkit raises deliberately derives from this."""

    exit_code = 1


class UsageError(ToolkitError):
    """The user's input is wrong; retrying the same command cannot succeed."""

    exit_code = 2


class InvalidNameError(UsageError):
    """A name that must be a DNS-1123 label is not one."""


class TargetExistsError(UsageError):
    """The target exists and ``--force`` was not given; nothing was written."""


class SourceTreeError(UsageError):
    """The path given as a monolith (or stack) cannot be read as one."""


class ConfigError(UsageError):
    """A user file (policy, plan, trace) is invalid.

    ``location`` is the path inside the document (``services.orders.target``) or a line
    reference (``line 12``); both are included in ``str(err)``.
    """

    def __init__(self, message: str, *, file: str | Path | None = None, location: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.location = location
        self.detail = message
        where = ":".join(p for p in (self.file, location) if p)
        super().__init__(f"{where}: {message}" if where else message)


class OperationError(ToolkitError):
    """The job failed while running; the input may be fine."""

    exit_code = 1


class DockerError(OperationError):
    """The Docker engine or CLI failed or could not be reached."""


class BackendError(OperationError):
    """A scaling backend failed to read or set a replica count."""


class MetricsError(OperationError):
    """A metrics source failed or returned nothing usable."""


class VerificationError(OperationError):
    """A generated artefact did not behave as required (parity, health, ...)."""


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
]
