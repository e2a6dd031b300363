#!/usr/bin/env python3
"""WAL pages (4 KiB) the timer service writes per browser event: a deterministic view of what a commit costs the
database thread, which the noisy throughput figures of a shared host hide (issue 14, EVENTS.md).

`TimerService` on a real SQLite file (WAL, synchronous=FULL, autocheckpoint off) in this process, a fake clock, and
--events single-event batches after --installs browsers opened 50 ticket tabs each (the bench's browser model): 30 %
tab switches, the rest heartbeats, the installs in turn. Prints, per install count, the WAL pages per event, the
engine row's size and the entries the evictions made. The temporary folder is deleted.

    .venv/bin/python bench/wal_pages.py [--events 1000] [--installs 1,8]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

from daemon.clock import FakeClock
from daemon.entries.service import EntryService
from daemon.settings import parse_config
from daemon.store.db import Database
from daemon.timers.events import Batch, BrowserEvent, Heartbeat, TabActivated, TabOpened
from daemon.timers.service import TimerService

CONFIG = parse_config('[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["https://acme.halopsa.com"]\n')
TABS = 50


async def measure(installs: int, events: int, folder: Path) -> dict[str, float]:
    db = await Database.open(folder / f"wal-{installs}.db")
    try:
        await db.fetchone("PRAGMA wal_autocheckpoint = 0")
        clock = FakeClock(time.time())  # real epoch: events within the daemon's 30-day window
        svc = TimerService(db, CONFIG, clock, EntryService(db, CONFIG, clock))
        await svc.start()
        seqs = [0] * installs

        def seq(k: int) -> int:
            seqs[k] += 1
            return seqs[k]

        for k in range(installs):
            opened: list[BrowserEvent] = [
                TabOpened(
                    seq=seq(k),
                    at=clock.now(),
                    tab=k * 1000 + i,
                    window=100_000 + k,
                    url=f"https://acme.halopsa.com/ticket?id={i + 1}",
                    active=False,
                )
                for i in range(TABS)
            ]
            await svc.ingest(Batch(install=f"install-{k}", events=opened))
        await db.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
        rng = random.Random(1)
        for j in range(events):
            clock.advance(0.01)
            k = j % installs
            event: BrowserEvent = (
                TabActivated(seq=seq(k), at=clock.now(), tab=k * 1000 + rng.randrange(TABS), window=100_000 + k)
                if rng.random() < 0.3
                else Heartbeat(seq=seq(k), at=clock.now())
            )
            await svc.ingest(Batch(install=f"install-{k}", events=[event]))
        frames = (await db.fetchone("PRAGMA wal_checkpoint(PASSIVE)"))[1]
        return {
            "installs": installs,
            "tabs": installs * TABS,
            "wal_pages_per_event": round(frames / events, 2),
            "engine_row_bytes": await db.scalar("SELECT length(state) FROM engine"),
            "entries": await db.scalar("SELECT count(*) FROM entries"),
        }
    finally:
        await db.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--installs", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8])
    a = p.parse_args()
    if not 1 <= a.events <= 100_000 or not all(1 <= n <= 64 for n in a.installs):
        raise SystemExit("events 1..1e5, installs 1..64")
    folder = Path(tempfile.mkdtemp(prefix="tc-wal-pages-"))
    try:
        for n in a.installs:
            print(asyncio.run(measure(n, a.events, folder)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
