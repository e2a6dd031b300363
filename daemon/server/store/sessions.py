"""Web sessions of people signed in to the team server (only a hash of each session token is stored)."""

from __future__ import annotations

from daemon.server.store.db import Tx

__all__ = ["create", "delete", "touch"]


async def create(tx: Tx, id_hash: str, person_id: str, now: float, expires_at: float) -> None:
    await tx.execute(
        "INSERT INTO sessions (id_hash, person_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        id_hash,
        person_id,
        now,
        expires_at,
    )


async def touch(tx: Tx, id_hash: str, now: float, idle_s: float) -> str | None:
    """The session's person id if it is live (not expired, used within `idle_s`), marking it used now."""
    found: str | None = await tx.fetchval(
        "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $2 - $3 "
        "RETURNING person_id",
        id_hash,
        now,
        idle_s,
    )
    return found


async def delete(tx: Tx, id_hash: str) -> None:
    await tx.execute("DELETE FROM sessions WHERE id_hash = $1", id_hash)
