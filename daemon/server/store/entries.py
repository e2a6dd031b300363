"""The technicians' entries as their daemons synced them: one row per entry, its newest version."""

from __future__ import annotations

import msgspec

from daemon.entries.model import Entry
from daemon.server.model import SyncedEntry
from daemon.server.store.db import Tx

__all__ = ["Held", "get", "lock", "lock_many", "put", "put_many", "set_status"]


async def put(tx: Tx, person_id: str, team_id: str, synced: SyncedEntry, now: float) -> bool:
    """Store this version unless the server has it or a newer one; True when stored (`put_many` of one)."""
    return bool(await put_many(tx, person_id, team_id, [synced], now))


async def put_many(tx: Tx, person_id: str, team_id: str, batch: list[SyncedEntry], now: float) -> set[str]:
    """Store each version unless the server has it or a newer one, in one statement; returns the ids stored.
    Idempotent by (id, version); an entry id belongs to one person for good (another person's id is never
    overwritten). One version per id in a batch."""
    if not batch:
        return set()
    columns: list[list[object]] = [[] for _ in range(21)]
    for synced in batch:
        e = synced.entry
        values = (
            e.id, synced.device_id, synced.version, e.status, e.source, e.kind, e.instance, e.ticket_id,
            e.ticket_number, e.task, e.summary, e.company, e.work_type, e.billable, e.started_at, e.ended_at,
            e.actual_seconds, e.billed_seconds, _json(e.psa_ids), _json(e), None,
        )  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    rows = await tx.fetch(
        "INSERT INTO entries (id, person_id, team_id, device_id, version, status, source, kind, instance, "
        "ticket_id, ticket_number, task, summary, company, work_type, billable, started_at, ended_at, "
        "actual_seconds, billed_seconds, psa_ids, body, received_at, updated_at) "
        "SELECT u.id, $1, $2, u.device_id, u.version, u.status, u.source, u.kind, u.instance, u.ticket_id, "
        "u.ticket_number, u.task, u.summary, u.company, u.work_type, u.billable, u.started_at, u.ended_at, "
        "u.actual_seconds, u.billed_seconds, u.psa_ids::jsonb, u.body::jsonb, $3, $3 "
        "FROM unnest($4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::text[], $10::text[], "
        "$11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], "
        "$18::float8[], $19::float8[], $20::int[], $21::int[], $22::text[], $23::text[]) AS u(id, device_id, "
        "version, status, source, kind, instance, ticket_id, ticket_number, task, summary, company, work_type, "
        "billable, started_at, ended_at, actual_seconds, billed_seconds, psa_ids, body) "
        "ON CONFLICT (id) DO UPDATE SET device_id = excluded.device_id, version = excluded.version, "
        "status = excluded.status, source = excluded.source, kind = excluded.kind, instance = excluded.instance, "
        "ticket_id = excluded.ticket_id, ticket_number = excluded.ticket_number, task = excluded.task, "
        "summary = excluded.summary, company = excluded.company, work_type = excluded.work_type, "
        "billable = excluded.billable, started_at = excluded.started_at, ended_at = excluded.ended_at, "
        "actual_seconds = excluded.actual_seconds, billed_seconds = excluded.billed_seconds, "
        "psa_ids = excluded.psa_ids, body = excluded.body, updated_at = excluded.updated_at "
        "WHERE entries.version < excluded.version AND entries.person_id = excluded.person_id "
        "RETURNING id",
        person_id,
        team_id,
        now,
        *columns[:20],
    )
    return {row["id"] for row in rows}


def _json(value: object) -> str:
    """JSON text for a jsonb column fed from an array parameter (cast in SQL: asyncpg's jsonb[] parameters are not)."""
    return msgspec.json.encode(value).decode()


class Held(msgspec.Struct, frozen=True):
    """What `lock_many` found of an entry: the server's copy, locked until the transaction ends."""

    status: str
    version: int
    person_id: str
    started_at: float


async def lock_many(tx: Tx, entry_ids: list[str]) -> dict[str, Held]:
    """Lock the rows of these entries (those the server has) for this transaction, in id order (two
    transactions locking overlapping batches never wait on each other in a cycle)."""
    rows = await tx.fetch(
        "SELECT id, status, version, person_id, started_at FROM entries WHERE id = ANY($1::text[]) "
        "ORDER BY id FOR UPDATE",
        sorted(entry_ids),
    )
    return {r["id"]: Held(r["status"], r["version"], r["person_id"], r["started_at"]) for r in rows}


async def get(tx: Tx, entry_id: str) -> tuple[SyncedEntry, str, str] | None:
    """(the entry with the server's status, its person id, its team id), or None."""
    row = await tx.fetchrow(
        "SELECT body, version, device_id, status, status_comment, psa_ids, person_id, team_id FROM entries "
        "WHERE id = $1",
        entry_id,
    )
    if row is None:
        return None
    entry = msgspec.convert(row["body"], Entry)
    entry.status = row["status"]
    entry.status_reason = row["status_comment"]
    entry.psa_ids = list(row["psa_ids"])
    return (
        SyncedEntry(entry=entry, version=row["version"], device_id=row["device_id"]),
        row["person_id"],
        row["team_id"],
    )


async def lock(tx: Tx, entry_id: str) -> tuple[str, int, str, str, str] | None:
    """Lock the entry's row for this transaction: (status, version, person id, team id, instance), or None."""
    row = await tx.fetchrow(
        "SELECT status, version, person_id, team_id, instance FROM entries WHERE id = $1 FOR UPDATE", entry_id
    )
    return (row["status"], row["version"], row["person_id"], row["team_id"], row["instance"]) if row else None


async def set_status(
    tx: Tx, entry_id: str, status: str, *, comment: str, version: int, now: float, psa_ids: list[str] | None = None
) -> None:
    """The server's decision on `version` of the entry (approved, rejected, posted…)."""
    await tx.execute(
        "UPDATE entries SET status = $2, status_comment = $3, decided_version = $4, updated_at = $5, "
        "psa_ids = coalesce($6, psa_ids) WHERE id = $1",
        entry_id,
        status,
        comment,
        version,
        now,
        psa_ids,
    )
