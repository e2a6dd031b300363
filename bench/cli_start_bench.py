#!/usr/bin/env python3
"""How long a remote-control CLI command takes against a running daemon (issue 14: `ticketclock timers` <= 0.15 s).

Starts a daemon (`ticketclock serve --port 0`, a fresh temporary TICKETCLOCK_HOME), then runs each command --runs
times (after one unmeasured warm-up) and prints a table of median / min / max wall time, with `python -c pass`
(the interpreter's own start, the floor no Python CLI can beat) as the reference. One JSON line on stdout after the
table; progress on stderr. Loopback only; the daemon is stopped by its own PID; the home is deleted.

    .venv/bin/python bench/cli_start_bench.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"


def wait_for_port(home: Path, proc: subprocess.Popen[bytes], timeout: float) -> int:
    info = home / "data" / "daemon.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode}")
        try:
            return int(json.loads(info.read_text())["port"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    raise SystemExit("the daemon did not start in time")


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)  # warm-up: page cache, .pyc
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--ready-timeout", type=float, default=60.0)
    args = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tc-cli-bench-"))
    env = {**os.environ, "TICKETCLOCK_HOME": str(home)}
    daemon = subprocess.Popen(
        [str(BIN / "ticketclock"), "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = wait_for_port(home, daemon, args.ready_timeout)
        commands = {
            "python -c pass (floor)": [str(BIN / "python"), "-c", "pass"],
            "ticketclock timers": [str(BIN / "ticketclock"), "timers", "--port", str(port)],
            "ticketclock status": [str(BIN / "ticketclock"), "status", "--port", str(port)],
            "ticketclock entries": [str(BIN / "ticketclock"), "entries", "--port", str(port)],
        }
        results: dict[str, list[float]] = {}
        for name, argv in commands.items():
            print(f"[cli-bench] {name} x{args.runs} ...", file=sys.stderr)
            results[name] = timed(argv, env, args.runs)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(home, ignore_errors=True)
    floor = statistics.median(results["python -c pass (floor)"])
    print(f"| command ({args.runs} runs) | median (s) | min (s) | max (s) | median - floor (s) |")
    print("|---|---|---|---|---|")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"| {name} | {med:.3f} | {min(times):.3f} | {max(times):.3f} | {med - floor:.3f} |")
    summary = {name: round(statistics.median(times), 4) for name, times in results.items()}
    print(json.dumps({"runs": args.runs, "median_s": summary, "target_timers_s": 0.15}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
