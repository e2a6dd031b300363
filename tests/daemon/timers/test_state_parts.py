"""The engine state on disk in parts (migration 9): one row per install's browser view, the rest in the engine row.

A batch writes only the views it changed; what is on disk after every commit is exactly the state the pure engine
computes from the same events (views of new, changed and forgotten installs included); a database written by the
previous schema (the whole state in one blob) is moved into parts and read back unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from daemon.clock import FakeClock
from daemon.entries.service import EntryService
from daemon.settings import parse_config
from daemon.store.db import Database
from daemon.store.engine import EngineStore
from daemon.store.migrations import MIGRATIONS
from daemon.timers import engine as E
from daemon.timers.engine_state import InstallView, Tab
from daemon.timers.events import Batch, BrowserEvent, Heartbeat, TabActivated, TabClosed, TabOpened
from daemon.timers.offline import OFFLINE_FINALIZE_S
from daemon.timers.recognize import recognize
from daemon.timers.service import STARTUP_GRACE_S, TimerService

CONFIG = parse_config('[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["https://acme.halopsa.com"]\n')
CFG = CONFIG.timing


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "parts.db")
    try:
        yield database
    finally:
        await database.close()


def url(ticket: int) -> str:
    return f"https://acme.halopsa.com/ticket?id={ticket}"


def opened(seq: int, at: float, tab: int, ticket: int, window: int = 1) -> TabOpened:
    return TabOpened(seq=seq, at=at, tab=tab, window=window, url=url(ticket), active=True)


def recognise(u: str, title: str, page_ticket: str | None) -> Any:
    return recognize(u, CONFIG.instances, title=title, page_ticket=page_ticket)


async def on_disk(db: Database) -> E.EngineState:
    rest, views, tabs, _ = await EngineStore(db).load()
    assert rest is not None
    state = msgspec.json.decode(rest, type=E.EngineState)
    assert state.installs == {}  # the views live in their own rows only
    assert set(tabs) == set(views)
    for name, blob in views.items():
        view = state.installs[name] = msgspec.json.decode(blob, type=InstallView)
        assert view.tabs == {}  # and their tabs in theirs
        view.tabs = msgspec.json.decode(tabs[name], type=dict[int, Tab])
    return state


class Twin:
    """The service and the pure engine fed the same events at the same times: after each step, the database holds
    exactly the engine's state."""

    def __init__(self, db: Database, clock: FakeClock) -> None:
        self.db = db
        self.clock = clock
        self.svc = TimerService(db, CONFIG, clock, EntryService(db, CONFIG, clock))
        self.ref = E.EngineState()
        self.seq: dict[str, int] = {}
        self.started = clock.now()

    async def start(self) -> None:
        await self.svc.start()
        self.started = self.clock.now()
        await self.check()

    async def send(self, install: str, *events: BrowserEvent) -> None:
        first = self.seq.get(install, 0) + 1
        events = tuple(msgspec.structs.replace(e, seq=first + i) for i, e in enumerate(events))
        self.seq[install] = first + len(events) - 1
        await self.svc.ingest(Batch(install=install, events=list(events)))
        for event in events:
            E.apply_event(self.ref, event, cfg=CFG, recognize=recognise, install=install)
        await self.check()

    async def tick(self) -> None:
        await self.svc.tick()
        now = self.clock.now()
        E.tick(self.ref, now, CFG, allow_offline=now - self.started >= STARTUP_GRACE_S)
        await self.check()

    async def check(self) -> None:
        assert msgspec.to_builtins(await on_disk(self.db)) == msgspec.to_builtins(self.ref)


