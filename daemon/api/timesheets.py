"""Timesheets: one period's grid (rows by days), typing a duration into a cell, submitting the period, closing it."""

from __future__ import annotations

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.api.security import viewer_of
from daemon.entries import periods
from daemon.entries.periods import Period
from daemon.entries.service import EntryError, EntryService
from daemon.entries.timesheet import (
    Cell,
    CellBody,
    DurationError,
    Row,
    Sheet,
    SheetPeriod,
    Viewer,
    build_rows,
    parse_duration,
    row_key_of,
)
from daemon.services import SERVICES

__all__ = ["routes"]


class Submitted(msgspec.Struct, kw_only=True):
    submitted: int
    entries: list[str]


class PeriodState(msgspec.Struct, kw_only=True):
    period: SheetPeriod


async def _sheet_period(entries: EntryService, period: Period) -> SheetPeriod:
    cfg = entries.config.timesheet
    lo, hi = entries.bounds(period.start, period.end)
    return SheetPeriod(
        id=period.id,
        start=period.start.isoformat(),
        end=period.end.isoformat(),
        kind=period.kind,
        state="closed" if await entries.is_closed(period) else "open",
        prev=periods.previous(period, cfg).id,
        next=periods.following(period, cfg).id,
        from_=lo,
        to=hi,
    )


async def sheet(entries: EntryService, period: Period, viewer: Viewer) -> Sheet:
    rows, totals = build_rows(period, await entries.in_period(period), entries.zone)
    return Sheet(
        period=await _sheet_period(entries, period),
        days=[d.isoformat() for d in period.days],
        rows=rows,
        totals=totals,
        tasks=await entries.task_names(),
        viewer=viewer,
    )


async def get_timesheet(request: web.Request) -> web.Response:
    entries = request.app[SERVICES].entries
    period = entries.period(request.match_info["period"])
    return json_response(await sheet(entries, period, viewer_of(request)))


async def put_cell(request: web.Request) -> web.Response:
    """Set a cell's total; answers the updated row (an empty row when the cell and its row are now empty)."""
    entries = request.app[SERVICES].entries
    period = entries.period(request.match_info["period"])
    body = await read_json(request, CellBody)
    try:
        day = periods.parse_day(body.day)
    except periods.PeriodError as exc:
        raise EntryError("invalid_input", str(exc)) from None
    if not period.contains(day):
        raise EntryError("invalid_input", f"day: {body.day} is not in the period {period.label()}")
    try:
        seconds = parse_duration(body.duration)
    except DurationError as exc:
        raise EntryError("invalid_input", f"duration: {exc}") from None
    await entries.set_cell(body.row, day, seconds, viewer_of(request).name)
    ticket = entries.ticket_ref(body.row.instance, body.row.ticket) if body.row.ticket is not None else None
    key = (
        row_key_of("task", "", None, None, body.row.task)
        if ticket is None
        else row_key_of("ticket", ticket.instance, ticket.id, ticket.number, None)
    )
    rows, _ = build_rows(period, await entries.in_period(period), entries.zone)
    found = [r for r in rows if r.key == key]
    if found:
        return json_response(found[0])
    return json_response(
        Row(
            key=key,
            kind="task" if ticket is None else "ticket",
            instance=ticket.instance if ticket else "",
            ticket_id=ticket.id if ticket else None,
            ticket_number=ticket.number if ticket else None,
            task=body.row.task,
            summary="",
            company="",
            cells=[Cell(day=d.isoformat()) for d in period.days],
        )
    )


async def submit_period(request: web.Request) -> web.Response:
    entries = request.app[SERVICES].entries
    period = entries.period(request.match_info["period"])
    done = await entries.submit_period(period, viewer_of(request).name)
    return json_response(Submitted(submitted=len(done), entries=[e.id for e in done]))


def _admin(request: web.Request) -> Viewer:
    viewer = viewer_of(request)
    if "admin" not in viewer.roles:
        raise ApiError(403, "forbidden", "only an admin may close or reopen a period")
    return viewer


async def close_period(request: web.Request) -> web.Response:
    viewer = _admin(request)
    entries = request.app[SERVICES].entries
    period = entries.period(request.match_info["period"])
    await entries.close_period(period, viewer.name)
    return json_response(PeriodState(period=await _sheet_period(entries, period)))


async def reopen_period(request: web.Request) -> web.Response:
    _admin(request)
    entries = request.app[SERVICES].entries
    period = entries.period(request.match_info["period"])
    await entries.reopen_period(period)
    return json_response(PeriodState(period=await _sheet_period(entries, period)))


_P = "/api/v1/timesheets/{period}"
routes = [
    Route(
        "GET",
        _P,
        get_timesheet,
        "A period's timesheet: rows by days (period: first day, any day, current)",
        "entries",
        response=Sheet,
    ),
    Route(
        "PUT",
        f"{_P}/cells",
        put_cell,
        "Set a cell's total (1:30, 1.5, 90m, 1h 30m; 0 clears the cell's manual entries); answers the row",
        "entries",
        body=CellBody,
        response=Row,
    ),
    Route(
        "POST",
        f"{_P}/submit",
        submit_period,
        "Submit the period's pending and rejected entries",
        "entries",
        response=Submitted,
    ),
    Route(
        "POST",
        f"{_P}/close",
        close_period,
        "Close the period (admin): its entries can no longer change",
        "entries",
        response=PeriodState,
    ),
    Route("POST", f"{_P}/reopen", reopen_period, "Reopen a closed period (admin)", "entries", response=PeriodState),
]
