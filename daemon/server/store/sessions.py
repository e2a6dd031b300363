"""Web sessions of people signed in to the team server (only a hash of each session token is stored)."""

from __future__ import annotations

from daemon.server.store.db import Tx

__all__ = ["TOUCH_EVERY_S", "create", "delete"]


async def create(tx: Tx, id_hash: str, person_id: str, now: float, expires_at: float) -> None:
    await tx.execute(
        "INSERT INTO sessions (id_hash, person_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        id_hash,
        person_id,
        now,
        expires_at,
    )


TOUCH_EVERY_S = 60.0
"""A session's last use is written at most once a minute (`people.person_by_session`): a request does not pay a
write for it, and a session idles out up to a minute early, never late."""


async def delete(tx: Tx, id_hash: str) -> None:
    await tx.execute("DELETE FROM sessions WHERE id_hash = $1", id_hash)
