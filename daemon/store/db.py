"""The SQLite database: one aiosqlite connection, WAL, full sync, forward-only migrations.

Errors::

    StoreError               the database cannot be used; the message says why and what to do
     ├── StoreCorrupt        not a database, or damaged
     ├── StoreLocked         another process holds it
     ├── StoreUnwritable     the file or its folder is read-only
     └── StoreTooNew         written by a newer TicketClock (its user_version is past our migrations)
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.private import make_private
from daemon.store.migrations import MIGRATIONS

if TYPE_CHECKING:
    import aiosqlite
    from aiosqlite.context import Result

# asyncio and aiosqlite are imported where a database is opened or used, not here: the CLI imports the store's
# shapes (daemon.auth -> store.clients) but never opens the database, and those two are ~12 ms of its start.

__all__ = ["Database", "StoreCorrupt", "StoreError", "StoreLocked", "StoreTooNew", "StoreUnwritable", "Transaction"]


class StoreError(Exception):
    pass


class StoreCorrupt(StoreError):
    pass


class StoreLocked(StoreError):
    pass


class StoreUnwritable(StoreError):
    pass


class StoreTooNew(StoreError):
    pass


Params = Sequence[Any] | dict[str, Any]


class Transaction:
    """An open write transaction (`async with db.transaction() as tx`).

    Services only hold it and hand it to store methods, so that several writes commit together; the SQL methods
    below are for `daemon/store/` alone (a PostgreSQL store would hand out its own transaction type). It never
    exposes the aiosqlite connection.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> Result[aiosqlite.Cursor]:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> Result[aiosqlite.Cursor]:
        return self._conn.executemany(sql, rows)

    def execute_fetchall(self, sql: str, params: Params = ()) -> Result[Iterable[sqlite3.Row]]:
        return self._conn.execute_fetchall(sql, params)


def _create_private(path: Path, existed: bool) -> None:
    """The database is user-only before SQLite opens it: SQLite gives its -wal and -shm the database's mode."""
    if not existed:
        try:  # an empty file is a new database to SQLite
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreUnwritable(f"cannot create the database {path}: {exc.strerror}") from None
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            with contextlib.suppress(PermissionError):  # not ours to change: SQLite will say what is wrong
                make_private(file)


class Database:
    """One connection; writes go through `transaction()`, which serialises them under a lock."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        import asyncio

        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, migrate: bool = True, busy_timeout_ms: int = 2000) -> Database:
        """Open (creating if missing) and migrate; raises a StoreError subclass with a clear message."""
        import aiosqlite

        existed = path.exists()
        if existed:
            _check_header(path)
        elif not os.access(path.parent, os.W_OK):
            raise StoreUnwritable(f"cannot create the database: folder {path.parent} is not writable")
        if existed and not os.access(path, os.W_OK):
            raise StoreUnwritable(f"the database {path} is read-only; fix its permissions")
        _create_private(path, existed)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise _classify(exc, path) from None
        conn.row_factory = aiosqlite.Row
        db = cls(conn, path)
        try:
            # the pragmas and the migrations in ONE call on the database thread: a fresh database replays every
            # migration, ~70 statements with each one's BEGIN, version and COMMIT, which cost a thread hand-off each
            # when sent one by one (~20 ms of a cold start: 28 -> 7 ms for open + migrate)
            target = len(MIGRATIONS) if migrate else None
            await conn._execute(_prepare, conn._conn, path, busy_timeout_ms, target)  # type: ignore[no-untyped-call]
        except sqlite3.Error as exc:
            await conn.close()
            raise _classify(exc, path) from None
        except BaseException:
            await conn.close()
            raise
        return db

    async def migrate(self, target: int | None = None) -> int:
        """Apply pending migrations (each in its own transaction); returns the new user_version."""
        target = len(MIGRATIONS) if target is None else target
        async with self._lock:
            version: int = await _to_the_end(
                self._conn._execute(_apply_migrations, self._conn._conn, target)  # type: ignore[no-untyped-call]
            )
        return version

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN IMMEDIATE … COMMIT under the lock; rolls back on any exception.

        Safe against cancellation: BEGIN, COMMIT and ROLLBACK always run to their end before the lock is released
        (a cancelled caller still gets its CancelledError, afterwards), so no transaction is ever left open.
        """
        import asyncio

        async with self._lock:
            try:
                await _to_the_end(self._conn.execute("BEGIN IMMEDIATE"))
            except asyncio.CancelledError:
                await _to_the_end(self._conn.execute("ROLLBACK"))
                raise
            try:
                yield Transaction(self._conn)
            except BaseException:
                await _to_the_end(self._conn.execute("ROLLBACK"))
                raise
            else:
                await _to_the_end(self._conn.execute("COMMIT"))

    async def write(self, statements: Sequence[tuple[str, Params]]) -> None:
        """BEGIN IMMEDIATE, the statements, COMMIT as ONE call on the database thread (ROLLBACK on any error).

        The same guarantees as `transaction()` (serialised under its lock, all or nothing, cancellation-safe) for a
        write whose statements need no results: one thread hand-off instead of one per statement, which is most of
        the cost of a small write (the browser-event hot path commits once per batch group).
        """

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT (disk full, I/O error) may leave it open
                    conn.execute("ROLLBACK")
                raise

        async with self._lock:
            # aiosqlite runs `run` on its own thread, where the connection lives (undocumented but stable
            # `_execute`: the public methods are one statement each)
            await _to_the_end(self._conn._execute(run, self._conn._conn))  # type: ignore[no-untyped-call]

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return list(rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        async with self._conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, ValueError):
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await self._conn.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        return self._conn


