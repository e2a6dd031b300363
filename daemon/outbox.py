"""The outbox: posts queued entries to their PSA, exactly once.

One worker per PSA instance. For each due entry the worker, in order:

1. marks it as sending and counts the attempt — durably, before any request leaves;
2. if an earlier attempt may have been applied (the connector said `ambiguous`: a timeout, a dropped connection
   after sending, a 5xx or 408 — the one rule is `connectors.base.maybe_applied` — or the daemon died or stopped
   while the entry was claimed), asks the connector to `find()` the entry by its marker; found → posted, done.
   The flag is durable and only ever set, until the entry is posted;
3. posts it; success → `posted` with the PSA's ids;
4. on 429/5xx/network errors schedules a retry with exponential backoff and full jitter, honouring
   `Retry-After`; on a permanent refusal marks it `failed` with the PSA's own message (edit and retry);
   missing credentials leave it queued with a clear last error.

Concurrency: at most `CONCURRENCY[kind]` entries talk to the PSA at once (a semaphore per instance held only around
the connector calls); up to as many more are claimed ahead, so a slot freed by one entry is taken by the next while
the first records its result. "Ahead" counts entries not yet done with the PSA, so entries still recording their
results never hold the next claim back. A claimed entry waiting for a slot is durably "sending", so after a crash it
is looked up before being posted, like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Literal, Protocol

import msgspec

from daemon.clock import Clock
from daemon.connectors import (
    Connector,
    ConnectorAuthError,
    ConnectorRejected,
    ConnectorUnavailable,
    Identity,
    PostEntry,
)
from daemon.entries.model import Entry, EntryNews
from daemon.entries.periods import LocalZone
from daemon.psa import PsaError, PsaService
from daemon.settings import Config, TaskPost
from daemon.store.db import Database
from daemon.store.outbox import OutboxRow, OutboxStore
from daemon.timers.model import TicketRef

__all__ = ["ASSIGNEE", "CONCURRENCY", "InstanceOutbox", "OutboxService", "OutboxStorage", "OutboxView", "Progress"]

log = logging.getLogger("ticketclock.outbox")

ASSIGNEE = "assignee"
"""An entry's `log_as` that names no user but the ticket's assignee, looked up through the connector when posting."""
CONCURRENCY = {"autotask": 3, "connectwise": 4, "halopsa": 2}
"""Requests in flight per instance (Autotask allows 3 per integration and endpoint)."""
IDLE_WAIT_S = 5.0
NO_CREDENTIALS_WAIT_S = 60.0


Health = Literal["ok", "unreachable", "refusing", "no_credentials", "rate_limited", "untested"]
"""An instance's health as its last posting attempt found it ("untested": no attempt yet since the daemon started,
and credentials are stored; nothing is assumed)."""


class Progress(msgspec.Struct, kw_only=True):
    """The current backlog: entries posted since it began, of the total (posted + still waiting)."""

    posted: int
    total: int
    rate_per_min: float
    eta_s: float | None


class InstanceOutbox(msgspec.Struct, kw_only=True):
    name: str
    health: Health
    last_error: str
    queued: int
    sending: int
    failed: int
    progress: Progress


class OutboxView(msgspec.Struct, kw_only=True):
    rows: list[OutboxRow]
    instances: list[InstanceOutbox] = []


class OutboxStorage(Protocol):
    """What the posting policy needs of a store: the daemon's SQLite (`daemon.store.outbox.OutboxStore`) and the
    team server's PostgreSQL with leases shared by its processes (`daemon.server.store.outbox.LeasedOutbox`).

    The policy (this module) decides; a store only records, durably, before the next step: a claimed row is marked
    as being sent before any request leaves, and a row whose claim was never settled is handed out again as
    `ambiguous` (looked up before it is posted again)."""

    async def recover(self) -> int:
        """At start: rows this poster's earlier life claimed and never settled become ambiguous; how many."""
        ...

    async def claim(self, instance: str, now: float, limit: int) -> list[tuple[OutboxRow, Entry]]:
        """Up to `limit` due rows of `instance`, marked as being sent (attempt counted) before they are returned."""
        ...

    async def next_due(self, instance: str) -> float | None: ...

    async def posted(self, entry_id: str, psa_ids: list[str], now: float, comment: str) -> None: ...

    async def retry(self, entry_id: str, next_at: float, error: str, *, ambiguous: bool) -> None: ...

    async def due_now(self, entry_ids: set[str], now: float) -> None: ...

    async def release(self, entry_id: str) -> None:
        """Give a claimed row back (the poster is stopping); it is looked up before it is posted."""
        ...

    async def failed(self, entry_id: str, message: str, now: float) -> None: ...

    async def set_ticket_id(self, entry_id: str, ticket_id: int) -> None: ...

    async def rows(self) -> list[OutboxRow]: ...


