"""Paired clients (extensions, scripts) and the daemon's key/value settings."""

from __future__ import annotations

import msgspec

from daemon.store.db import Database

__all__ = ["Client", "ClientStore", "get_meta", "set_meta"]


class Client(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    origin: str | None
    created_at: float
    last_used_at: float | None = None


class ClientStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, client: Client, token_sha256: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO clients (id, name, origin, token_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                (client.id, client.name, client.origin, token_sha256, client.created_at),
            )

    async def by_token(self, token_sha256: str) -> Client | None:
        row = await self._db.fetchone(
            "SELECT id, name, origin, created_at, last_used_at FROM clients WHERE token_sha256 = ?", (token_sha256,)
        )
        return None if row is None else Client(**dict(row))

    async def token_digests(self) -> list[str]:
        rows = await self._db.fetchall("SELECT token_sha256 FROM clients ORDER BY id")
        return [str(r["token_sha256"]) for r in rows]

    async def all(self) -> list[Client]:
        rows = await self._db.fetchall("SELECT id, name, origin, created_at, last_used_at FROM clients ORDER BY id")
        return [Client(**dict(r)) for r in rows]

    async def remove(self, client_id: str) -> bool:
        async with self._db.transaction() as tx:
            cur = await tx.execute("DELETE FROM clients WHERE id = ?", (client_id,))
            return cur.rowcount > 0


async def get_meta(db: Database, key: str) -> str | None:
    value = await db.scalar("SELECT value FROM meta WHERE key = ?", (key,))
    return None if value is None else str(value)


async def set_meta(db: Database, key: str, value: str) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
