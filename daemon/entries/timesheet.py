"""The timesheet of one period: rows (tickets, work orders, tasks) by days, cells in seconds. Pure.

A cell holds the entries of its row that *started* on its day in the technician's zone: an entry that runs past
local midnight counts wholly in the day it started (unless it was split). Voided entries are not counted (the
summary shows them in its voided bucket).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Literal

import msgspec

from daemon.entries.model import Entry, kind_of
from daemon.entries.periods import Period, local_day

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo  # imported on first use (daemon.entries.periods.zone)

__all__ = [
    "Cell",
    "CellBody",
    "DurationError",
    "Row",
    "RowRef",
    "Sheet",
    "SheetPeriod",
    "Totals",
    "Viewer",
    "build_rows",
    "parse_duration",
    "row_key",
    "row_key_of",
]

MAX_CELL_S = 24 * 3600


class DurationError(ValueError):
    pass


_HM = re.compile(r"^(\d{1,2}):([0-5]\d)$")
_DECIMAL = re.compile(r"^\d{1,2}(?:[.,]\d{1,4})?$|^[.,]\d{1,4}$")
_UNITS = re.compile(r"^(?:(\d{1,2}(?:[.,]\d{1,4})?)\s*h)?\s*(?:(\d{1,4})\s*m(?:in)?)?$")


def parse_duration(text: str) -> int:
    """Whole seconds from "1:30", "1.5" (hours; "1,5" too), "90m", "1h 30m", "2h" or "0".

    Raises DurationError with a message that says which forms are understood. At most 24 hours."""
    t = text.strip().lower()
    seconds: float
    if (m := _HM.match(t)) is not None:
        seconds = int(m[1]) * 3600 + int(m[2]) * 60
    elif _DECIMAL.match(t):
        seconds = float(t.replace(",", ".")) * 3600
    elif t and (m := _UNITS.match(t)) is not None and (m[1] or m[2]):
        seconds = float((m[1] or "0").replace(",", ".")) * 3600 + int(m[2] or 0) * 60
    else:
        raise DurationError(f"{text[:40]!r} is not a duration: write 1:30, 1.5, 90m or 1h 30m")
    whole = round(seconds)
    if whole > MAX_CELL_S:
        raise DurationError(f"{text[:40]!r} is more than 24 hours")
    return whole


class RowRef(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which row a cell edit is for: a ticket (`instance` + `ticket`) or a task."""

    instance: str | None = None
    ticket: str | None = None
    task: str | None = None


class CellBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Body of PUT /api/v1/timesheets/{period}/cells."""

    row: RowRef
    day: str
    duration: str


class Viewer(msgspec.Struct, frozen=True, kw_only=True):
    """Who is looking: a name for the audit trail and the roles that decide what they may do."""

    name: str
    roles: list[str]


class Cell(msgspec.Struct, kw_only=True):
    day: str
    seconds: int = 0
    billed_seconds: int = 0
    entries: list[str] = []
    statuses: list[str] = []


class Row(msgspec.Struct, kw_only=True):
    key: str
    kind: str
    instance: str
    ticket_id: int | None
    ticket_number: str | None
    task: str | None
    summary: str
    company: str
    cells: list[Cell]
    total_seconds: int = 0


class SheetPeriod(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    id: str
    start: str
    end: str
    kind: str
    state: Literal["open", "closed"]
    prev: str
    next: str
    from_: float
    to: float


class Totals(msgspec.Struct, kw_only=True):
    days: list[int]
    seconds: int
    billed_seconds: int


class Sheet(msgspec.Struct, kw_only=True):
    period: SheetPeriod
    days: list[str]
    rows: list[Row]
    totals: Totals
    tasks: list[str]
    viewer: Viewer


def row_key_of(kind: str, instance: str, ticket_id: int | None, ticket_number: str | None, task: str | None) -> str:
    """ticket:acme-cw:4711, task:Admin or work_order:acme-cw:88 (a ticket known by number: ticket:acme-at:#T2024…)."""
    if kind == "task":
        return f"task:{task}"
    ident = str(ticket_id) if ticket_id is not None else f"#{ticket_number or ''}"
    return f"{kind}:{instance}:{ident}"


def row_key(entry: Entry) -> str:
    return row_key_of(kind_of(entry), entry.instance, entry.ticket_id, entry.ticket_number, entry.task)


def build_rows(period: Period, entries: Iterable[Entry], tz: ZoneInfo) -> tuple[list[Row], Totals]:
    """Rows (in order of first appearance by start time) and totals; voided entries and days outside are skipped."""
    days = [d.isoformat() for d in period.days]
    index = {d: i for i, d in enumerate(days)}
    rows: dict[str, Row] = {}
    for e in entries:
        if e.status == "voided":
            continue
        day: date = local_day(e.started_at, tz)
        i = index.get(day.isoformat())
        if i is None:
            continue
        key = row_key(e)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(
                key=key,
                kind=kind_of(e),
                instance=e.instance,
                ticket_id=e.ticket_id,
                ticket_number=e.ticket_number,
                task=e.task,
                summary=e.summary,
                company=e.company,
                cells=[Cell(day=d) for d in days],
            )
        row.summary = row.summary or e.summary
        row.company = row.company or e.company
        cell = row.cells[i]
        cell.seconds += e.actual_seconds
        cell.billed_seconds += e.billed_seconds
        cell.entries.append(e.id)
        if e.status not in cell.statuses:
            cell.statuses.append(e.status)
        row.total_seconds += e.actual_seconds
    per_day = [sum(r.cells[i].seconds for r in rows.values()) for i in range(len(days))]
    totals = Totals(
        days=per_day,
        seconds=sum(per_day),
        billed_seconds=sum(c.billed_seconds for r in rows.values() for c in r.cells),
    )
    return list(rows.values()), totals
