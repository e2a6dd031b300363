#!/usr/bin/env python3
"""Seeded load generator for TicketClock's browser-event ingestion (DESIGN.md §13).

It mirrors /work/shared/bench/peer_load.py's workload on OUR protocol (daemon/timers/events.py): a technician
switching between ~50 HaloPSA ticket tabs. Each client (one browser install) first opens its 50 tabs (set-up,
not measured), then sends a stream of single-event batches: with probability --switch-prob a `tab_activated` to
another ticket tab (70 % to one of 10 "hot" tickets, like peer_load), else a `heartbeat`. ONE event per request,
so a request is comparable to one heartbeat request of peer_load. Client k uses install `bench-…-k`, tab ids
k*1000+i and window 100000+k. After a phase its tabs are closed again (not measured), so every phase starts from
the same browser model.

    POST /api/v1/browser/events  {"type":"batch","install":…,"events":[{…one event…}]}  -> {"install","acked"}
    WS   /api/v1/ws  hello, then the same batches; each answered by {"type":"ack","seq":N}
         (state pushes arriving in between are read and counted, never waited for)

The reply comes after the daemon committed the state (SQLite WAL, synchronous=FULL), so latency = durable ack.

Time: `at` is the real wall clock at send time. The daemon refuses events more than 30 days old and judges
browser silence against its own clock, so a compressed virtual day like peer_load's cannot be replayed here
without triggering offline stops; the timeline is therefore short (ms between events), which only changes
how long timers are, not how much work an event costs.

Runs (each on a daemon spawned fresh with a fresh TICKETCLOCK_HOME, terminated by its own PID):
  1. main: cold start (spawn -> first 200 on GET /api/v1/health), idle RSS (after --settle), warm-up events,
     then one phase per --concurrency value over HTTP (and, with --ws, the same phases over the WebSocket);
     RSS after each phase.
  2. soak (--soak N, 0 skips): a second fresh daemon; N events at 1 client over HTTP, throughput and latency per
     quarter, Q4/Q1 ratio, RSS after the N events.

RSS = VmRSS summed over the daemon's process tree (/proc/PID/status), also VmHWM of the main process.
Prints ONE JSON line on stdout (progress on stderr). Loopback only; every loop is bounded by a count and a
wall-clock limit.

  .venv/bin/python bench/event_load.py --count 2000 --concurrency 1,8 --soak 20000
  .venv/bin/python bench/event_load.py --count 2000 --soak 0 --profile /tmp/daemon.prof   # cProfile the daemon
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import py_compile
import random
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DAEMON = f"{REPO / '.venv' / 'bin' / 'ticketclock'} serve"
HOST = "127.0.0.1"
ORIGIN = "https://acme.halopsa.com"
CONFIG_TOML = f"""
[[instances]]
name = "halo"
kind = "halopsa"
origins = ["{ORIGIN}"]
"""
CLK_TCK = os.sysconf("SC_CLK_TCK")
SUBJECTS = [
    "Printer offline on 3rd floor",
    "VPN drops every 10 min",
    "Outlook keeps asking for password",
    "New starter laptop setup",
    "Shared drive permission request",
    "Teams camera not detected",
    "Password reset",
    "Replace broken monitor",
    "Software install request: Visio",
    "Wi-Fi slow in meeting room B",
    "Phone extension not ringing",
    "MFA device lost",
]


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- /proc
def proc_status(pid: int) -> dict:
    out: dict = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads"):
                    out[k] = int(v.split()[0])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def tree_pids(pid: int) -> list[int]:
    pids, frontier = [pid], [pid]
    for _ in range(8):  # bounded depth
        nxt: list[int] = []
        for p in frontier:
            try:
                with open(f"/proc/{p}/task/{p}/children") as f:
                    nxt += [int(x) for x in f.read().split()]
            except OSError:
                pass
        if not nxt:
            break
        pids += nxt
        frontier = nxt
    return pids


def tree_rss_kb(pid: int) -> int:
    return sum(proc_status(p).get("VmRSS", 0) for p in tree_pids(pid))


def proc_cpu_s(pid: int) -> float:
    tot = 0.0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tot += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except OSError:
            pass
    return tot


def free_port() -> int:
    """A free loopback port for a server spawned here (ours and the floor alike: the cold start ends at the first
    answer on it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def host_cpu() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]), v[3] + v[4]


