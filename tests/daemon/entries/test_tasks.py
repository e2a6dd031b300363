"""Task entries and work orders in EntryService, against a real SQLite file: a task whose `[[tasks]]` entry posts goes
through approval and the outbox like a ticket entry; a local task ends at approved and says so; a work order keeps
its kind from creation to the stored row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from daemon.clock import FakeClock
from daemon.entries.service import LOCAL_TASK, EntryError, EntryService, ManualEntry
from daemon.settings import Config
from daemon.store.db import Database
from daemon.timers.model import TicketRef

CONFIG = {
    "instances": [
        {"name": "acme-cw", "kind": "connectwise", "options": {"member": "jdoe"}},
        {"name": "acme-at", "kind": "autotask"},
    ],
    "tasks": [
        {"name": "Admin", "post": {"instance": "acme-cw", "charge_code": 12}},
        {"name": "Team meeting"},
    ],
}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "entries.db")
    try:
        yield database
    finally:
        await database.close()


def service(db: Database, clock: FakeClock, approval: str) -> EntryService:
    return EntryService(db, msgspec.convert({**CONFIG, "approval": approval}, Config), clock)


async def outbox(db: Database) -> list[tuple[str, str]]:
    return [(str(r[0]), str(r[1])) for r in await db.fetchall("SELECT entry_id, instance FROM outbox")]


def manual(clock: FakeClock, **target: str) -> ManualEntry:
    now = clock.now()
    return msgspec.convert({"started_at": now - 3600, "ended_at": now - 1800, **target}, ManualEntry)


async def test_a_posting_task_is_queued_for_its_instance_at_once(db: Database, fake_clock: FakeClock) -> None:
    svc = service(db, fake_clock, "none")
    entry = await svc.create_manual(manual(fake_clock, task="admin"), actor="pia")
    assert (entry.status, entry.kind, entry.instance, entry.ticket_id) == ("queued", "task", "acme-cw", None)
    assert await outbox(db) == [(entry.id, "acme-cw")]
    stored = await svc.get(entry.id)
    assert (stored.kind, stored.instance, stored.task) == ("task", "acme-cw", "admin")


async def test_a_local_task_ends_at_approved_and_says_so(db: Database, fake_clock: FakeClock) -> None:
    """Approval none: a local task stays pending (editable) until submitted (e.g. with its timesheet period), then
    it is approved, where it ends. Before, submitting it was refused as having no PSA ticket."""
    svc = service(db, fake_clock, "none")
    for name in ("Team meeting", "Not in the list"):
        entry = await svc.create_manual(manual(fake_clock, task=name), actor="pia")
        assert (entry.status, entry.status_reason, entry.instance) == ("pending", "", "")
        submitted = await svc.submit(entry.id, actor="pia")
        assert (submitted.status, submitted.status_reason) == ("approved", LOCAL_TASK)
        trail = [(a.from_status, a.to_status) for a in await svc.history(entry.id)]
        assert trail == [(None, "pending"), ("pending", "submitted"), ("submitted", "approved")]
    assert await outbox(db) == []


@pytest.mark.parametrize("approval", ["one", "two"])
async def test_tasks_go_through_approval(db: Database, fake_clock: FakeClock, approval: str) -> None:
    svc = service(db, fake_clock, approval)
    posting = await svc.create_manual(manual(fake_clock, task="Admin"), actor="pia")
    local = await svc.create_manual(manual(fake_clock, task="Team meeting"), actor="pia")
    assert (posting.status, local.status) == ("pending", "pending")
    for entry in (posting, local):
        await svc.submit(entry.id, actor="pia")
        for _ in range(2 if approval == "two" else 1):
            done = await svc.approve(entry.id, actor="pia")
    posted, kept = await svc.get(posting.id), await svc.get(local.id)
    assert (posted.status, posted.instance) == ("queued", "acme-cw")
    assert (kept.status, kept.status_reason) == ("approved", LOCAL_TASK)
    assert done.status == "approved"
    assert await outbox(db) == [(posting.id, "acme-cw")]


@pytest.mark.parametrize(
    "target",
    [
        {"instance": "acme-cw", "work_order": "48212"},
        {"instance": "acme-cw", "ticket": "#48212", "kind": "work_order"},
        {"instance": "acme-at", "work_order": "7701"},
    ],
)
async def test_work_orders_by_hand(db: Database, fake_clock: FakeClock, target: dict[str, str]) -> None:
    svc = service(db, fake_clock, "none")
    entry = await svc.create_manual(manual(fake_clock, **target), actor="pia")
    assert (entry.kind, entry.status, entry.instance) == ("work_order", "queued", target["instance"])
    assert (await svc.get(entry.id)).kind == "work_order"
    ticket = await svc.create_manual(manual(fake_clock, instance="acme-cw", ticket="48211", kind="ticket"), actor="pia")
    assert ticket.kind == "ticket"


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ({"instance": "acme-cw", "ticket": "1", "work_order": "2"}, "not ticket and work_order"),
        ({"work_order": "2", "task": "Admin"}, "not work_order and task"),
        ({"task": "Admin", "kind": "work_order"}, "kind goes with ticket"),
        ({"instance": "acme-at", "work_order": "T20240101.0001"}, "not a work order number"),
        ({"instance": "acme-cw", "work_order": "abc"}, "not a ticket number"),
        ({"kind": "work_order"}, "give a ticket, a work order or a task"),
    ],
)
async def test_bad_targets_are_refused_and_change_nothing(
    db: Database, fake_clock: FakeClock, target: dict[str, str], words: str
) -> None:
    svc = service(db, fake_clock, "none")
    with pytest.raises(EntryError) as caught:
        await svc.create_manual(manual(fake_clock, **target), actor="pia")
    assert caught.value.code == "invalid_input"
    assert words in caught.value.message
    assert await db.fetchall("SELECT id FROM entries") == []


def test_a_work_order_is_timed_apart_from_a_ticket_with_the_same_number() -> None:
    """Autotask task ids and ticket ids are separate number spaces: ticket 88 and work order 88 are two timers."""
    ticket = TicketRef(instance="acme-at", kind="autotask", id=88)
    work_order = msgspec.structs.replace(ticket, record="work_order")
    assert ticket.key == "acme-at:88"
    assert work_order.key == "acme-at:wo:88"
