"""The server's outbox: approved entries waiting to be posted to their PSA by whichever server process leases them."""

from __future__ import annotations

from daemon.server.store.db import Tx

__all__ = ["enqueue"]


async def enqueue(tx: Tx, entry_id: str, instance: str, now: float) -> bool:
    """Queue an approved entry for posting (once: a second call changes nothing); True when queued now."""
    row = await tx.fetchrow(
        "INSERT INTO outbox (entry_id, instance, due_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING entry_id",
        entry_id,
        instance,
        now,
    )
    return row is not None
