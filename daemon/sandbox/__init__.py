"""Local look-alikes of the three PSAs, for tests, benchmarks and `ticketclock demo`.

Each module exposes the same names: `create_app(*, clock, faults=None)`, `demo_instance(base_url)`,
`stored_entries(app)` and `SEED`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["KINDS", "sandbox_module"]

KINDS = ("connectwise", "autotask", "halopsa")


def sandbox_module(kind: str) -> ModuleType:
    if kind not in KINDS:
        raise ValueError(f"no sandbox for {kind!r}")
    return importlib.import_module(f"daemon.sandbox.{kind}")
