"""Approvals: the queue of each level and a bulk approve / reject that answers per entry."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.api.security import viewer_of
from daemon.entries.model import Entry, EntryFilter
from daemon.entries.service import EntryError
from daemon.services import SERVICES

__all__ = ["routes"]

LEVELS = {"none": 0, "one": 1, "two": 2}
QUEUES = {1: "submitted", 2: "approved_l1"}


class Queue(msgspec.Struct, kw_only=True):
    level: int
    levels: int
    entries: list[Entry]


class BulkBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ids: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(min_length=1, max_length=1000)]
    action: Literal["approve", "reject"]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class ResultError(msgspec.Struct, kw_only=True):
    code: str
    message: str


class Result(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    ok: bool
    entry: Entry | None = None
    error: ResultError | None = None


class BulkResults(msgspec.Struct, kw_only=True):
    results: list[Result]


def _approver(request: web.Request) -> str:
    viewer = viewer_of(request)
    if "approver" not in viewer.roles:
        raise ApiError(403, "forbidden", "only an approver may see or act on the approval queues")
    return viewer.name


async def get_queue(request: web.Request) -> web.Response:
    _approver(request)
    text = request.query.get("level", "1")
    unknown = set(request.query) - {"level"}
    if unknown or text not in ("1", "2"):
        raise ApiError(400, "invalid_query", "level: 1 (submitted) or 2 (approved at level 1)")
    level = int(text)
    services = request.app[SERVICES]
    found: list[Entry] = []
    async for page in services.entries.store.every(EntryFilter(status=(QUEUES[level],))):
        found += page
    levels = LEVELS[services.settings.config.approval]
    return json_response(Queue(level=level, levels=levels, entries=found))


async def bulk(request: web.Request) -> web.Response:
    """Approve or reject each id in turn; one refusal does not stop the others. Reject needs a comment, checked
    before anything changes."""
    actor = _approver(request)
    body = await read_json(request, BulkBody)
    if body.action == "reject" and not body.comment.strip():
        raise EntryError("invalid_input", "comment: say why the entries are rejected")
    entries = request.app[SERVICES].entries
    act = entries.approve if body.action == "approve" else entries.reject
    results: list[Result] = []
    for entry_id in dict.fromkeys(body.ids):  # each id once, in the order given
        try:
            results.append(Result(id=entry_id, ok=True, entry=await act(entry_id, comment=body.comment, actor=actor)))
        except EntryError as exc:
            results.append(Result(id=entry_id, ok=False, error=ResultError(code=exc.code, message=exc.message)))
    return json_response(BulkResults(results=results))


routes = [
    Route(
        "GET",
        "/api/v1/approvals",
        get_queue,
        "The approval queue of a level (1: submitted, 2: approved at level 1)",
        "entries",
        response=Queue,
        params={"level": "1 (default) or 2"},
    ),
    Route(
        "POST",
        "/api/v1/approvals",
        bulk,
        "Approve or reject several entries (reject needs a comment); answers per entry",
        "entries",
        body=BulkBody,
        response=BulkResults,
    ),
]
