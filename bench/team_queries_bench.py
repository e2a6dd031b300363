#!/usr/bin/env python3
"""The team server's approver queue and team summary over 1,000,000 entries, through a real server process, against
the raw SQL computing the same rows on the same database.

1. A throw-away PostgreSQL cluster (tests/server/pg.py `Cluster.start(durable=True)`: fsync on, as in production)
   and a database migrated by the server's own migrations (daemon.server.store.ServerDatabase).
2. `--teams` teams (default 10) of 25 technicians, 3 level-1 and 2 level-2 approvers each; N entries (default
   1,000,000) spread over a year across the technicians, loaded with COPY: every status (about 5 % submitted, 2 %
   approved at level 1), 40 companies, 300 tickets, 5 work types. Then ANALYZE.
3. `python -m daemon server` as a subprocess on that database; a level-1 approver of team 0 and an admin sign in
   with passwords. Each query is asked over HTTP (25 warm-ups: more than the server's pool has connections; then
   `--runs` times, default 9) and, interleaved with it (the order alternating), the raw SQL on one asyncpg
   connection (statements prepared, as asyncpg does):
     queue       GET /api/team/v1/approvals?level=1&team=T0&limit=100   (the approver's first page and the count)
     summary     GET /api/team/v1/summary?team=T0&from=2026-06-01&to=2026-06-30&group=technician
     summary-day GET /api/team/v1/summary?team=T0&…&group=day           (days in the team's zone, UTC here)
     admin-all   GET /api/team/v1/summary?from=2026-06-01&to=2026-06-30&group=company  (every team: an admin)
   The rows of both are compared: the script fails if they differ.

Prints a table (median ms, ratio server / raw SQL; the target is <= 2x) and one JSON line. Run it small while
developing (`--entries 100000`): the machine is shared.

    .venv/bin/python bench/team_queries_bench.py [--entries 1000000] [--runs 9] [--teams 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.server.auth import hash_password  # noqa: E402
from daemon.server.store import ServerDatabase  # noqa: E402
from tests.server.pg import Cluster  # noqa: E402
from tests.server.support import spawn_server  # noqa: E402
from tests.support import stop_process  # noqa: E402

YEAR_START = datetime(2025, 12, 1, tzinfo=UTC).timestamp()
YEAR_END = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
MONTH_LO = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
MONTH_HI = datetime(2026, 7, 1, tzinfo=UTC).timestamp()
STATUSES = ["pending", "submitted", "approved_l1", "approved", "queued", "posted", "rejected", "voided", "failed"]
WEIGHTS = [10, 5, 2, 2, 3, 68, 2, 4, 4]
PASSWORD = "bench password 1"
WARM_UP = 25
"""Requests before timing: more than the server's pool has connections (TICKETCLOCK_DB_POOL, 10)."""
COLUMNS = [
    "id", "person_id", "team_id", "device_id", "version", "status", "source", "kind", "instance", "ticket_id",
    "ticket_number", "task", "summary", "company", "work_type", "billable", "started_at", "ended_at",
    "actual_seconds", "billed_seconds", "psa_ids", "body", "received_at", "updated_at",
]  # fmt: skip


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


