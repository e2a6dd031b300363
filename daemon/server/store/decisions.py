"""Decisions going back to the technicians' daemons (approved, rejected, posted, period closed…), in a feed per
person read by cursor (`seq`).

A reader that has seen `seq` N must never later miss a smaller one: `record` takes a per-person advisory lock until
its transaction commits, so one person's decisions commit in the order of their sequence numbers."""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.server.store.db import Tx

__all__ = ["Decision", "last_actor", "record", "since"]


class Decision(msgspec.Struct, kw_only=True):
    seq: int
    entry_id: str | None
    version: int | None
    kind: str
    comment: str = ""
    detail: dict[str, Any] = {}
    actor: str
    at: float


async def record(
    tx: Tx,
    person_id: str,
    kind: str,
    *,
    actor: str,
    at: float,
    entry_id: str | None = None,
    version: int | None = None,
    comment: str = "",
    detail: dict[str, Any] | None = None,
) -> int:
    await tx.execute("SELECT pg_advisory_xact_lock(hashtext('decisions:' || $1))", person_id)
    seq: int = await tx.fetchval(
        "INSERT INTO decisions (person_id, entry_id, version, kind, comment, detail, actor, at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
        person_id,
        entry_id,
        version,
        kind,
        comment,
        detail or {},
        actor,
        at,
    )
    return seq


async def since(tx: Tx, person_id: str, after: int, limit: int = 500) -> list[Decision]:
    rows = await tx.fetch(
        "SELECT seq, entry_id, version, kind, comment, detail, actor, at FROM decisions "
        "WHERE person_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        person_id,
        after,
        limit,
    )
    return [Decision(**dict(r)) for r in rows]


async def last_actor(tx: Tx, entry_id: str, kind: str) -> str | None:
    """The person id (decision detail `actor_id`) behind the entry's latest decision of this kind."""
    found: str | None = await tx.fetchval(
        "SELECT detail->>'actor_id' FROM decisions WHERE entry_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1",
        entry_id,
        kind,
    )
    return found
