"""``toolkit demo``: the whole journey on bundled inputs, narrated as it runs.

The demo is application code over the public pieces (scaffold, analyze, split, autoscale,
simulate); it adds no behaviour of its own. Each stage is a function taking a ``DemoContext``
and returning a ``StageResult`` (what happened, in figures), so the CLI can print it live or
emit one JSON document. With no Docker engine reachable, stages that need one say what they
would run instead of running it.
"""

from toolkit.demo._context import DemoContext, StageResult
from toolkit.demo._stages import STAGES, run_demo

__all__ = ["STAGES", "DemoContext", "StageResult", "run_demo"]
