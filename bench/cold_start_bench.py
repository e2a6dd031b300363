#!/usr/bin/env python3
"""Cold start, ours against the floor, interleaved (issue 14: <= 1.3x the floor's).

Each round spawns `ticketclock serve --port P` on a fresh empty TICKETCLOCK_HOME (it creates the database, runs
the migrations, writes the token) and the floor (`floor_app.py --port Q --db <fresh file> --synchronous FULL`), in
alternating order (floor first in odd rounds), and times spawn -> first 200 on `GET /api/v1/health` (ours) or
`GET /api/0/info` (floor), polling every 2 ms with a plain socket from this process (no client library start-up on
either side). Both get a port chosen here, so neither waits for a report file. Between runs the harness waits
(<= 15 s) for the host to be < 35 % busy, as `event_load.py` does. Prints a table of medians and one JSON line;
progress on stderr. Loopback only; each server is stopped by its own PID and its folder deleted.

`--baseline DIR` adds a third contestant in every round: the daemon of another checkout (e.g. `git archive` of an
earlier commit unpacked in DIR), run with this venv as `python -m daemon serve` with DIR first on sys.path, to
measure a change against its parent in the same run; ours is then started the same way.

    .venv/bin/python bench/cold_start_bench.py [--rounds 15] [--floor-dir ../shared/bench] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from event_load import CONFIG_TOML, ensure_bytecode, free_port, host_cpu  # same folder: bench/ is on sys.path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
HOST = "127.0.0.1"


def answered(port: int, path: str) -> bool:
    """True once a GET of `path` is answered 200."""
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64)
    except OSError:
        return False
    return head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))


def wait_quiet(limit_s: float = 15.0, busy: float = 0.35) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        t0, i0 = host_cpu()
        time.sleep(0.25)
        t1, i1 = host_cpu()
        if 1 - (i1 - i0) / max(1, t1 - t0) < busy:
            return


def cpu_s(pid: int) -> float:
    """CPU time of all the process's threads so far (ns-precise `schedstat`; 0.0 where there is none)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(task.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def cold_start(
    cmd: list[str], env: dict[str, str], port: int, path: str, timeout: float, cwd: Path = REPO
) -> tuple[float, float]:
    """(wall time to the first 200, the server's CPU time by then)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=str(cwd)
    )
    try:
        deadline = start + timeout
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{cmd[1]} exited with {proc.returncode} before it answered")
            if answered(port, path):
                return time.perf_counter() - start, cpu_s(proc.pid)
            time.sleep(0.002)
        raise SystemExit(f"{cmd[1]} did not answer within {timeout} s")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ours(timeout: float, checkout: Path | None = None) -> tuple[float, float]:
    """The console script's cold start, or with `checkout` `python -m daemon serve` from that folder."""
    home = Path(tempfile.mkdtemp(prefix="tc-cold-"))
    try:
        (home / "config").mkdir()
        (home / "config" / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")
        port = free_port()
        env = {**os.environ, "TICKETCLOCK_HOME": str(home)}
        cmd = [str(BIN / "ticketclock"), "serve", "--port", str(port)]
        if checkout is not None:
            env["PYTHONPATH"] = str(checkout)
            cmd = [str(BIN / "python"), "-m", "daemon", "serve", "--port", str(port)]
            return cold_start(cmd, env, port, "/api/v1/health", timeout, cwd=checkout)  # -m: the cwd comes first
        return cold_start(cmd, env, port, "/api/v1/health", timeout)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def floor(floor_dir: Path, timeout: float) -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp(prefix="tc-cold-floor-"))
    try:
        port = free_port()
        cmd = [sys.executable, str(floor_dir / "floor_app.py"), "--port", str(port), "--db", str(folder / "floor.db")]
        cmd += ["--synchronous", "FULL"]
        return cold_start(cmd, dict(os.environ), port, "/api/0/info", timeout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument(
        "--floor-dir",
        default=os.environ.get("TICKETCLOCK_FLOOR_DIR", str(REPO.parent.parent / "shared" / "bench")),
    )
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--baseline", help="another checkout's folder: its daemon measured too (see above)")
    p.add_argument("--no-wait-quiet", action="store_true", help="do not wait for the host to be < 35 %% busy")
    args = p.parse_args()
    floor_dir = Path(args.floor_dir)
    if not (floor_dir / "floor_app.py").is_file():
        raise SystemExit(f"no floor_app.py in {floor_dir} (--floor-dir)")
    baseline = Path(args.baseline).resolve() if args.baseline else None
    if baseline is not None:
        ensure_bytecode(baseline)
    ensure_bytecode()
    runners = {
        "ours": lambda: ours(args.timeout, REPO if baseline is not None else None),
        "floor": lambda: floor(floor_dir, args.timeout),
    }
    if baseline is not None:
        runners["baseline"] = lambda: ours(args.timeout, baseline)
    for run in runners.values():  # warm-up: page cache, .pyc of the libraries
        run()
    times: dict[str, list[float]] = {who: [] for who in runners}
    cpus: dict[str, list[float]] = {who: [] for who in runners}
    ratios: list[float] = []
    for i in range(args.rounds):
        got: dict[str, float] = {}
        order = list(runners)[::-1] if i % 2 else list(runners)
        for who in order:
            if not args.no_wait_quiet:
                wait_quiet()
            got[who], cpu = runners[who]()
            times[who].append(got[who])
            cpus[who].append(cpu)
        ratios.append(got["ours"] / got["floor"])
        print(f"[cold] round {i + 1}: " + ", ".join(f"{w} {t:.3f} s" for w, t in got.items()), file=sys.stderr)
    med = {who: statistics.median(t) for who, t in times.items()}
    cpu_med = {who: statistics.median(c) for who, c in cpus.items()}
    print(
        f"| cold start ({args.rounds} interleaved rounds) | median (s) | min (s) | median / floor's "
        "| CPU by the answer, median (s) | CPU / floor's |"
    )
    print("|---|---|---|---|---|---|")
    for who in runners:
        print(
            f"| {who} | {med[who]:.3f} | {min(times[who]):.3f} | {med[who] / med['floor']:.2f} "
            f"| {cpu_med[who]:.3f} | {cpu_med[who] / cpu_med['floor']:.2f} |"
        )
    print(f"| ours/floor, median of the rounds' ratios | | | {statistics.median(ratios):.2f} | | |")
    summary = {
        "rounds": args.rounds,
        "ours_median_s": round(med["ours"], 4),
        "floor_median_s": round(med["floor"], 4),
        "ratio_of_medians": round(med["ours"] / med["floor"], 3),
        "median_round_ratio": round(statistics.median(ratios), 3),
        "cpu_median_s": {who: round(c, 4) for who, c in cpu_med.items()},
        **{f"{who}_s": [round(t, 4) for t in times[who]] for who in runners},
        "target_ratio": 1.3,
    }
    if baseline is not None:
        summary["baseline_median_s"] = round(med["baseline"], 4)
        summary["ours_over_baseline"] = round(med["ours"] / med["baseline"], 3)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
