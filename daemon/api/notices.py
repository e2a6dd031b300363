"""Notices: what changed billed time without the user's hand (list, newest first; mark read)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.notices import NoticeList
from daemon.services import SERVICES

__all__ = ["routes"]


NoticeId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
"""A notice id: SQLite's integer range, so a larger number is a 422, not an overflow in the store."""


class MarkRead(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    up_to: NoticeId | None = None
    """Every notice with an id up to this one (the newest the client has shown)."""
    ids: Annotated[list[NoticeId], msgspec.Meta(max_length=1000)] = []


async def list_notices(request: web.Request) -> web.Response:
    q = request.query
    unknown = set(q) - {"unread", "limit"}
    if unknown:
        raise ApiError(400, "invalid_query", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    unread = q.get("unread", "false")
    if unread not in ("true", "false"):
        raise ApiError(400, "invalid_query", "unread: true or false")
    try:
        limit = int(q.get("limit", "50"))
    except ValueError:
        raise ApiError(400, "invalid_query", "limit: not a whole number") from None
    if not 1 <= limit <= 500:
        raise ApiError(400, "invalid_query", "limit: must be between 1 and 500")
    notices = request.app[SERVICES].timers.notice_log
    return json_response(await notices.list(unread_only=unread == "true", limit=limit))


async def mark_read(request: web.Request) -> web.Response:
    body = await read_json(request, MarkRead)
    if body.up_to is None and not body.ids:
        raise ApiError(422, "invalid_input", "give up_to or ids")
    return json_response(await request.app[SERVICES].timers.notice_log.mark_read(up_to=body.up_to, ids=body.ids))


routes = [
    Route(
        "GET",
        "/api/v1/notices",
        list_notices,
        "Notices: what changed billed time without the user's hand, newest first, with read/unread",
        "notices",
        response=NoticeList,
        params={"unread": "true: only unread ones (default false)", "limit": "at most this many (default 50, max 500)"},
    ),
    Route(
        "POST",
        "/api/v1/notices/read",
        mark_read,
        "Mark notices read (up_to an id, and/or by id); answers the unread ones left",
        "notices",
        body=MarkRead,
        response=NoticeList,
    ),
]
