"""The server's outbox: approved entries waiting to be posted to their PSA by whichever server process leases them.

`LeasedOutbox` is the team server's implementation of the daemon's `OutboxStorage` (daemon/outbox.py holds THE
posting policy; this module only records). Any number of server processes share the table:

- a claim takes due rows with `SELECT … FOR UPDATE SKIP LOCKED` (two processes never take the same row) and leases
  them to this process (`leased_by`, `lease_until`), counting the attempt, in one statement that commits before any
  request leaves;
- a row whose lease ran out without being settled (its process died, or hung past the lease, mid-post) is due again
  and is claimed as `ambiguous`: the poster looks the entry up by its marker before posting it again;
- while a post is running its process renews the lease (`renew`, every third of the lease), for at most
  `MAX_HOLD_S` after the claim: a slow PSA does not hand a live post to another process, and a claim this process
  lost track of (a bug, a database error while settling) is still given up in the end;
- settling (posted, failed, retry, release) happens only while the lease is still this process's, so a process
  that lost its lease cannot overwrite what the new holder found.

Posted and failed are recorded together with the entry's status, a decision in the technician's feed (their daemon
applies it) and the audit trail, in one transaction.
"""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.entries.model import Entry
from daemon.server.store import audit, decisions, entries
from daemon.server.store.db import ServerDatabase, Tx
from daemon.store.outbox import OutboxRow

__all__ = ["MAX_HOLD_S", "NEVER", "LeasedOutbox", "enqueue"]

NEVER = 1e18
"""`due_at` of a row whose entry failed: it waits for the entry to be approved again (`enqueue` re-arms it)."""
MAX_HOLD_S = 3600.0
"""A process renews its lease on a claimed row for at most this long after the claim."""


async def enqueue(tx: Tx, entry_id: str, instance: str, now: float) -> bool:
    """Queue an approved entry for posting; True when queued now. A second call while it waits changes nothing; an
    entry that failed and was approved again is due again (keeping its attempts and its `ambiguous` flag, so an
    uncertain earlier attempt is still looked up first)."""
    row = await tx.fetchrow(
        "INSERT INTO outbox (entry_id, instance, due_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (entry_id) DO UPDATE SET due_at = excluded.due_at, instance = excluded.instance, "
        "last_error = '' WHERE outbox.due_at >= $4 RETURNING entry_id",
        entry_id,
        instance,
        now,
        NEVER,
    )
    return row is not None


_FREE = "(o.leased_by IS NULL OR o.lease_until <= $2)"
"""A row no live lease holds ($2: now)."""


