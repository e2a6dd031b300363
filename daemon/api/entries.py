"""Entries: list with filters, create by hand, read with history, edit, and move through approval."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Protocol

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Handler, Route, json_response, read_json
from daemon.entries.model import STATUSES, AuditEvent, Entry, EntryFilter
from daemon.entries.service import EntryError, EntryPatch, EntryService, ManualEntry
from daemon.services import SERVICES

__all__ = ["parse_time", "routes"]


class EntryList(msgspec.Struct, kw_only=True):
    entries: list[Entry]


class EntryDetail(msgspec.Struct, kw_only=True):
    entry: Entry
    history: list[AuditEvent]


class ActionBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


def parse_time(name: str, text: str) -> float:
    """Epoch seconds, or ISO 8601 (a date or date-time without offset is local time)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "invalid_query", f"{name}: not a time: {text!r} (use ISO 8601 or epoch seconds)") from None
    return moment.timestamp() if moment.tzinfo else moment.astimezone().timestamp()


def _int(name: str, text: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, "invalid_query", f"{name}: not a whole number: {text!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, "invalid_query", f"{name}: must be between {lo} and {hi}")
    return value


async def list_entries(request: web.Request) -> web.Response:
    q = request.query
    unknown = set(q) - {"from", "to", "status", "ticket", "instance", "limit", "offset"}
    if unknown:
        raise ApiError(400, "invalid_query", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    statuses = [s for s in q.get("status", "").split(",") if s]
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise ApiError(400, "invalid_query", f"unknown status {bad[0]!r}; one of {', '.join(STATUSES)}")
    f = EntryFilter(
        start=parse_time("from", q["from"]) if "from" in q else None,
        end=parse_time("to", q["to"]) if "to" in q else None,
        status=statuses,
        instance=q.get("instance"),
        ticket_id=_int("ticket", q["ticket"].lstrip("#"), 1, 2**31 - 1) if "ticket" in q else None,
        limit=_int("limit", q.get("limit", "500"), 1, 5000),
        offset=_int("offset", q.get("offset", "0"), 0, 10**9),
    )
    services = request.app[SERVICES]
    found = await services.entries.find(f)
    if f.offset == 0:
        # Open entries (closed tickets inside their merge window) are not stored: they follow on the first page.
        found += [e for e in services.timers.open_entries() if f.matches(e)]
    return json_response(EntryList(entries=found))


async def create_entry(request: web.Request) -> web.Response:
    body = await read_json(request, ManualEntry)
    entry = await request.app[SERVICES].entries.create_manual(body)
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
    return json_response(await request.app[SERVICES].entries.patch(request.match_info["id"], body))


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

    def __call__(self, entries: EntryService, entry_id: str, /, *, comment: str = ...) -> Awaitable[Entry]: ...


def _action(act: _Act) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        body = await read_json(request, ActionBody) if request.can_read_body else ActionBody()
        entry = await act(request.app[SERVICES].entries, request.match_info["id"], comment=body.comment)
        return json_response(entry)

    return handler


_FILTERS = {
    "from": "entries ending after this time (ISO 8601 or epoch seconds)",
    "to": "entries starting before this time",
    "status": "comma-separated statuses (open: closed tickets inside their merge window, listed on the first page)",
    "ticket": "ticket id",
    "instance": "PSA instance name",
    "limit": "at most this many (default 500, max 5000)",
    "offset": "skip this many",
}

routes = [
    Route("GET", "/api/v1/entries", list_entries, "Entries, filtered", "entries", response=EntryList, params=_FILTERS),
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
