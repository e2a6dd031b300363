"""The web UI's sign-in sessions: one row per session, keyed by the SHA-256 of its cookie value."""

from __future__ import annotations

import msgspec

from daemon.store.db import Database

__all__ = ["SessionRow", "SessionStore"]


class SessionRow(msgspec.Struct, frozen=True, kw_only=True):
    token_sha256: str
    scope: str
    created_at: float
    last_seen_at: float
    key_sha256: str = ""


class SessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, row: SessionRow) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO web_sessions (token_sha256, scope, created_at, last_seen_at, key_sha256) "
                "VALUES (?, ?, ?, ?, ?)",
                (row.token_sha256, row.scope, row.created_at, row.last_seen_at, row.key_sha256),
            )

    async def get(self, token_sha256: str) -> SessionRow | None:
        row = await self._db.fetchone(
            "SELECT token_sha256, scope, created_at, last_seen_at, key_sha256 FROM web_sessions WHERE token_sha256 = ?",
            (token_sha256,),
        )
        return None if row is None else SessionRow(**dict(row))

    async def touch(self, token_sha256: str, at: float) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE web_sessions SET last_seen_at = ? WHERE token_sha256 = ?", (at, token_sha256))

    async def remove(self, token_sha256: str) -> bool:
        async with self._db.transaction() as tx:
            cur = await tx.execute("DELETE FROM web_sessions WHERE token_sha256 = ?", (token_sha256,))
            return cur.rowcount > 0

    async def purge(self, *, idle_before: float, created_before: float) -> None:
        """Forget sessions that expired (idle too long, or older than the absolute limit)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM web_sessions WHERE last_seen_at < ? OR created_at < ?", (idle_before, created_before)
            )
