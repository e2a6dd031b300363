"""Automation runs logged as time: record a run, list recent runs, read and replace the per-automation settings.

Tagged "automation": for scripts with the CLI token (`ticketclock token`); a paired browser extension may not call
these (`daemon.api.security.SCRIPT_TAGS`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from daemon.api.entries import _int
from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.automation.model import AutomationRun, AutomationsBody, AutomationsView, RunIn, RunList
from daemon.automation.service import AutomationError
from daemon.services import SERVICES

__all__ = ["routes"]

_STATUSES = ("logged", "absorbed", "skipped", "failed")
_PARAMS = {
    "limit": "at most this many runs (1-1000, default 100), the latest first",
    "offset": "skip this many",
    "automation": "only this automation's runs",
    "status": "logged, absorbed, skipped or failed",
}


def _error(exc: AutomationError) -> ApiError:
    return ApiError.of(exc.code, exc.message, details={"field": exc.field} if exc.field else None)


async def post_run(request: web.Request) -> web.Response:
    body = await read_json(request, RunIn)
    try:
        run = await request.app[SERVICES].automation.record(body)
    except AutomationError as exc:
        raise _error(exc) from None
    return json_response(run, status=200 if run.repeat else 201)


async def list_runs(request: web.Request) -> web.Response:
    q = request.query
    unknown = set(q) - set(_PARAMS)
    if unknown:
        raise ApiError(400, "invalid_query", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    status = q.get("status")
    if status is not None and status not in _STATUSES:
        raise ApiError(400, "invalid_query", f"unknown status {status!r}; one of {', '.join(_STATUSES)}")
    runs = await request.app[SERVICES].automation.recent(
        limit=_int("limit", q["limit"], 1, 1000) if "limit" in q else 100,
        offset=_int("offset", q["offset"], 0, 10**9) if "offset" in q else 0,
        automation=q.get("automation"),
        status=status,
    )
    return json_response(RunList(runs=runs))


async def get_automations(request: web.Request) -> web.Response:
    return json_response(request.app[SERVICES].automation.view())


async def put_automations(request: web.Request) -> web.Response:
    body: Any = await read_json(request, Any)
    try:
        view = await request.app[SERVICES].automation.put(body)
    except AutomationError as exc:
        raise _error(exc) from None
    return json_response(view)


async def reset_automations(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].automation.reset())


routes = [
    Route(
        "POST",
        "/api/v1/automation-runs",
        post_run,
        "Record an automation run: logged as an entry, or skipped with the reason; the same run_id again answers "
        "the first run (200, repeat)",
        "automation",
        body=RunIn,
        response=AutomationRun,
        status=201,
    ),
    Route(
        "GET",
        "/api/v1/automation-runs",
        list_runs,
        "Recent automation runs: logged (with the entry), absorbed, skipped (why), failed (the PSA's message)",
        "automation",
        response=RunList,
        params=_PARAMS,
    ),
    Route(
        "GET",
        "/api/v1/automations",
        get_automations,
        "The per-automation settings in force",
        "automation",
        response=AutomationsView,
    ),
    Route(
        "PUT",
        "/api/v1/automations",
        put_automations,
        "Replace the per-automation settings (validated: 400 naming the field, the previous ones stay in force)",
        "automation",
        body=AutomationsBody,
        response=AutomationsView,
    ),
    Route(
        "DELETE",
        "/api/v1/automations",
        reset_automations,
        "Forget the settings saved by PUT: the config file's [[automations]] are in force again",
        "automation",
        response=AutomationsView,
    ),
]
