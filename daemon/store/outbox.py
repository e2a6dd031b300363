"""SQL for the outbox: claiming due entries, recording attempts, and settling them as posted or failed."""

from __future__ import annotations

import msgspec

from daemon.entries.model import Entry
from daemon.store.db import Database, Transaction
from daemon.store.entries import ENTRY_COLUMNS_OF_E, entry_of

__all__ = ["CLAIM_SQL", "OutboxRow", "OutboxStore"]

NEVER = 1e18
_enc = msgspec.json.Encoder()


class OutboxRow(msgspec.Struct, kw_only=True):
    entry_id: str
    instance: str
    attempts: int
    next_at: float
    last_error: str
    sending_since: float | None
    ambiguous: bool
    status: str = ""


CLAIM_SQL = (
    f"SELECT o.attempts AS o_attempts, o.next_at AS o_next_at, o.last_error AS o_last_error, "  # noqa: S608
    f"o.ambiguous AS o_ambiguous, {ENTRY_COLUMNS_OF_E} FROM outbox o JOIN entries e ON e.id = o.entry_id "
    "WHERE o.instance = ? AND e.status = 'queued' AND o.sending_since IS NULL AND o.next_at <= ? "
    "ORDER BY o.next_at, o.rowid LIMIT ?"
)
"""The due rows of an instance, the earliest due first and, among rows due at the same time, in the order they were
queued (`o.rowid`). Both come from the `outbox_due` index, so a claim reads only the rows it takes: a tie-break on
an entries column (it was `e.started_at`) made SQLite sort every due row on each claim, 15 ms a claim with 10,000
queued, which held the Autotask outbox to 64% of the rate the vendor allows (bench/automation_bench.py)."""


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def enqueue(tx: Transaction, entry: Entry, now: float) -> None:
        """Queue the entry for posting at `now` (again, if it was queued before: its last error is cleared)."""
        await tx.execute(
            "INSERT INTO outbox (entry_id, instance, next_at) VALUES (?, ?, ?) "
            "ON CONFLICT(entry_id) DO UPDATE SET next_at = excluded.next_at, last_error = ''",
            (entry.id, entry.instance, now),
        )

    @staticmethod
    async def withdraw(tx: Transaction, entry_id: str) -> None:
        """Take the entry out of the outbox (it will not be posted)."""
        await tx.execute("DELETE FROM outbox WHERE entry_id = ?", (entry_id,))

    @staticmethod
    async def is_sending(tx: Transaction, entry_id: str) -> bool:
        """Whether the outbox holds the entry claimed, its post in flight."""
        async with tx.execute("SELECT sending_since FROM outbox WHERE entry_id = ?", (entry_id,)) as cur:
            row = await cur.fetchone()
        return row is not None and row[0] is not None

    async def recover(self) -> int:
        """After a crash, a row still marked as sending may have reached the PSA: look before posting again."""
        async with self._db.transaction() as tx:
            cur = await tx.execute(
                "UPDATE outbox SET ambiguous = 1, sending_since = NULL WHERE sending_since IS NOT NULL"
            )
            return cur.rowcount

    async def claim(self, instance: str, now: float, limit: int) -> list[tuple[OutboxRow, Entry]]:
        """Mark up to `limit` due rows as sending (durably, before any request leaves) and return them.

        One read of the due rows with their entries and one UPDATE, inside one transaction: BEGIN IMMEDIATE holds
        the write lock, so the rows returned are exactly what the UPDATE left in the database."""
        async with self._db.transaction() as tx:
            found = await tx.execute_fetchall(CLAIM_SQL, (instance, now, limit))
            rows = list(found)
            if not rows:
                return []
            ids = [str(r["id"]) for r in rows]
            await tx.execute(
                "UPDATE outbox SET sending_since = ?, attempts = attempts + 1 "  # noqa: S608
                f"WHERE entry_id IN ({', '.join('?' for _ in ids)})",
                (now, *ids),
            )
            claimed: list[tuple[OutboxRow, Entry]] = []
            for r in rows:
                row = OutboxRow(
                    entry_id=str(r["id"]),
                    instance=instance,
                    attempts=int(r["o_attempts"]) + 1,
                    next_at=float(r["o_next_at"]),
                    last_error=str(r["o_last_error"]),
                    sending_since=now,
                    ambiguous=bool(r["o_ambiguous"]),
                )
                claimed.append((row, entry_of(r)))
            return claimed

    async def next_due(self, instance: str) -> float | None:
        value = await self._db.scalar(
            "SELECT MIN(o.next_at) FROM outbox o JOIN entries e ON e.id = o.entry_id "
            "WHERE o.instance = ? AND e.status = 'queued' AND o.sending_since IS NULL",
            (instance,),
        )
        return None if value is None else float(value)

    async def posted(self, entry_id: str, psa_ids: list[str], now: float, comment: str) -> None:
        async with self._db.transaction() as tx:
            if not await _audit_from_current(tx, entry_id, now, "posted", comment):
                return  # no such entry
            await tx.execute(
                "UPDATE entries SET status = 'posted', status_reason = '', psa_ids = ?, updated_at = ? WHERE id = ?",
                (_enc.encode(psa_ids).decode(), now, entry_id),
            )
            await tx.execute("DELETE FROM outbox WHERE entry_id = ?", (entry_id,))

    async def retry(self, entry_id: str, next_at: float, error: str, *, ambiguous: bool) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET sending_since = NULL, next_at = ?, last_error = ?, "
                "ambiguous = MAX(ambiguous, ?) WHERE entry_id = ?",
                (next_at, error, int(ambiguous), entry_id),
            )

    async def due_now(self, entry_ids: set[str], now: float) -> None:
        """Make these rows due at once (if still waiting and not being sent), e.g. once credentials are stored."""
        async with self._db.transaction() as tx:
            await tx.executemany(
                "UPDATE outbox SET next_at = ? WHERE entry_id = ? AND sending_since IS NULL AND next_at > ?",
                [(now, entry_id, now) for entry_id in entry_ids],
            )

    async def release(self, entry_id: str) -> None:
        """Give a claimed row back untouched (the worker is stopping)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET sending_since = NULL, attempts = MAX(attempts - 1, 0), ambiguous = 1 "
                "WHERE entry_id = ?",
                (entry_id,),
            )

    async def failed(self, entry_id: str, message: str, now: float) -> None:
        async with self._db.transaction() as tx:
            if not await _audit_from_current(tx, entry_id, now, "failed", message):
                return  # no such entry
            await tx.execute(
                "UPDATE entries SET status = 'failed', status_reason = ?, updated_at = ? WHERE id = ?",
                (message, now, entry_id),
            )
            await tx.execute(
                "UPDATE outbox SET sending_since = NULL, next_at = ?, last_error = ? WHERE entry_id = ?",
                (NEVER, message, entry_id),
            )

    async def set_ticket_id(self, entry_id: str, ticket_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE entries SET ticket_id = ? WHERE id = ?", (ticket_id, entry_id))

    async def rows(self) -> list[OutboxRow]:
        rows = await self._db.fetchall(
            "SELECT o.entry_id, o.instance, o.attempts, o.next_at, o.last_error, o.sending_since, o.ambiguous, "
            "e.status FROM outbox o JOIN entries e ON e.id = o.entry_id ORDER BY o.next_at"
        )
        return [OutboxRow(**{**dict(r), "ambiguous": bool(r["ambiguous"])}) for r in rows]


async def _audit_from_current(tx: Transaction, entry_id: str, at: float, to_status: str, comment: str) -> bool:
    """Record the outbox moving an entry from its current status to `to_status`; False if there is no such entry."""
    cur = await tx.execute(
        "INSERT INTO entry_events (entry_id, at, actor, from_status, to_status, comment) "
        "SELECT id, ?, 'outbox', status, ?, ? FROM entries WHERE id = ?",
        (at, to_status, comment, entry_id),
    )
    return cur.rowcount > 0
