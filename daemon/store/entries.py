"""SQL for entries, their audit trail and the outbox rows that follow them."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiosqlite
import msgspec

from daemon.entries.model import AuditEvent, Entry, EntryFilter, RuleNote, Segment
from daemon.store.db import Database, Transaction

__all__ = ["ENTRY_COLUMNS_OF_E", "KIND_SQL", "EntryFilter", "EntryStore", "entry_of", "where_of"]

_COLUMNS = (
    "id, source, timer_id, instance, ticket_id, ticket_number, task, kind, summary, company, started_at, ended_at, "
    "actual_seconds, billed_seconds, notes, internal_notes, billable, work_type, log_as, status, status_reason, "
    "flags, segments, explanation, psa_ids, created_at, updated_at, automation, board, role"
)
_NAMES = tuple(_COLUMNS.split(", "))
_JSON = ("flags", "segments", "explanation", "psa_ids")
ENTRY_COLUMNS_OF_E = ", ".join(f"e.{c}" for c in _NAMES)
"""The entry columns of a query that names the entries table `e` (see `entry_of`)."""
_enc = msgspec.json.Encoder()
KIND_SQL = "kind"
"""An entry's kind in SQL (`daemon.entries.model.kind_of` in Python)."""
PAGE = 2000


def where_of(f: EntryFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (without the word) and its parameters for a filter: one rule for lists, sums and exports."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    for sql, value in (
        ("ended_at > ?", f.start),
        ("started_at < ?", f.end),
        ("started_at >= ?", f.started_from),
        ("started_at < ?", f.started_before),
        ("instance = ?", f.instance),
        ("ticket_id = ?", f.ticket_id),
        ("ticket_id IS NULL AND ticket_number = ?", f.ticket_number),
        ("company = ?", f.company),
        ("work_type = ?", f.work_type),
        ("billable = ?", f.billable),
        ("task = ?", f.task),
        ("source = ?", f.source),
        (f"{KIND_SQL} = ?", f.kind),
    ):
        if value is not None:
            where.append(sql)
            params.append(value)
    for statuses in (f.status, f.bucket_statuses()):
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
    return " AND ".join(where), params


def _row(entry: Entry) -> tuple[Any, ...]:
    d = msgspec.structs.asdict(entry)
    return tuple(_enc.encode(d[c]).decode() if c in _JSON else d[c] for c in _COLUMNS.split(", "))


_DECODE_JSON = {
    "flags": msgspec.json.Decoder(list[str]).decode,
    "segments": msgspec.json.Decoder(list[Segment]).decode,
    "explanation": msgspec.json.Decoder(list[RuleNote]).decode,
    "psa_ids": msgspec.json.Decoder(list[str]).decode,
}


def _entry(row: aiosqlite.Row) -> Entry:
    """The Entry of a row of `_COLUMNS`: the JSON columns by typed decoders, the rest as stored (the store wrote
    them from an Entry, so they need no second check; thousands of rows a request make this matter)."""
    d = dict(row)
    for c, decode in _DECODE_JSON.items():
        d[c] = decode(d[c])
    return Entry(**d)


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
    async def update(tx: Transaction, entry: Entry, *, from_team: bool = False) -> None:
        """Write the entry's new state. Every change bumps its sync version (a new row starts at 1), so the team
        sync sends it; `from_team`: the change is a team server's decision, which the server has already."""
        names = [c for c in _COLUMNS.split(", ") if c != "id"]
        values = list(_row(entry))[1:]
        sets = ", ".join(f"{n} = ?" for n in names)
        bump = "" if from_team else ", sync_version = sync_version + 1"
        await tx.execute(f"UPDATE entries SET {sets}{bump} WHERE id = ?", (*values, entry.id))  # noqa: S608

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
        where, params = where_of(f)
        sql = f"SELECT {_COLUMNS} FROM entries WHERE {where} ORDER BY started_at, id LIMIT ? OFFSET ?"  # noqa: S608
        rows = await self._db.fetchall(sql, (*params, f.limit, f.offset))
        return [_entry(r) for r in rows]

    async def every(self, f: EntryFilter) -> AsyncIterator[builtins.list[Entry]]:
        """Every entry the filter selects (its limit and offset ignored), in pages, in the order of `list`.

        Pages follow (started_at, id) from the last row, so a long export neither skips nor repeats rows."""
        where, params = where_of(f)
        after: tuple[float, str] | None = None
        while True:
            more = "" if after is None else " AND (started_at > ? OR (started_at = ? AND id > ?))"
            extra: list[Any] = [] if after is None else [after[0], after[0], after[1]]
            sql = f"SELECT {_COLUMNS} FROM entries WHERE {where}{more} ORDER BY started_at, id LIMIT ?"  # noqa: S608
            rows = await self._db.fetchall(sql, (*params, *extra, PAGE))
            if not rows:
                return
            page = [_entry(r) for r in rows]
            yield page
            if len(rows) < PAGE:
                return
            after = (page[-1].started_at, page[-1].id)

    async def task_names(self) -> builtins.list[str]:
        """The task names entries have used, most used first."""
        rows = await self._db.fetchall(
            "SELECT task FROM entries WHERE task IS NOT NULL GROUP BY task ORDER BY count(*) DESC, task LIMIT 200"
        )
        return [str(r[0]) for r in rows]
