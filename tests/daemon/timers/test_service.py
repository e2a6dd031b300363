"""TimerService against a real SQLite file and a FakeClock: durable ingest, dedupe, the time window, rollback when the
database refuses a commit, recovery after a crash, the start-up grace, checkpoints and state pushes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from daemon.clock import FakeClock
from daemon.entries.service import EntryService
from daemon.settings import parse_config
from daemon.store.db import Database
from daemon.timers.events import Batch, Heartbeat, SeqGap, TabClosed, TabOpened
from daemon.timers.service import MAX_FUTURE_S, MAX_PAST_S, STARTUP_GRACE_S, EventsRejected, TimerService

CONFIG = parse_config('[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["https://acme.halopsa.com"]\n')


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "timers.db")
    try:
        yield database
    finally:
        await database.close()


async def service(db: Database, clock: FakeClock) -> TimerService:
    svc = TimerService(db, CONFIG, clock, EntryService(db, CONFIG, clock))
    await svc.start()
    return svc


def opened(seq: int, at: float, ticket: int = 101, tab: int = 1) -> TabOpened:
    url = f"https://acme.halopsa.com/ticket?id={ticket}"
    return TabOpened(seq=seq, at=at, tab=tab, window=1, url=url, active=True)


def beats(first_seq: int, start: float, count: int) -> list[Heartbeat]:
    return [Heartbeat(seq=first_seq + i, at=start + 20 * (i + 1)) for i in range(count)]


def snapshot(svc: TimerService) -> bytes:
    view = svc.view()
    return msgspec.json.encode(view.timers) + msgspec.json.encode(view.idle_pending)


async def on_disk_ack(db: Database, install: str = "a") -> int | None:
    value = await db.scalar("SELECT acked_seq FROM installs WHERE install = ?", (install,))
    return None if value is None else int(value)


async def test_ingest_is_durable_and_deduplicated(db: Database, fake_clock: FakeClock) -> None:
    svc = await service(db, fake_clock)
    t0 = fake_clock.now()
    fake_clock.advance(60)
    assert await svc.ingest(Batch(install="a", events=[opened(1, t0), *beats(2, t0, 3)])) == 4
    assert await on_disk_ack(db) == 4
    before = snapshot(svc)
    assert await svc.ingest(Batch(install="a", events=[TabClosed(seq=3, at=t0 + 30, tab=1)])) == 4
    assert snapshot(svc) == before
    [timer] = svc.view().timers
    assert timer.elapsed_s == 60 and timer.state == "running"


@pytest.mark.parametrize(
    ("offset", "refused"),
    [(-MAX_PAST_S - 1, True), (-MAX_PAST_S + 1, False), (MAX_FUTURE_S + 1, True), (MAX_FUTURE_S - 1, False)],
)
async def test_the_time_window(db: Database, fake_clock: FakeClock, offset: float, refused: bool) -> None:
    svc = await service(db, fake_clock)
    batch = Batch(
        install="a", events=[Heartbeat(seq=1, at=fake_clock.now()), Heartbeat(seq=2, at=fake_clock.now() + offset)]
    )
    if refused:
        with pytest.raises(EventsRejected) as caught:
            await svc.ingest(batch)
        assert caught.value.seqs == [2]
        assert svc.acked("a") == 0 and await on_disk_ack(db) is None
    else:
        assert await svc.ingest(batch) == 2


async def test_a_refused_commit_leaves_memory_as_on_disk(db: Database, fake_clock: FakeClock) -> None:
    svc = await service(db, fake_clock)
    t0 = fake_clock.now()
    fake_clock.advance(20)
    assert await svc.ingest(Batch(install="a", events=[opened(1, t0), *beats(2, t0, 1)])) == 2
    before = snapshot(svc)
    # The database refuses the next write (here: its acknowledgement table is gone).
    await db.conn.execute("ALTER TABLE installs RENAME TO installs_away")
    fake_clock.advance(20)
    with pytest.raises(Exception, match="installs"):
        await svc.ingest(Batch(install="a", events=[opened(3, t0 + 40, ticket=202, tab=2)]))
    assert snapshot(svc) == before
    assert svc.acked("a") == 2
    await db.conn.execute("ALTER TABLE installs_away RENAME TO installs")
    # Sent again, the batch applies once.
    assert await svc.ingest(Batch(install="a", events=[opened(3, t0 + 40, ticket=202, tab=2)])) == 3
    assert sorted(t.ticket.id or 0 for t in svc.view().timers if t.ticket) == [101, 202]


async def test_a_failing_command_changes_nothing(db: Database, fake_clock: FakeClock) -> None:
    svc = await service(db, fake_clock)
    for i in range(9):
        await svc.start_timer(task=f"Task {i}")
    before = snapshot(svc)
    with pytest.raises(Exception, match="at most 9"):
        await svc.start_timer(task="Task 10")
    assert snapshot(svc) == before


async def test_recover_pauses_a_running_manual_timer_at_the_checkpoint(db: Database, fake_clock: FakeClock) -> None:
    svc = await service(db, fake_clock)
    t0 = fake_clock.now()
    timer_id, _ = await svc.start_timer(task="Admin")
    fake_clock.advance(25)
    await svc.tick()  # a checkpoint (heartbeat_s has passed)
    assert await db.scalar("SELECT daemon_seen FROM engine") == t0 + 25
    fake_clock.advance(4)
    await svc.tick()  # no checkpoint: less than half a heartbeat since the last
    assert await db.scalar("SELECT daemon_seen FROM engine") == t0 + 25
    # The daemon dies here (no shutdown) and starts again an hour later.
    fake_clock.advance(3600)
    again = await service(db, fake_clock)
    [view] = again.view().timers
    assert (view.id, view.state, view.paused_by) == (timer_id, "paused", "restart")
    assert view.elapsed_s == 25
    assert [n.code for n in again.notices] == ["restart"]


async def test_a_tick_half_a_heartbeat_after_any_commit_checkpoints(db: Database, fake_clock: FakeClock) -> None:
    """The crash-loss bound is one heartbeat: a command between ticks must not push the next checkpoint further."""
    svc = await service(db, fake_clock)
    half = CONFIG.timing.heartbeat_s / 2
    fake_clock.advance(3)
    await svc.start_timer(task="Admin")  # a commit between ticks
    started = fake_clock.now()
    fake_clock.advance(half - 0.001)
    await svc.tick()
    assert await db.scalar("SELECT daemon_seen FROM engine") == started
    fake_clock.advance(0.001)
    await svc.tick()
    assert await db.scalar("SELECT daemon_seen FROM engine") == started + half


async def test_shutdown_checkpoints(db: Database, fake_clock: FakeClock) -> None:
    svc = await service(db, fake_clock)
    await svc.start_timer(task="Admin")
    fake_clock.advance(7)
    await svc.shutdown()
    assert await db.scalar("SELECT daemon_seen FROM engine") == fake_clock.now()


async def test_browser_silence_is_not_acted_on_during_the_start_up_grace(db: Database, fake_clock: FakeClock) -> None:
    svc = await service(db, fake_clock)
    t0 = fake_clock.now()
    await svc.ingest(Batch(install="a", events=[opened(1, t0)]))
    fake_clock.advance(STARTUP_GRACE_S - 10)
    await svc.tick()
    [timer] = svc.view().timers
    assert timer.state == "running"
    fake_clock.advance(20)
    await svc.tick()
    [timer] = svc.view().timers
    assert (timer.state, timer.paused_by, timer.elapsed_s) == ("stopped", "offline", 0)


async def test_subscribers_get_the_state_after_a_change(db: Database, fake_clock: FakeClock) -> None:
    svc = await service(db, fake_clock)
    got: list[bytes] = []
    unsubscribe = svc.subscribe(got.append)
    await svc.ingest(Batch(install="a", events=[opened(1, fake_clock.now())]))
    await asyncio.sleep(0)
    assert len(got) == 1 and b'"type":"state"' in got[0] and b"halo:101" not in got[0] and b'"id":101' in got[0]
    unsubscribe()
    await svc.ingest(Batch(install="a", events=[Heartbeat(seq=2, at=fake_clock.now())]))
    await asyncio.sleep(0)
    assert len(got) == 1


async def test_concurrent_batches_share_one_commit_and_each_gets_its_own_ack(
    db: Database, fake_clock: FakeClock
) -> None:
    svc = await service(db, fake_clock)
    t0 = fake_clock.now()
    commits = 0
    real_transaction, real_write = db.transaction, db.write

    def counting_transaction():  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        return real_transaction()

    def counting_write(statements):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        return real_write(statements)

    db.transaction = counting_transaction  # type: ignore[method-assign]
    db.write = counting_write  # type: ignore[method-assign]
    installs = [f"browser-{i}" for i in range(8)]
    batches = [
        Batch(install=name, events=[opened(1, t0, ticket=200 + i, tab=100 * i + 1), *beats(2, t0, i + 1)])
        for i, name in enumerate(installs)
    ]
    acks = await asyncio.gather(*(svc.ingest(b) for b in batches))
    assert acks == [2 + i for i in range(8)]
    assert 1 <= commits < len(batches)  # grouped: fewer transactions than batches
    for i, name in enumerate(installs):
        assert await on_disk_ack(db, name) == 2 + i
    # a replay of the whole group changes nothing and is acknowledged the same
    before = snapshot(svc)
    assert await asyncio.gather(*(svc.ingest(b) for b in batches)) == acks
    assert snapshot(svc) == before


async def test_concurrent_batches_out_of_order_never_ack_past_a_gap(db: Database, fake_clock: FakeClock) -> None:
    """Two batches of one install in the same group commit, the later one queued first: the later one is refused
    (SeqGap naming seq 1) and changes nothing; the earlier one is applied; resending the later one completes it."""
    svc = await service(db, fake_clock)
    t0 = fake_clock.now()
    fake_clock.advance(2400)
    first = Batch(install="a", events=[opened(1, t0), *beats(2, t0, 60)])  # up to t0 + 1200
    later = Batch(install="a", events=beats(62, t0 + 1200, 60))  # up to t0 + 2400
    results = await asyncio.gather(svc.ingest(later), svc.ingest(first), return_exceptions=True)
    assert isinstance(results[0], SeqGap) and results[0].expected == 1
    assert results[1] == 61
    assert await on_disk_ack(db) == 61
    [timer] = svc.view().timers
    assert timer.elapsed_s == 1200
    assert await svc.ingest(later) == 121
    [timer] = svc.view().timers
    assert timer.elapsed_s == 2400


async def test_a_refused_group_commit_fails_every_batch_in_it(db: Database, fake_clock: FakeClock) -> None:
    """Batches sharing one commit share its fate: when the database refuses it, none is acknowledged, memory stays
    as on disk, and each batch sent again applies once."""
    svc = await service(db, fake_clock)
    t0 = fake_clock.now()
    installs = [f"browser-{i}" for i in range(8)]
    batches = [
        Batch(install=name, events=[opened(1, t0, ticket=200 + i, tab=100 * i + 1)]) for i, name in enumerate(installs)
    ]
    before = snapshot(svc)
    await db.conn.execute("ALTER TABLE installs RENAME TO installs_away")
    results = await asyncio.gather(*(svc.ingest(b) for b in batches), return_exceptions=True)
    assert all(isinstance(r, Exception) and "installs" in str(r) for r in results), results
    assert snapshot(svc) == before
    assert all(svc.acked(name) == 0 for name in installs)
    await db.conn.execute("ALTER TABLE installs_away RENAME TO installs")
    assert [await on_disk_ack(db, name) for name in installs] == [None] * 8
    assert await asyncio.gather(*(svc.ingest(b) for b in batches)) == [1] * 8
    assert [await on_disk_ack(db, name) for name in installs] == [1] * 8


async def test_senders_answered_one_by_one_join_one_commit_not_each_their_own(
    db: Database, fake_clock: FakeClock
) -> None:
    """Eight browsers shared the last commit; each sends again only after its answer, so they come back one by one.
    The first one back waits for the others (bounded by `group_wait_s`, here long so that only arrival decides) and
    ONE commit carries all eight, each with its own durable ack (issue 14: at 8 clients a commit carried 1.14
    batches: the first one back committed alone)."""
    svc = TimerService(db, CONFIG, fake_clock, EntryService(db, CONFIG, fake_clock), group_wait_s=120.0)
    await svc.start()
    t0 = fake_clock.now()
    installs = [f"browser-{i}" for i in range(8)]
    first = [
        Batch(install=name, events=[opened(1, t0, ticket=200 + i, tab=100 * i + 1)]) for i, name in enumerate(installs)
    ]
    assert await asyncio.gather(*(svc.ingest(b) for b in first)) == [1] * 8
    commits = svc.commits
    again = [Batch(install=name, events=beats(2, t0, 1)) for name in installs]
    waiting = [asyncio.ensure_future(svc.ingest(again[0]))]
    for _ in range(10):  # a fixed number of loop turns (not a time): the first one's drain has taken its group
        await asyncio.sleep(0)
    assert not waiting[0].done()
    waiting += [asyncio.ensure_future(svc.ingest(b)) for b in again[1:]]
    async with asyncio.timeout(60):  # only a hang fails here: the group completes as soon as all eight are queued
        assert await asyncio.gather(*waiting) == [2] * 8
    assert svc.commits == commits + 1
    assert [await on_disk_ack(db, name) for name in installs] == [2] * 8
