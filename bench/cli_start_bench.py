#!/usr/bin/env python3
"""How long a remote-control CLI command takes against a running daemon (issue 14: `ticketclock timers` <= 0.15 s).

Starts a daemon (`ticketclock serve --port 0`, a fresh temporary TICKETCLOCK_HOME whose config names one PSA of
each kind, as a user's does: loading it checks every connector's options), then runs each command --runs times
(after one unmeasured warm-up) and prints a table of median / min / max wall time and the median CPU time (user +
system of the child: steadier than wall time on a shared machine), with `python -c pass` (the interpreter's own
start, the floor no Python CLI can beat) as the reference. One JSON line on stdout after the table; progress on
stderr. Loopback only; the daemon is stopped by its own PID; the home is deleted.

    .venv/bin/python bench/cli_start_bench.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from event_load import ensure_bytecode  # same folder: bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
CONFIG = """
[[instances]]
name = "cw"
kind = "connectwise"
origins = ["https://na.myconnectwise.net"]
options = { member = "jdoe" }

[[instances]]
name = "at"
kind = "autotask"
origins = ["https://ww5.autotask.net"]

[[instances]]
name = "halo"
kind = "halopsa"
origins = ["https://acme.halopsa.com"]
"""


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


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], env: dict[str, str]) -> None:
    """Run `argv` to its end. A blocking wait, not `subprocess.run(timeout=...)`: with a timeout, Popen.wait polls
    with sleeps that double up to 50 ms, so every wall time would be rounded up to the poll that saw the exit
    (0.032, 0.064, 0.114, 0.164 s...). A watchdog kills a command that hangs."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        code = proc.wait()
    finally:
        watchdog.cancel()
    if code != 0:
        raise SystemExit(f"{argv} exited with {code}")


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """(wall times, CPU times) of `runs` runs."""
    run_once(argv, env)  # warm-up: page cache, .pyc
    walls, cpus = [], []
    for _ in range(runs):
        cpu = children_cpu()
        start = time.perf_counter()
        run_once(argv, env)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu)
    return walls, cpus


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--ready-timeout", type=float, default=60.0)
    args = p.parse_args()
    ensure_bytecode()
    home = Path(tempfile.mkdtemp(prefix="tc-cli-bench-"))
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text(CONFIG, encoding="utf-8")
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
        results: dict[str, tuple[list[float], list[float]]] = {}
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
    floor = statistics.median(results["python -c pass (floor)"][0])
    print(f"| command ({args.runs} runs) | median wall (s) | min (s) | max (s) | median - floor (s) | median CPU (s) |")
    print("|---|---|---|---|---|---|")
    for name, (walls, cpus) in results.items():
        med = statistics.median(walls)
        print(
            f"| {name} | {med:.3f} | {min(walls):.3f} | {max(walls):.3f} | {med - floor:.3f} "
            f"| {statistics.median(cpus):.3f} |"
        )
    summary = {name: round(statistics.median(walls), 4) for name, (walls, _) in results.items()}
    cpu = {name: round(statistics.median(cpus), 4) for name, (_, cpus) in results.items()}
    print(json.dumps({"runs": args.runs, "median_s": summary, "median_cpu_s": cpu, "target_timers_s": 0.15}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
