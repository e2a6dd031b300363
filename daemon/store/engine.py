"""SQL for the timer engine's state, the daemon's checkpoint and per-install acknowledgements.

The state is kept in parts (migration 9): each install's tab map in an `engine_tabs` row, the rest of its browser
view in an `engine_installs` row, the rest of the state (timers, idleness, suppressions, ...) in the one `engine`
row. A commit writes the rest and only the views and tab maps that changed, in the same transaction as its
acknowledgements.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from daemon.store.db import Database, Params, Transaction

__all__ = ["EngineStore", "StoredState"]

StoredState = tuple[bytes | None, dict[str, bytes], dict[str, bytes], float | None]
"""(the rest of the state or None if never saved, install -> its view, install -> its tab map, the daemon's last
checkpoint)."""


class EngineStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self) -> StoredState:
        row = await self._db.fetchone("SELECT state, daemon_seen FROM engine WHERE id = 1")
        views = {str(r[0]): bytes(r[1]) for r in await self._db.fetchall("SELECT install, view FROM engine_installs")}
        tabs = {str(r[0]): bytes(r[1]) for r in await self._db.fetchall("SELECT install, tabs FROM engine_tabs")}
        return (None, views, tabs, None) if row is None else (bytes(row[0]), views, tabs, float(row[1]))

    @staticmethod
    async def save(
        tx: Transaction,
        rest: bytes,
        daemon_seen: float,
        views: Mapping[str, bytes],
        tabs: Mapping[str, bytes],
        gone: Collection[str],
    ) -> None:
        """Save the rest of the state, the given install views and tab maps, and forget the `gone` installs."""
        for sql, params in _save(rest, daemon_seen, views, tabs, gone):
            await tx.execute(sql, params)

    async def save_acked(
        self,
        rest: bytes,
        daemon_seen: float,
        views: Mapping[str, bytes],
        tabs: Mapping[str, bytes],
        gone: Collection[str],
        acks: Sequence[tuple[str, int, str]],
    ) -> None:
        """`save` plus the (install, seq, instance) acknowledgements, in one transaction, one database call."""
        statements = _save(rest, daemon_seen, views, tabs, gone)
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


def _save(
    rest: bytes,
    daemon_seen: float,
    views: Mapping[str, bytes],
    tabs: Mapping[str, bytes],
    gone: Collection[str],
) -> list[tuple[str, Params]]:
    statements: list[tuple[str, Params]] = [(_SAVE, (rest, daemon_seen))]
    statements += [(_SAVE_VIEW, (install, view)) for install, view in views.items()]
    statements += [(_SAVE_TABS, (install, blob)) for install, blob in tabs.items()]
    for install in gone:
        statements += [(_DROP_VIEW, (install,)), (_DROP_TABS, (install,))]
    return statements


_SAVE = (
    "INSERT INTO engine (id, state, daemon_seen) VALUES (1, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET state = excluded.state, daemon_seen = excluded.daemon_seen"
)
_SAVE_VIEW = (
    "INSERT INTO engine_installs (install, view) VALUES (?, ?) ON CONFLICT(install) DO UPDATE SET view = excluded.view"
)
_DROP_VIEW = "DELETE FROM engine_installs WHERE install = ?"
_SAVE_TABS = (
    "INSERT INTO engine_tabs (install, tabs) VALUES (?, ?) ON CONFLICT(install) DO UPDATE SET tabs = excluded.tabs"
)
_DROP_TABS = "DELETE FROM engine_tabs WHERE install = ?"
_ACK = (
    "INSERT INTO installs (install, acked_seq, last_at, instance) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(install) DO UPDATE SET acked_seq = excluded.acked_seq, last_at = excluded.last_at, "
    "instance = excluded.instance"
)
