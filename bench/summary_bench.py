#!/usr/bin/env python3
"""GET /api/v1/summary for one month over 1,000,000 entries, through a real daemon process, against the raw SQL
GROUP BY that computes the same totals on the same file.

1. A SQLite file is made by the daemon's own migrations (daemon.store.Database), then filled with N entries
   (default 1,000,000) spread over a year, by a fast bulk insert in this script (sqlite3 executemany, in start
   order): every status, source and billable value, 40 companies, 300 tickets and 3 tasks.
2. The daemon runs as a subprocess (`python -m daemon serve --port 0`, TICKETCLOCK_HOME in a temporary folder,
   timezone Europe/Berlin) on that file; the summary of one month (June 2026, group=day and group=company) is asked
   over HTTP, one warm-up and then `--runs` times (default 7); the median is reported.
3. The raw SQL: aiosqlite on the same file with the daemon's pragmas (WAL, synchronous FULL, foreign keys,
   busy_timeout), `GROUP BY` the local day number (June is all UTC+2 in Berlin: (started_at + 7200) / 86400) or
   the company, with the same count,
   seconds, billed seconds and six bucket sums, same window; median of the same number of runs. The totals of both
   are compared: the script fails if they differ.

Prints a table (median ms, ratio daemon / raw SQL; the target is <= 2x) and one JSON line.

    .venv/bin/python bench/summary_bench.py [--entries 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.entries.model import BUCKETS  # noqa: E402
from daemon.runtime import read_daemon_file  # noqa: E402
from daemon.store import Database  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
YEAR_START = datetime(2025, 12, 1, tzinfo=BERLIN).timestamp()
YEAR_END = datetime(2026, 12, 1, tzinfo=BERLIN).timestamp()
MONTH = ("2026-06-01", "2026-07-01")
MONTH_LO = datetime(2026, 6, 1, tzinfo=BERLIN).timestamp()
MONTH_HI = datetime(2026, 7, 1, tzinfo=BERLIN).timestamp()
STATUSES = ["pending", "submitted", "approved_l1", "approved", "queued", "posted", "rejected", "voided", "failed"]
WEIGHTS = [10, 4, 2, 2, 3, 70, 2, 4, 3]


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def build(db_path: Path, n: int) -> float:
    """Make the schema with the daemon's migrations, then bulk-insert n entries; returns the seconds it took."""
    started = time.perf_counter()

    async def schema() -> None:
        db = await Database.open(db_path)
        await db.close()

    asyncio.run(schema())
    rnd = random.Random(20261129)
    companies = [f"Company {i:02d}" for i in range(40)]
    step = (YEAR_END - YEAR_START) / n

    def rows() -> Any:
        for i in range(n):
            start = YEAR_START + i * step + rnd.uniform(0, step)
            seconds = rnd.choice([300, 900, 1800, 3600, 5400, 7200])
            is_task = rnd.random() < 0.1
            status = rnd.choices(STATUSES, WEIGHTS)[0]
            yield (
                f"{i:032x}",
                rnd.choice(["timer", "timer", "timer", "manual", "automation"]),
                "" if is_task else "acme",
                None if is_task else rnd.randrange(1000, 1300),
                rnd.choice(["Admin", "Training", "Internal meeting"]) if is_task else None,
                "" if is_task else "Printer offline",
                "" if is_task else rnd.choice(companies),
                start,
                start + seconds,
                seconds,
                seconds + (900 - seconds % 900) % 900,
                rnd.choice(["agreement", "yes", "no"]),
                rnd.choice(["", "Remote", "Onsite"]),
                status,
                f"[[{start},{start + seconds}]]",
                start + seconds,
                start + seconds,
            )

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO entries (id, source, instance, ticket_id, task, summary, company, started_at, ended_at, "
        "actual_seconds, billed_seconds, billable, work_type, status, segments, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


class Daemon:
    def __init__(self, home: Path) -> None:
        self.home = home
        config = home / "config" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('timezone = "Europe/Berlin"\nuser_name = "bench"\n', encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        env = {**os.environ, "TICKETCLOCK_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        with (self.home / "daemon.log.txt").open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daemon", "serve", "--port", "0"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=5) as probe:
            while True:
                if self.proc.poll() is not None:
                    raise SystemExit(f"daemon exited: {(self.home / 'daemon.log.txt').read_text()}")
                if time.perf_counter() - started > 120:
                    raise SystemExit("daemon did not answer within 120 s")
                report = read_daemon_file(self.home / "data")
                if report is not None and report.pid == self.proc.pid:
                    try:
                        health = await probe.get(f"http://127.0.0.1:{report.port}/api/v1/health")
                    except httpx.HTTPError:
                        health = None
                    if health is not None and health.status_code == 200 and health.json().get("pid") == self.proc.pid:
                        self.port = report.port
                        break
                await asyncio.sleep(0.05)
        token = (self.home / "data" / "token").read_text(encoding="utf-8").strip()
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {token}"}, timeout=120
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


_BUCKET_SQL = ", ".join(
    f"coalesce(sum(CASE WHEN status IN ({', '.join(repr(s) for s in statuses)}) THEN actual_seconds END), 0)"
    for statuses in BUCKETS.values()
)
RAW = {
    "day": (
        "SELECT CAST((started_at + 7200) / 86400 AS INTEGER) AS k, count(*), sum(actual_seconds), sum(billed_seconds), "
        f"{_BUCKET_SQL} FROM entries WHERE started_at >= ? AND started_at < ? GROUP BY k ORDER BY k"
    ),
    "company": (
        f"SELECT company AS k, count(*), sum(actual_seconds), sum(billed_seconds), {_BUCKET_SQL} "
        "FROM entries WHERE started_at >= ? AND started_at < ? GROUP BY k ORDER BY k"
    ),
}


def _key(group: str, k: Any) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(k))).isoformat() if group == "day" else str(k)


