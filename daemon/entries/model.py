"""Entries: what a finished timer, a manual entry or an automation run becomes.

States (DESIGN §5)::

    open → pending → submitted → approved_l1 → approved → queued → posted
                 ╰── (approval "none") ───────────────────╯
    side states: rejected (back to the technician), voided (kept for audit, never posted),
                 failed (the PSA refused it; edit and retry)

`open` entries (a closed ticket inside its merge window) are not stored: the API shows them from the timer, with
`held_until`. Reopening the ticket continues them; "finish now" or the end of the window makes a stored entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

__all__ = ["EDITABLE", "STATUSES", "AuditEvent", "Entry", "EntryFilter", "EntryNews", "RuleNote", "Segment", "Status"]


class RuleNote(msgspec.Struct, frozen=True):
    """One rule's part in an entry's figures: ("rounding", "up to 15m: 7m 03s → 15m", "company 'Contoso'").

    `source` names the rule that set the value ("config", "global", "company 'Contoso'", "entry"); entries stored
    before it existed read as "" (unknown)."""

    rule: str
    detail: str
    source: str = ""


Status = Literal[
    "open", "pending", "submitted", "approved_l1", "approved", "queued", "posted", "rejected", "voided", "failed"
]
STATUSES: tuple[str, ...] = (
    "open",
    "pending",
    "submitted",
    "approved_l1",
    "approved",
    "queued",
    "posted",
    "rejected",
    "voided",
    "failed",
)
EDITABLE: frozenset[str] = frozenset({"pending", "rejected", "failed"})
"""States in which the technician may change an entry."""


class Segment(msgspec.Struct, array_like=True, frozen=True):
    start: float
    end: float


class Entry(msgspec.Struct, kw_only=True):
    id: str
    source: Literal["timer", "manual", "automation"]
    timer_id: str | None = None
    instance: str = ""
    ticket_id: int | None = None
    ticket_number: str | None = None
    task: str | None = None
    kind: Literal["ticket", "work_order", "task"] = "ticket"
    """What the time is for: a PSA ticket, a work order (project ticket/task) or an admin task (`task`)."""
    summary: str = ""
    company: str = ""
    started_at: float
    ended_at: float
    actual_seconds: int
    billed_seconds: int
    notes: str = ""
    internal_notes: str = ""
    billable: Literal["agreement", "yes", "no"] = "agreement"
    work_type: str = ""
    log_as: str = ""
    status: Status
    status_reason: str = ""
    flags: list[str] = []
    segments: list[Segment] = []
    explanation: list[RuleNote] = []
    psa_ids: list[str] = []
    created_at: float
    updated_at: float
    automation: str = ""
    """Source "automation": the automation whose run made the entry."""
    held_until: float | None = None
    """Open entries only: when the merge window ends and the entry is finalized (None: held until the browser is
    back). Not stored."""


class AuditEvent(msgspec.Struct, kw_only=True):
    at: float
    actor: str
    from_status: str | None
    to_status: str
    comment: str = ""


class EntryNews(msgspec.Struct, tag="entry", tag_field="type", kw_only=True):
    """Pushed to WebSocket clients when an entry is posted to its PSA or refused by it."""

    id: str
    status: Literal["posted", "failed"]
    label: str
    seconds: int
    message: str = ""


class EntryFilter(msgspec.Struct, kw_only=True):
    start: float | None = None
    end: float | None = None
    status: Sequence[str] = ()
    instance: str | None = None
    ticket_id: int | None = None
    limit: int = 500
    offset: int = 0

    def matches(self, entry: Entry) -> bool:
        """The filter of `EntryStore.list` for an entry that is not stored (an open one): same rules, in Python."""
        return (
            (self.start is None or entry.ended_at > self.start)
            and (self.end is None or entry.started_at < self.end)
            and (not self.status or entry.status in self.status)
            and (self.instance is None or entry.instance == self.instance)
            and (self.ticket_id is None or entry.ticket_id == self.ticket_id)
        )
