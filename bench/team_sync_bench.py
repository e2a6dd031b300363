#!/usr/bin/env python3
"""Team sync: N simulated daemons (concurrent HTTP clients) each send M entries to 2 team server processes.

A throw-away *durable* PostgreSQL cluster (tests/server/pg.py, fsync on), two `python -m daemon server`
subprocesses on one database, N technicians in one team with an active device each (seeded through the server's
store). Each round, interleaved:

  sync    every daemon sends its M entries (new ids, in batches of at most 500, one request per batch) to one of
          the two servers (round robin), all daemons at once: entries/s over the wall clock, and every answer must
          say `stored` for every entry.
  copy    the same number of rows (same shape, new ids) into the same `entries` table with one COPY
          (asyncpg copy_records_to_table), in one transaction.
  insert  the same again with one batched INSERT (executemany) per daemon, in one transaction each, N at once.

The figures are the medians over the rounds, and `ratio_*` = sync entries/s divided by the baseline's entries/s.
Prints a table (stderr) and ONE JSON line (stdout); exits 1 when an entry is missing or refused.

    .venv/bin/python bench/team_sync_bench.py [--daemons 200] [--entries 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.server.auth import token_hash  # noqa: E402
from daemon.server.model import Person, Team  # noqa: E402
from daemon.server.store import ServerDatabase, devices, people  # noqa: E402
from tests.server.pg import Cluster  # noqa: E402
from tests.server.support import spawn_server  # noqa: E402
from tests.support import stop_process  # noqa: E402

BATCH = 500
COLUMNS = (
    "id", "person_id", "team_id", "device_id", "version", "status", "source", "kind", "instance", "ticket_id",
    "ticket_number", "task", "summary", "company", "work_type", "billable", "started_at", "ended_at",
    "actual_seconds", "billed_seconds", "psa_ids", "body", "received_at", "updated_at",
)  # fmt: skip


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def entry(entry_id: str, i: int) -> dict[str, Any]:
    start = 1_780_000_000.0 + i * 1000
    return {
        "id": entry_id, "source": "timer", "instance": "cw", "ticket_id": 1000 + i % 300, "summary": "Printer offline",
        "company": f"Company {i % 40:02d}", "started_at": start, "ended_at": start + 900, "actual_seconds": 900,
        "billed_seconds": 900, "notes": "Checked the spooler and restarted it.", "status": "pending",
        "created_at": start, "updated_at": start + 900,
    }  # fmt: skip


def row(e: dict[str, Any], person_id: str, team_id: str, device_id: str) -> tuple[Any, ...]:
    return (
        e["id"], person_id, team_id, device_id, 1, e["status"], e["source"], "ticket", e["instance"], e["ticket_id"],
        None, None, e["summary"], e["company"], "", "agreement", e["started_at"], e["ended_at"], e["actual_seconds"],
        e["billed_seconds"], "[]", msgspec.json.encode(e).decode(), 1.0, 1.0,
    )  # fmt: skip


async def seed(url: str, n: int) -> tuple[str, list[tuple[str, str, str]]]:
    """One team, n technicians with an active device each: (team id, [(person id, device id, token)])."""
    db = await ServerDatabase.open(url)
    team = Team(id=uuid.uuid4().hex, name="Bench", approval="one", created_at=1.0)
    found: list[tuple[str, str, str]] = []
    async with db.transaction() as tx:
        await people.create_team(tx, team)
        for i in range(n):
            person = Person(id=uuid.uuid4().hex, email=f"tech{i}@example.com", name=f"Tech {i}", created_at=1.0)
            await people.create_person(tx, person)
            await people.add_role(tx, team.id, person.id, "technician")
            token = "tcd_" + secrets.token_urlsafe(32)
            device_id = uuid.uuid4().hex
            await devices.create(tx, device_id, person.id, f"pc{i}", token_hash(token), "active", "invite", 1.0)
            found.append((person.id, device_id, token))
    await db.close()
    return team.id, found


async def sync_round(urls: list[str], daemons: list[tuple[str, str, str]], m: int, tag: str) -> tuple[float, int]:
    """Every daemon sends m new entries at once; (seconds, entries the servers stored)."""
    bodies: list[tuple[str, str, list[bytes]]] = []
    for d, (_person, _device, token) in enumerate(daemons):
        items = [{"entry": entry(f"{tag}-{d}-{i}", i), "version": 1} for i in range(m)]
        batches = [
            msgspec.json.encode({"entries": items[k : k + BATCH], "cursor": 0}) for k in range(0, len(items), BATCH)
        ]
        bodies.append((urls[d % len(urls)], token, batches))
    limits = httpx.Limits(max_connections=len(daemons) + 10, max_keepalive_connections=len(daemons) + 10)

    async def one(client: httpx.AsyncClient, url: str, token: str, batches: list[bytes]) -> int:
        stored = 0
        for body in batches:
            answer = await client.post(
                url + "/api/team/v1/sync",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            answer.raise_for_status()
            stored += sum(1 for r in answer.json()["results"].values() if r == "stored")
        return stored

    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0), limits=limits) as client:
        started = time.perf_counter()
        counts = await asyncio.gather(*(one(client, u, t, b) for u, t, b in bodies))
        return time.perf_counter() - started, sum(counts)


async def copy_round(url: str, team_id: str, daemons: list[tuple[str, str, str]], m: int, tag: str) -> float:
    rows = [row(entry(f"{tag}-{d}-{i}", i), p, team_id, dev) for d, (p, dev, _) in enumerate(daemons) for i in range(m)]
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("entries", records=rows, columns=COLUMNS)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def insert_round(url: str, team_id: str, daemons: list[tuple[str, str, str]], m: int, tag: str) -> float:
    """One batched INSERT per daemon (its m rows, one transaction), all daemons at once on a pool."""
    per = [
        [row(entry(f"{tag}-{d}-{i}", i), p, team_id, dev) for i in range(m)] for d, (p, dev, _) in enumerate(daemons)
    ]
    casts = {"psa_ids": "::jsonb", "body": "::jsonb"}
    values = ", ".join(f"${k + 1}{casts.get(c, '')}" for k, c in enumerate(COLUMNS))
    sql = f"INSERT INTO entries ({', '.join(COLUMNS)}) VALUES ({values})"
    pool = await asyncpg.create_pool(url, min_size=20, max_size=20)
    try:
        started = time.perf_counter()

        async def one(rows: list[tuple[Any, ...]]) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.executemany(sql, rows)

        await asyncio.gather(*(one(r) for r in per))
        return time.perf_counter() - started
    finally:
        await pool.close()


async def run(args: argparse.Namespace) -> int:
    cluster = Cluster.start(durable=True)
    procs = []
    try:
        url = cluster.new_database()
        home = Path(tempfile.mkdtemp(prefix="tc-sync-bench-"))
        env = {"TICKETCLOCK_DB_POOL": str(args.pool), "TICKETCLOCK_LOG_FORMAT": "json"}
        procs = [spawn_server(home / f"server{k}", url, env=env) for k in range(args.servers)]
        urls = [p.url for p in procs]
        team_id, daemons = await seed(url, args.daemons)
        total = args.daemons * args.entries
        log(f"{args.daemons} daemons x {args.entries} entries = {total} per round; servers {urls}")
        sync_s: list[float] = []
        copy_s: list[float] = []
        insert_s: list[float] = []
        lost = 0
        for r in range(args.rounds):
            took, stored = await sync_round(urls, daemons, args.entries, f"s{r}")
            lost += total - stored
            sync_s.append(took)
            copy_s.append(await copy_round(url, team_id, daemons, args.entries, f"c{r}"))
            insert_s.append(await insert_round(url, team_id, daemons, args.entries, f"i{r}"))
            log(f"round {r + 1}: sync {total / sync_s[-1]:,.0f}/s  copy {total / copy_s[-1]:,.0f}/s  "
                f"insert {total / insert_s[-1]:,.0f}/s  (stored {stored}/{total})")  # fmt: skip
        in_table = int(cluster.psql("SELECT count(*) FROM entries WHERE id LIKE 's%'", url.rsplit("/", 1)[1]))
        lost += args.rounds * total - in_table if in_table < args.rounds * total else 0
        sync_rate = total / statistics.median(sync_s)
        copy_rate = total / statistics.median(copy_s)
        insert_rate = total / statistics.median(insert_s)
        result = {
            "bench": "team_sync",
            "daemons": args.daemons,
            "entries_each": args.entries,
            "servers": args.servers,
            "rounds": args.rounds,
            "sync_entries_per_s": round(sync_rate),
            "copy_entries_per_s": round(copy_rate),
            "insert_entries_per_s": round(insert_rate),
            "ratio_to_copy": round(sync_rate / copy_rate, 4),
            "ratio_to_insert": round(sync_rate / insert_rate, 4),
            "sync_seconds": [round(s, 2) for s in sync_s],
            "lost_or_refused": lost,
        }
        log(f"sync {sync_rate:,.0f} entries/s = {sync_rate / copy_rate:.3f} x COPY ({copy_rate:,.0f}/s), "
            f"{sync_rate / insert_rate:.3f} x batched INSERT ({insert_rate:,.0f}/s)")  # fmt: skip
        print(json.dumps(result), flush=True)
        return 1 if lost else 0
    finally:
        for p in procs:
            stop_process(p)
        cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemons", type=int, default=200)
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=20, help="database connections per server process")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
