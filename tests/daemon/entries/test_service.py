"""EntryService against a real SQLite file: first states, manual entries, edits, every approval transition and its
audit row, and the outbox rows that follow queued entries."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from daemon.clock import FakeClock
from daemon.entries.model import STATUSES, Entry, Segment
from daemon.entries.service import EntryError, EntryPatch, EntryService, ManualEntry, NewEntry
from daemon.settings import Config, InstanceConfig
from daemon.store.db import Database
from daemon.store.outbox import OutboxStore
from daemon.timers.model import TicketRef

HALO = InstanceConfig(name="halo", kind="halopsa", origins=["https://acme.halopsa.com"])
AUTOTASK = InstanceConfig(name="at", kind="autotask")
TICKET = TicketRef(instance="halo", kind="halopsa", id=4711)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "entries.db")
    try:
        yield database
    finally:
        await database.close()


def service(db: Database, clock: FakeClock, approval: str = "none", **config: object) -> EntryService:
    cfg = msgspec.convert({"approval": approval, **config}, Config)
    cfg = msgspec.structs.replace(cfg, instances=cfg.instances or [HALO])
    return EntryService(db, cfg, clock)


def timer_entry(clock: FakeClock, seconds: float, **kwargs: object) -> NewEntry:
    end = clock.now() - 60
    fields: dict[str, object] = {"source": "timer", "segments": [Segment(end - seconds, end)], "ticket": TICKET}
    fields.update(kwargs)
    return msgspec.convert(fields, NewEntry, from_attributes=True)


async def insert(svc: EntryService, db: Database, clock: FakeClock, new: NewEntry) -> Entry:
    entry, audit = svc.build(new, clock.now())
    async with db.transaction() as conn:
        await svc.insert(conn, entry, audit)
    return entry


async def outbox_ids(db: Database) -> list[str]:
    return [str(r[0]) for r in await db.fetchall("SELECT entry_id FROM outbox ORDER BY entry_id")]


async def trail(svc: EntryService, entry_id: str) -> list[tuple[str | None, str, str]]:
    return [(a.from_status, a.to_status, a.actor) for a in await svc.history(entry_id)]


# --- first states -----------------------------------------------------------------------------------------------


async def test_approval_none_queues_a_ticket_entry_at_once(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock)
    woken: list[str] = []
    svc.on_queued = woken.append
    entry = await insert(svc, db, fake_clock, timer_entry(fake_clock, 600, reason="closed"))
    assert entry.status == "queued" and entry.actual_seconds == 600 and entry.billed_seconds == 600
    assert await outbox_ids(db) == [entry.id]
    assert woken == ["halo"]
    assert await trail(svc, entry.id) == [(None, "pending", "system"), ("pending", "queued", "system")]
    assert await svc.get(entry.id) == entry


@pytest.mark.parametrize(
    ("new", "status", "reason"),
    [
        ({"segments": [Segment(0, 59)]}, "voided", "too_short"),
        ({"segments": [Segment(0, 30), Segment(100, 129)]}, "voided", "too_short"),
        ({"reason": "discarded"}, "voided", "discarded by the user"),
        (
            {"reason": "long_run", "flags": ["long_run"]},
            "pending",
            "held for review: ran past the long-run cap; the ticket stays untimed until started or reopened",
        ),
        ({"ticket": None, "task": "Admin"}, "pending", ""),
        ({"ticket": TicketRef(instance="halo", kind="halopsa", number="T1")}, "queued", ""),
    ],
)
async def test_first_states(
    db: Database, fake_clock: FakeClock, new: dict[str, object], status: str, reason: str
) -> None:
    svc = service(db, fake_clock)
    base = {"source": "timer", "segments": [Segment(0, 600)], "ticket": TICKET}
    entry = await insert(svc, db, fake_clock, msgspec.convert({**base, **new}, NewEntry, from_attributes=True))
    assert entry.status == status
    assert entry.status_reason == reason
    if status != "queued":
        assert await outbox_ids(db) == []
    if new.get("reason") == "long_run":
        assert "review" in entry.flags


async def test_approval_one_leaves_new_entries_pending(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock, "one")
    entry = await insert(svc, db, fake_clock, timer_entry(fake_clock, 600))
    assert entry.status == "pending" and await outbox_ids(db) == []


async def test_segments_are_sorted_and_empty_ones_dropped(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock)
    segs = [Segment(500, 700), Segment(0, 100), Segment(300, 300)]
    entry = await insert(svc, db, fake_clock, timer_entry(fake_clock, 0, segments=segs))
    assert entry.segments == [Segment(0, 100), Segment(500, 700)]
    assert (entry.started_at, entry.ended_at, entry.actual_seconds) == (0, 700, 300)


# --- manual entries -----------------------------------------------------------------------------------------------


async def test_manual_entries(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock)
    now = fake_clock.now()
    ticket = await svc.create_manual(
        ManualEntry(started_at=now - 3600, ended_at=now - 1800, ticket="#4711"), actor="pia"
    )
    assert (ticket.status, ticket.ticket_id, ticket.actual_seconds, ticket.source) == ("queued", 4711, 1800, "manual")
    task = await svc.create_manual(ManualEntry(started_at=now - 900, seconds=300, task="Admin"), actor="pia")
    assert (task.status, task.task, task.ended_at, task.kind) == ("pending", "Admin", now - 600, "task")


@pytest.mark.parametrize(
    "body",
    [
        {"started_at": -3600, "ended_at": -7200, "task": "Admin"},
        {"started_at": -3600, "ended_at": -3600, "task": "Admin"},
        {"started_at": -100_000, "ended_at": -10, "task": "Admin"},
        {"started_at": -60, "ended_at": 3600, "task": "Admin"},
        {"started_at": -3600, "seconds": 60, "task": "Admin", "ticket": "1"},
        {"started_at": -3600, "seconds": 60},
        {"started_at": -3600, "task": "Admin"},
        {"started_at": -3600, "seconds": 60, "ticket": "1", "instance": "nowhere"},
        {"started_at": -3600, "seconds": 60, "ticket": "abc"},
        {"started_at": -3600, "seconds": -60, "task": "Admin"},
    ],
)
async def test_bad_manual_entries_are_refused(
    db: Database, fake_clock: FakeClock, body: dict[str, float | str]
) -> None:
    svc = service(db, fake_clock)
    now = fake_clock.now()
    shifted = {k: now + v if k in ("started_at", "ended_at") and isinstance(v, int) else v for k, v in body.items()}
    with pytest.raises(EntryError) as caught:
        await svc.create_manual(msgspec.convert(shifted, ManualEntry), actor="pia")
    assert caught.value.code == "invalid_input"
    assert await db.scalar("SELECT count(*) FROM entries") == 0


def test_ticket_refs() -> None:
    cfg = Config(instances=[HALO, AUTOTASK])
    svc = EntryService(None, cfg, FakeClock())  # type: ignore[arg-type]  # ticket_ref touches no database
    assert svc.ticket_ref("at", "t20240101.0001") == TicketRef(instance="at", kind="autotask", number="T20240101.0001")
    assert svc.ticket_ref("halo", " #12 ") == TicketRef(instance="halo", kind="halopsa", id=12)
    for instance, text in ((None, "12"), ("halo", "T20240101.0001"), ("halo", "0"), ("halo", str(2**31))):
        with pytest.raises(EntryError):
            svc.ticket_ref(instance, text)


# --- edits --------------------------------------------------------------------------------------------------------


async def test_edit_recomputes_the_time_and_is_recorded(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock, "one")
    entry = await insert(svc, db, fake_clock, timer_entry(fake_clock, 600))
    fake_clock.advance(10)
    edited = await svc.patch(entry.id, EntryPatch(notes="fixed", started_at=entry.started_at - 600), actor="pia")
    assert (edited.notes, edited.actual_seconds, edited.segments) == (
        "fixed",
        1200,
        [Segment(entry.started_at - 600, entry.ended_at)],
    )
    assert await svc.get(entry.id) == edited
    last = (await svc.history(entry.id))[-1]
    assert (last.from_status, last.to_status, last.actor, last.comment) == (
        "pending",
        "pending",
        "pia",
        "edited: notes, time",
    )
    assert last.at == fake_clock.now()


@pytest.mark.parametrize(
    ("field", "offset"),
    [("ended_at", -700.0), ("started_at", -90_000.0), ("ended_at", 3600.0)],
    ids=["end before start", "longer than a day", "into the future"],
)
async def test_bad_edits_change_nothing(db: Database, fake_clock: FakeClock, field: str, offset: float) -> None:
    svc = service(db, fake_clock, "one")
    entry = await insert(svc, db, fake_clock, timer_entry(fake_clock, 600))
    patch = msgspec.convert({field: fake_clock.now() + offset, "notes": "lost"}, EntryPatch)
    with pytest.raises(EntryError) as caught:
        await svc.patch(entry.id, patch, actor="pia")
    assert caught.value.code == "invalid_input"
    assert await svc.get(entry.id) == entry
    assert len(await svc.history(entry.id)) == 1


# --- approvals: every (status, action) pair ------------------------------------------------------------------------

ACTIONS = ("submit", "approve", "reject", "void", "retry")


def expected(pattern: str, status: str, action: str) -> str | None:
    """The status an action leads to, or None when the state does not allow it (DESIGN §5)."""
    table = {
        ("pending", "submit"): "queued" if pattern == "none" else "submitted",
        ("rejected", "submit"): "queued" if pattern == "none" else "submitted",
        ("submitted", "approve"): "approved_l1" if pattern == "two" else "queued",
        ("approved_l1", "approve"): "queued",
        ("submitted", "reject"): "rejected",
        ("approved_l1", "reject"): "rejected",
        ("failed", "retry"): "queued",
    }
    if action == "void" and status not in ("posted", "voided", "open"):  # open entries are never stored
        return "voided"
    return table.get((status, action))


async def entry_in(svc: EntryService, db: Database, clock: FakeClock, status: str) -> Entry:
    entry = await insert(svc, db, clock, timer_entry(clock, 600))
    async with db.transaction() as conn:
        await conn.execute("UPDATE entries SET status = ? WHERE id = ?", (status, entry.id))
        await conn.execute("DELETE FROM outbox")
    return await svc.get(entry.id)


@pytest.mark.parametrize(
    ("pattern", "status", "action"),
    list(itertools.product(("none", "one", "two"), STATUSES, ACTIONS)),
)
async def test_every_transition(db: Database, fake_clock: FakeClock, pattern: str, status: str, action: str) -> None:
    svc = service(db, fake_clock, pattern)
    entry = await entry_in(svc, db, fake_clock, status)
    before = await trail(svc, entry.id)
    target = expected(pattern, status, action)
    fake_clock.advance(5)
    if target is None:
        with pytest.raises(EntryError) as caught:
            await getattr(svc, action)(entry.id, comment="because", actor="lead")
        assert caught.value.code == "invalid_transition"
        assert await svc.get(entry.id) == entry
        assert await trail(svc, entry.id) == before
        return
    moved = await getattr(svc, action)(entry.id, comment="because", actor="lead")
    assert moved.status == target
    assert await svc.get(entry.id) == moved
    history = await svc.history(entry.id)
    new = history[len(before) :]
    assert new[0].from_status == status and new[0].actor == "lead" and new[0].comment == "because"
    assert new[-1].to_status == target
    assert all(h.at == fake_clock.now() for h in new)
    assert [h.to_status for h in new[:-1]] == [h.from_status for h in new[1:]]  # a chain, no gaps
    assert (await outbox_ids(db) == [entry.id]) is (target == "queued")


async def test_reject_needs_a_comment(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock, "one")
    entry = await entry_in(svc, db, fake_clock, "submitted")
    for comment in ("", "   "):
        with pytest.raises(EntryError) as caught:
            await svc.reject(entry.id, comment=comment, actor="pia")
        assert caught.value.code == "invalid_input"
    assert (await svc.get(entry.id)).status == "submitted"
    rejected = await svc.reject(entry.id, comment="wrong ticket", actor="pia")
    assert (rejected.status, rejected.status_reason) == ("rejected", "wrong ticket")


@pytest.mark.parametrize("status", ["submitted", "approved_l1", "approved", "queued", "posted", "voided"])
async def test_only_pending_rejected_and_failed_entries_are_editable(
    db: Database, fake_clock: FakeClock, status: str
) -> None:
    svc = service(db, fake_clock, "two")
    entry = await entry_in(svc, db, fake_clock, status)
    with pytest.raises(EntryError) as caught:
        await svc.patch(entry.id, EntryPatch(notes="x"), actor="pia")
    assert caught.value.code == "not_editable"
    assert await svc.get(entry.id) == entry


async def test_a_task_entry_can_be_approved_although_it_cannot_be_posted(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock, "one")
    entry = await insert(svc, db, fake_clock, timer_entry(fake_clock, 600, ticket=None, task="Admin"))
    await svc.submit(entry.id, actor="pia")
    approved = await svc.approve(entry.id, actor="pia")
    assert approved.status == "approved"
    assert await outbox_ids(db) == []


async def test_a_voided_queued_entry_leaves_the_outbox(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock)
    entry = await insert(svc, db, fake_clock, timer_entry(fake_clock, 600))
    assert await outbox_ids(db) == [entry.id]
    await svc.void(entry.id, comment="duplicate", actor="pia")
    assert await outbox_ids(db) == []


async def test_a_failed_entry_is_edited_and_retried(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock)
    entry = await insert(svc, db, fake_clock, timer_entry(fake_clock, 600))
    await OutboxStore(db).failed(entry.id, "the ticket is closed", fake_clock.now())
    failed = await svc.get(entry.id)
    assert (failed.status, failed.status_reason) == ("failed", "the ticket is closed")
    await svc.patch(entry.id, EntryPatch(notes="reopened the ticket"), actor="pia")
    retried = await svc.retry(entry.id, actor="pia")
    assert retried.status == "queued" and retried.status_reason == ""
    row = await db.fetchone("SELECT next_at, last_error FROM outbox WHERE entry_id = ?", (entry.id,))
    assert (row[0], row[1]) == (fake_clock.now(), "")


async def test_unknown_entries(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock)
    for call in (
        svc.get("nope"),
        svc.history("nope"),
        svc.void("nope", actor="pia"),
        svc.patch("nope", EntryPatch(), actor="pia"),
    ):
        with pytest.raises(EntryError) as caught:
            await call
        assert caught.value.code == "not_found"
