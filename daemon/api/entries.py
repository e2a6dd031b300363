"""Entries: list with filters, create by hand, read with history, edit, and move through approval."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import tzinfo
from typing import Annotated, Protocol

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Handler, Route, json_response, read_json
from daemon.api.security import viewer_of
from daemon.entries import periods
from daemon.entries.model import BUCKETS, KINDS, STATUSES, AuditEvent, Entry, EntryFilter
from daemon.entries.service import EntryError, EntryPatch, EntryService, ManualEntry
from daemon.services import SERVICES

__all__ = ["FILTERS", "parse_time", "read_filter", "routes"]


class EntryList(msgspec.Struct, kw_only=True):
    entries: list[Entry]


class EntryDetail(msgspec.Struct, kw_only=True):
    entry: Entry
    history: list[AuditEvent]


class ActionBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


def parse_time(name: str, text: str, tz: tzinfo | None = None) -> float:
    """`periods.read_moment` for a query parameter: a bad time is a 400 naming the parameter."""
    try:
        return periods.read_moment(text, tz)
    except ValueError as exc:
        raise ApiError(400, "invalid_query", f"{name}: {exc}") from None


def _int(name: str, text: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, "invalid_query", f"{name}: not a whole number: {text!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, "invalid_query", f"{name}: must be between {lo} and {hi}")
    return value


def _choices(name: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    chosen = [s for s in text.split(",") if s]
    bad = [s for s in chosen if s not in allowed]
    if bad:
        raise ApiError(400, "invalid_query", f"{name}: unknown value {bad[0]!r}; one of {', '.join(allowed)}")
    return chosen


def _one(name: str, q: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    if name not in q:
        return None
    if q[name] not in allowed:
        raise ApiError(400, "invalid_query", f"{name}: unknown value {q[name][:40]!r}; one of {', '.join(allowed)}")
    return q[name]


def read_filter(q: Mapping[str, str], entries: EntryService, *, extra: frozenset[str] = frozenset()) -> EntryFilter:
    """The one reading of entry filters (`FILTERS`) for lists, summaries and exports; 400 `invalid_query` names
    the parameter that is wrong. `extra`: the caller's own parameters, let through unread."""
    unknown = set(q) - set(FILTERS) - extra
    if unknown:
        raise ApiError(400, "invalid_query", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    lo: float | None = parse_time("start_from", q["start_from"], entries.zone) if "start_from" in q else None
    hi: float | None = parse_time("start_to", q["start_to"], entries.zone) if "start_to" in q else None
    spans: list[tuple[float, float]] = []
    try:
        if "day" in q:
            day = periods.parse_day(q["day"])
            spans.append(entries.bounds(day, day))
        if "period" in q:
            period = periods.parse_period(q["period"], entries.config.timesheet, entries.today())
            spans.append(entries.bounds(period.start, period.end))
    except periods.PeriodError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from None
    for s_lo, s_hi in spans:
        lo = s_lo if lo is None else max(lo, s_lo)
        hi = s_hi if hi is None else min(hi, s_hi)
    ticket = q.get("ticket", "").strip().lstrip("#")
    number = ticket.upper() if ticket and not ticket.isdigit() else None
    if number is not None and not (number.startswith("T") and len(number) <= 32 and number.isprintable()):
        raise ApiError(400, "invalid_query", f"ticket: {ticket[:40]!r} is not a ticket id or number")
    return EntryFilter(
        start=parse_time("from", q["from"], entries.zone) if "from" in q else None,
        end=parse_time("to", q["to"], entries.zone) if "to" in q else None,
        started_from=lo,
        started_before=hi,
        status=_choices("status", q.get("status", ""), STATUSES),
        buckets=_choices("bucket", q.get("bucket", ""), tuple(BUCKETS)),
        instance=q.get("instance"),
        ticket_id=_int("ticket", ticket, 1, 2**31 - 1) if ticket.isdigit() else None,
        ticket_number=number,
        company=q.get("company"),
        work_type=q.get("work_type"),
        billable=_one("billable", q, ("agreement", "yes", "no")),
        task=q.get("task"),
        source=_one("source", q, ("timer", "manual", "automation")),
        kind=_one("kind", q, KINDS),
        limit=_int("limit", q.get("limit", "500"), 1, 5000),
        offset=_int("offset", q.get("offset", "0"), 0, 10**9),
    )


async def list_entries(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    f = read_filter(request.query, services.entries)
    found = await services.entries.find(f)
    if f.offset == 0:
        # Open entries (closed tickets inside their merge window) are not stored: they follow on the first page.
        found += [e for e in services.timers.open_entries() if f.matches(e)]
    return json_response(EntryList(entries=found))


async def create_entry(request: web.Request) -> web.Response:
    body = await read_json(request, ManualEntry)
    entry = await request.app[SERVICES].entries.create_manual(body, actor=viewer_of(request).name)
    return json_response(entry, status=201)


async def get_entry(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    entries = services.entries
    entry_id = request.match_info["id"]
    held = [e for e in services.timers.open_entries() if e.id == entry_id]
    if held:
        return json_response(EntryDetail(entry=held[0], history=[]))
    entry = await entries.get(entry_id)
    return json_response(EntryDetail(entry=entry, history=await entries.history(entry_id)))


async def patch_entry(request: web.Request) -> web.Response:
    body = await read_json(request, EntryPatch)
    actor = viewer_of(request).name
    return json_response(await request.app[SERVICES].entries.patch(request.match_info["id"], body, actor=actor))


async def finish_entry(request: web.Request) -> web.Response:
    """Finish an open entry now: its timer is finalized once, as the end of its merge window would have done."""
    services = request.app[SERVICES]
    entry_id = request.match_info["id"]
    if not any(e.id == entry_id for e in services.timers.open_entries()):
        if await services.entries.store.get(entry_id) is not None:
            raise EntryError("invalid_transition", "this entry is already finished")
    created = await services.timers.finish(entry_id)
    if not created:  # the engine refuses anything but a held timer, so this is not expected
        raise EntryError("invalid_transition", "nothing was held to finish")
    return json_response(created[0])


class _Act(Protocol):
    """An entry action of `EntryService` (submit, approve, reject, void, retry), called unbound."""

    def __call__(
        self, entries: EntryService, entry_id: str, /, *, comment: str = ..., actor: str
    ) -> Awaitable[Entry]: ...


def _action(act: _Act) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        body = await read_json(request, ActionBody) if request.can_read_body else ActionBody()
        entries, actor = request.app[SERVICES].entries, viewer_of(request).name
        entry = await act(entries, request.match_info["id"], comment=body.comment, actor=actor)
        return json_response(entry)

    return handler


FILTERS = {
    "from": "entries ending after this time (ISO 8601 or epoch seconds)",
    "to": "entries starting before this time",
    "start_from": "entries that started at or after this time",
    "start_to": "entries that started before this time",
    "day": "entries that started on this local day (YYYY-MM-DD)",
    "period": "entries that started in this timesheet period (its first day, any day in it, or current)",
    "status": "comma-separated statuses (open: closed tickets inside their merge window, listed on the first page)",
    "bucket": "comma-separated summary buckets: pending, submitted, approved, posted, voided, failed",
    "ticket": "ticket id (or an Autotask ticket number)",
    "instance": "PSA instance name (empty: none)",
    "company": "company name (empty: none)",
    "work_type": "work type (empty: none)",
    "billable": "agreement, yes or no",
    "task": "task name",
    "source": "timer, manual or automation",
    "kind": "ticket, work_order or task",
    "limit": "at most this many (default 500, max 5000)",
    "offset": "skip this many",
}

routes = [
    Route("GET", "/api/v1/entries", list_entries, "Entries, filtered", "entries", response=EntryList, params=FILTERS),
    Route(
        "POST",
        "/api/v1/entries",
        create_entry,
        "Create an entry by hand (ticket or task)",
        "entries",
        body=ManualEntry,
        response=Entry,
        status=201,
    ),
    Route("GET", "/api/v1/entries/{id}", get_entry, "One entry and its audit trail", "entries", response=EntryDetail),
    Route(
        "PATCH",
        "/api/v1/entries/{id}",
        patch_entry,
        "Edit an entry (pending, rejected or failed)",
        "entries",
        body=EntryPatch,
        response=Entry,
    ),
    Route(
        "POST",
        "/api/v1/entries/{id}/finish",
        finish_entry,
        "Finish an open entry now (a closed ticket in its merge window): finalized once; a reopen starts anew",
        "entries",
        response=Entry,
    ),
    *[
        Route("POST", f"/api/v1/entries/{{id}}/{name}", _action(act), text, "entries", body=ActionBody, response=Entry)
        for name, act, text in (
            ("submit", EntryService.submit, "Submit for approval (approval pattern none: queue for posting)"),
            ("approve", EntryService.approve, "Approve (one level, or the next of two levels)"),
            ("reject", EntryService.reject, "Reject with a comment; the technician edits and resubmits"),
            ("void", EntryService.void, "Void: kept for audit, never posted"),
            ("retry", EntryService.retry, "Queue a failed entry again"),
        )
    ],
]