async def _to_the_end(statement: Awaitable[Any]) -> Any:
    """Await a statement even if the caller is cancelled meanwhile (its result); re-raise the cancellation once it
    is done."""
    import asyncio

    task = asyncio.ensure_future(statement)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError
    return result


def _prepare(conn: sqlite3.Connection, path: Path, busy_timeout_ms: int, target: int | None) -> None:
    """On the database thread: the connection's pragmas, then the migrations up to `target` (None: none)."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    version = int(conn.execute("PRAGMA user_version").fetchone()[0] or 0)
    if version > len(MIGRATIONS):  # checked before switching to WAL, which would rewrite the header
        raise StoreTooNew(
            f"{path} was written by a newer TicketClock (schema {version}, this one knows "
            f"{len(MIGRATIONS)}); upgrade TicketClock"
        )
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"{path}: could not switch the database to WAL mode (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    if target is not None:
        _apply_migrations(conn, target)


def _apply_migrations(conn: sqlite3.Connection, target: int) -> int:
    """On the database thread: each pending migration in its own transaction (all or nothing, the version with it);
    returns the new user_version.

    While migrating, commits do not wait for an fsync each (synchronous=NORMAL; eleven of them on a fresh database):
    in WAL mode a commit lost to a power cut leaves the database at an earlier, consistent version, whose missing
    migrations the next start applies again, and the first FULL commit afterwards (or a checkpoint) syncs the log
    with every migration in it. The previous setting is back before the first write a user makes."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0] or 0)
    if version >= target:
        return version
    synchronous = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        while version < target:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            version += 1
    finally:
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    return version


_HEADER = b"SQLite format 3\x00"


def _check_header(path: Path) -> None:
    """Refuse a file that is not an SQLite database before SQLite touches it."""
    try:
        with path.open("rb") as fh:
            head = fh.read(100)
    except PermissionError:
        raise StoreUnwritable(f"cannot read the database {path}: permission denied") from None
    except OSError as exc:
        raise StoreError(f"cannot read the database {path}: {exc.strerror}") from None
    if len(head) == 0:
        return  # an empty file is a new database
    if not head.startswith(_HEADER) or len(head) < 100:
        raise StoreCorrupt(
            f"{path} is not a TicketClock database (bad header). It was left untouched; move it aside or "
            "restore a backup, then start again."
        )


def _classify(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StoreLocked(f"{path} is locked by another process (is another TicketClock running?)")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return StoreUnwritable(f"cannot write {path}: {exc}")
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return StoreCorrupt(f"{path} is damaged ({exc}). It was left untouched; restore a backup or move it aside.")
    return StoreError(f"{path}: {exc}")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]