async def raw_sql(db_path: Path, group: str, runs: int) -> tuple[list[float], dict[str, tuple[int, ...]]]:
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        await conn.execute("PRAGMA busy_timeout = 2000")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        times: list[float] = []
        result: dict[str, tuple[int, ...]] = {}
        for i in range(runs + 1):
            t = time.perf_counter()
            async with conn.execute(RAW[group], (MONTH_LO, MONTH_HI)) as cur:
                rows = await cur.fetchall()
            elapsed = time.perf_counter() - t
            if i:  # the first run warms the cache
                times.append(elapsed)
            result = {_key(group, r[0]): tuple(int(x) for x in r[1:]) for r in rows}
    return times, result


async def through_daemon(d: Daemon, group: str, runs: int) -> tuple[list[float], dict[str, tuple[int, ...]]]:
    assert d.client is not None
    params = {"group": group, "from": MONTH[0], "to": MONTH[1]}
    times: list[float] = []
    body: dict[str, Any] = {}
    for i in range(runs + 1):
        t = time.perf_counter()
        r = await d.client.get("/api/v1/summary", params=params)
        elapsed = time.perf_counter() - t
        if r.status_code != 200:
            raise SystemExit(f"summary: {r.status_code} {r.text[:300]}")
        body = r.json()
        if i:
            times.append(elapsed)
    result = {
        row["key"]: (
            row["count"],
            row["seconds"],
            row["billed_seconds"],
            *(row["buckets"][b] for b in BUCKETS),
        )
        for row in body["rows"]
    }
    return times, result


async def measure(home: Path, db_path: Path, runs: int) -> list[dict[str, Any]]:
    d = Daemon(home)
    await d.start()
    out = []
    try:
        for group in ("day", "company"):
            api_times, api_result = await through_daemon(d, group, runs)
            sql_times, sql_result = await raw_sql(db_path, group, runs)
            if api_result != sql_result:
                raise SystemExit(f"group={group}: the daemon's totals differ from the raw SQL's")
            api_ms, sql_ms = statistics.median(api_times) * 1000, statistics.median(sql_times) * 1000
            out.append(
                {
                    "group": group,
                    "rows": len(api_result),
                    "entries": sum(v[0] for v in api_result.values()),
                    "daemon_ms": round(api_ms, 1),
                    "raw_sql_ms": round(sql_ms, 1),
                    "ratio": round(api_ms / sql_ms, 2),
                }
            )
    finally:
        await d.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tc-summary-bench-") as tmp:
        home = Path(tmp)
        data = home / "data"
        data.mkdir(mode=0o700)
        db_path = data / "ticketclock.db"
        log(f"building {args.entries:,} entries ...")
        built = build(db_path, args.entries)
        log(f"built in {built:.1f} s ({db_path.stat().st_size / 1e6:.0f} MB)")
        results = asyncio.run(measure(home, db_path, args.runs))
    print(f"summary of one month (June 2026) over {args.entries:,} entries, median of {args.runs} runs")
    print(f"{'group':<10}{'rows':>6}{'entries':>10}{'daemon (HTTP) ms':>18}{'raw SQL ms':>12}{'ratio':>8}")
    for r in results:
        print(
            f"{r['group']:<10}{r['rows']:>6}{r['entries']:>10,}{r['daemon_ms']:>18}{r['raw_sql_ms']:>12}"
            f"{r['ratio']:>7}x"
        )
    print(
        json.dumps(
            {
                "bench": "summary",
                "entries": args.entries,
                "runs": args.runs,
                "build_s": round(built, 1),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "results": results,
            }
        )
    )
    return 0 if all(r["ratio"] <= 2 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
