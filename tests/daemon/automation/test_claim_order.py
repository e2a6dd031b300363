"""The outbox's claim with a large backlog (10,000 automation runs queued while the PSA was away): on a real SQLite
file, the claim reads only the rows it takes — no sort of every due row — and rows due at the same time go out in the
order they were queued."""

from __future__ import annotations

from pathlib import Path

from daemon.entries.model import Entry
from daemon.store import Database
from daemon.store.entries import EntryStore
from daemon.store.outbox import CLAIM_SQL, OutboxStore


def _entry(n: int, started_at: float) -> Entry:
    return Entry(
        id=f"e{n:05d}",
        source="automation",
        instance="at",
        ticket_id=54321,
        started_at=started_at,
        ended_at=started_at + 600,
        actual_seconds=600,
        billed_seconds=600,
        status="queued",
        created_at=0.0,
        updated_at=0.0,
        automation="Reset password",
    )


async def test_the_claim_needs_no_sort_of_the_backlog_and_takes_rows_in_queue_order(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "tc.db")
    try:
        async with db.transaction() as tx:
            # Queued newest work first: the claim must follow the queue, not re-sort the whole backlog by start.
            for n in range(300):
                entry = _entry(n, started_at=1_000_000.0 - n * 700)
                await EntryStore.insert(tx, entry, [])
                await OutboxStore.enqueue(tx, entry, 5.0)
        async with db.transaction() as tx:
            plan = [str(row[3]) for row in await tx.execute_fetchall(f"EXPLAIN QUERY PLAN {CLAIM_SQL}", ("at", 10, 6))]
        assert any("outbox_due" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan  # no sort of every due row per claim
        store = OutboxStore(db)
        first = await store.claim("at", 10.0, 4)
        second = await store.claim("at", 10.0, 4)
        assert [e.id for _, e in first + second] == [f"e{n:05d}" for n in range(8)]
    finally:
        await db.close()
