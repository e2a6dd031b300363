"""Opening the database at start: the pragmas and every pending migration are one call on the database thread.

A fresh database replays all migrations at the daemon's first start (issue 14, cold start): sent one statement at a
time that was ~70 hand-offs between the event loop and aiosqlite's thread. The hand-offs are counted on aiosqlite's
own queueing method, the one every statement goes through.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from daemon.store import Database
from daemon.store.migrations import MIGRATIONS


@pytest.fixture
def handoffs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the functions queued to aiosqlite's database thread, in order."""
    seen: list[str] = []
    queue = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await queue(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield seen


def schema(path: Path) -> set[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    finally:
        conn.close()
    return {(t, n, " ".join(s.split())) for t, n, s in rows}


async def test_a_fresh_database_is_set_up_and_migrated_in_one_handoff(tmp_path: Path, handoffs: list[str]) -> None:
    db = await Database.open(tmp_path / "fresh.db")
    try:
        assert len(handoffs) == 1, handoffs
        assert await db.scalar("PRAGMA user_version") == len(MIGRATIONS)
        assert await db.scalar("PRAGMA synchronous") == 2  # FULL again once migrated
        assert await db.scalar("PRAGMA journal_mode") == "wal"
        assert await db.scalar("PRAGMA foreign_keys") == 1
    finally:
        await db.close()


async def test_one_handoff_gives_the_schema_of_the_migrations_applied_one_by_one(tmp_path: Path) -> None:
    by_hand = tmp_path / "by-hand.db"
    conn = sqlite3.connect(by_hand, isolation_level=None)
    try:
        for version, script in enumerate(MIGRATIONS, start=1):
            conn.execute("BEGIN")
            for statement in (s.strip() for s in script.split(";\n") if s.strip()):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
    finally:
        conn.close()
    await (await Database.open(tmp_path / "fresh.db")).close()
    assert schema(tmp_path / "fresh.db") == schema(by_hand)


async def test_a_failed_migration_leaves_full_sync_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrations commit without an fsync each; a migration that fails still gives the connection back durable."""
    db = await Database.open(tmp_path / "half.db", migrate=False)
    try:
        monkeypatch.setattr("daemon.store.db.MIGRATIONS", [*MIGRATIONS, "THIS IS NOT SQL;\n"])
        with pytest.raises(sqlite3.Error):
            await db.migrate()
        assert await db.scalar("PRAGMA user_version") == len(MIGRATIONS)
        assert await db.scalar("PRAGMA synchronous") == 2
        assert not db.conn.in_transaction
    finally:
        await db.close()


async def test_reopening_a_migrated_database_changes_nothing(tmp_path: Path, handoffs: list[str]) -> None:
    path = tmp_path / "again.db"
    await (await Database.open(path)).close()
    before = schema(path)
    handoffs.clear()
    db = await Database.open(path)
    try:
        assert len(handoffs) == 1
        assert await db.scalar("PRAGMA user_version") == len(MIGRATIONS)
    finally:
        await db.close()
    assert schema(path) == before
