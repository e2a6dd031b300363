"""Summary: entries rolled up by day, period, ticket, company, work type, billable or status (SQL GROUP BY in
daemon/store/summary.py), each row with the buckets and the `filter` that lists exactly its entries.

Open entries (closed tickets inside their merge window) are not stored yet; `GET /api/v1/entries` lists them, so
the summary counts them too (the pending bucket), keyed as the SQL would key them (`_held_key`).

The window is of start times: `from`/`to` (or `period`, `day`) select the entries that *started* in it, as the
timesheet counts them. Without any, the current period. Each row's `filter` is the request's own filters (with
`from`/`to` written as `start_from`/`start_to`) plus the row's key: `GET /api/v1/entries` with it lists entries
whose actual seconds add up to the row's seconds, to the second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import msgspec
from aiohttp import web

from daemon.api.entries import FILTERS, read_filter
from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response
from daemon.entries import periods
from daemon.entries.model import BUCKETS, Entry, EntryFilter, Sums, bucket_of, kind_of
from daemon.entries.service import EntryService
from daemon.entries.timesheet import row_key_of
from daemon.services import SERVICES

__all__ = ["GROUPS", "Summary", "SummaryRow", "routes", "summarize"]

GROUPS = ("day", "ticket", "company", "work_type", "billable", "status", "period")
MAX_DAYS = 4000
"""At most this many days in one summary by day or period: about eleven years."""


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


async def _by_time(
    entries: EntryService, f: EntryFilter, group: str, held: Sequence[Entry]
) -> list[tuple[str, str, Sums, dict[str, str]]]:
    """(key, label, sums, filter) per local day, or per period (its days' sums added up), in time order."""
    lo, hi = f.started_from, f.started_before
    if lo is None or hi is None:
        span = await entries.sums.started_span(f)
        starts = [e.started_at for e in held]
        if span is not None:
            starts += list(span)
        if not starts:
            return []
        lo = min(starts) if lo is None else lo
        hi = max(starts) + 1 if hi is None else hi
    if hi <= lo:
        return []
    if (hi - lo) / 86400 > MAX_DAYS:
        raise ApiError(400, "invalid_query", f"group={group}: give a window of at most {MAX_DAYS} days")
    found = await entries.sums.by_local_day(f, periods.utc_offsets(lo, hi, entries.zone))
    epoch = periods.epoch_day(0)
    days = _merged(found, [((periods.local_day(e.started_at, entries.zone) - epoch).days,) for e in held], held)
    if group == "day":
        out = []
        for s in days:
            d = periods.epoch_day(int(s.key[0]))
            out.append((d.isoformat(), _day_label(d), s, {"day": d.isoformat()}))
        return out
    by_period: dict[str, tuple[periods.Period, Sums]] = {}
    for s in days:
        p = periods.period_of(periods.epoch_day(int(s.key[0])), entries.config.timesheet)
        known = by_period.get(p.id)
        if known is None:
            by_period[p.id] = (p, msgspec.structs.replace(s, key=(p.id,), buckets=dict(s.buckets)))
            continue
        total = known[1]
        total.count += s.count
        total.seconds += s.seconds
        total.billed_seconds += s.billed_seconds
        for b in BUCKETS:
            total.buckets[b] += s.buckets[b]
    return [(pid, p.label(), s, {"period": pid}) for pid, (p, s) in by_period.items()]


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


def _held_key(group: str, e: Entry) -> tuple[Any, ...]:
    """The GROUP BY key (`GROUP_COLUMNS` of daemon/store/summary.py) of an entry that is not stored."""
    if group == "ticket":
        kind = kind_of(e)
        return (e.instance, kind, e.ticket_id, e.ticket_number if e.ticket_id is None else None, e.task)
    return (getattr(e, group),)


def _merged(found: list[Sums], keys: Sequence[tuple[Any, ...]], held: Sequence[Entry]) -> list[Sums]:
    """The stored groups with the held entries added in (new groups where none matched), in key order."""
    if not held:
        return found
    by_key = {s.key: s for s in found}
    for key, e in zip(keys, held, strict=True):
        s = by_key.get(key)
        if s is None:
            s = by_key[key] = Sums(key=key, count=0, seconds=0, billed_seconds=0, buckets=dict.fromkeys(BUCKETS, 0))
        s.count += 1
        s.seconds += e.actual_seconds
        s.billed_seconds += e.billed_seconds
        s.buckets[bucket_of(e.status)] += e.actual_seconds
        s.summary, s.company = s.summary or e.summary, s.company or e.company
    return sorted(by_key.values(), key=lambda s: tuple((v is not None, v if v is not None else "") for v in s.key))


async def summarize(entries: EntryService, q: Mapping[str, str], held: Sequence[Entry] = ()) -> Summary:
    """The summary of the entries the query selects; `held`: the open entries (not stored), counted when they match."""
    group = q.get("group", "day")
    if group not in GROUPS:
        raise ApiError(400, "invalid_query", f"group: unknown value {group[:40]!r}; one of {', '.join(GROUPS)}")
    base = base_query(q, entries)
    f = read_filter(base, entries)
    held = [e for e in held if f.matches(e)]
    rows: list[SummaryRow] = []
    if group in ("day", "period"):
        for key, label, s, extra in await _by_time(entries, f, group, held):
            rows.append(_row(key, label, s, {**base, **extra}))
    else:
        found = await entries.sums.by_column(f, group)
        for s in _merged(found, [_held_key(group, e) for e in held], held):
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
    held = request.app[SERVICES].timers.open_entries()
    return json_response(await summarize(entries, request.query, held))


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