def client_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    i = min(len(sorted_ms) - 1, max(0, round(q * len(sorted_ms) + 0.5) - 1))  # nearest rank, as peer_load
    return round(sorted_ms[i], 3)


def lat_summary(lat: list[float]) -> dict:
    s = sorted(lat)
    return {
        "p50": pct(s, 0.50),
        "p95": pct(s, 0.95),
        "p99": pct(s, 0.99),
        "max": round(s[-1], 3) if s else None,
        "mean": round(sum(s) / len(s), 3) if s else None,
    }


# --------------------------------------------------------------------------- workload
def ticket_url(i: int) -> tuple[str, str]:
    tid = 40213 + i * 7
    return f"{ORIGIN}/ticket?id={tid}", f"#{tid} {SUBJECTS[i % len(SUBJECTS)]} - HaloPSA"


def make_stream(n: int, seed: int, n_tickets: int, p_switch: float) -> list[tuple[str, int]]:
    """n events ("tab_activated", ticket index) / ("heartbeat", -1) for one browser, in send order."""
    rng = random.Random(seed)
    hot = list(range(min(10, n_tickets)))
    cur = 0
    out: list[tuple[str, int]] = []
    while len(out) < n:  # bounded: one event per iteration
        if rng.random() < p_switch:
            k = rng.choice(hot) if rng.random() < 0.7 else rng.randrange(n_tickets)
            if k == cur:
                k = (k + 1) % n_tickets
            cur = k
            out.append(("tab_activated", k))
        else:
            out.append(("heartbeat", -1))
    return out


class Client:
    """One browser install: its own seq counter, tab ids k*1000+i, window 100000+k."""

    def __init__(self, install: str, k: int, n_tickets: int) -> None:
        self.install = install
        self.k = k
        self.n_tickets = n_tickets
        self.window = 100_000 + k
        self.seq = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pushes = 0

    def tab(self, i: int) -> int:
        return self.k * 1000 + i

    def event(self, kind: str, i: int = -1) -> dict:
        self.seq += 1
        ev: dict = {"type": kind, "seq": self.seq, "at": time.time()}
        if kind == "tab_opened":
            url, title = ticket_url(i)
            ev.update(tab=self.tab(i), window=self.window, url=url, title=title, active=(i == 0))
        elif kind in ("tab_activated", "tab_closed"):
            ev.update(tab=self.tab(i), window=self.window)
        return ev

    def body(self, ev: dict) -> bytes:
        return json.dumps({"type": "batch", "install": self.install, "events": [ev]}).encode()


