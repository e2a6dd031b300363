#!/usr/bin/env python3
"""Automation runs: recording 10,000 runs from 8 concurrent clients, then posting them to the sandbox Autotask.

Phases (each bounded by a count and a wall-clock limit), in one run:

  floor    the floor daemon of ../shared/bench (aiohttp + aiosqlite, one commit per request, `--synchronous FULL
           --no-merge`: one INSERT per request, like ours commits each run) takes N single inserts (default 10,000)
           from 8 concurrent clients: its single-insert rate, the yardstick. Run before and again right after
           `record` (a fresh database each time); ours is compared with the mean of the two.
  record   our daemon (a subprocess, `python -m daemon serve`) takes N `POST /api/v1/automation-runs` from 8
           concurrent clients, each run a new run_id for an automation that applies to all clients, on the
           sandbox Autotask instance whose credentials are not stored yet (so each run is recorded and its entry
           queued, as when the PSA is away). Reports runs/s, its ratio to the floor's rate, latency p50/p99, and
           checks every run was recorded (GET /api/v1/automation-runs) with one entry each.
  post     the credentials are stored; the outbox posts the queued entries to the Autotask sandbox (`latency_s`
           per request, the vendor rule of 3 requests in flight per endpoint: 3 / latency requests/s allowed).
           Timed over the first `--post` entries (default 2,000: the vendor's hourly budget, which the connector
           keeps, is 10,000 requests), measured like bench/post_backlog.py:
               entries/s * requests per entry / (3 / latency)       (target >= 0.9)
           and each posted entry's marker is counted in the sandbox: no duplicates.

Prints a table (stderr) and ONE JSON line (stdout); exits 1 when a run is lost, an entry duplicated, or the floor
or our daemon does not come up.

    .venv/bin/python bench/automation_bench.py [--runs 10000] [--clients 8] [--post 2000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from post_backlog import Daemon, Sandbox, log, wait_for  # noqa: E402  (same folder)

_FLOORS = (ROOT.parent / "shared" / "bench", ROOT.parent.parent / "shared" / "bench")
FLOOR_DIR = Path(
    os.environ.get("TICKETCLOCK_FLOOR_DIR") or next((str(p) for p in _FLOORS if p.is_dir()), str(_FLOORS[0]))
)
"""../shared/bench beside the repository (or beside the folder of worktrees); TICKETCLOCK_FLOOR_DIR overrides."""
DAY = 86_400
LIMIT_S = 900.0


def free_port() -> int:
    """For the floor daemon only (../shared/bench, not ours to change): it takes --port and cannot report one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def hammer(count: int, clients: int, send: Any) -> tuple[float, list[float]]:
    """`count` calls of `send(i)` from `clients` concurrent workers: (elapsed s, latencies s)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            t0 = time.perf_counter()
            await send(i)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def floor_phase(tmp: Path, count: int, clients: int) -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, str(FLOOR_DIR / "floor_app.py"), "--port", str(port), "--db", str(tmp) + "-floor.db"),
            *("--synchronous", "FULL", "--no-merge"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=16)) as http:

            async def up() -> bool:
                if proc.poll() is not None:
                    raise SystemExit("the floor daemon exited")
                try:
                    return (await http.get("/api/0/info")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for("the floor daemon", up, limit=30, every=0.05)
            await http.post("/api/0/buckets/runs", json={"type": "runs", "client": "bench", "hostname": "bench"})
            base_ts = time.time() - 2 * DAY

            async def send(i: int) -> None:
                ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base_ts + i))
                body = {"timestamp": ts, "duration": 0, "data": {"run": f"r{i}", "automation": "Reset password"}}
                response = await http.post("/api/0/buckets/runs/heartbeat", params={"pulsetime": "0"}, json=body)
                if response.status_code != 200:
                    raise SystemExit(f"floor refused an insert: {response.status_code}")

            elapsed, latencies = await hammer(count, clients, send)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return _rates(count, elapsed, latencies)


def _rates(count: int, elapsed: float, latencies: list[float]) -> dict[str, Any]:
    return {
        "count": count,
        "seconds": round(elapsed, 3),
        "per_s": round(count / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 2),
    }


async def record_phase(daemon: Daemon, sb: Sandbox, count: int, clients: int) -> tuple[dict[str, Any], list[str]]:
    """`count` runs, each 10 minutes on a past day (100 a day, never across midnight), from `clients` workers."""
    first_day = (time.time() // DAY - 2 - count // 100) * DAY
    ticket = sb.module.SEED.service_ticket
    entry_ids: list[str] = [""] * count
    prefix = uuid.uuid4().hex[:8]

    async def send(i: int) -> None:
        end = first_day + (i // 100) * DAY + 1800 + (i % 100) * 720 + 600
        body = {
            "automation": "Reset password",
            "instance": sb.name,
            "ticket": ticket,
            "run_id": f"{prefix}-{i}",
            "started_by": "",
            "started_at": end - 600,
            "finished_at": end,
            "outcome": "success",
            "notes": f"bench run {i}",
        }
        response = await daemon.api.post("/api/v1/automation-runs", json=body)
        if response.status_code != 201 or response.json()["status"] != "logged":
            raise SystemExit(f"a run was not logged: {response.status_code} {response.text}")
        entry_ids[i] = response.json()["entry_id"]

    elapsed, latencies = await hammer(count, clients, send)
    result = _rates(count, elapsed, latencies)
    listed = (await daemon.api.get("/api/v1/automation-runs", params={"limit": "1000"})).json()["runs"]
    result["entries_distinct"] = len(set(entry_ids))
    result["listed_latest"] = len(listed)
    return result, entry_ids


async def post_phase(daemon: Daemon, sb: Sandbox, ids: list[str], measure: int, latency: float) -> dict[str, Any]:
    store = sb.app[sb.module.STORE]

    async def all_waiting() -> bool:
        rows = (await daemon.api.get("/api/v1/outbox")).json()["rows"]
        return len(rows) >= len(ids) and all(r["last_error"].startswith("no credentials") for r in rows[:50])

    await wait_for("the queued entries to wait for credentials", all_waiting, every=0.2)
    before, log_before, throttled_before = len(store.time_entries), len(sb.faults.log), store.throttled
    started = time.perf_counter()
    response = await daemon.api.put(f"/api/v1/psa/{sb.name}/credentials", json={"credentials": sb.credentials})
    if response.status_code != 200:
        raise SystemExit(f"credentials refused: {response.text}")

    async def enough() -> bool:
        return len(store.time_entries) - before >= measure

    await wait_for(f"{measure} entries in the Autotask sandbox", enough, limit=LIMIT_S)
    elapsed = time.perf_counter() - started
    requests = len(sb.faults.log) - log_before + store.throttled - throttled_before
    posted = len(store.time_entries) - before
    counts = sb.marker_counts(ids)
    allowed = 3 / latency
    return {
        "entries": posted,
        "seconds": round(elapsed, 3),
        "entries_per_s": round(posted / elapsed, 1),
        "requests": requests,
        "requests_per_entry": round(requests / posted, 3),
        "allowed_requests_per_s": round(allowed, 1),
        "ratio_to_limit": round(posted / elapsed * (requests / posted) / allowed, 3),
        "peak_in_flight": max(store.peak_in_flight.values()),
        "status_429": store.throttled - throttled_before,
        "duplicates": sum(1 for n in counts.values() if n > 1),
        "latency_s": latency,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--post", type=int, default=2000, help="entries the posting rate is measured over")
    parser.add_argument("--latency", type=float, default=0.05, help="Autotask sandbox latency per request, seconds")
    args = parser.parse_args()
    if not 1 <= args.runs <= 20_000 or not 1 <= args.post <= min(args.runs, 5000) or not 1 <= args.clients <= 64:
        parser.error("--runs 1..20000, --post 1..min(runs, 5000), --clients 1..64")

    autotask = Sandbox("autotask")
    await autotask.start()
    autotask.faults.latency_s = args.latency
    result: dict[str, Any] = {
        "bench": "automation_bench",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "clients": args.clients,
    }
    with tempfile.TemporaryDirectory(prefix="tc-auto-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log(f"floor: {args.runs} single inserts from {args.clients} clients")
        floors = [await floor_phase(tmp / "before", args.runs, args.clients)]
        log(f"floor (before ours): {floors[0]}")
        daemon = Daemon(tmp / "home", [autotask])
        config = tmp / "home" / "config" / "config.toml"
        config.write_text(
            config.read_text(encoding="utf-8") + '\n[[automations]]\nname = "Reset password"\napply_to = "all"\n',
            encoding="utf-8",
        )
        try:
            result["cold_start_s"] = round(await daemon.start(), 3)
            log(f"record: {args.runs} runs from {args.clients} clients")
            record, ids = await record_phase(daemon, autotask, args.runs, args.clients)
            # The floor again right after ours (the shared machine's load drifts): ours against their mean.
            floors.append(await floor_phase(tmp / "after", args.runs, args.clients))
            log(f"floor (after ours): {floors[1]}")
            result["floor_runs"] = floors
            result["floor"] = {
                key: round(statistics.mean(f[key] for f in floors), 2) for key in ("per_s", "p50_ms", "p99_ms")
            }
            record["ratio_to_floor"] = round(record["per_s"] / result["floor"]["per_s"], 3)
            result["record"] = record
            log(f"record: {record}")
            log(f"post: timing the first {args.post} entries to the Autotask sandbox")
            result["post"] = await post_phase(daemon, autotask, ids, args.post, args.latency)
            log(f"post: {result['post']}")
        finally:
            await daemon.stop()
            await autotask.runner.cleanup()
    rec, post = result["record"], result["post"]
    result["ok"] = rec["entries_distinct"] == args.runs and post["duplicates"] == 0
    result["post_target_met"] = post["ratio_to_limit"] >= 0.9
    floor = result["floor"]
    rows = [
        (f"runs recorded, {args.clients} clients (runs/s)", rec["per_s"], floor["per_s"], rec["ratio_to_floor"]),
        ("latency p50 (ms)", rec["p50_ms"], floor["p50_ms"], round(rec["p50_ms"] / floor["p50_ms"], 2)),
        ("latency p99 (ms)", rec["p99_ms"], floor["p99_ms"], round(rec["p99_ms"] / floor["p99_ms"], 2)),
    ]
    log("")
    log("| metric | ours | floor FULL | ours/floor |")
    log("|---|---|---|---|")
    for name, ours, theirs, ratio in rows:
        log(f"| {name} | {ours:,} | {theirs:,} | {ratio} |")
    log("")
    log("| posting to the Autotask sandbox | value |")
    log("|---|---|")
    log(f"| entries timed | {post['entries']:,} in {post['seconds']} s ({post['entries_per_s']} /s) |")
    log(f"| requests per entry | {post['requests_per_entry']} |")
    log(f"| allowed by the limit (3 in flight / {post['latency_s']} s) | {post['allowed_requests_per_s']} req/s |")
    log(f"| ratio to the limit (target ≥ 0.9) | **{post['ratio_to_limit']}** |")
    log(f"| duplicates / 429s | {post['duplicates']} / {post['status_429']} |")
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