class LeasedOutbox:
    """The outbox rows as one server process (`process_id`) sees them; leases last `lease_s` seconds."""

    def __init__(self, db: ServerDatabase, process_id: str, lease_s: float) -> None:
        self._db = db
        self._me = process_id
        self._lease_s = lease_s

    async def recover(self) -> int:
        """Nothing to do at start: this process's id is new, and other processes' expired leases are claimed (as
        ambiguous) by `claim` itself."""
        return 0

    async def claim(self, instance: str, now: float, limit: int) -> list[tuple[OutboxRow, Entry]]:
        async with self._db.transaction() as tx:
            leased = await tx.fetch(
                "WITH due AS (SELECT o.entry_id FROM outbox o JOIN entries e ON e.id = o.entry_id "  # noqa: S608
                f"WHERE o.instance = $1 AND e.status = 'queued' AND o.due_at <= $2 AND {_FREE} "
                "ORDER BY o.due_at, o.entry_id LIMIT $3 FOR UPDATE OF o SKIP LOCKED) "
                "UPDATE outbox o SET attempts = o.attempts + 1, ambiguous = o.ambiguous OR o.leased_by IS NOT NULL, "
                "lease_until = $2 + $4, leased_by = $5, leased_at = $2 FROM due WHERE o.entry_id = due.entry_id "
                "RETURNING o.entry_id, o.attempts, o.due_at, o.last_error, o.ambiguous",
                instance,
                now,
                limit,
                self._lease_s,
                self._me,
            )
            if not leased:
                return []
            bodies = await tx.fetch(
                "SELECT e.id, e.body, e.status, e.ticket_id, p.psa_identities ->> $2 AS who FROM entries e "
                "JOIN people p ON p.id = e.person_id WHERE e.id = ANY($1::text[])",
                [r["entry_id"] for r in leased],
                instance,
            )
        by_id = {r["id"]: r for r in bodies}
        claimed: list[tuple[OutboxRow, Entry]] = []
        for r in sorted(leased, key=lambda r: (r["due_at"], r["entry_id"])):
            found = by_id[r["entry_id"]]
            entry = msgspec.convert(found["body"], Entry)
            entry.status = found["status"]
            entry.ticket_id = found["ticket_id"]
            entry.log_as = found["who"] or ""  # posted as its technician, always (DESIGN §12)
            row = OutboxRow(
                entry_id=r["entry_id"],
                instance=instance,
                attempts=r["attempts"],
                next_at=r["due_at"],
                last_error=r["last_error"],
                sending_since=now,
                ambiguous=r["ambiguous"],
                status="queued",
            )
            claimed.append((row, entry))
        return claimed

    async def renew(self, now: float) -> int:
        """Extend this process's leases on the rows it is posting (claimed less than `MAX_HOLD_S` ago)."""
        async with self._db.transaction() as tx:
            found = await tx.fetch(
                "UPDATE outbox SET lease_until = $2::float8 + $3::float8 WHERE leased_by = $1 "
                "AND leased_at > $2::float8 - $4::float8 RETURNING entry_id",
                self._me,
                now,
                self._lease_s,
                MAX_HOLD_S,
            )
        return len(found)

    async def next_due(self, instance: str) -> float | None:
        async with self._db.connection() as conn:
            value: float | None = await conn.fetchval(
                "SELECT min(CASE WHEN o.leased_by IS NULL THEN o.due_at ELSE greatest(o.due_at, o.lease_until) END) "
                "FROM outbox o JOIN entries e ON e.id = o.entry_id WHERE o.instance = $1 AND e.status = 'queued'",
                instance,
            )
        return value

    async def _mine(self, tx: Tx, entry_id: str) -> tuple[str, int, str] | None:
        """Lock the entry, then its outbox row (the flow's order); (status, version, owner) while this process
        still holds the row's lease, else None."""
        current = await entries.lock(tx, entry_id)
        if current is None:
            return None
        held = await tx.fetchval("SELECT leased_by FROM outbox WHERE entry_id = $1 FOR UPDATE", entry_id)
        if held != self._me:
            return None
        status, version, owner, _team, _instance = current
        return status, version, owner

    async def posted(self, entry_id: str, psa_ids: list[str], now: float, comment: str) -> None:
        async with self._db.transaction() as tx:
            mine = await self._mine(tx, entry_id)
            if mine is None:
                return  # the lease went to another process, which looks the entry up and settles it
            _status, version, owner = mine
            await entries.set_status(tx, entry_id, "posted", comment="", version=version, now=now, psa_ids=psa_ids)
            await decisions.record(
                tx, owner, "posted", actor="server", at=now, entry_id=entry_id, version=version, comment=comment,
                detail={"psa_ids": psa_ids},
            )  # fmt: skip
            await audit.write(
                tx, at=now, actor_id=None, actor_name="server", via=f"outbox:{self._me}", action="posted",
                entry_id=entry_id, detail={"psa_ids": psa_ids, "comment": comment, "version": version},
            )  # fmt: skip
            await tx.execute("DELETE FROM outbox WHERE entry_id = $1", entry_id)

    async def failed(self, entry_id: str, message: str, now: float) -> None:
        async with self._db.transaction() as tx:
            mine = await self._mine(tx, entry_id)
            if mine is None:
                return
            _status, version, owner = mine
            await entries.set_status(tx, entry_id, "failed", comment=message, version=version, now=now)
            await decisions.record(
                tx, owner, "failed", actor="server", at=now, entry_id=entry_id, version=version, comment=message
            )
            await audit.write(
                tx, at=now, actor_id=None, actor_name="server", via=f"outbox:{self._me}", action="failed",
                entry_id=entry_id, detail={"message": message, "version": version},
            )  # fmt: skip
            await tx.execute(
                "UPDATE outbox SET leased_by = NULL, lease_until = NULL, due_at = $2, last_error = $3 "
                "WHERE entry_id = $1",
                entry_id,
                NEVER,
                message,
            )

    async def retry(self, entry_id: str, next_at: float, error: str, *, ambiguous: bool) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET leased_by = NULL, lease_until = NULL, due_at = $2, last_error = $3, "
                "ambiguous = ambiguous OR $4 WHERE entry_id = $1 AND leased_by = $5",
                entry_id,
                next_at,
                error,
                ambiguous,
                self._me,
            )

    async def due_now(self, entry_ids: set[str], now: float) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET due_at = $2 WHERE entry_id = ANY($1::text[]) AND leased_by IS NULL "
                "AND due_at > $2 AND due_at < $3",
                list(entry_ids),
                now,
                NEVER,
            )

    async def release(self, entry_id: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET leased_by = NULL, lease_until = NULL, attempts = greatest(attempts - 1, 0), "
                "ambiguous = true WHERE entry_id = $1 AND leased_by = $2",
                entry_id,
                self._me,
            )

    async def set_ticket_id(self, entry_id: str, ticket_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE entries SET ticket_id = $2, body = jsonb_set(body, '{ticket_id}', to_jsonb($2::bigint)) "
                "WHERE id = $1",
                entry_id,
                ticket_id,
            )

    async def rows(self) -> list[OutboxRow]:
        async with self._db.connection() as conn:
            found = await conn.fetch(
                "SELECT o.entry_id, o.instance, o.attempts, o.due_at, o.last_error, o.lease_until, o.leased_by, "
                "o.ambiguous, e.status FROM outbox o JOIN entries e ON e.id = o.entry_id ORDER BY o.due_at"
            )
        return [_row(r) for r in found]


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        entry_id=r["entry_id"],
        instance=r["instance"],
        attempts=r["attempts"],
        next_at=r["due_at"],
        last_error=r["last_error"],
        sending_since=r["lease_until"] if r["leased_by"] is not None else None,
        ambiguous=r["ambiguous"],
        status=r["status"],
    )
