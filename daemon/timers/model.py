"""Shapes shared by recognition, the timer engine, the API and the extension.

`TimerView` is what clients see (REST `GET /api/v1/timers`, the WebSocket `state` message); the engine's
own state lives in `engine.py`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import msgspec

__all__ = ["PALETTE", "IdlePending", "StatePush", "TicketRef", "TimerView"]

PALETTE = (
    "#e6194b",  # red
    "#3cb44b",  # green
    "#4363d8",  # blue
    "#f58231",  # orange
    "#911eb4",  # purple
    "#42d4f4",  # cyan
    "#f032e6",  # magenta
    "#9a6324",  # brown
    "#469990",  # teal
)
"""Default colour per slot (slot 0..8): nine colours that stay apart for most colour vision."""


class TicketRef(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """A ticket named by a page or a user: on which PSA instance, by id or by ticket number.

    `dict=True` only gives `key` somewhere to be cached (it is read hundreds of times per browser event); the
    `__dict__` is never encoded.
    """

    instance: str
    kind: Literal["connectwise", "autotask", "halopsa"]
    id: int | None = None
    number: str | None = None
    """A ticket number where the page names no id (Autotask "T20240101.0001"); resolved through the API."""
    record: Literal["ticket", "work_order"] = "ticket"
    """What the id names: a (service) ticket, or a work order, i.e. project work: a ConnectWise project ticket
    (chargeToType "ProjectTicket"), an Autotask project task (taskID), a HaloPSA project (a ticket in Halo)."""

    @cached_property
    def key(self) -> str:
        """Stable identity of the ticket: one timer per key (work orders apart: Autotask task ids are their own)."""
        ident = f"{self.id if self.id is not None else '#' + (self.number or '')}"
        return f"{self.instance}:{'wo:' if self.record == 'work_order' else ''}{ident}"


class TimerView(msgspec.Struct, kw_only=True):
    id: str
    slot: int
    colour: str
    kind: Literal["auto", "manual"]
    state: Literal["running", "paused", "closing", "stopped"]
    paused_by: Literal["user", "attention", "idle", "offline", "restart"] | None
    ticket: TicketRef | None
    task: str | None
    label: str
    """What to show: "#12345" for a ticket, the task name for a task."""
    summary: str
    company: str
    elapsed_s: float
    """Seconds credited up to `as_of`."""
    as_of: float
    running: bool
    """Whether elapsed grows from `as_of` on (the popup adds the local delta)."""
    notes: str
    internal_notes: str
    billable: Literal["agreement", "yes", "no"]
    work_type: str
    started_at: float
    last_attended: float
    flags: list[str]


class IdlePending(msgspec.Struct, kw_only=True):
    """An away span waiting for the user to keep it on the listed timers or drop it."""

    since: float
    until: float
    timers: list[str]


class StatePush(msgspec.Struct, tag="state", tag_field="type", kw_only=True):
    timers: list[TimerView]
    idle_pending: IdlePending | None
    at: float