class Target:
    def __init__(self, base: str, session: aiohttp.ClientSession, token: str) -> None:
        self.base = base
        self.s = session
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def health(self, timeout: float = 1.0) -> int:
        async with self.s.get(f"{self.base}/api/v1/health", timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            await r.read()
            return r.status

    async def post(self, c: Client, ev: dict) -> str | None:
        """Send one event; None when acked exactly, else an error tag."""
        async with self.s.post(f"{self.base}/api/v1/browser/events", data=c.body(ev), headers=self.headers) as r:
            raw = await r.read()
            if r.status != 200:
                return f"http_{r.status}"
            if json.loads(raw).get("acked") != ev["seq"]:
                return "bad_ack"
            return None

    async def ws_open(self, c: Client, timeout: float) -> None:
        c.ws = await self.s.ws_connect(f"{self.base}/api/v1/ws", max_msg_size=4_000_000)
        await c.ws.send_str(
            json.dumps(
                {"type": "hello", "install": c.install, "instance": "bench", "token": self.token, "version": "bench"}
            )
        )
        for _ in range(10):  # welcome, config, state
            msg = await c.ws.receive(timeout=timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"ws hello: {msg.type}")
            if json.loads(msg.data).get("type") == "state":
                return
        raise RuntimeError("ws hello: no state push")

    async def ws_send(self, c: Client, ev: dict, timeout: float) -> str | None:
        assert c.ws is not None
        await c.ws.send_bytes(c.body(ev))
        for _ in range(10_000):  # bounded: acks and state pushes only
            msg = await c.ws.receive(timeout=timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return f"ws_{msg.type.name}"
            m = json.loads(msg.data)
            t = m.get("type")
            if t == "ack":
                return None if m.get("seq") == ev["seq"] else "bad_ack"
            if t == "state":
                c.pushes += 1
            elif t == "error":
                return f"ws_error_{m.get('code')}"
        return "ws_no_ack"


async def send(tgt: Target, c: Client, ev: dict, proto: str, timeout: float) -> str | None:
    try:
        if proto == "ws":
            return await tgt.ws_send(c, ev, timeout)
        return await tgt.post(c, ev)
    except Exception as e:
        return type(e).__name__


async def setup_tabs(tgt: Target, c: Client, proto: str, a) -> dict:
    errs: dict = {}
    for i in range(c.n_tickets):  # bounded
        e = await send(tgt, c, c.event("tab_opened", i), proto, a.request_timeout)
        if e:
            errs[e] = errs.get(e, 0) + 1
    return errs


async def close_tabs(tgt: Target, c: Client, proto: str, a) -> dict:
    errs: dict = {}
    for i in range(c.n_tickets):  # bounded
        e = await send(tgt, c, c.event("tab_closed", i), proto, a.request_timeout)
        if e:
            errs[e] = errs.get(e, 0) + 1
    return errs


async def run_stream(
    tgt: Target,
    c: Client,
    stream,
    proto: str,
    lat: list,
    errs: dict,
    deadline: float,
    a,
    marks: list | None = None,
    cpu_at: dict | None = None,
    pid: int = 0,
) -> int:
    """Send `stream` one event at a time. With `marks`: each answer's time; with `cpu_at` (count of answers -> None):
    the server's CPU seconds once that many answers are in (soak quarters, so CPU per event per quarter)."""
    sent = 0
    for kind, i in stream:  # bounded by len(stream)
        if time.monotonic() > deadline:
            errs["abandoned"] = errs.get("abandoned", 0) + (len(stream) - sent)
            break
        ev = c.event(kind, i)
        t0 = time.perf_counter()
        e = await send(tgt, c, ev, proto, a.request_timeout)
        t1 = time.perf_counter()
        sent += 1
        if e:
            errs[e] = errs.get(e, 0) + 1
            continue
        lat.append((t1 - t0) * 1000.0)
        if marks is not None:
            marks.append(t1)
            if cpu_at is not None and len(marks) in cpu_at:
                cpu_at[len(marks)] = proc_cpu_s(pid)
    return sent


async def phase(tgt: Target, pid: int, run_id: str, name: str, conc: int, count: int, proto: str, a) -> dict:
    per = [count // conc + (1 if i < count % conc else 0) for i in range(conc)]
    clients = [Client(f"bench-{run_id}-{name}-{k}", k, a.tickets) for k in range(conc)]
    streams = [make_stream(per[k], a.seed * 1000 + conc * 100 + k, a.tickets, a.switch_prob) for k in range(conc)]
    if proto == "ws":
        for c in clients:
            await tgt.ws_open(c, a.request_timeout)
    setup_errs: dict = {}
    for c in clients:
        for k, v in (await setup_tabs(tgt, c, proto, a)).items():
            setup_errs[k] = setup_errs.get(k, 0) + v
    lat: list[float] = []
    errs: dict = {}
    cpu0, ccpu0, h0 = proc_cpu_s(pid), client_cpu_s(), host_cpu()
    t0 = time.perf_counter()
    deadline = time.monotonic() + a.phase_timeout
    sent = await asyncio.gather(
        *(run_stream(tgt, clients[k], streams[k], proto, lat, errs, deadline, a) for k in range(conc))
    )
    wall = time.perf_counter() - t0
    cpu, ccpu, h1 = proc_cpu_s(pid) - cpu0, client_cpu_s() - ccpu0, host_cpu()
    ok = len(lat)
    rss_after = tree_rss_kb(pid)
    for c in clients:
        for k, v in (await close_tabs(tgt, c, proto, a)).items():
            setup_errs[k] = setup_errs.get(k, 0) + v
        if c.ws is not None:
            await c.ws.close()
    return {
        "name": name,
        "proto": proto,
        "concurrency": conc,
        "requests": sum(sent),
        "ok": ok,
        "errors": errs,
        "setup_errors": setup_errs,
        "wall_s": round(wall, 3),
        "ev_per_s": round(ok / wall, 1) if wall > 0 else None,
        "lat_ms": lat_summary(lat),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_ms_per_ev": round(1000 * cpu / ok, 4) if ok else None,
        "client_cpu_s": round(ccpu, 3),
        "host_cpu_busy_frac": round(1 - (h1[1] - h0[1]) / max(1, h1[0] - h0[0]), 3),
        "state_pushes_received": sum(c.pushes for c in clients),
        "rss_tree_after_kb": rss_after,
    }


# --------------------------------------------------------------------------- daemon life cycle
class Daemon:
    """A daemon spawned on a fresh TICKETCLOCK_HOME; terminated by its own PID."""

    def __init__(self, a, tag: str) -> None:
        self.a = a
        self.home = Path(tempfile.mkdtemp(prefix=f"tc-bench-{tag}-"))
        (self.home / "config").mkdir()
        (self.home / "config" / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")
        self.port = a.port or free_port()
        """Chosen here, as the floor's is (peer_load.py --spawn): both cold starts end at the first answer, not at
        a report file written after it."""
        self.proc: subprocess.Popen | None = None
        self.t_spawn = 0.0
        self.tag = tag

    def spawn(self) -> None:
        cmd = [*shlex.split(self.a.daemon_cmd), "--port", str(self.port)]
        if self.a.profile and self.tag == "main":
            # cProfile around the same entry point (python -m daemon == the console script)
            cmd = [
                str(REPO / ".venv" / "bin" / "python"),
                "-m",
                "cProfile",
                "-o",
                self.a.profile,
                "-m",
                "daemon",
                "serve",
                "--port",
                str(self.port),
            ]
        env = {**os.environ, "TICKETCLOCK_HOME": str(self.home)}
        out = open(self.a.server_log, "ab") if self.a.server_log else subprocess.DEVNULL
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(REPO),
        )

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def wait_ready(self, s: aiohttp.ClientSession) -> float:
        t_end = time.monotonic() + self.a.ready_timeout
        while time.monotonic() < t_end:  # bounded by ready_timeout
            if self.proc is not None and self.proc.poll() is not None:
                raise SystemExit(f"daemon exited with {self.proc.returncode} before it was ready")
            try:
                if await Target(self.base, s, "").health() == 200:
                    return round(time.monotonic() - self.t_spawn, 3)
            except Exception:
                pass
            await asyncio.sleep(0.005)
        raise SystemExit(f"daemon at {self.base} not ready within {self.a.ready_timeout}s")

    def token(self) -> str:
        return (self.home / "data" / "token").read_text(encoding="utf-8").strip()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self.a.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)
        return self.proc.returncode


def connector(a) -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=max(a.concurrency) + 2)


async def main_run(a, out: dict) -> None:
    d = Daemon(a, "main")
    d.spawn()
    out["pid"] = d.proc.pid if d.proc else None
    try:
        async with aiohttp.ClientSession(
            connector=connector(a), timeout=aiohttp.ClientTimeout(total=a.request_timeout)
        ) as s:
            out["cold_start_s"] = await d.wait_ready(s)
            pid = d.proc.pid
            await asyncio.sleep(a.settle)
            out["proc_idle"] = proc_status(pid)
            out["rss_idle_kb"] = tree_rss_kb(pid)
            tgt = Target(d.base, s, d.token())
            run_id = uuid.uuid4().hex[:8]
            out["run_id"] = run_id
            if a.warmup:
                c = Client(f"bench-{run_id}-warmup", 90, a.tickets)
                werr = await setup_tabs(tgt, c, "http", a)
                await run_stream(
                    tgt,
                    c,
                    make_stream(a.warmup, a.seed, a.tickets, a.switch_prob),
                    "http",
                    [],
                    werr,
                    time.monotonic() + a.phase_timeout,
                    a,
                )
                for k, v in (await close_tabs(tgt, c, "http", a)).items():
                    werr[k] = werr.get(k, 0) + v
                out["warmup_errors"] = werr
            out["rss_before_kb"] = tree_rss_kb(pid)
            out["phases"] = []
            protos = ["http"] + (["ws"] if a.ws else [])
            for proto in protos:
                for c in a.concurrency:
                    log(f"[{a.label}] {proto} c={c} count={a.count} ...")
                    r = await phase(tgt, pid, run_id, f"{proto}{c}", c, a.count, proto, a)
                    log(
                        f"[{a.label}]   {r['ev_per_s']} ev/s p50={r['lat_ms']['p50']}ms "
                        f"p99={r['lat_ms']['p99']}ms errors={r['errors']}"
                    )
                    out["phases"].append(r)
            out["proc_end"] = proc_status(pid)
            out["rss_after_phases_kb"] = tree_rss_kb(pid)
    finally:
        out["server_exit"] = d.stop()


async def soak_run(a, out: dict) -> None:
    d = Daemon(a, "soak")
    d.spawn()
    try:
        async with aiohttp.ClientSession(
            connector=connector(a), timeout=aiohttp.ClientTimeout(total=a.request_timeout)
        ) as s:
            cold = await d.wait_ready(s)
            pid = d.proc.pid
            await asyncio.sleep(a.settle)
            rss_idle = tree_rss_kb(pid)
            tgt = Target(d.base, s, d.token())
            c = Client(f"bench-soak-{uuid.uuid4().hex[:8]}", 0, a.tickets)
            serr = await setup_tabs(tgt, c, "http", a)
            stream = make_stream(a.soak, a.seed * 7 + 3, a.tickets, a.switch_prob)
            lat: list[float] = []
            marks: list[float] = []
            errs: dict = {}
            log(f"[{a.label}] soak {a.soak} events at 1 client ...")
            cpu_at: dict = {a.soak * i // 4: None for i in range(1, 5)}
            cpu0 = proc_cpu_s(pid)
            t0 = time.perf_counter()
            await run_stream(
                tgt, c, stream, "http", lat, errs, time.monotonic() + a.soak_timeout, a, marks, cpu_at, pid
            )
            wall = time.perf_counter() - t0
            cpu = proc_cpu_s(pid) - cpu0
            n = len(marks)
            q = n // 4
            quarters = []
            for i in range(4):
                lo, hi = i * q, (i + 1) * q
                start = t0 if i == 0 else marks[lo - 1]
                dt = marks[hi - 1] - start if q else 0
                c_lo = cpu0 if i == 0 else cpu_at.get(lo)
                c_hi = cpu_at.get(hi)
                cpu_ms = round(1000 * (c_hi - c_lo) / q, 4) if q and c_lo is not None and c_hi is not None else None
                quarters.append(
                    {
                        "events": q,
                        "ev_per_s": round(q / dt, 1) if dt > 0 else None,
                        "lat_ms": lat_summary(lat[lo:hi]),
                        "server_cpu_ms_per_ev": cpu_ms,
                    }
                )
            cq1, cq4 = quarters[0]["server_cpu_ms_per_ev"], quarters[3]["server_cpu_ms_per_ev"]
            ratio = (
                quarters[3]["ev_per_s"] / quarters[0]["ev_per_s"]
                if q and quarters[0]["ev_per_s"] and quarters[3]["ev_per_s"]
                else None
            )
            out["soak"] = {
                "events": a.soak,
                "ok": n,
                "errors": errs,
                "setup_errors": serr,
                "wall_s": round(wall, 3),
                "ev_per_s": round(n / wall, 1) if wall > 0 else None,
                "lat_ms": lat_summary(lat),
                "server_cpu_ms_per_ev": round(1000 * cpu / n, 4) if n else None,
                "quarters": quarters,
                "q4_over_q1": round(ratio, 3) if ratio else None,
                "cpu_q4_over_q1": round(cq4 / cq1, 3) if cq1 and cq4 else None,
                "cold_start_s": cold,
                "rss_idle_kb": rss_idle,
                "rss_after_kb": tree_rss_kb(pid),
                "proc_end": proc_status(pid),
            }
            log(
                f"[{a.label}]   soak {out['soak']['ev_per_s']} ev/s quarters "
                f"{[qq['ev_per_s'] for qq in quarters]} Q4/Q1={out['soak']['q4_over_q1']} CPU ms/event per quarter "
                f"{[qq['server_cpu_ms_per_ev'] for qq in quarters]} (Q4/Q1 {out['soak']['cpu_q4_over_q1']})"
            )
    finally:
        out["soak_server_exit"] = d.stop()


async def main_async(a) -> dict:
    out: dict = {
        "label": a.label,
        "count": a.count,
        "concurrency": a.concurrency,
        "warmup": a.warmup,
        "tickets": a.tickets,
        "switch_prob": a.switch_prob,
        "seed": a.seed,
        "soak_events": a.soak,
        "ws": a.ws,
        "daemon_cmd": a.daemon_cmd,
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not a.skip_main:
        await main_run(a, out)
    if a.soak:
        await soak_run(a, out)
    # flat summary keys
    for ph in out.get("phases", []):
        out[f"{ph['proto']}_c{ph['concurrency']}_ev_per_s"] = ph["ev_per_s"]
        out[f"{ph['proto']}_c{ph['concurrency']}_p99_ms"] = ph["lat_ms"]["p99"]
        out[f"{ph['proto']}_c{ph['concurrency']}_p50_ms"] = ph["lat_ms"]["p50"]
    if "soak" in out:
        out["soak_q4_over_q1"] = out["soak"]["q4_over_q1"]
        out["rss_after_soak_kb"] = out["soak"]["rss_after_kb"]
    return out


def ensure_bytecode(root: Path = REPO) -> int:
    """Compile the daemon's modules to .pyc first, as a pip install does: this environment sets
    PYTHONDONTWRITEBYTECODE=1, so an editable checkout otherwise compiles every module from source at each start
    (~60 ms of a ~350 ms cold start, ~15 ms of a CLI command), which no installed daemon does. The floor's
    libraries have their .pyc from pip; its own script is one small file. Returns how many were (re)written.

    Stale means what the import system checks, the source's mtime *and size* recorded in the .pyc: `compileall`
    checks the mtime alone, so a file that a checkout or merge rewrote within the second of its previous .pyc kept
    a stale one and was compiled from source at every start (two modules at 2b0824a: ~0.8 MiB of idle RSS and
    ~10 ms of cold start that no installed daemon pays). Only stale files are written, and the writes are flushed
    before anything is measured: `compileall -f` before every run rewrote ~150 files each time, and their writeback
    landed in the measured daemon's fsyncs."""
    written = 0
    for source in sorted((root / "daemon").rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not _bytecode_fresh(source, cached):
            py_compile.compile(
                str(source), cfile=str(cached), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP
            )
            written += 1
    if written and hasattr(os, "sync"):
        os.sync()
    return written


def _bytecode_fresh(source: Path, cached: Path) -> bool:
    """The 16-byte header of a timestamp .pyc (PEP 552): magic, flags 0, the source's mtime and size (mod 2**32)."""
    try:
        with cached.open("rb") as f:
            head = f.read(16)
    except OSError:
        return False
    st = source.stat()
    return (
        len(head) == 16
        and head[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(head[4:8], "little") == 0
        and int.from_bytes(head[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(head[12:16], "little") == st.st_size & 0xFFFFFFFF
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--daemon-cmd", default=DEFAULT_DAEMON, help="command starting the daemon; --port P is appended")
    p.add_argument("--port", type=int, default=0, help="0: a free loopback port, chosen here for each daemon")
    p.add_argument("--count", type=int, default=2000, help="events per phase (total over all clients)")
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8])
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--ws", action="store_true", help="also run the phases over the WebSocket")
    p.add_argument("--soak", type=int, default=20000, help="soak events at 1 client on a fresh daemon (0: skip)")
    p.add_argument("--skip-main", action="store_true", help="only the soak")
    p.add_argument("--tickets", type=int, default=50)
    p.add_argument("--switch-prob", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--phase-timeout", type=float, default=180.0, help="wall-clock cap per phase (s)")
    p.add_argument("--soak-timeout", type=float, default=600.0, help="wall-clock cap for the soak (s)")
    p.add_argument("--request-timeout", type=float, default=10.0)
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.add_argument("--settle", type=float, default=0.5, help="pause after ready before idle RSS (s)")
    p.add_argument("--server-log", help="append the daemon's output here")
    p.add_argument("--keep-home", action="store_true", help="keep the TICKETCLOCK_HOME folders (debugging)")
    p.add_argument("--profile", help="run the main daemon under cProfile, writing this .prof file at exit")
    p.add_argument("--label", default="ticketclock")
    a = p.parse_args()
    ensure_bytecode()
    if not 1 <= a.count <= 1_000_000 or not 0 <= a.soak <= 1_000_000 or not 0 <= a.warmup <= 100_000:
        raise SystemExit("count 1..1e6, soak 0..1e6, warmup 0..1e5")
    if not a.concurrency or min(a.concurrency) < 1 or max(a.concurrency) > 64 or not 1 <= a.tickets <= 999:
        raise SystemExit("concurrency 1..64, tickets 1..999")
    res = asyncio.run(main_async(a))
    print(json.dumps(res, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
