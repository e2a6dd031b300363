"""SQL for summaries (GROUP BY over the entries an `EntryFilter` selects) and closed timesheet periods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daemon.entries.model import BUCKETS, EntryFilter, Sums
from daemon.store.db import Database, Transaction
from daemon.store.entries import KIND_SQL, where_of

__all__ = ["GROUP_COLUMNS", "ClosedPeriodStore", "SummaryStore"]

GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "ticket": ("instance", KIND_SQL, "ticket_id", "CASE WHEN ticket_id IS NULL THEN ticket_number END", "task"),
    "company": ("company",),
    "work_type": ("work_type",),
    "billable": ("billable",),
    "status": ("status",),
}
"""What each group keys on (day and period key on ranges of started_at instead)."""

_BUCKET_SQL = ", ".join(
    f"coalesce(sum(CASE WHEN status IN ({', '.join(repr(s) for s in statuses)}) THEN actual_seconds END), 0)"
    f" AS b_{name}"
    for name, statuses in BUCKETS.items()
)
_SUMS = (
    "count(*) AS n, coalesce(sum(actual_seconds), 0) AS seconds, coalesce(sum(billed_seconds), 0) AS billed, "
    + _BUCKET_SQL
)


def _sums(row: Any, width: int, extra: int = 0) -> Sums:
    return Sums(
        key=tuple(row[i] for i in range(width)),
        summary=str(row[width] or "") if extra else "",
        company=str(row[width + 1] or "") if extra else "",
        count=int(row["n"]),
        seconds=int(row["seconds"]),
        billed_seconds=int(row["billed"]),
        buckets={name: int(row[f"b_{name}"]) for name in BUCKETS},
    )


class SummaryStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_column(self, f: EntryFilter, group: str) -> list[Sums]:
        """Sums per value of the group's columns (`GROUP_COLUMNS`), in the order of those values."""
        columns = GROUP_COLUMNS[group]
        where, params = where_of(f)
        names = ", ".join(f"{c} AS g{i}" for i, c in enumerate(columns))
        extra = ", max(summary) AS label_summary, max(company) AS label_company" if group == "ticket" else ""
        keys = ", ".join(f"g{i}" for i in range(len(columns)))
        sql = f"SELECT {names}{extra}, {_SUMS} FROM entries WHERE {where} GROUP BY {keys} ORDER BY {keys}"  # noqa: S608
        rows = await self._db.fetchall(sql, params)
        return [_sums(r, len(columns), 2 if extra else 0) for r in rows]

    async def by_local_day(self, f: EntryFilter, offsets: Sequence[tuple[float, int]]) -> list[Sums]:
        """Sums per local day of started_at, keyed by the day's number since 1970-01-01, in day order.

        `offsets`: the zone's UTC offset as (until, seconds) pieces covering the filter's window
        (`daemon.entries.periods.utc_offsets`); an entry's local day is (started_at + offset) // 86400."""
        if not offsets:
            return []
        where, params = where_of(f)
        if len(offsets) == 1:
            shift, shift_params = "?", [float(offsets[0][1])]
        else:
            whens = " ".join("WHEN started_at < ? THEN ?" for _ in offsets[:-1])
            shift = f"CASE {whens} ELSE ? END"
            shift_params = [float(v) for until, off in offsets[:-1] for v in (until, off)] + [float(offsets[-1][1])]
        sql = (
            f"SELECT CAST((started_at + {shift}) / 86400 AS INTEGER) AS g0, {_SUMS} "  # noqa: S608
            f"FROM entries WHERE {where} GROUP BY g0 ORDER BY g0"
        )
        rows = await self._db.fetchall(sql, (*shift_params, *params))
        return [_sums(r, 1) for r in rows]

    async def started_span(self, f: EntryFilter) -> tuple[float, float] | None:
        """(first, last) started_at among the entries the filter selects, or None when it selects none."""
        where, params = where_of(f)
        row = await self._db.fetchone(
            f"SELECT min(started_at), max(started_at) FROM entries WHERE {where}",  # noqa: S608
            params,
        )
        return None if row is None or row[0] is None else (float(row[0]), float(row[1]))


class ClosedPeriodStore:
    """Closed periods by their first and last day (ISO dates, which sort as text)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def covering(tx: Transaction, days: Sequence[str]) -> tuple[str, str] | None:
        """The closed period (start, end) that holds any of `days`, or None."""
        for day in days:
            async with tx.execute(
                "SELECT first_day, last_day FROM closed_periods WHERE first_day <= ? AND last_day >= ? LIMIT 1",
                (day, day),
            ) as cur:
                row = await cur.fetchone()
            if row is not None:
                return str(row[0]), str(row[1])
        return None

    async def overlapping(self, start: str, end: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM closed_periods WHERE first_day <= ? AND last_day >= ? LIMIT 1", (end, start)
        )
        return row is not None

    async def close(self, start: str, end: str, at: float, actor: str) -> None:
        async with self._db.transaction() as tx:
            await ClosedPeriodStore.close_in(tx, start, end, at, actor)

    async def reopen(self, start: str, end: str) -> None:
        async with self._db.transaction() as tx:
            await ClosedPeriodStore.reopen_in(tx, start, end)

    @staticmethod
    async def close_in(tx: Transaction, start: str, end: str, at: float, actor: str) -> None:
        await tx.execute(
            "INSERT OR IGNORE INTO closed_periods (first_day, last_day, closed_at, actor) VALUES (?, ?, ?, ?)",
            (start, end, at, actor),
        )

    @staticmethod
    async def reopen_in(tx: Transaction, start: str, end: str) -> None:
        await tx.execute("DELETE FROM closed_periods WHERE first_day <= ? AND last_day >= ?", (end, start))
