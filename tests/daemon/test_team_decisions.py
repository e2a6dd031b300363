"""Team mode on the daemon against a real SQLite file: every write bumps an entry's sync version (decisions from the
team server do not), joining sends only the technician's open work, entries wait for the technician to submit
(approval "none" notwithstanding), local approvals are refused, and the team's decisions apply with the audit trail
naming their actor: a conflict puts the server's status back, a decision about an older version is skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from daemon.clock import FakeClock
from daemon.entries.model import Segment
from daemon.entries.service import EntryError, EntryPatch, EntryService, NewEntry
from daemon.settings import Config, InstanceConfig
from daemon.store.db import Database
from daemon.store.sync import SyncStore
from daemon.timers.model import TicketRef

HALO = InstanceConfig(name="halo", kind="halopsa", origins=["https://acme.halopsa.com"])
TICKET = TicketRef(instance="halo", kind="halopsa", id=4711)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "entries.db")
    try:
        yield database
    finally:
        await database.close()


def service(db: Database, clock: FakeClock, *, team: bool) -> EntryService:
    cfg = msgspec.convert({"approval": "none", "team": {"server": "https://time.example.com" if team else ""}}, Config)
    return EntryService(db, msgspec.structs.replace(cfg, instances=[HALO]), clock)


async def add(svc: EntryService, db: Database, clock: FakeClock) -> str:
    end = clock.now() - 60
    new = NewEntry(source="timer", segments=[Segment(end - 900, end)], ticket=TICKET)
    entry, audit = svc.build(new, clock.now())
    async with db.transaction() as tx:
        await svc.insert(tx, entry, audit)
    return entry.id


async def versions(db: Database, entry_id: str) -> tuple[int, int]:
    async with db.transaction() as tx:
        found = await SyncStore.sync_version(tx, entry_id)
    assert found is not None
    return found


async def decide(svc: EntryService, db: Database, entry_id: str, kind: str, version: int, **kw: object) -> str | None:
    async with db.transaction() as tx:
        return await svc.apply_team_decision(
            tx, entry_id=entry_id, kind=kind, version=version, actor=str(kw.get("actor", "Lee Lead")),
            comment=str(kw.get("comment", "")), detail=dict(kw.get("detail", {})),  # type: ignore[call-overload]
        )  # fmt: skip


async def test_team_mode_holds_entries_for_the_technician_and_refuses_local_approvals(
    db: Database, fake_clock: FakeClock
) -> None:
    svc = service(db, fake_clock, team=True)
    changed: list[int] = []
    svc.on_changed = lambda: changed.append(1)
    entry_id = await add(svc, db, fake_clock)
    assert (await svc.get(entry_id)).status == "pending"  # approval "none" would have queued it
    submitted = await svc.submit(entry_id, actor="tess")
    assert submitted.status == "submitted" and await db.fetchall("SELECT * FROM outbox") == []
    for verb in (svc.approve, svc.reject, svc.retry):
        with pytest.raises(EntryError, match="team server"):
            await verb(entry_id, comment="x", actor="tess")
    assert len(changed) == 2  # created, submitted


async def test_every_write_bumps_the_sync_version_and_team_decisions_do_not(
    db: Database, fake_clock: FakeClock
) -> None:
    svc = service(db, fake_clock, team=True)
    entry_id = await add(svc, db, fake_clock)
    assert await versions(db, entry_id) == (1, 0)
    await svc.patch(entry_id, EntryPatch(notes="fixed the printer"), actor="tess")
    await svc.submit(entry_id, actor="tess")
    assert await versions(db, entry_id) == (3, 0)
    assert await decide(svc, db, entry_id, "approved", 3) is None
    entry = await svc.get(entry_id)
    assert entry.status == "approved" and await versions(db, entry_id) == (3, 0)
    assert (await svc.history(entry_id))[-1].actor == "Lee Lead"
    assert await decide(svc, db, entry_id, "posted", 3, detail={"psa_ids": [991]}) is None
    entry = await svc.get(entry_id)
    assert (entry.status, entry.psa_ids) == ("posted", ["991"])
    assert await db.fetchall("SELECT * FROM outbox") == []  # the team server posted it, not this machine


async def test_a_decision_about_an_older_version_waits_for_the_newer_one(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock, team=True)
    entry_id = await add(svc, db, fake_clock)
    await svc.submit(entry_id, actor="tess")  # version 2
    await svc.void(entry_id, comment="not billable after all", actor="tess")  # version 3, not sent yet
    assert await decide(svc, db, entry_id, "approved", 2) is None
    assert (await svc.get(entry_id)).status == "voided"
    # the server refuses version 3 (approved already) and says so: the approved state comes back, with a notice
    message = await decide(svc, db, entry_id, "conflict", 2, detail={"status": "queued", "refused_version": 3})
    assert message is not None and "approved version stands" in message
    assert (await svc.get(entry_id)).status == "approved"
    assert await versions(db, entry_id) == (3, 3)  # nothing left to send


async def test_rejection_and_failure_carry_their_words_and_periods_close(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock, team=True)
    entry_id = await add(svc, db, fake_clock)
    await svc.submit(entry_id, actor="tess")
    await decide(svc, db, entry_id, "rejected", 2, comment="wrong ticket")
    entry = await svc.get(entry_id)
    assert (entry.status, entry.status_reason) == ("rejected", "wrong ticket")
    await svc.submit(entry_id, actor="tess")
    await decide(svc, db, entry_id, "approved", 3)
    await decide(svc, db, entry_id, "failed", 3, comment="ticket is closed in the PSA")
    entry = await svc.get(entry_id)
    assert (entry.status, entry.status_reason) == ("failed", "ticket is closed in the PSA")
    async with db.transaction() as tx:
        await svc.apply_team_decision(
            tx, entry_id=None, kind="period_closed", version=None, actor="Lee Lead", comment="",
            detail={"first_day": "2026-06-01", "last_day": "2026-06-07"},
        )  # fmt: skip
    assert await svc.closed.overlapping("2026-06-03", "2026-06-03")


async def test_joining_sends_only_the_technicians_open_work(db: Database, fake_clock: FakeClock) -> None:
    alone = service(db, fake_clock, team=False)
    await add(alone, db, fake_clock)  # approval none: queued for this machine's outbox at once
    voided = await add(alone, db, fake_clock)
    await alone.void(voided, actor="tess")
    open_work = await add(service(db, fake_clock, team=True), db, fake_clock)
    store = SyncStore(db)
    assert await store.join("https://time.example.com", fake_clock.now())
    assert not await store.join("https://time.example.com", fake_clock.now())  # once per server
    async with db.transaction() as tx:
        unsent = [e.id for e, _ in await SyncStore.unsent(tx, 500)]
    assert unsent == [open_work]
    state = await store.state()
    assert state is not None and state.waiting == 1 and state.cursor == 0
