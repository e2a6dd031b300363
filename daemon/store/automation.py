"""SQL for automation runs (one row per run_id: the store is what makes a repeated run one entry) and for the
per-automation settings saved by `PUT /api/v1/automations` (the rules' one-row document store, its own table)."""

from __future__ import annotations

from typing import Any, ClassVar

import aiosqlite

from daemon.automation.model import AutomationRun
from daemon.store.db import Database, Transaction
from daemon.store.rules import RulesStore

__all__ = ["AutomationRunStore", "AutomationSettingsStore"]

_COLUMNS = (
    "run_id, automation, instance, ticket, started_by, started_at, finished_at, outcome, notes, status, reason, "
    "entry_id, received_at"
)
_NAMES = tuple(_COLUMNS.split(", "))
_SELECT = (
    f"SELECT {', '.join('r.' + c for c in _NAMES)}, "  # noqa: S608
    "e.status AS entry_status, e.status_reason AS entry_reason "
    "FROM automation_runs r LEFT JOIN entries e ON e.id = r.entry_id"
)


def _run(row: aiosqlite.Row) -> AutomationRun:
    d: dict[str, Any] = {c: row[c] for c in _NAMES}
    entry_status = row["entry_status"] or ""
    if entry_status == "failed" and d["status"] in ("logged", "absorbed"):
        d["status"], d["reason"] = "failed", row["entry_reason"] or "the PSA refused the entry"
    return AutomationRun(**d, entry_status=entry_status)


class AutomationSettingsStore(RulesStore):
    TABLE: ClassVar[str] = "automation_settings"


class AutomationRunStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, run_id: str) -> AutomationRun | None:
        row = await self._db.fetchone(f"{_SELECT} WHERE r.run_id = ?", (run_id,))
        return None if row is None else _run(row)

    @staticmethod
    async def record(tx: Transaction, run: AutomationRun) -> bool:
        """Store a run unless its run_id is already there; a run that failed before it made an entry (the PSA could
        not be asked, or refused the ticket) is replaced: it is decided again when sent again, every other run is
        final. Whether this run was stored (False: a repeat)."""
        values = tuple(getattr(run, c) for c in _NAMES)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _NAMES if c != "run_id")
        cur = await tx.execute(
            f"INSERT INTO automation_runs ({_COLUMNS}) VALUES ({', '.join('?' for _ in _NAMES)}) "  # noqa: S608
            f"ON CONFLICT (run_id) DO UPDATE SET {updates} "
            "WHERE automation_runs.status = 'failed' AND automation_runs.entry_id IS NULL",
            values,
        )
        return cur.rowcount == 1

    async def recent(
        self, *, limit: int = 100, offset: int = 0, automation: str | None = None, status: str | None = None
    ) -> list[AutomationRun]:
        """The latest runs first; `status` as shown (a logged run whose entry the PSA refused shows as failed)."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if automation is not None:
            where.append("r.automation = ?")
            params.append(automation)
        if status == "failed":
            where.append("(r.status = 'failed' OR COALESCE(e.status, '') = 'failed')")
        elif status is not None:
            where.append("r.status = ? AND COALESCE(e.status, '') != 'failed'")
            params.append(status)
        rows = await self._db.fetchall(
            f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY r.received_at DESC, r.rowid DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_run(r) for r in rows]
