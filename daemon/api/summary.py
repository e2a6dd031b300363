"""Summary: entries rolled up by day, period, ticket, company, work type, billable or status (SQL GROUP BY in
daemon/store/summary.py), each row with the buckets and the `filter` that lists exactly its entries.

The window is of start times: `from`/`to` (or `period`, `day`) select the entries that *started* in it, as the
timesheet counts them. Without any, the current period. Each row's `filter` is the request's own filters (with
`from`/`to` written as `start_from`/`start_to`) plus the row's key: `GET /api/v1/entries` with it lists entries
whose actual seconds add up to the row's seconds, to the second.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import msgspec
from aiohttp import web

from daemon.api.entries import FILTERS, read_filter
from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response
from daemon.entries import periods
from daemon.entries.model import BUCKETS, EntryFilter, Sums
from daemon.entries.service import EntryService
from daemon.entries.timesheet import row_key_of
from daemon.services import SERVICES

__all__ = ["GROUPS", "Summary", "SummaryRow", "routes", "summarize"]

GROUPS = ("day", "ticket", "company", "work_type", "billable", "status", "period")
MAX_RANGES = 4000
"""At most this many days (or periods) in one summary by day (or period): about eleven years."""


class SummaryRow(msgspec.Struct, kw_only=True):
    key: str
    label: str
    count: int
    seconds: int
    billed_seconds: int
    buckets: dict[str, int]
    filter: dict[str, str]


class SummaryTotals(msgspec.Struct, kw_only=True):
    count: int
    seconds: int
    billed_seconds: int
    buckets: dict[str, int]


class Summary(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    group: str
    from_: float | None
    to: float | None
    rows: list[SummaryRow]
    totals: SummaryTotals


def base_query(q: Mapping[str, str], entries: EntryService) -> dict[str, str]:
    """The request's entry filters as the drill-down writes them: from/to become start_from/start_to; no window
    at all: the current period. Paging is not part of a summary."""
    base = {k: v for k, v in q.items() if k not in ("group", "format", "limit", "offset")}
    for given, written in (("from", "start_from"), ("to", "start_to")):
        if given in base:
            base[written] = base.pop(given)
    if not {"start_from", "start_to", "period", "day"} & set(base):
        base["period"] = periods.period_of(entries.today(), entries.config.timesheet).id
    return base


def _day_label(d: date) -> str:
    return d.strftime("%a %d %b")


async def _ranges(
    entries: EntryService, f: EntryFilter, group: str
) -> list[tuple[str, float, float, str, dict[str, str]]]:
    """(key, lo, hi, label, filter) for each day or period the window covers."""
    lo, hi = f.started_from, f.started_before
    if lo is None or hi is None:
        span = await entries.sums.started_span(f)
        if span is None:
            return []
        lo = span[0] if lo is None else lo
        hi = span[1] + 1 if hi is None else hi
    if hi <= lo:
        return []
    first, last = periods.local_day(lo, entries.zone), periods.local_day(hi - 0.001, entries.zone)
    if (last - first).days > MAX_RANGES:
        raise ApiError(400, "invalid_query", f"group={group}: give a window of at most {MAX_RANGES} days")
    out: list[tuple[str, float, float, str, dict[str, str]]] = []
    if group == "day":
        d = first
        while d <= last:
            d_lo, d_hi = entries.bounds(d, d)
            out.append((d.isoformat(), d_lo, d_hi, _day_label(d), {"day": d.isoformat()}))
            d += timedelta(days=1)
        return out
    p = periods.period_of(first, entries.config.timesheet)
    while p.start <= last:
        p_lo, p_hi = entries.bounds(p.start, p.end)
        out.append((p.id, p_lo, p_hi, p.label(), {"period": p.id}))
        p = periods.following(p, entries.config.timesheet)
    return out


def _column_row(group: str, s: Sums) -> tuple[str, str, dict[str, str]]:
    """(key, label, filter) of a GROUP BY row."""
    if group == "ticket":
        instance, kind, ticket_id, number, task = s.key
        key = row_key_of(str(kind), str(instance or ""), ticket_id, number, task)
        if kind == "task":
            return key, str(task), {"kind": "task", "task": str(task)}
        ident = str(ticket_id) if ticket_id is not None else str(number or "")
        label = f"#{ident} {s.summary}".strip() + (f" ({s.company})" if s.company else "")
        return key, label, {"kind": str(kind), "instance": str(instance), "ticket": ident}
    value = str(s.key[0])
    label = value or {"company": "(no company)", "work_type": "(no work type)"}.get(group, value)
    return value, label, {group: value}


async def summarize(entries: EntryService, q: Mapping[str, str]) -> Summary:
    group = q.get("group", "day")
    if group not in GROUPS:
        raise ApiError(400, "invalid_query", f"group: unknown value {group[:40]!r}; one of {', '.join(GROUPS)}")
    base = base_query(q, entries)
    f = read_filter(base, entries)
    rows: list[SummaryRow] = []
    if group in ("day", "period"):
        ranges = await _ranges(entries, f, group)
        found = {s.key[0]: s for s in await entries.sums.by_range(f, [(k, lo, hi) for k, lo, hi, _, _ in ranges])}
        for key, _, _, label, extra in ranges:
            s = found.get(key)
            if s is not None:
                rows.append(_row(key, label, s, {**base, **extra}))
    else:
        for s in await entries.sums.by_column(f, group):
            key, label, extra = _column_row(group, s)
            rows.append(_row(key, label, s, {**base, **extra}))
    totals = SummaryTotals(
        count=sum(r.count for r in rows),
        seconds=sum(r.seconds for r in rows),
        billed_seconds=sum(r.billed_seconds for r in rows),
        buckets={b: sum(r.buckets[b] for r in rows) for b in BUCKETS},
    )
    return Summary(group=group, from_=f.started_from, to=f.started_before, rows=rows, totals=totals)


def _row(key: str, label: str, s: Sums, filter_: dict[str, Any]) -> SummaryRow:
    return SummaryRow(
        key=key,
        label=label,
        count=s.count,
        seconds=s.seconds,
        billed_seconds=s.billed_seconds,
        buckets=s.buckets,
        filter=filter_,
    )


async def get_summary(request: web.Request) -> web.Response:
    entries = request.app[SERVICES].entries
    unknown = set(request.query) - set(FILTERS) - {"group"}
    if unknown:
        raise ApiError(400, "invalid_query", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    return json_response(await summarize(entries, request.query))


PARAMS = {
    "group": "day (default), ticket, company, work_type, billable, status or period",
    **{k: v for k, v in FILTERS.items() if k not in ("limit", "offset")},
    "from": "entries that started at or after this time (ISO 8601 or epoch seconds); no window: the current period",
    "to": "entries that started before this time",
}

routes = [
    Route(
        "GET",
        "/api/v1/summary",
        get_summary,
        "Totals by day, ticket, company, work type, billable, status or period, with buckets and drill-down filters",
        "entries",
        response=Summary,
        params=PARAMS,
    ),
]
