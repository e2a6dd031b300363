"""Sync: a technician's daemon sends its changed entries and receives the decisions made about them.

    POST /api/team/v1/sync   (device token)
        {entries: [{entry, version}] (at most 500), cursor}
     -> {results: {entry id: stored|duplicate|conflict|refused}, decisions: [...] (the person's feed after `cursor`,
         at most 500), cursor, more}

Every entry goes through `flow.receive` (idempotent by id and version; the conflict rule is flow.py's), all of a batch
in one transaction, in entry-id order (two devices of one person sending overlapping batches lock rows in the same
order, so they cannot deadlock). The decisions are read after that transaction commits, so a conflict this batch
caused comes back in the same answer. A device that is pending gets 403 `device_pending`; a revoked one 401.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.entries.model import Entry
from daemon.server import flow
from daemon.server.api.devices import device_of, technician_team
from daemon.server.flow import Received
from daemon.server.model import SyncedEntry
from daemon.server.services import SERVER
from daemon.server.store import decisions, devices, people
from daemon.server.store.decisions import Decision

__all__ = ["BATCH", "ROUTES", "SyncAnswer", "SyncItem", "SyncRequest"]

BATCH = 500
"""At most this many entries up, and decisions down, per request."""


class SyncItem(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    entry: Entry
    version: int


class SyncRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    entries: list[SyncItem] = []
    cursor: int = 0
    """The `seq` of the last decision this daemon applied (0: none yet)."""


class SyncAnswer(msgspec.Struct, kw_only=True):
    results: dict[str, Received]
    decisions: list[Decision]
    cursor: int
    more: bool
    """More decisions wait after `cursor`: ask again (with no entries, or the next batch)."""


async def sync(request: web.Request) -> web.Response:
    person, device_id = device_of(request)
    body = await read_json(request, SyncRequest)
    if len(body.entries) > BATCH:
        raise ApiError.of("invalid_input", f"entries: at most {BATCH} per request")
    if body.cursor < 0:
        raise ApiError.of("invalid_input", "cursor: 0 or more")
    for item in body.entries:
        if not 1 <= item.version <= 2**31 - 1:
            raise ApiError.of("invalid_input", f"entries: version of {item.entry.id} must be 1 or more")
        if not item.entry.id or len(item.entry.id) > 100:
            raise ApiError.of("invalid_input", "entries: an entry id is 1 to 100 characters")
    services = request.app[SERVER]
    now = services.clock.now()
    results: dict[str, Received] = {}
    async with services.db.transaction() as tx:
        status = await devices.synced(tx, device_id, now)
        if status == "pending":
            raise ApiError.of("device_pending", "an admin has not approved this device yet")
        if status != "active":
            raise ApiError.of("unauthorized", "that token is not valid (revoked, or never issued)")
        if body.entries:
            team = await people.team_by_id(tx, technician_team(person))
            assert team is not None
            batch = [SyncedEntry(entry=i.entry, version=i.version, device_id=device_id) for i in body.entries]
            results = await flow.receive_many(tx, team, person, batch, now)
    async with services.db.connection() as conn:
        feed = await decisions.since(conn, person.id, body.cursor, BATCH + 1)
    more = len(feed) > BATCH
    feed = feed[:BATCH]
    cursor = feed[-1].seq if feed else body.cursor
    return json_response(SyncAnswer(results=results, decisions=feed, cursor=cursor, more=more))


ROUTES = [
    Route("POST", "/api/team/v1/sync", sync, "Send changed entries, receive decisions (device token)", "sync",
          body=SyncRequest, response=SyncAnswer),
]  # fmt: skip
