"""The team sync: entries up, decisions down, between this daemon and the team server it joined (`[team] server`).

One loop. Each round sends the entries changed since the server last acknowledged them (their `sync_version` above
`sent_version`: the entry store bumps it on every write), in batches of at most 500, and applies the decisions the
answer carries through `EntryService.apply_team_decision`, in ONE transaction with the new cursor: a daemon killed
at any point either applied a decision and moved its cursor past it, or did neither. An entry the server stored but
whose answer never arrived is sent again and comes back `duplicate` (the server is idempotent by id and version).

A local change wakes the loop at once; otherwise it asks every `[team] sync_interval_s`. When the server cannot be
reached (or refuses the device) it backs off, doubling up to `MAX_BACKOFF_S` (a local change still tries at once),
and keeps trying for as long as it takes: after days offline the first round that gets through sends everything
waiting.

The device token lives with the PSA credentials (`CredentialStore`, key `CREDENTIAL_KEY`) and is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from daemon.clock import Clock
from daemon.connectors.credentials import CredentialStore
from daemon.entries.service import EntryService
from daemon.notices import NoticeService
from daemon.settings import Config
from daemon.store.db import Database
from daemon.store.sync import SyncState, SyncStore

if TYPE_CHECKING:
    import httpx

__all__ = ["BATCH", "CREDENTIAL_KEY", "MAX_BACKOFF_S", "SyncError", "SyncService", "TeamDecision"]

log = logging.getLogger("ticketclock.sync")

BATCH = 500
CREDENTIAL_KEY = "team:device"
"""Where the device token is kept in the `CredentialStore` (PSA instance names cannot contain ':')."""
MAX_BACKOFF_S = 900.0
REQUEST_TIMEOUT_S = 120.0
CONFLICT_NOTICE = "team_conflict"


class SyncError(Exception):
    """A round that did not get through: `device_status` is what the server said of the device, if anything."""

    def __init__(self, message: str, device_status: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.device_status = device_status


class TeamDecision(msgspec.Struct, kw_only=True):
    seq: int
    entry_id: str | None = None
    version: int | None = None
    kind: str
    comment: str = ""
    detail: dict[str, Any] = {}
    actor: str
    at: float


class SyncAnswer(msgspec.Struct, kw_only=True):
    results: dict[str, str]
    decisions: list[TeamDecision]
    cursor: int
    more: bool


_answer = msgspec.json.Decoder(SyncAnswer)
_encode = msgspec.json.Encoder().encode


class SyncService:
    def __init__(
        self,
        db: Database,
        config: Config,
        clock: Clock,
        entries: EntryService,
        http: httpx.AsyncClient,
        credentials: CredentialStore,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._entries = entries
        self._http = http
        self._credentials = credentials
        self.store = SyncStore(db)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    @property
    def server(self) -> str:
        return self._config.team.server.rstrip("/")

    async def start(self) -> None:
        """Join (the first time with this server: entries made before are sent only if pending or rejected) and
        start the loop; nothing when this daemon has not joined a team."""
        if not self._config.team_mode:
            return
        await self.store.join(self.server, self._clock.now())
        self._task = asyncio.create_task(self._run(), name="team-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """An entry changed: send it soon."""
        self._wake.set()

    async def state(self) -> SyncState | None:
        return await self.store.state()

    async def _run(self) -> None:
        interval = self._config.team.sync_interval_s
        while True:
            self._wake.clear()
            try:
                await self.sync_once()
                self.failures = 0
                delay = interval
            except SyncError as exc:
                self.failures += 1
                await self.store.attempt_failed(self._clock.now(), exc.message, exc.device_status)
                delay = min(interval * 2 ** min(self.failures, 16), MAX_BACKOFF_S)
                log.warning("team sync: %s; next try in %.0f s", exc.message, delay)
            except Exception as exc:
                self.failures += 1
                delay = min(interval * 2 ** min(self.failures, 16), MAX_BACKOFF_S)
                log.exception("team sync failed")
                with contextlib.suppress(Exception):
                    await self.store.attempt_failed(self._clock.now(), f"internal error: {type(exc).__name__}")
            # a local change tries at once even while backing off: one request per change the technician makes
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def sync_once(self) -> None:
        """Send everything waiting and apply every decision waiting, in rounds of at most `BATCH` each."""
        token = await self._token()
        while True:
            async with self._db.transaction() as tx:
                batch = await SyncStore.unsent(tx, BATCH)
            state = await self.store.state()
            cursor = state.cursor if state is not None else 0
            body = _encode(
                {"entries": [{"entry": entry, "version": version} for entry, version in batch], "cursor": cursor}
            )
            answer = await self._post(token, body)
            now = self._clock.now()
            async with self._db.transaction() as tx:
                await SyncStore.acknowledged(tx, [(e.id, v) for e, v in batch if e.id in answer.results])
                notices: list[tuple[float, str, str, str | None]] = []
                for d in answer.decisions:
                    message = await self._entries.apply_team_decision(
                        tx, entry_id=d.entry_id, kind=d.kind, version=d.version, actor=d.actor or "team server",
                        comment=d.comment, detail=d.detail,
                    )  # fmt: skip
                    if message is not None:
                        notices.append((now, CONFLICT_NOTICE, message, None))
                if notices:
                    await NoticeService.record(tx, notices)
                await SyncStore.set_cursor(tx, answer.cursor, now)
            refused = [i for i, r in answer.results.items() if r == "refused"]
            if refused:
                log.warning("team sync: the server refused %d entries (a status it does not take from a daemon)",
                            len(refused))  # fmt: skip
            if len(batch) < BATCH and not answer.more:
                return

    async def _token(self) -> str:
        try:
            stored = await self._credentials.get(CREDENTIAL_KEY)
        except Exception as exc:  # a keyring that fails: say so, try again later
            raise SyncError(f"cannot read the device token: {type(exc).__name__}") from None
        token = stored.get("token") if stored else None
        if not isinstance(token, str) or not token:
            raise SyncError("no device token: run `ticketclock team join`")
        return token

    async def _post(self, token: str, body: bytes) -> SyncAnswer:
        import httpx

        try:
            response = await self._http.request(
                "POST",
                self.server + "/api/team/v1/sync",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=REQUEST_TIMEOUT_S,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise SyncError(f"cannot reach {self.server}: {type(exc).__name__}") from None
        if response.status_code == 200:
            try:
                return _answer.decode(response.content)
            except msgspec.DecodeError as exc:
                raise SyncError(f"{self.server} answered something that is not a sync answer: {exc}") from None
        code = _error_code(response)
        if code == "device_pending":
            raise SyncError("this device waits for an admin of the team server to approve it", "pending")
        if response.status_code == 401:
            raise SyncError("the team server refused this device's token (revoked?)", "revoked")
        raise SyncError(f"{self.server} answered {response.status_code} {code}".rstrip())


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""
