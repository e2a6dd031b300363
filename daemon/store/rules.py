"""SQL for a rule set saved by a PUT: one row holding the document as JSON (`rules`; `automation_settings` reuses
this with its own table through `TABLE`)."""

from __future__ import annotations

from typing import ClassVar

from daemon.store.db import Database, Transaction

__all__ = ["RulesStore"]


class RulesStore:
    TABLE: ClassVar[str] = "rules"
    """The one-row table (id = 1, doc, updated_at) this store keeps its document in."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self) -> tuple[str, float] | None:
        """(the stored document's JSON, when it was saved), or None when none was ever saved."""
        row = await self._db.fetchone(f"SELECT doc, updated_at FROM {self.TABLE} WHERE id = 1")  # noqa: S608
        return None if row is None else (str(row[0]), float(row[1]))

    @classmethod
    async def put(cls, tx: Transaction, doc: str, at: float) -> None:
        await tx.execute(
            f"INSERT INTO {cls.TABLE} (id, doc, updated_at) VALUES (1, ?, ?) "  # noqa: S608
            "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
            (doc, at),
        )

    @classmethod
    async def clear(cls, tx: Transaction) -> bool:
        """Forget the saved document; whether there was one."""
        cur = await tx.execute(f"DELETE FROM {cls.TABLE} WHERE id = 1")  # noqa: S608
        return cur.rowcount > 0