async def test_after_every_commit_the_parts_on_disk_are_the_engines_state(db: Database, fake_clock: FakeClock) -> None:
    twin = Twin(db, fake_clock)
    await twin.start()
    t = fake_clock.now()
    await twin.send("a", opened(0, t, 1, 101), opened(0, t, 2, 102))
    await twin.send("b", opened(0, t, 1, 103, window=7))
    await twin.send("c", opened(0, t, 1, 101, window=3))
    for step in range(1, 6):  # switching tabs in a and b
        fake_clock.advance(30)
        t = fake_clock.now()
        await twin.send("a", TabActivated(seq=0, at=t, tab=1 + step % 2, window=1))
        await twin.send("b", opened(0, t, 1 + step, 110 + step, window=7))
        await twin.tick()
    assert set((await on_disk(db)).installs) == {"a", "b", "c"}
    # b and c fall silent: past the offline threshold their views go offline (a tick changes them) ...
    fake_clock.advance(STARTUP_GRACE_S + 600)
    t = fake_clock.now()
    await twin.send("a", Heartbeat(seq=0, at=t))
    await twin.tick()
    assert (await on_disk(db)).installs["b"].offline
    # ... and after OFFLINE_FINALIZE_S, while a still speaks, they are forgotten (rows deleted)
    for _ in range(int(OFFLINE_FINALIZE_S // 1800) + 1):
        fake_clock.advance(1800)
        t = fake_clock.now()
        await twin.send("a", Heartbeat(seq=0, at=t))
        await twin.tick()
    assert set((await on_disk(db)).installs) == {"a"}
    # c speaks again: its view is new again
    fake_clock.advance(5)
    t = fake_clock.now()
    await twin.send("c", opened(0, t, 4, 104, window=3))
    await twin.send("a", TabClosed(seq=0, at=t, tab=2))
    await twin.tick()
    assert set((await on_disk(db)).installs) == {"a", "c"}


async def test_a_batch_writes_the_view_of_its_own_install_only(db: Database, fake_clock: FakeClock) -> None:
    twin = Twin(db, fake_clock)
    await twin.start()
    t = fake_clock.now()
    for name in ("a", "b", "c"):
        await twin.send(name, *(opened(0, t, tab, 200 + tab) for tab in range(1, 51)))
    # real SQLite triggers record every write of an install's view and of its tab map from here on
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE writes (part TEXT NOT NULL, install TEXT NOT NULL)")
        for sql in TRIGGERS:
            await tx.execute(sql)
    for i in range(1, 4):  # switching tabs changes b's view, not its tabs
        fake_clock.advance(10)
        t = fake_clock.now()
        await twin.send("b", TabActivated(seq=0, at=t, tab=i, window=1), Heartbeat(seq=0, at=t))
    assert await writes(db) == [("view", "b")] * 3  # one write per batch, of b's view; a's and c's untouched
    fake_clock.advance(10)
    t = fake_clock.now()
    await twin.send("c", opened(0, t, 60, 260))  # a new tab: c's view and tab map
    assert await writes(db) == [("view", "b")] * 3 + [("view", "c"), ("tabs", "c")]
    rest = await db.scalar("SELECT state FROM engine WHERE id = 1")
    assert b"ticket?id=" not in bytes(rest)  # no tab is in the engine row


TRIGGERS = [
    f"CREATE TRIGGER log_{op.lower()}_{table} AFTER {op} ON {table} "  # noqa: S608 (constants)
    f"BEGIN INSERT INTO writes (part, install) VALUES ('{part}', new.install); END"
    for op in ("INSERT", "UPDATE")
    for table, part in (("engine_installs", "view"), ("engine_tabs", "tabs"))
]


async def writes(db: Database) -> list[tuple[str, str]]:
    return [(str(r[0]), str(r[1])) for r in await db.fetchall("SELECT part, install FROM writes ORDER BY rowid")]


async def test_a_database_of_the_previous_schema_is_read_with_its_whole_state(tmp_path: Path) -> None:
    """The previous schema kept the whole state (views included) in the engine row's blob; migration 9 moves the
    views into rows and the service reads the same state back."""
    t0 = 1_764_000_000.25
    old = E.EngineState()
    for install, window in (("ext-a", 1), ("ext-b", 100_007)):
        for tab in range(1, 6):
            event = opened(tab, t0 + tab, tab, 300 + tab, window=window)
            E.apply_event(old, event, cfg=CFG, recognize=recognise, install=install)
    E.apply_event(old, Heartbeat(seq=6, at=t0 + 60.5), cfg=CFG, recognize=recognise, install="ext-a")
    assert old.timers and len(old.installs) == 2
    path = tmp_path / "old.db"
    db = await Database.open(path, migrate=False)
    try:
        # the schema before the migration that moved the views into rows (later migrations may follow it)
        before = next(i for i, sql in enumerate(MIGRATIONS) if "CREATE TABLE engine_installs" in sql)
        assert await db.migrate(target=before) == before
        async with db.transaction() as tx:  # as the previous code wrote it
            await tx.execute(
                "INSERT INTO engine (id, state, daemon_seen) VALUES (1, ?, ?)", (msgspec.json.encode(old), t0 + 61)
            )
    finally:
        await db.close()

    db = await Database.open(path)
    try:
        assert msgspec.to_builtins(await on_disk(db)) == msgspec.to_builtins(old)
        clock = FakeClock(t0 + 90)
        svc = TimerService(db, CONFIG, clock, EntryService(db, CONFIG, clock))
        await svc.start()
        assert [v.ticket.key for v in svc.view().timers if v.ticket is not None] == [
            tm.ticket.key for tm in old.timers if tm.ticket is not None
        ]
        assert msgspec.to_builtins(await on_disk(db)) == msgspec.to_builtins(old)  # auto timers: nothing to recover
    finally:
        await db.close()


async def test_the_engine_row_with_every_timer_live_fits_in_one_page(db: Database, fake_clock: FakeClock) -> None:
    """Every event rewrites the engine row (the timers, when the browser was last seen): fields at their default are
    not written (`omit_defaults`), so with all slots live it stays inside one 4 KiB page, without overflow pages."""
    twin = Twin(db, fake_clock)
    await twin.start()
    for tab in range(1, 21):
        fake_clock.advance(7)
        t = fake_clock.now()
        await twin.send("a", opened(0, t, tab, 1000 + tab), TabActivated(seq=0, at=t, tab=tab, window=1))
    rest = await db.scalar("SELECT state FROM engine WHERE id = 1")
    assert len(msgspec.json.decode(rest, type=E.EngineState).timers) == E.MAX_LIVE
    assert len(rest) < 4000, len(rest)  # SQLite keeps a row of up to ~4 KB in its leaf page
