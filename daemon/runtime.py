"""Where a running daemon listens: its one listening socket, and the `daemon.json` in the data folder that says so.

`ticketclock serve --port 0` binds any free loopback port. Once it accepts connections it writes
`<data dir>/daemon.json` = `{"pid": …, "port": …, "version": …}` atomically (temporary file, then rename), and
removes it when it stops. A reader must check the pid: after a crash the file stays behind and names a process that
is gone. `GET /api/v1/health` answers the daemon's pid, so a reader can also check that the port it connected to is
served by that very process.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import msgspec

__all__ = ["DAEMON_FILE", "DaemonFile", "listen_socket", "read_daemon_file", "remove_daemon_file", "write_daemon_file"]

DAEMON_FILE = "daemon.json"


class DaemonFile(msgspec.Struct, kw_only=True, frozen=True):
    pid: int
    port: int
    version: str


_decode = msgspec.json.Decoder(DaemonFile).decode


def listen_socket(bind: str, port: int) -> socket.socket:
    """A listening TCP socket on the loopback address `bind` ("localhost": 127.0.0.1); port 0 picks a free one.

    SO_REUSEADDR on POSIX only (socket.create_server's rule, and asyncio's): a restarted daemon can bind while the
    last run's connections sit in TIME_WAIT; on Windows the option would let another program take the port.
    Raises OSError when the port is taken.
    """
    host = "127.0.0.1" if bind == "localhost" else bind
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def write_daemon_file(data_dir: Path, info: DaemonFile) -> None:
    """Replace `daemon.json` in one step: a reader sees the old file or the new one, never half of one."""
    path = data_dir / DAEMON_FILE
    tmp = data_dir / f"{DAEMON_FILE}.{info.pid}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(msgspec.json.encode(info))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_daemon_file(data_dir: Path) -> DaemonFile | None:
    """The last report of a daemon on this data folder, or None. Its process may be gone: check `pid`."""
    try:
        return _decode((data_dir / DAEMON_FILE).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None


def remove_daemon_file(data_dir: Path, info: DaemonFile) -> None:
    """Remove `daemon.json` if it is still this daemon's report."""
    if read_daemon_file(data_dir) == info:
        with contextlib.suppress(OSError):
            (data_dir / DAEMON_FILE).unlink()
