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
from typing import Any, Literal

import msgspec

__all__ = [
    "BUCKETS",
    "EDITABLE",
    "KINDS",
    "STATUSES",
    "AuditEvent",
    "Entry",
    "EntryFilter",
    "EntryNews",
    "RuleNote",
    "Segment",
    "Status",
    "Sums",
    "bucket_of",
    "kind_of",
]


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

BUCKETS: dict[str, tuple[str, ...]] = {
    "pending": ("open", "pending", "rejected"),
    "submitted": ("submitted", "approved_l1"),
    "approved": ("approved", "queued"),
    "posted": ("posted",),
    "voided": ("voided",),
    "failed": ("failed",),
}
"""The summary's buckets: every status falls in exactly one."""
KINDS = ("ticket", "work_order", "task")


def bucket_of(status: str) -> str:
    return next(name for name, statuses in BUCKETS.items() if status in statuses)


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
    board: str = ""
    """The ticket's ConnectWise board / Autotask queue / Halo team, as its PSA look-up gave it (the rules' board
    scope); "" when not known."""
    role: str = ""
    """The work role the PSA records the time under (ConnectWise workRole, Autotask roleID), from the rules' `role`
    setting; "" lets the PSA choose (the member's or resource's default role)."""
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


def kind_of(entry: Entry) -> str:
    """ticket, work_order or task (the store's `KIND_SQL` says the same in SQL)."""
    return entry.kind


class EntryFilter(msgspec.Struct, kw_only=True):
    """The one filter of entry lists, summaries and exports. None (or empty): no condition."""

    start: float | None = None
    """Entries ending after this time (they overlap [start, end))."""
    end: float | None = None
    """Entries starting before this time."""
    started_from: float | None = None
    """Entries that started at or after this time (days and periods: an entry counts where it started)."""
    started_before: float | None = None
    status: Sequence[str] = ()
    buckets: Sequence[str] = ()
    """Summary buckets (`BUCKETS`); with `status` too, an entry must match both."""
    instance: str | None = None
    ticket_id: int | None = None
    ticket_number: str | None = None
    """A ticket known only by its number (no id)."""
    company: str | None = None
    work_type: str | None = None
    billable: str | None = None
    task: str | None = None
    source: str | None = None
    kind: str | None = None
    limit: int = 500
    offset: int = 0

    def bucket_statuses(self) -> list[str]:
        return [s for b in self.buckets for s in BUCKETS[b]]

    def matches(self, entry: Entry) -> bool:
        """The filter of `EntryStore.list` for an entry that is not stored (an open one): same rules, in Python."""
        fields = (
            (self.instance, entry.instance),
            (self.company, entry.company),
            (self.work_type, entry.work_type),
            (self.billable, entry.billable),
            (self.task, entry.task),
            (self.source, entry.source),
            (self.kind, kind_of(entry)),
        )
        return (
            (self.start is None or entry.ended_at > self.start)
            and (self.end is None or entry.started_at < self.end)
            and (self.started_from is None or entry.started_at >= self.started_from)
            and (self.started_before is None or entry.started_at < self.started_before)
            and (not self.status or entry.status in self.status)
            and (not self.buckets or entry.status in self.bucket_statuses())
            and (self.ticket_id is None or entry.ticket_id == self.ticket_id)
            and (self.ticket_number is None or (entry.ticket_id is None and entry.ticket_number == self.ticket_number))
            and all(wanted is None or wanted == value for wanted, value in fields)
        )


class Sums(msgspec.Struct, kw_only=True):
    """One group: its key values (as `GROUP_COLUMNS` names them, or the range's key), label parts and sums."""

    key: tuple[Any, ...]
    summary: str = ""
    company: str = ""
    count: int
    seconds: int
    billed_seconds: int
    buckets: dict[str, int]
