"""Timers: list, start by hand, pause, resume, stop, discard, edit; the idle keep-or-drop decision."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.entries.model import Entry
from daemon.entries.service import EntryError
from daemon.services import SERVICES
from daemon.timers.model import StatePush, TimerView

__all__ = ["routes"]

Billable = Literal["agreement", "yes", "no"]


class StartTimer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ticket: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    instance: str | None = None
    task: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    notes: Annotated[str, msgspec.Meta(max_length=10_000)] = ""
    billable: Billable | None = None
    work_type: Annotated[str, msgspec.Meta(max_length=200)] = ""


class EditTimer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    notes: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None
    internal_notes: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None
    billable: Billable | None = None
    work_type: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    colour: Annotated[str, msgspec.Meta(max_length=7)] | None = None


class IdleDecision(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    keep: bool


class Stopped(msgspec.Struct, kw_only=True):
    entries: list[Entry]


async def list_timers(request: web.Request) -> web.Response:
    return json_response(request.app[SERVICES].timers.view())


async def start_timer(request: web.Request) -> web.Response:
    body = await read_json(request, StartTimer)
    services = request.app[SERVICES]
    if (body.ticket is None) == (body.task is None):
        raise ApiError(422, "invalid_input", "give a ticket or a task")
    try:
        ticket = services.entries.ticket_ref(body.instance, body.ticket) if body.ticket is not None else None
    except EntryError as exc:
        raise ApiError(422, "invalid_input", exc.message) from None
    timer_id, _ = await services.timers.start_timer(
        ticket=ticket, task=body.task, notes=body.notes, billable=body.billable, work_type=body.work_type
    )
    return json_response(services.timers.timer_view(timer_id), status=201)


async def get_timer(request: web.Request) -> web.Response:
    return json_response(request.app[SERVICES].timers.timer_view(request.match_info["id"]))


async def edit_timer(request: web.Request) -> web.Response:
    body = await read_json(request, EditTimer)
    timers = request.app[SERVICES].timers
    timer_id = request.match_info["id"]
    await timers.edit(
        timer_id,
        notes=body.notes,
        internal_notes=body.internal_notes,
        billable=body.billable,
        work_type=body.work_type,
        colour=body.colour,
    )
    return json_response(timers.timer_view(timer_id))


async def pause_timer(request: web.Request) -> web.Response:
    timers = request.app[SERVICES].timers
    timer_id = request.match_info["id"]
    await timers.pause(timer_id)
    return json_response(timers.timer_view(timer_id))


async def resume_timer(request: web.Request) -> web.Response:
    timers = request.app[SERVICES].timers
    timer_id = request.match_info["id"]
    await timers.resume(timer_id)
    return json_response(timers.timer_view(timer_id))


async def stop_timer(request: web.Request) -> web.Response:
    created = await request.app[SERVICES].timers.stop(request.match_info["id"])
    return json_response(Stopped(entries=created))


async def discard_timer(request: web.Request) -> web.Response:
    await request.app[SERVICES].timers.discard(request.match_info["id"])
    return web.Response(status=204)


async def resolve_idle(request: web.Request) -> web.Response:
    body = await read_json(request, IdleDecision)
    timers = request.app[SERVICES].timers
    await timers.resolve_idle(body.keep)
    return json_response(timers.view())


routes = [
    Route(
        "GET", "/api/v1/timers", list_timers, "Live timers and a pending idle decision", "timers", response=StatePush
    ),
    Route(
        "POST",
        "/api/v1/timers",
        start_timer,
        "Start a timer by hand for a ticket or a task",
        "timers",
        body=StartTimer,
        response=TimerView,
        status=201,
    ),
    Route("GET", "/api/v1/timers/{id}", get_timer, "One live timer", "timers", response=TimerView),
    Route(
        "PATCH",
        "/api/v1/timers/{id}",
        edit_timer,
        "Change notes, internal notes, billable, work type or colour",
        "timers",
        body=EditTimer,
        response=TimerView,
    ),
    Route(
        "DELETE", "/api/v1/timers/{id}", discard_timer, "Discard a timer (kept as a voided entry)", "timers", status=204
    ),
    Route("POST", "/api/v1/timers/{id}/pause", pause_timer, "Pause a timer", "timers", response=TimerView),
    Route("POST", "/api/v1/timers/{id}/resume", resume_timer, "Resume a paused timer", "timers", response=TimerView),
    Route(
        "POST",
        "/api/v1/timers/{id}/stop",
        stop_timer,
        "Stop a timer; its entry is created at once",
        "timers",
        response=Stopped,
    ),
    Route(
        "POST",
        "/api/v1/idle/resolve",
        resolve_idle,
        "Keep the away time on the listed timers, or drop it",
        "timers",
        body=IdleDecision,
        response=StatePush,
    ),
]
