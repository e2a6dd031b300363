"""Automation runs: what a script or workflow reports (`POST /api/v1/automation-runs`) and what became of it.

Shared by the store (SQL), the service and the API, so it sits with the base types. A run is recorded once per
`run_id` (the store's primary key); its status says what it became::

    logged     an entry was made (`entry_id`); it goes through approval and the outbox like any other
    absorbed   the technician's own timer ran on the ticket and the automation says `overlap = "absorb"`: the entry
               is kept, voided, with billed time 0 (`entry_id`), so the time is not billed twice
    skipped    not logged, and `reason` says why (unknown or disabled automation, a client it does not apply to)
    failed     the PSA refused: the ticket look-up (`reason`), or later the posted entry (the entry's own message)
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from daemon.settings import AUTOMATION_PLACEHOLDERS, AutomationConfig

__all__ = [
    "AUTOMATION_PLACEHOLDERS",
    "AutomationConfig",
    "AutomationRun",
    "AutomationsBody",
    "AutomationsView",
    "RunIn",
    "RunList",
    "RunStatus",
]

RunStatus = Literal["logged", "absorbed", "skipped", "failed"]
_Text = Annotated[str, msgspec.Meta(max_length=200)]
_Time = Annotated[float, msgspec.Meta(ge=0, le=32_503_680_000)]  # epoch seconds, before the year 3000


class RunIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Body of `POST /api/v1/automation-runs` (and `ticketclock log-run`)."""

    automation: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    """The automation's name, as configured under `[[automations]]` (or `PUT /api/v1/automations`)."""
    run_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    """Unique per run: the same run_id again answers the first run (one entry), marked `repeat`."""
    ticket: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | Annotated[int, msgspec.Meta(ge=1, le=2**31)]
    """Ticket id or number ("48211", 48211, "T20240501.0042")."""
    started_at: _Time
    finished_at: _Time
    instance: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    """The PSA instance; may be left out when only one is configured."""
    started_by: _Text = ""
    """Who started the run: a PSA user (login, e-mail or id), used by `log_as = "starter"`."""
    outcome: _Text = ""
    notes: Annotated[str, msgspec.Meta(max_length=10_000)] = ""


class AutomationRun(msgspec.Struct, kw_only=True):
    """A run as recorded, with what became of it (`GET /api/v1/automation-runs`)."""

    run_id: str
    automation: str
    instance: str
    ticket: str
    started_by: str
    started_at: float
    finished_at: float
    outcome: str
    notes: str
    status: RunStatus
    reason: str = ""
    """Skipped: why. Failed: the PSA's message. Absorbed: which timer absorbed it."""
    entry_id: str | None = None
    entry_status: str = ""
    """The entry's status now (pending, queued, posted, failed, voided, …); "" without an entry."""
    received_at: float
    repeat: bool = False
    """`POST` answers only: this run_id was already recorded, and this is that first run."""


class RunList(msgspec.Struct, kw_only=True):
    runs: list[AutomationRun]


class AutomationsBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`PUT /api/v1/automations`: the whole list of per-automation settings."""

    automations: Annotated[list[AutomationConfig], msgspec.Meta(max_length=500)]


class AutomationsView(msgspec.Struct, kw_only=True):
    """`GET /api/v1/automations`: the settings in force and where they came from."""

    automations: list[AutomationConfig]
    source: Literal["config", "stored"]
    """"stored": saved by PUT /api/v1/automations (wins over the config file's [[automations]]); "config"."""
    updated_at: float | None = None
