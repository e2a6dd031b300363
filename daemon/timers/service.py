"""The timer service: browser events and commands in, durable engine state and entries out, state pushed.

Every accepted event batch and every command is committed (engine state, new entries, acknowledgements) in one
transaction before it is acknowledged or answered. The engine itself (`engine.py`) is pure; this module owns
time (the injected clock), the database and the subscribers that get the state pushed.

Errors raised to the API: `engine.EngineError` subclasses (no such timer, too many timers, invalid transition,
invalid input), `EventsRejected` (a batch that cannot be applied; nothing of it was) and `events.SeqGap` (a batch
that does not follow the install's ack; nothing of it was applied, the client resends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, NamedTuple, TypeVar

import msgspec

from daemon.clock import Clock
from daemon.entries.model import Entry
from daemon.entries.model import Segment as EntrySegment
from daemon.entries.service import EntryService, NewEntry
from daemon.notices import NoticePush, NoticeService
from daemon.settings import Config
from daemon.store import Database, Transaction
from daemon.store.engine import EngineStore
from daemon.timers import engine as E
from daemon.timers.engine_state import Billable, InstallView, Tab
from daemon.timers.events import Batch, BrowserEvent, SeqGap, fresh_events
from daemon.timers.model import StatePush, TicketRef, TimerView
from daemon.timers.recognize import recognize

__all__ = ["EventsRejected", "TimerService"]

log = logging.getLogger("ticketclock.timers")

MAX_PAST_S = 30 * 86_400
"""Events older than this are refused: no browser queues a month of events."""
MAX_FUTURE_S = 86_400
"""Events further ahead than this are refused; smaller skews are clamped to now."""
STARTUP_GRACE_S = 120.0
"""After a start, let the extension reconnect and replay before treating the browser as gone."""
TICK_S = 5.0
"""At most this long between ticks (deadlines); checkpoints may wake the loop sooner."""
MIN_TICK_S = 0.5
"""At least this long between ticks, so a database that keeps failing is not retried in a tight loop."""
GROUP_WAIT_S = 0.002
"""How long a group commit waits for the batches of the senders active in the last one (`_gather`); one sender
never waits."""

_state_decoder = msgspec.json.Decoder(E.EngineState)
_view_decoder = msgspec.json.Decoder(InstallView)
_tabs_decoder = msgspec.json.Decoder(dict[int, Tab])
_encoder = msgspec.json.Encoder()


class _Parts(NamedTuple):
    """The engine state encoded for a commit: the rest, the install views (without their tabs) and the tab maps that
    differ from the saved ones, and the saved installs that are gone."""

    rest: bytes
    views: dict[str, bytes]
    tabs: dict[str, bytes]
    gone: list[str]


class EventsRejected(Exception):
    def __init__(self, message: str, seqs: list[int]) -> None:
        super().__init__(message)
        self.message = message
        self.seqs = seqs


R = TypeVar("R")

Listener = Callable[[bytes], None]
TicketLookup = Callable[[TicketRef], Awaitable[tuple[str, str, str] | None]]
"""Looks a ticket up in its PSA: (summary, company, board), or None when it cannot be known (yet)."""


class TimerService:
    def __init__(
        self, db: Database, config: Config, clock: Clock, entries: EntryService, *, group_wait_s: float = GROUP_WAIT_S
    ) -> None:
        self._db = db
        self._group_wait_s = group_wait_s
        self._config = config
        self._cfg = config.timing
        self._clock = clock
        self._entries = entries
        self._store = EngineStore(db)
        self._lock = asyncio.Lock()
        self._state = E.EngineState()
        self._saved_rest = b""
        self._saved: dict[str, bytes] = {}
        self._saved_tabs: dict[str, bytes] = {}
        """What the database holds: the rest of the state, each install's view and tab map, as encoded (`_encode`)."""
        self._acked: dict[str, int] = {}
        self._started = clock.now()
        self._listeners: set[Listener] = set()
        self._push_pending = False
        self._last_checkpoint = 0.0
        self.notices: list[E.Notice] = []
        self.notice_log = NoticeService(db, clock)
        """Notices, durable with the state that caused them; pushed to clients once committed."""
        self._noticed: list[NoticePush] = []
        self._instances = list(config.instances)
        self.lookup: TicketLookup | None = None
        self._tickets: dict[str, tuple[str, str]] = {}
        self._boards: dict[str, str] = {}
        """Ticket key → its board / queue / team, from the look-up (`_scope` puts it on the ticket's timers)."""
        self._looking: set[str] = set()
        self._lookups: set[asyncio.Task[None]] = set()
        self._queue: list[tuple[Batch, str, asyncio.Future[int]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._senders = 1
        """How many senders seem active: the installs in the last group, or half the previous guess if more."""
        self._filled: asyncio.Future[None] | None = None
        self.batches = 0
        self.commits = 0
        """Batches applied and the group commits that made them durable (batches per commit: logged at shutdown)."""

    # --- life cycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        daemon_seen = await self._load()
        now = self._clock.now()
        self._started = now
        if daemon_seen is not None:
            effects = E.recover(self._state, daemon_seen, now)
        else:
            effects = []
        self._acked = await self._store.acked()
        parts = self._encode(None)
        async with self._db.transaction() as tx:
            await self._persist(tx, effects, now, parts)
        self._saved_as(parts)
        self._last_checkpoint = now
        self._noticed = []  # recorded for the API; nobody is connected yet

    async def run(self) -> None:
        """Tick forever: deadlines (grace, merge window, long-run cap, browser silence) and the checkpoint."""
        while True:
            await asyncio.sleep(self._next_tick_in())
            try:
                await self.tick()
            except Exception:
                log.exception("timer tick failed")

    def _checkpoint_every(self) -> float:
        """Crash loss is bounded by `heartbeat_s` (DESIGN §4): checkpoint at half of it, whatever last wrote one,
        so a slow commit or a late wake-up still lands inside the bound."""
        return self._cfg.heartbeat_s / 2

    def _next_tick_in(self) -> float:
        due = self._last_checkpoint + self._checkpoint_every() - self._clock.now()
        return max(MIN_TICK_S, min(TICK_S, due))

    async def tick(self) -> None:
        async with self._lock:
            now = self._clock.now()
            self._scope()
            effects = E.tick(self._state, now, self._cfg, allow_offline=now - self._started >= STARTUP_GRACE_S)
            parts = self._encode(None)  # memory equals `_saved` before any change: a difference is a change
            changed = bool(effects) or parts.rest != self._saved_rest or any((parts.views, parts.tabs, parts.gone))
            if changed or now - self._last_checkpoint >= self._checkpoint_every():
                await self._commit(effects, now, changed=changed, parts=parts)

    async def shutdown(self) -> None:
        if self.commits:
            log.info("%d event batches in %d group commits", self.batches, self.commits)
        async with self._lock:
            now = self._clock.now()
            async with self._db.transaction() as tx:
                await EngineStore.checkpoint(tx, now)

    # --- browser events ----------------------------------------------------------------------------------------

    def acked(self, install: str) -> int:
        return self._acked.get(install, 0)

    async def ingest(self, batch: Batch, *, instance: str = "") -> int:
        """Apply a batch once, durably; returns the highest seq applied for the install (the ack).

        Raises SeqGap for a batch that does not follow the ack (the contract is in `events.py`).

        Batches that arrive while a commit is in flight are applied together and committed in one transaction
        (group commit), so several browsers share one fsync; each still gets its own acknowledgement.
        """
        now = self._clock.now()
        bad = [e.seq for e in batch.events if e.at < now - MAX_PAST_S or e.at > now + MAX_FUTURE_S]
        if bad:
            raise EventsRejected(
                f"{len(bad)} event(s) have a time more than 30 days in the past or a day in the future", bad
            )
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((batch, instance, future))
        if self._filled is not None and len(self._queue) >= self._senders and not self._filled.done():
            self._filled.set_result(None)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="timer-ingest")
        return await asyncio.shield(future)

    async def _gather(self) -> None:
        """With several senders active (recent groups had more than one batch), wait briefly until as many batches
        are queued: each sender waits for its answer before sending again, so without this the first one back commits
        alone and the rest queue behind it. One sender never waits; nobody is answered before the commit either way."""
        if len(self._queue) >= self._senders:
            return
        self._filled = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._group_wait_s):
                await self._filled
        except TimeoutError:
            pass
        finally:
            self._filled = None

    async def _drain(self) -> None:
        while self._queue:
            async with self._lock:
                try:
                    await self._gather()
                except BaseException:  # stopped while waiting: nothing of the queue was applied, nobody is left hanging
                    group, self._queue = self._queue, []
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(RuntimeError("stopped"))
                    raise
                group, self._queue = self._queue, []
                # a sender that is gone stops being waited for after a few commits
                self._senders = max(len({batch.install for batch, _, _ in group}), self._senders // 2)
                now = self._clock.now()
                effects: list[Any] = []
                acks: dict[str, tuple[int, str]] = {}
                answers: list[tuple[asyncio.Future[int], int]] = []
                try:
                    self._scope()
                    for batch, instance, future in group:
                        acked = acks[batch.install][0] if batch.install in acks else self._acked.get(batch.install, 0)
                        try:
                            fresh = fresh_events(batch, acked)
                        except SeqGap as gap:
                            future.set_exception(gap)  # never acknowledge past a gap; this batch changes nothing
                            continue
                        for event in fresh:
                            effects += E.apply_event(
                                self._state,
                                _clamp(event, now),
                                cfg=self._cfg,
                                recognize=self._recognize,
                                install=batch.install,
                            )
                        if fresh:
                            acks[batch.install] = (fresh[-1].seq, instance)
                        answers.append((future, fresh[-1].seq if fresh else acked))
                    if acks:
                        # an event changes the view of its own install only (engine.py); new and gone installs
                        # are found by `_encode` itself
                        await self._commit(
                            effects,
                            now,
                            changed=True,
                            acks=[(k, seq, inst) for k, (seq, inst) in acks.items()],
                            dirty=acks.keys(),
                        )
                except BaseException as exc:
                    await self._reload()  # memory never runs ahead of disk
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("stopped"))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                if acks:
                    self.batches += len(group)
                    self.commits += 1
                for install, (seq, _) in acks.items():
                    self._acked[install] = seq
                for future, seq in answers:
                    if not future.done():
                        future.set_result(seq)

    def _scope(self) -> None:
        """Put on each live timer what the rules need of its context and the engine cannot know: its ticket's board
        (from the look-up) and its own long-run cap, resolved by the rules in force for its instance, company (and
        its tags) and board (None where that is the config's). Called under the lock before the engine runs, so a
        timer is capped by the rules of its scope from the first engine step after its look-up."""
        rules = self._entries.rules
        now = self._clock.now()
        for tm in self._state.timers:
            company = ""
            if tm.ticket is not None and tm.ticket.key in self._tickets:
                company = self._tickets[tm.ticket.key][1]
                tm.board = self._boards.get(tm.ticket.key, tm.board)
            context = rules.context(
                instance=tm.ticket.instance if tm.ticket is not None else "", company=company, board=tm.board, now=now
            )
            cap = rules.resolve(context).long_run_s
            tm.long_run_s = None if cap == self._cfg.long_run_s else cap

    def _recognize(self, url: str, title: str, page_ticket: str | None) -> TicketRef | None:
        return recognize(url, self._instances, title=title, page_ticket=page_ticket)

    # --- commands ---------------------------------------------------------------------------------------------

    async def start_timer(
        self,
        *,
        ticket: TicketRef | None = None,
        task: str | None = None,
        notes: str = "",
        billable: Billable | None = None,
        work_type: str = "",
    ) -> tuple[str, list[Entry]]:
        """Start a timer by hand for a ticket or a task; returns its id and the entries the start created."""

        def run(state: E.EngineState, now: float) -> tuple[str, list[E.Effect]]:
            timer, effects = E.start_manual(
                state, now, self._cfg, ticket=ticket, task=task, notes=notes, billable=billable, work_type=work_type
            )
            return timer.id, effects

        return await self._command(run)

    async def pause(self, timer_id: str) -> list[Entry]:
        _, created = await self._command(lambda state, now: (None, E.pause(state, timer_id, now)))
        return created

    async def resume(self, timer_id: str) -> list[Entry]:
        _, created = await self._command(lambda state, now: (None, E.resume(state, timer_id, now, self._cfg)))
        return created

    async def stop(self, timer_id: str) -> list[Entry]:
        """Stop a timer; returns the entry it made (none if it was too short to keep)."""
        _, created = await self._command(lambda state, now: (None, E.stop(state, timer_id, now, self._cfg)))
        return created

    async def discard(self, timer_id: str) -> list[Entry]:
        _, created = await self._command(lambda state, now: (None, E.discard(state, timer_id, now)))
        return created

    async def finish(self, timer_id: str) -> list[Entry]:
        """Finish a closed ticket's timer inside its merge window now; returns the entry it made."""
        _, created = await self._command(lambda state, now: (None, E.finish(state, timer_id, now, self._cfg)))
        return created

    async def edit(
        self,
        timer_id: str,
        *,
        notes: str | None = None,
        internal_notes: str | None = None,
        billable: Billable | None = None,
        work_type: str | None = None,
        colour: str | None = None,
    ) -> None:
        """Change what the user may change; None leaves a field as it is."""

        def run(state: E.EngineState, now: float) -> tuple[None, list[E.Effect]]:
            E.edit(
                state,
                timer_id,
                notes=notes,
                internal_notes=internal_notes,
                billable=billable,
                work_type=work_type,
                colour=colour,
            )
            return None, []

        await self._command(run)

    async def add_flag(self, timer_id: str, flag: str) -> None:
        """Mark a live timer (e.g. "overlap": an automation ran on its ticket); the flag reaches its entry."""

        def run(state: E.EngineState, now: float) -> tuple[None, list[E.Effect]]:
            E.flag(state, timer_id, flag)
            return None, []

        await self._command(run)

    async def resolve_idle(self, keep: bool) -> list[Entry]:
        _, created = await self._command(lambda state, now: (None, E.resolve_idle(state, keep, now)))
        return created

    async def _command(self, run: Callable[[E.EngineState, float], tuple[R, list[E.Effect]]]) -> tuple[R, list[Entry]]:
        """Run an engine command at daemon time, atomically: on any error the state is unchanged.

        Returns the command's result and the entries it created (a stop creates one).
        """
        async with self._lock:
            now = self._clock.now()
            snapshot = self._state_copy()
            try:
                self._scope()
                result, effects = run(self._state, now)
                created = await self._commit(effects, now, changed=True)
            except BaseException:
                self._state = snapshot
                raise
            return result, created

    # --- views and pushes -------------------------------------------------------------------------------------

    def view(self) -> StatePush:
        now = self._clock.now()
        return StatePush(timers=self._views(now), idle_pending=E.idle_pending_view(self._state), at=now)

    def open_entries(self) -> list[Entry]:
        """The entries of closed tickets inside their merge window (status "open"), as finishing them now would make
        them; `held_until` says when they finalize by themselves. Their id is the timer's id."""
        now = self._clock.now()
        out: list[Entry] = []
        for timer, until in E.held(self._state, now, self._cfg):
            new = _new_entry(E.Finalized(timer=timer, reason="closed"))
            if new.ticket is not None and new.ticket.key in self._tickets:
                new.summary, new.company = self._tickets[new.ticket.key]
            out.append(self._entries.preview_open(new, timer.id, until, now))
        return out

    def timer_view(self, timer_id: str) -> TimerView:
        for view in self._views(self._clock.now()):
            if view.id == timer_id:
                return view
        raise E.NoSuchTimer(f"no live timer {timer_id}")

    def _views(self, now: float) -> list[TimerView]:
        views = E.views(self._state, now)
        for view in views:
            if view.ticket is not None:
                known = self._tickets.get(view.ticket.key)
                if known is not None:
                    view.summary, view.company = known
                else:
                    self._look_up(view.ticket)
        return views

    def _look_up(self, ticket: TicketRef) -> None:
        """Fetch a ticket's summary and company from its PSA in the background; push the state when known."""
        if self.lookup is None or ticket.key in self._looking:
            return
        self._looking.add(ticket.key)
        lookup = self.lookup

        async def run() -> None:
            try:
                found = await lookup(ticket)
            except Exception:
                log.debug("looking up ticket %s failed", ticket.key, exc_info=True)
                found = None
            if found is not None:
                self._tickets[ticket.key] = (found[0], found[1])
                self._boards[ticket.key] = found[2]
                self._schedule_push()
            else:
                # Try again on a later view, but not in a tight loop: forget the attempt after a minute.
                asyncio.get_running_loop().call_later(60, self._looking.discard, ticket.key)
                return
            self._looking.discard(ticket.key)

        task = asyncio.get_running_loop().create_task(run())
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def notify(self, message: msgspec.Struct) -> None:
        """Send one message (e.g. entry news) to every connected client, beside the state pushes."""
        data = _encoder.encode(message)
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):
                listener(data)

    def _schedule_push(self) -> None:
        if self._push_pending or not self._listeners:
            return
        self._push_pending = True
        asyncio.get_running_loop().call_soon(self._push)

    def _push(self) -> None:
        self._push_pending = False
        data = _encoder.encode(self.view())
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):
                listener(data)

    # --- persistence ------------------------------------------------------------------------------------------

    async def _commit(
        self,
        effects: Sequence[Any],
        now: float,
        *,
        changed: bool,
        acks: Sequence[tuple[str, int, str]] = (),
        dirty: Collection[str] | None = None,
        parts: _Parts | None = None,
    ) -> list[Entry]:
        """Commit the state (`parts`, else encoded for the installs in `dirty`, else for all), the effects' entries and
        notices and `acks` in one transaction."""
        try:
            if parts is None:
                parts = self._encode(dirty)
            if effects:
                async with self._db.transaction() as tx:
                    created = await self._persist(tx, effects, now, parts)
                    for install, seq, instance in acks:
                        await EngineStore.ack(tx, install, seq, now, instance)
            else:  # the common case (no entry, no notice): state and acks in one database call
                created = []
                await self._store.save_acked(parts.rest, now, parts.views, parts.tabs, parts.gone, acks)
        except BaseException:
            # The database did not take it: reload the last durable state so memory never runs ahead of disk.
            self._noticed = []
            await self._reload()
            raise
        self._saved_as(parts)
        self._last_checkpoint = now
        noticed, self._noticed = self._noticed, []
        for push in noticed:
            self.notify(push)
        if changed:
            self._schedule_push()
        return created

    async def _persist(self, tx: Transaction, effects: Sequence[Any], now: float, parts: _Parts) -> list[Entry]:
        created: list[Entry] = []
        notices: list[tuple[float, str, str, str | None]] = []
        for effect in effects:
            if isinstance(effect, E.Finalized):
                new = _new_entry(effect)
                if new.ticket is not None and new.ticket.key in self._tickets:
                    new.summary, new.company = self._tickets[new.ticket.key]
                entry, audit = self._entries.build(new, now)
                await self._entries.insert(tx, entry, audit)
                created.append(entry)
            elif isinstance(effect, E.Notice):
                self.notices = [*self.notices[-49:], effect]
                log.info("%s", effect.message)
                notices.append((now, effect.code, effect.message, effect.timer_id))
        if notices:
            recorded, unread = await NoticeService.record(tx, notices)
            self._noticed += [NoticePush(notice=n, unread=unread) for n in recorded]
        await EngineStore.save(tx, parts.rest, now, parts.views, parts.tabs, parts.gone)
        return created

    def _encode(self, dirty: Collection[str] | None) -> _Parts:
        """Encode the state for a commit: the rest, and the views and tab maps of the installs in `dirty` (all if
        None) and of new installs, where they differ from what was saved. The tab maps are most of the state, an
        event changes only its own install's view and few change its tabs, so a batch writes a few KB instead of the
        whole state."""
        state = self._state
        installs = state.installs
        saved = self._saved
        rest = _encoder.encode(msgspec.structs.replace(state, installs={}))
        names: Collection[str] = installs.keys()
        if dirty is not None:
            names = {n for n in dirty if n in installs}
            names.update(n for n in installs if n not in saved)
        views: dict[str, bytes] = {}
        tabs: dict[str, bytes] = {}
        for name in names:
            view = installs[name]
            blob = _encoder.encode(msgspec.structs.replace(view, tabs={}))
            if saved.get(name) != blob:
                views[name] = blob
            blob = _encoder.encode(view.tabs)
            if self._saved_tabs.get(name) != blob:
                tabs[name] = blob
        gone = [name for name in saved if name not in installs]
        return _Parts(rest, views, tabs, gone)

    def _saved_as(self, parts: _Parts) -> None:
        """`parts` are committed."""
        self._saved_rest = parts.rest
        self._saved.update(parts.views)
        self._saved_tabs.update(parts.tabs)
        for name in parts.gone:
            self._saved.pop(name, None)
            self._saved_tabs.pop(name, None)

    async def _load(self) -> float | None:
        """Load the durable state into memory; returns the daemon's last checkpoint (None: nothing saved yet)."""
        rest, views, tabs, daemon_seen = await self._store.load()
        state = _state_decoder.decode(rest) if rest is not None else E.EngineState()
        # a rest that still holds views (never written so) keeps them; the rows win and the next commit moves them
        for name, blob in views.items():
            view = state.installs[name] = _view_decoder.decode(blob)
            view.tabs = _tabs_decoder.decode(tabs[name]) if name in tabs else {}
        self._state = state
        self._saved_rest = rest if rest is not None else b""
        self._saved = views
        self._saved_tabs = tabs
        return daemon_seen

    async def _reload(self) -> None:
        await self._load()

    def _state_copy(self) -> E.EngineState:
        return _state_decoder.decode(_encoder.encode(self._state))


def _clamp(event: BrowserEvent, now: float) -> BrowserEvent:
    """Clock skew: an event from the near future happened now, as far as we can tell."""
    if event.at <= now:
        return event
    return msgspec.structs.replace(event, at=now)


def _new_entry(effect: E.Finalized) -> NewEntry:
    timer = effect.timer
    segments = [EntrySegment(s.start, s.end) for s in timer.segments if s.end is not None]
    return NewEntry(
        source="timer",
        segments=segments,
        ticket=timer.ticket,
        task=timer.task,
        timer_id=timer.id,
        summary=getattr(timer, "summary", ""),
        company=getattr(timer, "company", ""),
        board=timer.board,
        notes=timer.notes,
        internal_notes=timer.internal_notes,
        billable=timer.billable or "",
        work_type=timer.work_type,
        flags=list(timer.flags),
        reason=effect.reason,
    )