async def build(url: str, n: int, teams: int) -> dict[str, Any]:
    """Schema by the server's migrations, people by INSERT, entries by COPY; returns who is who."""
    db = await ServerDatabase.open(url, max_size=2)
    await db.close()
    conn = await asyncpg.connect(url)
    hashed = hash_password(PASSWORD)
    technicians: list[tuple[str, str]] = []
    try:
        async with conn.transaction():
            for t in range(teams):
                await conn.execute(
                    "INSERT INTO teams (id, name, approval, created_at) VALUES ($1, $2, 'two', 0)", f"t{t}", f"Team {t}"
                )
                for i in range(30):
                    pid = f"p{t}-{i}"
                    role = "technician" if i < 25 else "approver1" if i < 28 else "approver2"
                    await conn.execute(
                        "INSERT INTO people (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, 0)",
                        pid, f"{pid}@example.com", f"Person {t}-{i:02d}", hashed if (t, i) == (0, 25) else None,
                    )  # fmt: skip
                    await conn.execute("INSERT INTO memberships VALUES ($1, $2, $3)", f"t{t}", pid, role)
                    if role == "technician":
                        technicians.append((pid, f"t{t}"))
            await conn.execute(
                "INSERT INTO people (id, email, name, password_hash, is_admin, created_at) "
                "VALUES ('admin', 'admin@example.com', 'Admin', $1, true, 0)",
                hashed,
            )
        rnd = random.Random(20261129)
        companies = [f"Company {i:02d}" for i in range(40)]
        work_types = ["Remote", "Onsite", "Project", "Admin", "Travel"]
        step = (YEAR_END - YEAR_START) / n

        async def chunks() -> AsyncIterator[bytes]:
            lines: list[str] = []
            for i in range(n):
                person, team = technicians[rnd.randrange(len(technicians))]
                start = YEAR_START + i * step + rnd.uniform(0, step)
                seconds = rnd.randrange(300, 7200)
                status = rnd.choices(STATUSES, WEIGHTS)[0]
                ticket = rnd.randrange(1, 301)
                lines.append(
                    f"e{i:07d}\t{person}\t{team}\td1\t1\t{status}\ttimer\tticket\tcw\t{ticket}\t{ticket}\t\\N\t"
                    f"Ticket {ticket}\t{rnd.choice(companies)}\t{rnd.choice(work_types)}\tagreement\t{start}\t"
                    f"{start + seconds}\t{seconds}\t{seconds}\t[]\t{{}}\t{start}\t{start}\n"
                )
                if len(lines) == 20000:
                    yield "".join(lines).encode()
                    lines = []
            if lines:
                yield "".join(lines).encode()

        await conn.copy_to_table("entries", source=chunks(), columns=COLUMNS, format="text")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"approver": "p0-25@example.com", "admin": "admin@example.com"}


def raw_queries(conn: asyncpg.Connection) -> dict[str, Callable[[], Awaitable[Any]]]:
    """The same rows as the server's answers, by hand-written SQL."""

    async def queue() -> Any:
        total = await conn.fetchval(
            "SELECT count(*) FROM entries WHERE team_id = $1 AND status = $3 AND person_id <> $2",
            "t0",
            "p0-25",
            "submitted",
        )
        rows = await conn.fetch(
            "SELECT e.id, e.person_id, p.name, e.team_id, e.version, e.status, e.status_comment, e.source, e.kind, "
            "e.instance, e.ticket_id, e.ticket_number, e.task, e.summary, e.company, e.work_type, e.billable, "
            "e.started_at, e.ended_at, e.actual_seconds, e.billed_seconds, e.body->>'notes', e.updated_at "
            "FROM entries e JOIN people p ON p.id = e.person_id WHERE e.team_id = $1 AND e.status = $3 "
            "AND e.person_id <> $2 ORDER BY e.started_at, e.id LIMIT 100",
            "t0",
            "p0-25",
            "submitted",
        )
        return total, [r["id"] for r in rows]

    async def summary() -> Any:
        rows = await conn.fetch(
            "SELECT e.person_id, p.name, count(*), sum(e.actual_seconds) AS s, sum(e.billed_seconds) FROM entries e "
            "JOIN people p ON p.id = e.person_id WHERE e.team_id = $3 AND e.started_at >= $1 AND e.started_at < $2 "
            "GROUP BY e.person_id, p.name ORDER BY p.name",
            MONTH_LO,
            MONTH_HI,
            "t0",
        )
        return [(r["person_id"], r["s"]) for r in rows]

    async def summary_day() -> Any:
        rows = await conn.fetch(
            "SELECT to_char(to_timestamp(started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS d, count(*), "
            "sum(actual_seconds) AS s, sum(billed_seconds) FROM entries WHERE team_id = $3 AND started_at >= $1 "
            "AND started_at < $2 GROUP BY 1 ORDER BY 1",
            MONTH_LO,
            MONTH_HI,
            "t0",
        )
        return [(r["d"], r["s"]) for r in rows]

    async def admin_all() -> Any:
        rows = await conn.fetch(
            "SELECT company, count(*), sum(actual_seconds) AS s, sum(billed_seconds) FROM entries "
            "WHERE started_at >= $1 AND started_at < $2 GROUP BY company ORDER BY company",
            MONTH_LO,
            MONTH_HI,
        )
        return [(r["company"], r["s"]) for r in rows]

    return {"queue": queue, "summary": summary, "summary-day": summary_day, "admin-all": admin_all}


