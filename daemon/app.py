"""The composition root: `create_app(settings, *, clock, http)` wires every part of the daemon."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from daemon.api import (  # issue 10 (web-api)
    approvals,
    automation,
    browser,
    entries,
    exports,
    notices,
    psa_routes,
    rules,
    summary,
    system,
    tasks,
    team,
    timers,
    timesheets,
)
from daemon.api import web as web_pages
from daemon.api.connections import LIMITS, ConnectionLimits, file_limit
from daemon.api.errors import error_middleware
from daemon.api.routing import OPENAPI, OpenApi, Route, register
from daemon.api.security import AUTH, CLIENT_TAGS, Guard, guard_middleware, web_denied
from daemon.auth import Pairing, WebLogin, ensure_token_file, hash_token
from daemon.automation.service import AutomationService
from daemon.clock import Clock
from daemon.connectors.credentials import CredentialStore
from daemon.entries.periods import LocalZone
from daemon.entries.service import EntryService
from daemon.outbox import OutboxService
from daemon.private import private_dir
from daemon.psa import PsaService
from daemon.rules.service import RulesService
from daemon.services import SERVICES, Services
from daemon.settings import Settings
from daemon.store import Database, StoreLocked
from daemon.store.clients import ClientStore
from daemon.store.lock import DataDirLock, DataDirLocked
from daemon.store.sessions import SessionStore
from daemon.sync import SyncService
from daemon.timers.service import TimerService

if TYPE_CHECKING:
    import httpx  # built on first use by `ticketclock serve` (daemon/cli/serving.py)

__all__ = ["ROUTES", "create_app"]

log = logging.getLogger("ticketclock")

ROUTES: list[Route] = [
    *system.routes,
    *browser.routes,
    *timers.routes,
    *exports.routes,  # before entries: /entries/export is not an entry id
    *entries.routes,
    *notices.routes,
    *psa_routes.routes,
    *rules.routes,
    *tasks.routes,
    *automation.routes,
    *timesheets.routes,
    *summary.routes,
    *approvals.routes,
    *team.routes,  # team sync state (issue 13)
    *web_pages.routes,
]


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Name the product, not the library versions aiohttp would advertise."""
    response.headers["Server"] = "TicketClock"


def create_app(settings: Settings, *, clock: Clock, http: httpx.AsyncClient) -> web.Application:
    """Build the aiohttp application. Nothing touches disk until the app starts."""
    limits = ConnectionLimits(
        read_timeout_s=settings.config.limits.read_timeout_s,
        max_unauthenticated=settings.config.limits.max_unauthenticated,
        files=file_limit(),
    )
    app = web.Application(
        middlewares=[error_middleware, guard_middleware],  # the guard also trusts a connection past it (LIMITS)
        client_max_size=1_000_000,
        handler_args=limits.handler_args(),
    )
    app[LIMITS] = limits
    app[OPENAPI] = OpenApi(ROUTES)  # built on its first request
    register(app, ROUTES)
    register(app, web_pages.PAGE_ROUTES)
    app.on_response_prepare.append(_server_header)
    app[browser.SOCKETS] = browser.OpenSockets()
    app.on_shutdown.append(browser.close_sockets)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        private_dir(settings.data_dir)
        lock = DataDirLock(settings.data_dir)
        try:
            lock.acquire()
        except DataDirLocked as exc:
            raise StoreLocked(str(exc)) from None
        try:
            db = await Database.open(settings.db_path)
        except BaseException:
            lock.release()
            raise
        try:
            token = ensure_token_file(settings.token_file)
            clients = ClientStore(db)
            guard = Guard(
                port=settings.port,
                cli_token_sha256=hash_token(token),
                managed_sha256=hash_token(settings.config.pairing.managed_secret)
                if settings.config.pairing.managed_secret
                else "",
                clients=clients,
                extension_origins=set(settings.config.extension_origins),
                public={(r.method, r.path) for r in [*ROUTES, *web_pages.PAGE_ROUTES] if not r.auth},
                client_routes={(r.method, r.path) for r in ROUTES if r.tag in CLIENT_TAGS},
                paired_origins={c.origin for c in await clients.all() if c.origin},
                login=WebLogin(SessionStore(db), clock),
                web_denied=web_denied((r.method, r.path) for r in ROUTES),
            )
            timezone = LocalZone(settings.config.timezone)  # looked up on first use
            entry_service = EntryService(db, settings.config, clock, timezone=timezone)
            rule_service = RulesService(db, settings.config, clock, entry_service.rules)
            await rule_service.start()  # before the timers: finishing a timer at start shapes an entry
            timer_service = TimerService(db, settings.config, clock, entry_service)
            await timer_service.start()
            psa = PsaService(
                settings.config, CredentialStore(settings.data_dir, settings.config.credentials), http, clock
            )
            rule_service.known_work_types = psa.known_work_types
            rule_service.known_roles = psa.known_roles
            psa.on_company = lambda instance, company, attributes: entry_service.rules.set_psa_attributes(
                instance, company, attributes, clock.now()
            )
            outbox = OutboxService(db, settings.config, psa, clock, timezone)
            entry_service.on_queued = outbox.wake
            timer_service.lookup = psa.ticket_summary
            outbox.on_settled = timer_service.notify
            await outbox.start()
            automation_service = AutomationService(db, settings.config, clock, entry_service, psa, timer_service)
            await automation_service.start()
            credentials = CredentialStore(settings.data_dir, settings.config.credentials)
            sync_service = SyncService(db, settings.config, clock, entry_service, http, credentials)
            entry_service.on_changed = sync_service.wake
            await sync_service.start()  # team sync (issue 13): nothing unless `[team] server` is set
            services = Services(
                settings=settings,
                clock=clock,
                http=http,
                db=db,
                clients=clients,
                pairing=Pairing(clients, clock, managed_secret=settings.config.pairing.managed_secret),
                entries=entry_service,
                timers=timer_service,
                psa=psa,
                outbox=outbox,
                rules=rule_service,
                automation=automation_service,
                sync=sync_service,
            )
            app[SERVICES] = services
            app[AUTH] = guard
            ticker = asyncio.create_task(timer_service.run(), name="timer-tick")
            log.info("daemon ready on 127.0.0.1:%d, data in %s", settings.port, settings.data_dir)
            try:
                yield
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                await sync_service.stop()
                await outbox.stop()
                await psa.aclose()
                await timer_service.shutdown()
        finally:
            await db.close()
            lock.release()

    app.cleanup_ctx.append(lifecycle)
    return app
