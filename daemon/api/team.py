"""The team sync's state on this daemon (`ticketclock team status`): server, cursor, last sync, entries waiting."""

from __future__ import annotations

import msgspec
from aiohttp import web

from daemon.api.routing import Route, json_response
from daemon.services import SERVICES
from daemon.sync import SyncState

__all__ = ["routes"]


class TeamView(msgspec.Struct, kw_only=True):
    joined: bool
    """This daemon runs in team mode (`[team] server` set when it started)."""
    server: str
    state: SyncState | None
    failures: int
    """Rounds in a row that did not get through (0: the last one did)."""


async def team_state(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    config = services.settings.config
    state = await services.sync.state() if config.team_mode else None
    return json_response(
        TeamView(joined=config.team_mode, server=config.team.server, state=state, failures=services.sync.failures)
    )


routes = [
    Route("GET", "/api/v1/team", team_state, "Team sync: the server joined, last sync, entries waiting", "team",
          response=TeamView),
]  # fmt: skip
