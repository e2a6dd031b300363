"""SQL for the rule set in force after a `PUT /api/v1/rules`: one row holding the rule set as JSON."""

from __future__ import annotations

from daemon.store.db import Database, Transaction

__all__ = ["RulesStore"]


class RulesStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self) -> tuple[str, float] | None:
        """(the stored rule set's JSON, when it was saved), or None when none was ever saved."""
        row = await self._db.fetchone("SELECT doc, updated_at FROM rules WHERE id = 1")
        return None if row is None else (str(row[0]), float(row[1]))

    @staticmethod
    async def put(tx: Transaction, doc: str, at: float) -> None:
        await tx.execute(
            "INSERT INTO rules (id, doc, updated_at) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
            (doc, at),
        )

    @staticmethod
    async def clear(tx: Transaction) -> bool:
        """Forget the saved rule set; whether there was one."""
        cur = await tx.execute("DELETE FROM rules WHERE id = 1")
        return cur.rowcount > 0
