"""SQL for notices: append (keeping the newest `KEEP`), list newest first, mark read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daemon.store.db import Database, Transaction

__all__ = ["KEEP", "NoticeRow", "NoticeStore"]

KEEP = 500
"""Notices kept; older ones are deleted as new ones arrive."""

NoticeRow = tuple[int, float, str, str, str | None, float | None]
"""(id, at, code, message, timer_id, read_at)"""

_COLUMNS = "id, at, code, message, timer_id, read_at"
_UNREAD = "SELECT count(*) FROM notices WHERE read_at IS NULL"


def _row(r: Any) -> NoticeRow:
    return (int(r[0]), float(r[1]), str(r[2]), str(r[3]), r[4], None if r[5] is None else float(r[5]))


class NoticeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def add(tx: Transaction, notices: Sequence[tuple[float, str, str, str | None]]) -> list[NoticeRow]:
        """Insert (at, code, message, timer_id) rows inside the caller's transaction; returns them with their ids."""
        out: list[NoticeRow] = []
        for at, code, message, timer_id in notices:
            cur = await tx.execute(
                "INSERT INTO notices (at, code, message, timer_id) VALUES (?, ?, ?, ?)", (at, code, message, timer_id)
            )
            assert cur.lastrowid is not None
            out.append((int(cur.lastrowid), at, code, message, timer_id, None))
        if out:
            await tx.execute("DELETE FROM notices WHERE id <= ?", (out[-1][0] - KEEP,))
        return out

    async def list(self, *, unread_only: bool, limit: int) -> list[NoticeRow]:
        where = "WHERE read_at IS NULL " if unread_only else ""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM notices {where}ORDER BY id DESC LIMIT ?",  # noqa: S608
            (limit,),
        )
        return [_row(r) for r in rows]

    async def unread(self) -> int:
        return int(await self._db.scalar(_UNREAD) or 0)

    @staticmethod
    async def unread_in(tx: Transaction) -> int:
        async with tx.execute(_UNREAD) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row is not None else 0

    async def mark_read(self, *, up_to: int | None, ids: Sequence[int], at: float) -> int:
        """Mark notices read (those with id <= up_to, and those listed); returns how many changed."""
        changed = 0
        async with self._db.transaction() as tx:
            if up_to is not None:
                cur = await tx.execute("UPDATE notices SET read_at = ? WHERE read_at IS NULL AND id <= ?", (at, up_to))
                changed += cur.rowcount
            for notice_id in ids:
                cur = await tx.execute(
                    "UPDATE notices SET read_at = ? WHERE read_at IS NULL AND id = ?", (at, notice_id)
                )
                changed += cur.rowcount
        return changed
