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


TOUCH_EVERY_S = 60.0
"""A session's last use is written at most once a minute: a request does not pay a write for it."""


async def touch(tx: Tx, id_hash: str, now: float, idle_s: float) -> str | None:
    """The session's person id if it is live (not expired, used within `idle_s`); its last use is moved to now when
    more than `TOUCH_EVERY_S` old (so a session idles out up to a minute early, never late)."""
    found: str | None = await tx.fetchval(
        "WITH live AS (SELECT person_id, last_seen_at FROM sessions WHERE id_hash = $1 AND expires_at > $2 "
        "AND last_seen_at > $2 - $3), "
        "moved AS (UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2 - $4 "
        "AND EXISTS (SELECT 1 FROM live)) "
        "SELECT person_id FROM live",
        id_hash,
        now,
        idle_s,
        TOUCH_EVERY_S,
    )
    return found


async def delete(tx: Tx, id_hash: str) -> None:
    await tx.execute("DELETE FROM sessions WHERE id_hash = $1", id_hash)
