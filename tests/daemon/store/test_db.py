"""The SQLite store: migrations from every version, pragmas, and clear refusals for files it must not touch."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.store import Database, StoreCorrupt, StoreError, StoreLocked, StoreTooNew, StoreUnwritable
from daemon.store.migrations import MIGRATIONS

LATEST = len(MIGRATIONS)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ticketclock.db"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    try:
        yield database
    finally:
        await database.close()


async def refused(path: Path, expected: type[StoreError], **kwargs: Any) -> pytest.ExceptionInfo[StoreError]:
    """Database.open must raise `expected`; if it wrongly succeeds, close it so the failure cannot hang the run."""
    with pytest.raises(expected) as info:
        db = await Database.open(path, **kwargs)
        await db.close()
    return info


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecars(path: Path) -> list[Path]:
    return [p for p in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.exists()]


def schema(path: Path) -> set[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    finally:
        conn.close()
    return {(t, n, " ".join(s.split())) for t, n, s in rows}


# --- migrations --------------------------------------------------------------------------------------------------


async def test_a_new_database_is_migrated_to_the_latest_version(db: Database, db_path: Path) -> None:
    assert LATEST >= 1
    assert await db.scalar("PRAGMA user_version") == LATEST
    tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "clients"} <= tables


@pytest.mark.parametrize("start", range(LATEST + 1))
async def test_migrating_from_each_earlier_version_keeps_the_data(tmp_path: Path, start: int) -> None:
    path = tmp_path / "old.db"
    old = await Database.open(path, migrate=False)
    try:
        assert await old.migrate(target=start) == start
        assert await old.scalar("PRAGMA user_version") == start
        if start >= 1:  # `meta` and `clients` exist from version 1 on
            async with old.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('made_at', ?)", (str(start),))
                await conn.execute(
                    "INSERT INTO clients (id, name, origin, token_sha256, created_at) "
                    "VALUES ('c_1', 'ext', NULL, ?, 1)",
                    ("ab" * 32,),
                )
    finally:
        await old.close()

    new = await Database.open(path)
    try:
        assert await new.scalar("PRAGMA user_version") == LATEST
        if start >= 1:
            assert await new.scalar("SELECT value FROM meta WHERE key = 'made_at'") == str(start)
            assert await new.scalar("SELECT token_sha256 FROM clients WHERE id = 'c_1'") == "ab" * 32
        assert await new.scalar("PRAGMA foreign_key_check") is None
        assert await new.scalar("PRAGMA integrity_check") == "ok"
    finally:
        await new.close()

    fresh = tmp_path / "fresh.db"
    await (await Database.open(fresh)).close()
    assert schema(path) == schema(fresh)  # the same schema whichever version it started from


async def test_migrating_twice_changes_nothing(db: Database, db_path: Path) -> None:
    before = schema(db_path)
    assert await db.migrate() == LATEST
    assert schema(db_path) == before


async def test_each_migration_is_applied_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that fails half-way leaves the database at the previous version, with nothing half-made."""
    path = tmp_path / "half.db"
    broken = [*MIGRATIONS, "CREATE TABLE half_made (x INTEGER);\nTHIS IS NOT SQL;\n"]
    monkeypatch.setattr("daemon.store.db.MIGRATIONS", broken)
    await refused(path, StoreError)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_made'").fetchone()[0] == 0
    finally:
        conn.close()


# --- pragmas -----------------------------------------------------------------------------------------------------


async def test_wal_full_sync_and_foreign_keys(db: Database) -> None:
    assert str(await db.scalar("PRAGMA journal_mode")).lower() == "wal"
    assert await db.scalar("PRAGMA synchronous") == 2  # FULL
    assert await db.scalar("PRAGMA foreign_keys") == 1


