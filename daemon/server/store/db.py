"""The team server's PostgreSQL database: an asyncpg pool, forward-only migrations, transactions.

Every server process runs `ServerDatabase.open`; the migrations run under one advisory lock, so processes started
together apply each migration once and the others wait, then see it applied. A database migrated by a newer
TicketClock is refused (`SchemaTooNew`) rather than written with an older idea of its tables.

All SQL of the server lives in `daemon/server/store/`, the only importer of asyncpg. Services hold a `Tx` (an open
transaction's connection) only to hand it back to store functions, so that several writes commit together.

Errors::

    ServerStoreError        the database cannot be used; the message says why
     └── SchemaTooNew       migrated by a newer TicketClock
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import asyncpg
import msgspec

from daemon.server.store.migrations import MIGRATIONS

__all__ = ["BAD_TEXT", "SCHEMA_VERSION", "SchemaTooNew", "ServerDatabase", "ServerStoreError", "Tx"]

SCHEMA_VERSION = len(MIGRATIONS)
MIGRATION_LOCK = 0x7C_0C_10_CC
"""pg_advisory_xact_lock key held while migrating."""

Tx: TypeAlias = asyncpg.Connection
"""An open transaction's connection, handed to store functions."""


BAD_TEXT: tuple[type[Exception], ...] = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)
"""What PostgreSQL answers to text it cannot hold (a NUL character, in text or a JSON string): the client's input."""


class ServerStoreError(Exception):
    pass


class SchemaTooNew(ServerStoreError):
    pass


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=lambda v: msgspec.json.encode(v).decode(), decoder=msgspec.json.decode, schema="pg_catalog"
        )


class ServerDatabase:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> ServerDatabase:
        """Connect, migrate (once across processes), and return the database; `ServerStoreError` says why not."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ServerStoreError(f"cannot connect to the database: {exc}") from exc
        db = cls(pool)
        try:
            await db.migrate()
        except BaseException:
            await pool.close()
            raise
        return db

    async def migrate(self) -> int:
        """Apply the migrations not applied yet; returns how many this call applied."""
        applied = 0
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz "
                "NOT NULL DEFAULT now())"
            )
            current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"the database is at schema version {current}, this TicketClock knows {SCHEMA_VERSION}: "
                    "upgrade TicketClock on every server process"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                await conn.execute(MIGRATIONS[version - 1])
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied += 1
        return applied

    async def version(self) -> int:
        return int(await self.pool.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))

    async def ready(self) -> tuple[bool, str]:
        """Whether this process can serve: the database answers and its schema is the one this code knows."""
        try:
            version = await self.version()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return False, f"database unavailable: {type(exc).__name__}"
        if version != SCHEMA_VERSION:
            return False, f"schema version {version}, expected {SCHEMA_VERSION}"
        return True, "ok"

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Tx]:
        """A connection outside a transaction (reads; each statement on its own)."""
        async with self.pool.acquire() as conn:
            yield conn

    async def close(self) -> None:
        await self.pool.close()


def record(row: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None
