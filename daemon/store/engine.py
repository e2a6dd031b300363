"""SQL for the timer engine's state blob, the daemon's checkpoint and per-install acknowledgements."""

from __future__ import annotations

from collections.abc import Sequence

from daemon.store.db import Database, Params, Transaction

__all__ = ["EngineStore"]


class EngineStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self) -> tuple[bytes | None, float | None]:
        row = await self._db.fetchone("SELECT state, daemon_seen FROM engine WHERE id = 1")
        return (None, None) if row is None else (bytes(row[0]), float(row[1]))

    @staticmethod
    async def save(tx: Transaction, state: bytes, daemon_seen: float) -> None:
        await tx.execute(_SAVE, (state, daemon_seen))

    async def save_acked(self, state: bytes, daemon_seen: float, acks: Sequence[tuple[str, int, str]]) -> None:
        """Save the state and the (install, seq, instance) acknowledgements in one transaction, one database call."""
        statements: list[tuple[str, Params]] = [(_SAVE, (state, daemon_seen))]
        statements += [(_ACK, (install, seq, daemon_seen, instance)) for install, seq, instance in acks]
        await self._db.write(statements)

    @staticmethod
    async def checkpoint(tx: Transaction, daemon_seen: float) -> None:
        await tx.execute("UPDATE engine SET daemon_seen = ? WHERE id = 1", (daemon_seen,))

    async def acked(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT install, acked_seq FROM installs")
        return {str(r[0]): int(r[1]) for r in rows}

    @staticmethod
    async def ack(tx: Transaction, install: str, seq: int, at: float, instance: str) -> None:
        await tx.execute(_ACK, (install, seq, at, instance))


_SAVE = (
    "INSERT INTO engine (id, state, daemon_seen) VALUES (1, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET state = excluded.state, daemon_seen = excluded.daemon_seen"
)
_ACK = (
    "INSERT INTO installs (install, acked_seq, last_at, instance) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(install) DO UPDATE SET acked_seq = excluded.acked_seq, last_at = excluded.last_at, "
    "instance = excluded.instance"
)