def api_queries(approver: httpx.AsyncClient, admin: httpx.AsyncClient) -> dict[str, Callable[[], Awaitable[Any]]]:
    month = {"from": "2026-06-01", "to": "2026-06-30"}

    async def get(client: httpx.AsyncClient, path: str, params: dict[str, str]) -> Any:
        answer = await client.get(path, params=params)
        answer.raise_for_status()
        return answer.json()

    async def queue() -> Any:
        body = await get(approver, "/api/team/v1/approvals", {"level": "1", "team": "t0", "limit": "100"})
        return body["total"], [e["id"] for e in body["entries"]]

    async def summary() -> Any:
        body = await get(approver, "/api/team/v1/summary", {"team": "t0", "group": "technician", **month})
        return [(r["key"], r["seconds"]) for r in body["rows"]]

    async def summary_day() -> Any:
        body = await get(approver, "/api/team/v1/summary", {"team": "t0", "group": "day", **month})
        return [(r["key"], r["seconds"]) for r in body["rows"]]

    async def admin_all() -> Any:
        body = await get(admin, "/api/team/v1/summary", {"group": "company", **month})
        return [(r["key"], r["seconds"]) for r in body["rows"]]

    return {"queue": queue, "summary": summary, "summary-day": summary_day, "admin-all": admin_all}


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await fn()
    return (time.perf_counter() - started) * 1000, result


async def measure(url: str, server_url: str, who: dict[str, Any], runs: int) -> dict[str, dict[str, float]]:
    conn = await asyncpg.connect(url)
    approver = httpx.AsyncClient(base_url=server_url, timeout=120, headers={"Origin": server_url})
    admin = httpx.AsyncClient(base_url=server_url, timeout=120, headers={"Origin": server_url})
    try:
        for client, email in ((approver, who["approver"]), (admin, who["admin"])):
            signed = await client.post("/api/team/v1/session", json={"email": email, "password": PASSWORD})
            signed.raise_for_status()
        raw, api = raw_queries(conn), api_queries(approver, admin)
        me_ms = []
        for _ in range(WARM_UP):
            await approver.get("/api/team/v1/me")
        for _ in range(runs):
            ms, _ = await timed(lambda: approver.get("/api/team/v1/me"))
            me_ms.append(ms)
        log(f"GET /api/team/v1/me (a signed-in request that reads nothing else): {statistics.median(me_ms):.2f} ms")
        results: dict[str, dict[str, float]] = {}
        for name in raw:
            _, want = await timed(raw[name])  # the rows to compare
            # warm-up: the server's pool opens its connections one by one as requests take them in turn, and each
            # prepares its statements once; what is timed is the steady state of a running server
            for _ in range(WARM_UP):
                _, got = await timed(api[name])
            if got != want:
                raise SystemExit(f"{name}: the server's rows differ from the raw SQL's:\n{got[:5]}\n{want[:5]}")
            server_ms: list[float] = []
            raw_ms: list[float] = []
            for run in range(runs):
                pair = [(api[name], server_ms), (raw[name], raw_ms)]
                for fn, into in pair if run % 2 == 0 else reversed(pair):
                    ms, _ = await timed(fn)
                    into.append(ms)
            s, r = statistics.median(server_ms), statistics.median(raw_ms)
            results[name] = {"server_ms": round(s, 2), "raw_ms": round(r, 2), "ratio": round(s / r, 2)}
            log(f"{name}: server {s:.2f} ms, raw SQL {r:.2f} ms, ratio {s / r:.2f}")
        return results
    finally:
        await approver.aclose()
        await admin.aclose()
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--teams", type=int, default=10)
    args = parser.parse_args()
    cluster = Cluster.start(durable=True)
    proc = None
    try:
        url = cluster.new_database()
        started = time.perf_counter()
        who = asyncio.run(build(url, args.entries, args.teams))
        load_s = time.perf_counter() - started
        log(f"loaded {args.entries} entries in {load_s:.1f} s")
        with tempfile.TemporaryDirectory(prefix="tc-bench-") as home:
            proc = spawn_server(Path(home), url)
            try:
                results = asyncio.run(measure(url, proc.url, who, args.runs))
            finally:
                stop_process(proc)
    finally:
        cluster.stop()
    print(f"{'query':<12} {'server ms':>10} {'raw SQL ms':>11} {'ratio':>6}")
    for name, r in results.items():
        print(f"{name:<12} {r['server_ms']:>10.2f} {r['raw_ms']:>11.2f} {r['ratio']:>6.2f}")
    print(
        json.dumps(
            {"bench": "team_queries", "entries": args.entries, "teams": args.teams, "runs": args.runs,
             "load_s": round(load_s, 1), "python": platform.python_version(), "results": results}
        )
    )  # fmt: skip
    if any(r["ratio"] > 2 for r in results.values()):
        log("over the 2x target")


if __name__ == "__main__":
    main()
