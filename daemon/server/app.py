"""The team server's aiohttp application: one process of any number sharing a PostgreSQL database.

`create_server_app` builds it; its database opens (and migrates) in the app's start-up, so a runner's `setup()`
fails with `ServerStoreError` when the database cannot be used. Route modules are listed in `ROUTE_MODULES`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from daemon.api.errors import ApiError, error_middleware
from daemon.api.routing import Route, register
from daemon.clock import Clock, SystemClock
from daemon.server.api import admin, devices, health, oidc, session, sync, team, team_pages
from daemon.server.api import automation as automation_api
from daemon.server.api import psa as psa_api
from daemon.server.auth import PUBLIC, principal_middleware
from daemon.server.config import ServerConfig
from daemon.server.credentials import check_key, fernet_of
from daemon.server.flow import FlowError
from daemon.server.posting import Poster
from daemon.server.services import SERVER, ServerServices
from daemon.server.store import ServerDatabase
from daemon.server.store.db import BAD_TEXT

__all__ = ["ROUTES", "create_server_app", "process_name"]

log = logging.getLogger("ticketclock.server")
access = logging.getLogger("ticketclock.server.access")

ROUTES: list[Route] = [
    *health.ROUTES,
    *session.ROUTES,
    *psa_api.ROUTES,
    *automation_api.ROUTES,
    *team.ROUTES,
    *team_pages.ROUTES,
    *devices.ROUTES,
    *sync.ROUTES,
    *admin.ROUTES,
    *oidc.ROUTES,
]
"""Every route of the team server (each API module's `ROUTES`)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One structured line per request: method, path (no query: it may hold codes), status, milliseconds."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if request.path not in ("/healthz", "/readyz"):
            access.info(
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={"method": request.method, "path": request.path, "status": status,
                       "ms": round((time.perf_counter() - started) * 1000, 1)},
            )  # fmt: skip


@web.middleware
async def flow_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The entry flow's refusals, in the one error shape with the catalogue's status."""
    try:
        return await handler(request)
    except FlowError as exc:
        raise ApiError.of(exc.code, exc.message) from None
    except BAD_TEXT:  # wherever it came from: every text the database is given is the client's
        raise ApiError.of("invalid_input", "text may not contain NUL characters") from None


def create_server_app(
    config: ServerConfig, *, clock: Clock | None = None, routes: list[Route] | None = None
) -> web.Application:
    app = web.Application(
        middlewares=[access_middleware, error_middleware, principal_middleware, flow_error_middleware],
        client_max_size=8 * 1024 * 1024,
    )
    the_clock = clock or SystemClock()

    async def database(app: web.Application) -> AsyncIterator[None]:
        db = await ServerDatabase.open(config.database_url, max_size=config.pool_size)
        try:
            cipher = fernet_of(config.secret_key)
            await check_key(db, cipher)
        except BaseException:
            await db.close()
            raise
        services = ServerServices(config=config, clock=the_clock, db=db, process_id=process_name())
        services.poster = Poster(
            db, cipher, the_clock, process_id=services.process_id, lease_s=config.outbox_lease_s,
            timezone=config.timezone,
        )  # fmt: skip
        app[SERVER] = services
        if config.posting:
            services.poster.start()
        log.info("server ready", extra={"server_process": app[SERVER].process_id})
        try:
            yield
        finally:
            await services.poster.stop()
            await db.close()

    app.cleanup_ctx.append(database)
    table = routes if routes is not None else ROUTES
    app[PUBLIC] = frozenset((r.method, r.path) for r in table if not r.auth)
    register(app, table)
    return app
