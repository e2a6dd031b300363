"""A throw-away PostgreSQL cluster for the team server's tests and benchmarks.

`initdb` and `pg_ctl` (Debian's `postgresql` package, installed by `scripts/setup --test`) in a temporary folder, on a
free loopback port, with password (SCRAM) authentication. PostgreSQL refuses to run as root, and CI runs as root: then
the cluster runs as the unprivileged `nobody` (its folder handed over to it). One cluster serves a whole test session;
each test gets a database of its own (`Cluster.new_database`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Cluster", "find_pg_bin"]

_WATCHDOG = """
import os, shutil, signal, sys, time
parent, root = int(sys.argv[1]), sys.argv[2]
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    time.sleep(1)
try:
    with open(os.path.join(root, "data", "postmaster.pid")) as f:
        os.kill(int(f.readline()), signal.SIGQUIT)  # PostgreSQL's immediate shutdown
    time.sleep(2)
except (OSError, ValueError):
    pass
shutil.rmtree(root, ignore_errors=True)
"""
"""Stops the cluster when the process that started it is gone without stopping it (killed: no atexit)."""

RUN_AS = "nobody"
"""The user the cluster runs as when the tests run as root."""


def find_pg_bin() -> Path:
    """The folder holding initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    if versions:
        return versions[0].parent
    raise RuntimeError("PostgreSQL not found: run ./scripts/setup --test (it installs Debian's postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    root: Path
    bin: Path
    password: str
    port: int = 0
    user: str = "postgres"
    _run_as: dict[str, Any] = field(default_factory=dict)
    _count: int = 0
    _watchdog: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, *, durable: bool = False) -> Cluster:
        """initdb + pg_ctl start. `durable=False` (tests) turns fsync off: nothing here outlives the run, and a
        SIGKILLed *server process* (what the tests kill) loses nothing either way; benchmarks pass True."""
        root = Path(tempfile.mkdtemp(prefix="tc-pg-"))
        cluster = cls(root=root, bin=find_pg_bin(), password=secrets.token_urlsafe(18))
        if os.geteuid() == 0:
            cluster._run_as = {"user": RUN_AS, "group": "nogroup", "extra_groups": []}
            shutil.chown(root, RUN_AS, "nogroup")
        pwfile = root / "pw"
        pwfile.write_text(cluster.password + "\n", encoding="utf-8")
        if cluster._run_as:
            shutil.chown(pwfile, RUN_AS, "nogroup")
        cluster._pg(
            "initdb", "-D", str(root / "data"), "-U", cluster.user, "--auth=scram-sha-256", f"--pwfile={pwfile}",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        settings = ["-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={root}", "-c max_connections=300"]
        if not durable:
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        atexit.register(cluster.stop)
        cluster._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(root)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        last = ""
        for _ in range(5):  # a port found free can be taken before the postmaster binds it: try another
            cluster.port = _free_port()
            done = cluster._pg(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(root / "data"), "-l", str(root / "log"),
                "-o", " ".join([f"-p {cluster.port}", *settings]), check=False,
            )  # fmt: skip
            if done.returncode == 0:
                return cluster
            last = (root / "log").read_text(encoding="utf-8", errors="replace")[-2000:]
        cluster.stop()
        raise RuntimeError(f"PostgreSQL did not start:\n{last}")

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(self.root)}
        done = subprocess.run(
            [str(self.bin / program), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=120,
            **self._run_as,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql (tests' own checks from outside the server), returning its unaligned output."""
        done = subprocess.run(
            [str(self.bin / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, self.url(database)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout.strip()

    def new_database(self) -> str:
        """A new empty database; returns its URL."""
        self._count += 1
        name = f"tc_{os.getpid()}_{self._count}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait(timeout=30)
            self._watchdog = None
        if self.root.exists():
            if (self.root / "data" / "postmaster.pid").exists():
                self._pg("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.root / "data"), check=False)
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root)
