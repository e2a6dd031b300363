"""SQL for entries, their audit trail and the outbox rows that follow them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite
import msgspec

from daemon.entries.model import AuditEvent, Entry, EntryFilter
from daemon.store.db import Database, Transaction

__all__ = ["ENTRY_COLUMNS_OF_E", "EntryFilter", "EntryStore", "entry_of"]

_COLUMNS = (
    "id, source, timer_id, instance, ticket_id, ticket_number, task, kind, summary, company, started_at, ended_at, "
    "actual_seconds, billed_seconds, notes, internal_notes, billable, work_type, log_as, status, status_reason, "
    "flags, segments, explanation, psa_ids, created_at, updated_at, automation"
)
_NAMES = tuple(_COLUMNS.split(", "))
_JSON = ("flags", "segments", "explanation", "psa_ids")
ENTRY_COLUMNS_OF_E = ", ".join(f"e.{c}" for c in _NAMES)
"""The entry columns of a query that names the entries table `e` (see `entry_of`)."""
_enc = msgspec.json.Encoder()


def _row(entry: Entry) -> tuple[Any, ...]:
    d = msgspec.structs.asdict(entry)
    return tuple(_enc.encode(d[c]).decode() if c in _JSON else d[c] for c in _COLUMNS.split(", "))


def _entry(row: aiosqlite.Row) -> Entry:
    d = dict(row)
    for c in _JSON:
        d[c] = msgspec.json.decode(d[c])
    return msgspec.convert(d, Entry)


def entry_of(row: aiosqlite.Row) -> Entry:
    """The Entry in a row that holds `ENTRY_COLUMNS_OF_E` (and maybe other columns, which are ignored)."""
    d = {c: row[c] for c in _NAMES}
    for c in _JSON:
        d[c] = msgspec.json.decode(d[c])
    return msgspec.convert(d, Entry)


class EntryStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def insert(tx: Transaction, entry: Entry, audit: Sequence[AuditEvent]) -> None:
        placeholders = ", ".join("?" for _ in _COLUMNS.split(", "))
        await tx.execute(f"INSERT INTO entries ({_COLUMNS}) VALUES ({placeholders})", _row(entry))  # noqa: S608
        await EntryStore.audit(tx, entry.id, audit)

    @staticmethod
    async def audit(tx: Transaction, entry_id: str, audit: Sequence[AuditEvent]) -> None:
        await tx.executemany(
            "INSERT INTO entry_events (entry_id, at, actor, from_status, to_status, comment) VALUES (?, ?, ?, ?, ?, ?)",
            [(entry_id, a.at, a.actor, a.from_status, a.to_status, a.comment) for a in audit],
        )

    @staticmethod
    async def update(tx: Transaction, entry: Entry) -> None:
        names = [c for c in _COLUMNS.split(", ") if c != "id"]
        values = list(_row(entry))[1:]
        sets = ", ".join(f"{n} = ?" for n in names)
        await tx.execute(f"UPDATE entries SET {sets} WHERE id = ?", (*values, entry.id))  # noqa: S608

    @staticmethod
    async def get_in(tx: Transaction, entry_id: str) -> Entry | None:
        async with tx.execute(f"SELECT {_COLUMNS} FROM entries WHERE id = ?", (entry_id,)) as cur:  # noqa: S608
            row = await cur.fetchone()
        return None if row is None else _entry(row)

    async def get(self, entry_id: str) -> Entry | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM entries WHERE id = ?", (entry_id,))  # noqa: S608
        return None if row is None else _entry(row)

    async def history(self, entry_id: str) -> list[AuditEvent]:
        rows = await self._db.fetchall(
            "SELECT at, actor, from_status, to_status, comment FROM entry_events WHERE entry_id = ? ORDER BY id",
            (entry_id,),
        )
        return [AuditEvent(**dict(r)) for r in rows]

    async def list(self, f: EntryFilter) -> list[Entry]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if f.start is not None:
            where.append("ended_at > ?")
            params.append(f.start)
        if f.end is not None:
            where.append("started_at < ?")
            params.append(f.end)
        if f.status:
            where.append(f"status IN ({', '.join('?' for _ in f.status)})")
            params.extend(f.status)
        if f.instance is not None:
            where.append("instance = ?")
            params.append(f.instance)
        if f.ticket_id is not None:
            where.append("ticket_id = ?")
            params.append(f.ticket_id)
        sql = (
            f"SELECT {_COLUMNS} FROM entries WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY started_at, id LIMIT ? OFFSET ?"
        )
        rows = await self._db.fetchall(sql, (*params, f.limit, f.offset))
        return [_entry(r) for r in rows]