class _Backlog(msgspec.Struct):
    began_at: float
    posted: int = 0


class OutboxService:
    def __init__(
        self,
        db: Database | None,
        config: Config,
        psa: PsaService,
        clock: Clock,
        timezone: str | LocalZone,
        *,
        store: OutboxStorage | None = None,
        as_owner: bool = False,
    ) -> None:
        """`store`: where the outbox lives (default: the daemon's SQLite `db`). `as_owner`: a poster for many
        people (the team server) — every entry is logged as the user its store put in `entry.log_as` (the
        technician's PSA identity), and an entry without one fails with a message for the admin."""
        if store is None:
            assert db is not None, "the daemon's outbox needs its database"
            store = OutboxStore(db)
        self._store: OutboxStorage = store
        self._as_owner = as_owner
        self._config = config
        self._psa = psa
        self._clock = clock
        self._zone = LocalZone.of(timezone)
        self._wake: dict[str, asyncio.Event] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._identities: dict[tuple[str, str], Identity] = {}
        self.on_settled: Callable[[EntryNews], None] = lambda news: None
        """Told of every entry posted or failed (the WebSocket clients show a notification)."""
        self._no_credentials: dict[str, set[str]] = {}
        """Entries put off because their instance had no credentials; retried as soon as the instance is woken."""
        self.posted_count = 0
        self._health: dict[str, tuple[Health, str]] = {}
        """instance -> what its last attempt found, and the PSA's message."""
        self._backlogs: dict[str, _Backlog] = {}

    async def start(self) -> None:
        recovered = await self._store.recover()
        if recovered:
            log.info(
                "%d entr(y/ies) were being posted when the daemon stopped; they will be looked up first", recovered
            )
        for name in self._psa.names():
            self._wake[name] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._worker(name), name=f"outbox-{name}"))

    def wake(self, instance: str | None = None) -> None:
        for name, event in self._wake.items():
            if instance is None or name == instance:
                event.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def view(self) -> OutboxView:
        rows = await self._store.rows()
        now = self._clock.now()
        instances = []
        for name in self._psa.names():
            mine = [r for r in rows if r.instance == name]
            failed = sum(1 for r in mine if r.status == "failed")
            sending = sum(1 for r in mine if r.status != "failed" and r.sending_since is not None)
            queued = len(mine) - failed - sending
            health, message = self._health.get(name, ("untested", ""))
            if name not in self._health and not await self._psa.has_credentials(name):
                health, message = "no_credentials", f"no credentials stored: run `ticketclock connect {name}`"
            instances.append(
                InstanceOutbox(
                    name=name,
                    health=health,
                    last_error=message,
                    queued=queued,
                    sending=sending,
                    failed=failed,
                    progress=self._progress(name, queued + sending, now),
                )
            )
        return OutboxView(rows=rows, instances=instances)

    def _progress(self, instance: str, waiting: int, now: float) -> Progress:
        """A backlog begins when entries are seen waiting and ends when none are; rate and ETA are measured."""
        backlog = self._backlogs.get(instance)
        if waiting == 0:
            self._backlogs.pop(instance, None)
            return Progress(posted=0, total=0, rate_per_min=0.0, eta_s=None)
        if backlog is None:
            backlog = self._backlogs[instance] = _Backlog(began_at=now)
        minutes = (now - backlog.began_at) / 60
        rate = backlog.posted / minutes if minutes > 0 and backlog.posted else 0.0
        eta = waiting / rate * 60 if rate > 0 else None
        return Progress(posted=backlog.posted, total=backlog.posted + waiting, rate_per_min=rate, eta_s=eta)

    def _note(self, instance: str, health: Health, message: str) -> None:
        self._health[instance] = (health, message)

    async def _worker(self, instance: str) -> None:
        kind = self._psa.instance(instance).kind
        limit = CONCURRENCY.get(kind, 2)
        self._slots[instance] = asyncio.Semaphore(limit)
        in_flight: set[asyncio.Task[None]] = set()
        unsent: set[str] = set()
        """Claimed entries not yet done with the PSA (talking to it, or waiting for a slot)."""
        wake = self._wake[instance]

        def done(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            wake.set()

        def sent(entry_id: str) -> None:
            if entry_id in unsent:
                unsent.discard(entry_id)
                wake.set()

        try:
            while True:
                wake.clear()
                if self._no_credentials.get(instance) and await self._psa.has_credentials(instance):
                    await self._store.due_now(self._no_credentials.pop(instance), self._clock.now())
                free = 2 * limit - len(unsent)  # `limit` at the PSA, as many claimed ahead
                if free < 1:
                    # Every claimed entry is at the PSA or waiting for a slot: nothing to claim, and no need to ask
                    # the database when the next row is due. An entry done with the PSA wakes the worker.
                    await _wait(wake, IDLE_WAIT_S)
                    continue
                claimed = await self._store.claim(instance, self._clock.now(), free)
                for row, entry in claimed:
                    unsent.add(entry.id)
                    task = asyncio.create_task(self._send(instance, row, entry, sent))
                    in_flight.add(task)
                    task.add_done_callback(done)
                if claimed:
                    continue
                await self._sleep(instance, wake, in_flight)
        except asyncio.CancelledError:
            for task in in_flight:
                task.cancel()
            raise

    async def _sleep(self, instance: str, wake: asyncio.Event, in_flight: set[asyncio.Task[None]]) -> None:
        due = await self._store.next_due(instance)
        wait = IDLE_WAIT_S if due is None else min(IDLE_WAIT_S, max(0.0, due - self._clock.now()))
        if wait <= 0 and in_flight:
            wait = IDLE_WAIT_S  # everything due is waiting for a free slot
        await _wait(wake, max(wait, 0.01))

    async def _send(self, instance: str, row: OutboxRow, entry: Entry, sent: Callable[[str], None]) -> None:
        """Post one claimed entry and record the result; calls `sent(entry.id)` once done with the PSA."""
        now = self._clock.now
        try:
            connector = await self._psa.connector(instance)
        except PsaError as exc:
            sent(entry.id)
            self._note(instance, "no_credentials", exc.message)
            await self._store.retry(entry.id, now() + NO_CREDENTIALS_WAIT_S, exc.message, ambiguous=row.ambiguous)
            self._no_credentials.setdefault(instance, set()).add(entry.id)
            return
        except BaseException:
            sent(entry.id)
            raise
        try:
            try:
                async with self._slots[instance]:
                    post = await self._post_entry(connector, instance, entry)
                    found = await connector.find(post) if row.ambiguous else None
                    result = found if found is not None else await connector.post(post)
            finally:
                sent(entry.id)
            comment = "found after an uncertain attempt" if found is not None else f"attempt {row.attempts}"
            await self._store.posted(entry.id, result.psa_ids, now(), comment)
            self.posted_count += 1
            self._psa.note(instance, "ok", "")
            self._note(instance, "ok", "")
            backlog = self._backlogs.get(instance)
            if backlog is None:
                backlog = self._backlogs[instance] = _Backlog(began_at=now())
            backlog.posted += 1
            self.on_settled(_news(entry, "posted", ""))
        except ConnectorUnavailable as exc:
            self._note(instance, "rate_limited" if exc.retry_after is not None else "unreachable", exc.message)
            if row.attempts >= self._config.outbox.max_attempts:
                uncertain = row.ambiguous or exc.ambiguous
                if uncertain:  # keep the flag: a retry looks the entry up before posting again
                    await self._store.retry(entry.id, now(), exc.message, ambiguous=True)
                note = " (it may have reached the PSA: a retry checks first)" if uncertain else ""
                await self._fail(instance, entry, f"gave up after {row.attempts} attempts: {exc.message}{note}")
                return
            delay = self._backoff(row.attempts, exc.retry_after)
            await self._store.retry(entry.id, now() + delay, exc.message, ambiguous=row.ambiguous or exc.ambiguous)
        except ConnectorAuthError as exc:
            self._psa.note(instance, "error", f"credentials refused: {exc.message}")
            self._note(instance, "refusing", f"credentials refused: {exc.message}")
            await self._fail(instance, entry, f"auth: {exc.message}")
        except ConnectorRejected as exc:
            self._note(instance, "refusing", exc.message)
            await self._fail(instance, entry, exc.message)
        except asyncio.CancelledError:
            await asyncio.shield(self._store.release(entry.id))
            raise
        except Exception as exc:
            log.exception("posting entry %s to %s failed unexpectedly", entry.id, instance)
            await self._store.retry(entry.id, now() + self._backoff(row.attempts, None), repr(exc), ambiguous=True)

    async def _fail(self, instance: str, entry: Entry, message: str) -> None:
        log.warning("entry %s to %s failed: %s", entry.id, instance, message)
        await self._store.failed(entry.id, message, self._clock.now())
        self.on_settled(_news(entry, "failed", message))

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        """Retry-After when the PSA said (plus a little jitter), else exponential backoff with full jitter."""
        if retry_after is not None:
            return max(retry_after, 0.0) * random.uniform(1.0, 1.1)
        cfg = self._config.outbox
        ceiling = min(cfg.max_backoff_s, cfg.backoff_s * 2 ** max(attempts - 1, 0))
        return random.uniform(ceiling / 2, ceiling)

    async def _post_entry(self, connector: Connector, instance: str, entry: Entry) -> PostEntry:
        kind = self._psa.instance(instance).kind
        ticket: TicketRef | None = None
        task: TaskPost | None = None
        if entry.kind == "task":
            found = self._config.task(entry.task or "")
            task = found.post if found is not None else None
            if task is None or task.instance != instance:
                raise ConnectorRejected(
                    f"the task {entry.task!r} no longer posts to {instance} (see [[tasks]] in the config)"
                )
        else:
            record: Literal["ticket", "work_order"] = "work_order" if entry.kind == "work_order" else "ticket"
            ticket = TicketRef(
                instance=instance, kind=kind, id=entry.ticket_id, number=entry.ticket_number, record=record
            )
            if ticket.id is None:
                info = await connector.ticket(ticket)
                ticket = msgspec.structs.replace(ticket, id=info.id)
                await self._store.set_ticket_id(entry.id, info.id)
        log_as = None
        if self._as_owner and not entry.log_as:
            raise ConnectorRejected(
                f"the technician has no {instance} identity to post this time as: an admin sets it "
                f"(psa_identities.{instance}: ConnectWise member, Autotask resource or Halo agent)"
            )
        if entry.log_as == ASSIGNEE and not self._as_owner:
            # Not a user's name: the ticket's assignee, as the PSA says now (ConnectWise owner, Autotask
            # assignedResourceID with its role, Halo agent_id).
            assignee = (await connector.ticket(ticket)).assignee if ticket is not None else None
            if assignee is None:
                raise ConnectorRejected(f"ticket {_label(entry)} has no assignee to log the time as (log_as: assignee)")
            log_as = assignee
        elif entry.log_as:
            key = (instance, entry.log_as)
            if key not in self._identities:
                self._identities[key] = await connector.identity(entry.log_as)
            log_as = self._identities[key]
        return PostEntry(
            entry_id=entry.id,
            ticket=ticket,
            task=task,
            task_name=entry.task or "",
            start=entry.started_at,
            end=entry.ended_at,
            seconds=entry.billed_seconds,
            notes=entry.notes,
            internal_notes=entry.internal_notes,
            billable=entry.billable,
            work_type=entry.work_type,
            role=entry.role,
            log_as=log_as,
            timezone=self._zone.name,
        )


def _label(entry: Entry) -> str:
    return f"#{entry.ticket_id or entry.ticket_number}"


def _news(entry: Entry, status: Literal["posted", "failed"], message: str) -> EntryNews:
    label = (entry.task or "") if entry.kind == "task" else f"#{entry.ticket_id or entry.ticket_number}"
    return EntryNews(id=entry.id, status=status, label=label, seconds=entry.billed_seconds, message=message)


async def _wait(wake: asyncio.Event, seconds: float) -> None:
    """Wait for `wake` at most `seconds`. Not `asyncio.wait_for`: on Python 3.11 a cancel that meets its
    timeout can come out as a TimeoutError, which this would swallow, and the worker would never stop."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
