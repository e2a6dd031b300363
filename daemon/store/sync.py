"""SQL of the team sync: which entries wait to be sent (their `sync_version` above `sent_version`), what the server
acknowledged, the decisions cursor and the last attempt (`sync_state`)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from daemon.entries.model import Entry
from daemon.store.db import Database, Transaction
from daemon.store.entries import ENTRY_COLUMNS_OF_E, entry_of

__all__ = ["SyncState", "SyncStore"]

SENT_BEFORE_JOINING = ("pending", "rejected")
"""Entries made before joining that are sent on joining: the technician's open work. The rest (posted, queued …)
went their way already."""


class SyncState(msgspec.Struct, kw_only=True):
    server: str
    cursor: int
    joined_at: float
    last_sync_at: float | None
    last_attempt_at: float | None
    last_error: str
    device_status: str
    waiting: int = 0
    """Entries changed locally and not yet acknowledged by the server."""


class SyncStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def state(self) -> SyncState | None:
        row = await self._db.fetchone(
            "SELECT server, cursor, joined_at, last_sync_at, last_attempt_at, last_error, device_status "
            "FROM sync_state WHERE id = 1"
        )
        if row is None:
            return None
        waiting = await self._db.scalar("SELECT count(*) FROM entries WHERE sync_version > sent_version")
        return SyncState(**dict(row), waiting=int(waiting))

    async def join(self, server: str, now: float) -> bool:
        """Start syncing with `server` (once per server: a new address starts over at cursor 0); True when this call
        joined. Entries made before joining are marked as sent unless they are the technician's open work."""
        async with self._db.transaction() as tx:
            async with tx.execute("SELECT server FROM sync_state WHERE id = 1") as cur:
                row = await cur.fetchone()
            if row is not None and row[0] == server:
                return False
            await tx.execute(
                "INSERT INTO sync_state (id, server, cursor, joined_at) VALUES (1, ?, 0, ?) "
                "ON CONFLICT (id) DO UPDATE SET server = excluded.server, cursor = 0, joined_at = excluded.joined_at, "
                "last_sync_at = NULL, last_error = '', device_status = ''",
                (server, now),
            )
            marks = ", ".join("?" for _ in SENT_BEFORE_JOINING)
            await tx.execute(
                f"UPDATE entries SET sent_version = CASE WHEN status IN ({marks}) THEN 0 ELSE sync_version END",  # noqa: S608
                SENT_BEFORE_JOINING,
            )
        return True

    async def leave(self) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM sync_state WHERE id = 1")

    @staticmethod
    async def unsent(tx: Transaction, limit: int) -> list[tuple[Entry, int]]:
        """Up to `limit` entries the server has not acknowledged in their current version, with that version (read
        in a transaction: never an entry a write has not committed yet)."""
        rows = await tx.execute_fetchall(
            f"SELECT {ENTRY_COLUMNS_OF_E}, e.sync_version FROM entries e WHERE e.sync_version > e.sent_version "  # noqa: S608
            "ORDER BY e.id LIMIT ?",
            (limit,),
        )
        return [(entry_of(r), int(r["sync_version"])) for r in rows]

    @staticmethod
    async def acknowledged(tx: Transaction, sent: Sequence[tuple[str, int]]) -> None:
        """The server answered for these (entry id, version): they need not be sent again (unless changed since)."""
        await tx.executemany(
            "UPDATE entries SET sent_version = max(sent_version, ?) WHERE id = ?", [(v, i) for i, v in sent]
        )

    @staticmethod
    async def sync_version(tx: Transaction, entry_id: str) -> tuple[int, int] | None:
        """(sync_version, sent_version) of an entry, or None."""
        async with tx.execute("SELECT sync_version, sent_version FROM entries WHERE id = ?", (entry_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    @staticmethod
    async def mark_sent(tx: Transaction, entry_id: str) -> None:
        """The server's decision stands for this entry as it is now: nothing of it to send."""
        await tx.execute("UPDATE entries SET sent_version = sync_version WHERE id = ?", (entry_id,))

    @staticmethod
    async def set_cursor(tx: Transaction, cursor: int, now: float) -> None:
        await tx.execute(
            "UPDATE sync_state SET cursor = ?, last_sync_at = ?, last_attempt_at = ?, last_error = '', "
            "device_status = 'active' WHERE id = 1",
            (cursor, now, now),
        )

    async def attempt_failed(self, now: float, error: str, device_status: str = "") -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE sync_state SET last_attempt_at = ?, last_error = ?, "
                "device_status = CASE WHEN ? = '' THEN device_status ELSE ? END WHERE id = 1",
                (now, error, device_status, device_status),
            )
