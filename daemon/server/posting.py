"""Central posting: each server process runs the daemon's outbox policy (`daemon.outbox.OutboxService`: the marker,
the look-up after an uncertain attempt, the error classes, the backoff) over the shared PostgreSQL outbox
(`daemon.server.store.outbox.LeasedOutbox`), posting every entry as its technician.

The PSA instances and their (encrypted) credentials live in the database and may be changed by any process: each
poster reads their signature every `RELOAD_S` and, when it changed, stops its outbox (its claims go back, to be looked
up before they are posted) and builds connectors from the new rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from daemon.clock import Clock
from daemon.outbox import OutboxService
from daemon.psa import PsaService
from daemon.server.credentials import ServerCredentials
from daemon.server.store import ServerDatabase, psa
from daemon.server.store.outbox import LeasedOutbox
from daemon.settings import Config, OutboxConfig

if TYPE_CHECKING:
    import httpx
    from cryptography.fernet import Fernet

__all__ = ["RELOAD_S", "Poster"]

log = logging.getLogger("ticketclock.server.posting")

RELOAD_S = 5.0
"""How often a poster checks whether the PSA instances or their credentials changed."""


class Poster:
    def __init__(
        self,
        db: ServerDatabase,
        cipher: Fernet | None,
        clock: Clock,
        *,
        process_id: str,
        lease_s: float,
        timezone: str,
        outbox: OutboxConfig | None = None,
    ) -> None:
        self._db = db
        self._credentials = ServerCredentials(db, cipher, clock)
        self._clock = clock
        self._lease_s = lease_s
        self._timezone = timezone
        self._outbox_config = outbox or OutboxConfig()
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._psa: PsaService | None = None
        self._outbox: OutboxService | None = None
        self._store = LeasedOutbox(db, process_id, lease_s)
        self._renewing: asyncio.Task[None] | None = None
        self._signature: tuple[int, float] | None = None
        self._changed = asyncio.Event()

    @property
    def credentials(self) -> ServerCredentials:
        return self._credentials

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="server-poster")
        self._renewing = asyncio.create_task(self._renew(), name="server-poster-leases")

    async def _renew(self) -> None:
        """Keep the leases of the posts this process is running (a third of the lease apart)."""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await self._store.renew(self._clock.now())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not renew the outbox leases; trying again")

    def changed(self) -> None:
        """The instances changed in this process: rebuild now rather than at the next check."""
        self._changed.set()

    async def _run(self) -> None:
        while True:
            try:
                async with self._db.connection() as conn:
                    signature = await psa.signature(conn)
                if signature != self._signature:
                    await self._rebuild()
                    self._signature = signature
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the poster could not read the PSA instances; trying again")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RELOAD_S):
                    await self._changed.wait()

    async def _rebuild(self) -> None:
        await self._stop_outbox()
        async with self._db.connection() as conn:
            stored = await psa.instances(conn)
        if not stored:
            return
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        config = Config(instances=[s.instance for s in stored], outbox=self._outbox_config)
        self._psa = PsaService(config, self._credentials, self._http, self._clock)
        self._outbox = OutboxService(
            None, config, self._psa, self._clock, self._timezone, store=self._store, as_owner=True
        )
        await self._outbox.start()
        log.info("posting to %d PSA instance(s)", len(stored), extra={"instances": [s.instance.name for s in stored]})

    async def _stop_outbox(self) -> None:
        if self._outbox is not None:
            await self._outbox.stop()
            self._outbox = None
        if self._psa is not None:
            await self._psa.aclose()
            self._psa = None

    async def stop(self) -> None:
        for task in (self._task, self._renewing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._renewing = None
        await self._stop_outbox()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
