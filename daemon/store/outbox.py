"""SQL for the outbox: claiming due entries, recording attempts, and settling them as posted or failed."""

from __future__ import annotations

import msgspec

from daemon.entries.model import AuditEvent, Entry
from daemon.store.db import Database
from daemon.store.entries import EntryStore

__all__ = ["OutboxRow", "OutboxStore"]

NEVER = 1e18


class OutboxRow(msgspec.Struct, kw_only=True):
    entry_id: str
    instance: str
    attempts: int
    next_at: float
    last_error: str
    sending_since: float | None
    ambiguous: bool
    status: str = ""


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def recover(self) -> int:
        """After a crash, a row still marked as sending may have reached the PSA: look before posting again."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE outbox SET ambiguous = 1, sending_since = NULL WHERE sending_since IS NOT NULL"
            )
            return cur.rowcount

    async def claim(self, instance: str, now: float, limit: int) -> list[tuple[OutboxRow, Entry]]:
        """Mark up to `limit` due rows as sending (durably, before any request leaves) and return them."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT o.entry_id FROM outbox o JOIN entries e ON e.id = o.entry_id "
                "WHERE o.instance = ? AND e.status = 'queued' AND o.sending_since IS NULL AND o.next_at <= ? "
                "ORDER BY o.next_at, e.started_at LIMIT ?",
                (instance, now, limit),
            ) as cur:
                ids = [str(r[0]) for r in await cur.fetchall()]
            claimed: list[tuple[OutboxRow, Entry]] = []
            for entry_id in ids:
                await conn.execute(
                    "UPDATE outbox SET sending_since = ?, attempts = attempts + 1 WHERE entry_id = ?", (now, entry_id)
                )
                row = await self._row(conn, entry_id)
                entry = await EntryStore.get_in(conn, entry_id)
                if row is not None and entry is not None:
                    claimed.append((row, entry))
            return claimed

    async def next_due(self, instance: str) -> float | None:
        value = await self._db.scalar(
            "SELECT MIN(o.next_at) FROM outbox o JOIN entries e ON e.id = o.entry_id "
            "WHERE o.instance = ? AND e.status = 'queued' AND o.sending_since IS NULL",
            (instance,),
        )
        return None if value is None else float(value)

    async def posted(self, entry_id: str, psa_ids: list[str], now: float, comment: str) -> None:
        async with self._db.transaction() as conn:
            entry = await EntryStore.get_in(conn, entry_id)
            if entry is None:
                return
            audit = [AuditEvent(at=now, actor="outbox", from_status=entry.status, to_status="posted", comment=comment)]
            entry.status, entry.status_reason, entry.psa_ids, entry.updated_at = "posted", "", psa_ids, now
            await EntryStore.update(conn, entry)
            await EntryStore.audit(conn, entry_id, audit)
            await conn.execute("DELETE FROM outbox WHERE entry_id = ?", (entry_id,))

    async def retry(self, entry_id: str, next_at: float, error: str, *, ambiguous: bool) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET sending_since = NULL, next_at = ?, last_error = ?, "
                "ambiguous = MAX(ambiguous, ?) WHERE entry_id = ?",
                (next_at, error, int(ambiguous), entry_id),
            )

    async def due_now(self, entry_ids: set[str], now: float) -> None:
        """Make these rows due at once (if still waiting and not being sent), e.g. once credentials are stored."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "UPDATE outbox SET next_at = ? WHERE entry_id = ? AND sending_since IS NULL AND next_at > ?",
                [(now, entry_id, now) for entry_id in entry_ids],
            )

    async def release(self, entry_id: str) -> None:
        """Give a claimed row back untouched (the worker is stopping)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET sending_since = NULL, attempts = MAX(attempts - 1, 0), ambiguous = 1 "
                "WHERE entry_id = ?",
                (entry_id,),
            )

    async def failed(self, entry_id: str, message: str, now: float) -> None:
        async with self._db.transaction() as conn:
            entry = await EntryStore.get_in(conn, entry_id)
            if entry is None:
                return
            audit = [AuditEvent(at=now, actor="outbox", from_status=entry.status, to_status="failed", comment=message)]
            entry.status, entry.status_reason, entry.updated_at = "failed", message, now
            await EntryStore.update(conn, entry)
            await EntryStore.audit(conn, entry_id, audit)
            await conn.execute(
                "UPDATE outbox SET sending_since = NULL, next_at = ?, last_error = ? WHERE entry_id = ?",
                (NEVER, message, entry_id),
            )

    async def set_ticket_id(self, entry_id: str, ticket_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE entries SET ticket_id = ? WHERE id = ?", (ticket_id, entry_id))

    async def rows(self) -> list[OutboxRow]:
        rows = await self._db.fetchall(
            "SELECT o.entry_id, o.instance, o.attempts, o.next_at, o.last_error, o.sending_since, o.ambiguous, "
            "e.status FROM outbox o JOIN entries e ON e.id = o.entry_id ORDER BY o.next_at"
        )
        return [OutboxRow(**{**dict(r), "ambiguous": bool(r["ambiguous"])}) for r in rows]

    @staticmethod
    async def _row(conn: object, entry_id: str) -> OutboxRow | None:
        async with conn.execute(  # type: ignore[attr-defined]
            "SELECT entry_id, instance, attempts, next_at, last_error, sending_since, ambiguous FROM outbox "
            "WHERE entry_id = ?",
            (entry_id,),
        ) as cur:
            r = await cur.fetchone()
        return None if r is None else OutboxRow(**{**dict(r), "ambiguous": bool(r["ambiguous"])})
