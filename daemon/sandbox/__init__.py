"""Local look-alikes of the three PSAs, for tests, benchmarks and `ticketclock demo`.

Each module exposes the same names: `create_app(*, clock, faults=None)`, `demo_instance(base_url)`,
`stored_entries(app)` and `SEED`.

Every sandbox app also serves the control endpoint of `daemon.sandbox.control` (`/_sandbox/faults`,
`/_sandbox/entries`, loopback only), so a sandbox running in another process (`ticketclock sandbox`) can be driven
from outside: the fault switches of `daemon.sandbox.faults` set, the stored time records read.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["KINDS", "TICKET_PATHS", "sandbox_module"]

KINDS = ("connectwise", "autotask", "halopsa")
TICKET_PATHS = {
    "connectwise": "/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=",
    "autotask": "/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=",
    "halopsa": "/ticket?id=",
}
"""Where each sandbox serves a ticket's page, before the ticket id (what the extension recognises)."""


def sandbox_module(kind: str) -> ModuleType:
    if kind not in KINDS:
        raise ValueError(f"no sandbox for {kind!r}")
    return importlib.import_module(f"daemon.sandbox.{kind}")
