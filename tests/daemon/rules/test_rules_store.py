"""The rules kept in SQLite (a real file): a saved rule set is put back in force at start, a stored one that no
longer validates leaves the config file's in force, and entries stored before notes had a `source` still read."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from daemon.clock import FakeClock
from daemon.entries.model import RuleNote, Segment
from daemon.entries.service import EntryService, NewEntry
from daemon.rules import RuleBook, RulesError
from daemon.rules.service import RulesService
from daemon.settings import parse_config
from daemon.store.db import Database
from daemon.store.rules import RulesStore
from daemon.timers.model import TicketRef

CONFIG = parse_config(
    '[[instances]]\nname = "halo"\nkind = "halopsa"\n[rules]\nmin_seconds = 90\n'
    '[[rules.scoped]]\nmatch = { instance = "halo" }\nrounding = { increment_s = 900 }\n'
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "rules.db")
    try:
        yield database
    finally:
        await database.close()


async def test_a_saved_rule_set_is_in_force_after_a_restart(db: Database, fake_clock: FakeClock) -> None:
    first = RulesService(db, CONFIG, fake_clock, RuleBook(CONFIG))
    await first.start()
    assert first.view().source == "config"
    await first.put({"min_seconds": 10, "scoped": [{"match": {"tag": "vip"}, "rounding": {"increment_s": 60}}]})

    book = RuleBook(CONFIG)
    again = RulesService(db, CONFIG, fake_clock, book)
    await again.start()
    view = again.view()
    assert (view.source, view.updated_at, book.rules.min_seconds) == ("stored", fake_clock.now(), 10)
    assert book.resolve(book.context(instance="halo")).rounding.increment_s == 0  # the config's scoped rule is gone


async def test_a_refused_put_leaves_memory_and_database_alone(db: Database, fake_clock: FakeClock) -> None:
    service = RulesService(db, CONFIG, fake_clock, RuleBook(CONFIG))
    await service.start()
    with pytest.raises(RulesError):
        await service.put({"scoped": [{"match": {"instance": "nope"}}]})
    assert service.book.rules == CONFIG.rules
    assert await RulesStore(db).get() is None


async def test_stored_rules_that_no_longer_validate_leave_the_config_in_force(
    db: Database, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.transaction() as tx:
        await RulesStore.put(tx, '{"min_seconds": "lots"}', 1.0)
    book = RuleBook(CONFIG)
    service = RulesService(db, CONFIG, fake_clock, book)
    with caplog.at_level(logging.ERROR, logger="ticketclock.rules"):
        await service.start()
    assert (service.view().source, book.rules) == ("config", CONFIG.rules)
    assert "min_seconds" in caplog.text


async def test_entries_stored_before_notes_had_a_source_still_read(db: Database, fake_clock: FakeClock) -> None:
    entries = EntryService(db, CONFIG, fake_clock)
    end = fake_clock.now() - 60
    new = NewEntry(
        source="timer", segments=[Segment(end - 300, end)], ticket=TicketRef(instance="halo", kind="halopsa", id=1)
    )
    entry, audit = entries.build(new, fake_clock.now())
    assert [n.source for n in entry.explanation][:2] == ["global", "instance 'halo'; config"]
    async with db.transaction() as tx:
        await entries.insert(tx, entry, audit)
        await tx.execute(
            "UPDATE entries SET explanation = ? WHERE id = ?",
            ('[{"rule": "minimum", "detail": "5m >= minimum 1m"}]', entry.id),
        )
    stored = await entries.get(entry.id)
    assert stored.explanation == [RuleNote("minimum", "5m >= minimum 1m", "")]
    assert msgspec.json.decode(msgspec.json.encode(stored.explanation[0])) == {
        "rule": "minimum",
        "detail": "5m >= minimum 1m",
        "source": "",
    }