async def test_wal_mode_is_persistent_in_the_file(db: Database, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# --- files it must not touch -------------------------------------------------------------------------------------


def random_bytes(n: int) -> bytes:
    return bytes((i * 7919 + 13) % 251 for i in range(n))  # deterministic noise


CORRUPT = {
    "random bytes": random_bytes(8192),
    "text file": b"this is my shopping list\n" * 100,
    "sqlite header then garbage": b"SQLite format 3\x00" + random_bytes(8192 - 16),
    "sqlite header, sane page size, garbage": b"SQLite format 3\x00\x10\x00\x01\x01" + random_bytes(8192 - 20),
    "short header": b"SQLite format 3\x00\x10\x00",
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
async def test_a_corrupt_file_is_refused_and_left_untouched(db_path: Path, content: bytes) -> None:
    db_path.write_bytes(content)
    before = sha256(db_path)
    info = await refused(db_path, StoreCorrupt)
    message = str(info.value)
    assert str(db_path) in message
    assert "untouched" in message
    assert sha256(db_path) == before
    assert sidecars(db_path) == []


async def test_a_database_with_a_damaged_page_is_refused_and_left_untouched(tmp_path: Path, db_path: Path) -> None:
    """A real TicketClock database whose schema page is overwritten by garbage."""
    await (await Database.open(db_path)).close()
    data = bytearray(db_path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    assert len(data) >= page_size
    data[100:page_size] = random_bytes(page_size - 100)  # page 1 after the header: the schema table
    db_path.write_bytes(bytes(data))
    before = sha256(db_path)
    info = await refused(db_path, StoreCorrupt)
    assert str(db_path) in str(info.value)
    assert sha256(db_path) == before


async def test_an_empty_file_becomes_a_new_database(db_path: Path) -> None:
    db_path.write_bytes(b"")
    db = await Database.open(db_path)
    try:
        assert await db.scalar("PRAGMA user_version") == LATEST
    finally:
        await db.close()


async def test_a_database_from_a_newer_ticketclock_is_refused_and_left_untouched(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("INSERT INTO future VALUES (1)")
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()
    before = sha256(db_path)
    info = await refused(db_path, StoreTooNew)
    assert "999" in str(info.value) and str(db_path) in str(info.value)
    assert sha256(db_path) == before
    assert sidecars(db_path) == []


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[list[Path]]:
    if IS_ROOT:
        pytest.skip("root ignores file permissions")
    if os.name == "nt":
        pytest.skip("POSIX permissions")
    touched: list[Path] = []
    yield touched
    for path in touched:
        path.chmod(stat.S_IRWXU)


async def test_a_read_only_database_file_is_refused(db_path: Path, read_only: list[Path]) -> None:
    await (await Database.open(db_path)).close()
    db_path.chmod(stat.S_IRUSR)
    read_only.append(db_path)
    before = sha256(db_path)
    info = await refused(db_path, StoreUnwritable)
    assert str(db_path) in str(info.value)
    assert sha256(db_path) == before


async def test_a_read_only_folder_is_refused(tmp_path: Path, read_only: list[Path]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    read_only.append(folder)
    info = await refused(folder / "ticketclock.db", StoreUnwritable)
    assert str(folder) in str(info.value)
    assert list(folder.iterdir()) == []


async def test_a_read_only_folder_with_an_existing_database_is_refused(tmp_path: Path, read_only: list[Path]) -> None:
    """SQLite needs to create -wal and -shm beside the file."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "ticketclock.db"
    await (await Database.open(path)).close()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    read_only.append(folder)
    await refused(path, StoreError)


async def test_a_locked_database_is_reported_as_locked(db_path: Path) -> None:
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("CREATE TABLE t (x)")
        other.execute("BEGIN EXCLUSIVE")
        other.execute("INSERT INTO t VALUES (1)")
        info = await refused(db_path, StoreLocked, busy_timeout_ms=50)
        assert str(db_path) in str(info.value)
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_a_database_locked_while_it_needs_migrating_is_reported_as_locked(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = await Database.open(path, migrate=False)
    await old.migrate(target=LATEST - 1)
    await old.close()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        await refused(path, StoreLocked, busy_timeout_ms=50)
        other.execute("ROLLBACK")
    finally:
        other.close()
    db = await Database.open(path)  # and once the other process lets go, it opens and migrates
    try:
        assert await db.scalar("PRAGMA user_version") == LATEST
    finally:
        await db.close()


# --- transactions ------------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


async def count_meta(db: Database) -> int:
    return int(await db.scalar("SELECT count(*) FROM meta"))


async def test_a_transaction_commits(db: Database, db_path: Path) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
    other = sqlite3.connect(db_path)  # visible to another connection: committed
    try:
        assert other.execute("SELECT value FROM meta WHERE key = 'a'").fetchone() == ("1",)
    finally:
        other.close()


@pytest.mark.parametrize("exc", [Boom("x"), asyncio.CancelledError(), KeyboardInterrupt()])
async def test_a_transaction_rolls_back_on_any_exception(db: Database, exc: BaseException) -> None:
    with pytest.raises(type(exc)):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
            await conn.execute("INSERT INTO meta (key, value) VALUES ('b', '2')")
            raise exc
    assert await count_meta(db) == 0
    # the connection is usable afterwards
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('c', '3')")
    assert await count_meta(db) == 1


async def test_a_failing_statement_rolls_back_the_whole_transaction(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
            await conn.execute("INSERT INTO meta (key, value) VALUES ('a', '2')")
    assert await count_meta(db) == 0


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            await conn.execute("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))")
            await conn.execute("INSERT INTO child (parent_id) VALUES (42)")
    # and the rollback took the test tables with it
    assert await db.scalar("SELECT count(*) FROM sqlite_master WHERE name IN ('parent', 'child')") == 0


async def test_concurrent_transactions_are_serialised(db: Database) -> None:
    async def bump(i: int) -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", str(i)))
            await asyncio.sleep(0)
            await conn.execute("UPDATE meta SET value = value || '!' WHERE key = ?", (f"k{i}",))

    await asyncio.gather(*(bump(i) for i in range(20)))
    rows = await db.fetchall("SELECT key, value FROM meta ORDER BY key")
    assert len(rows) == 20
    assert all(r["value"].endswith("!") for r in rows)


async def test_a_transaction_cancelled_mid_statement_leaves_no_transaction_open(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    try:
        for yields in range(4):  # cancel at BEGIN, inside the body, and at COMMIT

            async def write(n: int = yields) -> None:
                async with db.transaction() as conn:
                    await conn.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", (f"k{n}",))

            task = asyncio.create_task(write())
            for _ in range(yields):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            async with db.transaction() as conn:  # raised "cannot start a transaction within a transaction"
                await conn.execute("INSERT INTO meta (key, value) VALUES (?, 'y')", (f"after{yields}",))
            assert await db.scalar("SELECT value FROM meta WHERE key = ?", (f"after{yields}",)) == "y"
    finally:
        await db.close()


async def test_a_write_commits_its_statements_together(db: Database, db_path: Path) -> None:
    await db.write(
        [
            ("INSERT INTO meta (key, value) VALUES (?, ?)", ("a", "1")),
            ("INSERT INTO meta (key, value) VALUES ('b', '2')", ()),
        ]
    )
    other = sqlite3.connect(db_path)  # visible to another connection: committed
    try:
        assert other.execute("SELECT key, value FROM meta ORDER BY key").fetchall() == [("a", "1"), ("b", "2")]
    finally:
        other.close()


async def test_a_failing_statement_rolls_back_the_whole_write(db: Database) -> None:
    insert = "INSERT INTO meta (key, value) VALUES (?, ?)"
    with pytest.raises(sqlite3.IntegrityError):
        await db.write([(insert, ("a", "1")), (insert, ("a", "2"))])
    assert await count_meta(db) == 0
    assert not db.conn.in_transaction
    await db.write([(insert, ("c", "3"))])  # the connection is usable afterwards
    assert await count_meta(db) == 1


async def test_writes_and_transactions_are_serialised(db: Database) -> None:
    insert = "INSERT INTO meta (key, value) VALUES (?, ?)"

    async def by_transaction(i: int) -> None:
        async with db.transaction() as conn:
            await conn.execute(insert, (f"t{i}", str(i)))
            await asyncio.sleep(0)  # let a write try to run inside this transaction
            await conn.execute(insert, (f"u{i}", str(i)))

    async def by_write(i: int) -> None:
        await db.write([(insert, (f"w{i}", str(i))), (insert, (f"x{i}", str(i)))])

    await asyncio.gather(*(f(i) for i in range(10) for f in (by_transaction, by_write)))
    assert await count_meta(db) == 40
