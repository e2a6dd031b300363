"""Liveness and readiness, for the load balancer and the orchestrator. No authentication, nothing secret."""

from __future__ import annotations

import msgspec
from aiohttp import web

from daemon import __version__
from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response
from daemon.server.services import SERVER

__all__ = ["ROUTES"]


class Health(msgspec.Struct, kw_only=True):
    status: str
    version: str


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers (restart it if not)."""
    return json_response(Health(status="ok", version=__version__))


async def readyz(request: web.Request) -> web.Response:
    """The process can serve: its database answers at the schema this code knows (send it traffic if so)."""
    ok, why = await request.app[SERVER].db.ready()
    if not ok:
        raise ApiError.of("not_ready", why)
    return json_response(Health(status="ready", version=__version__))


ROUTES = [
    Route("GET", "/healthz", healthz, "Liveness", "health", response=Health, auth=False),
    Route(
        "GET",
        "/readyz",
        readyz,
        "Readiness (database reachable, schema current)",
        "health",
        response=Health,
        auth=False,
    ),
]
