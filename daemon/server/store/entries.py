"""The technicians' entries as their daemons synced them: one row per entry, its newest version."""

from __future__ import annotations

import msgspec

from daemon.entries.model import Entry
from daemon.server.model import SyncedEntry
from daemon.server.store.db import Tx

__all__ = ["get", "lock", "put", "set_status"]


async def put(tx: Tx, person_id: str, team_id: str, synced: SyncedEntry, now: float) -> bool:
    """Store this version unless the server has it or a newer one; True when stored. Idempotent by (id, version);
    an entry id belongs to one person for good (another person's id is never overwritten)."""
    e = synced.entry
    row = await tx.fetchrow(
        "INSERT INTO entries (id, person_id, team_id, device_id, version, status, source, kind, instance, "
        "ticket_id, ticket_number, task, summary, company, work_type, billable, started_at, ended_at, "
        "actual_seconds, billed_seconds, psa_ids, body, received_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, "
        "$22, $23, $23) "
        "ON CONFLICT (id) DO UPDATE SET device_id = excluded.device_id, version = excluded.version, "
        "status = excluded.status, source = excluded.source, kind = excluded.kind, instance = excluded.instance, "
        "ticket_id = excluded.ticket_id, ticket_number = excluded.ticket_number, task = excluded.task, "
        "summary = excluded.summary, company = excluded.company, work_type = excluded.work_type, "
        "billable = excluded.billable, started_at = excluded.started_at, ended_at = excluded.ended_at, "
        "actual_seconds = excluded.actual_seconds, billed_seconds = excluded.billed_seconds, "
        "psa_ids = excluded.psa_ids, body = excluded.body, updated_at = excluded.updated_at "
        "WHERE entries.version < excluded.version AND entries.person_id = excluded.person_id "
        "RETURNING id",
        e.id,
        person_id,
        team_id,
        synced.device_id,
        synced.version,
        e.status,
        e.source,
        e.kind,
        e.instance,
        e.ticket_id,
        e.ticket_number,
        e.task,
        e.summary,
        e.company,
        e.work_type,
        e.billable,
        e.started_at,
        e.ended_at,
        e.actual_seconds,
        e.billed_seconds,
        e.psa_ids,
        msgspec.to_builtins(e),
        now,
    )
    return row is not None


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
