"""daemon.runtime: the daemon's listening socket and its daemon.json report, on real sockets and files."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from daemon.runtime import (
    DAEMON_FILE,
    DaemonFile,
    listen_socket,
    read_daemon_file,
    remove_daemon_file,
    write_daemon_file,
)


def test_port_0_gives_a_listening_loopback_socket_on_a_free_port() -> None:
    with listen_socket("127.0.0.1", 0) as sock:
        host, port = sock.getsockname()[:2]
        assert host == "127.0.0.1" and port != 0
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass  # it listens already: the connection waits in its backlog


def test_localhost_means_127_0_0_1() -> None:
    with listen_socket("localhost", 0) as sock:
        assert sock.family == socket.AF_INET and sock.getsockname()[0] == "127.0.0.1"


def test_a_port_with_a_listener_is_refused() -> None:
    with listen_socket("127.0.0.1", 0) as first, pytest.raises(OSError):
        listen_socket("127.0.0.1", first.getsockname()[1])


def test_the_report_round_trips_and_replaces_the_previous_one(tmp_path: Path) -> None:
    assert read_daemon_file(tmp_path) is None
    old = DaemonFile(pid=1, port=47600, version="0.1.0")
    write_daemon_file(tmp_path, old)
    new = DaemonFile(pid=os.getpid(), port=50123, version="0.1.0")
    write_daemon_file(tmp_path, new)
    assert read_daemon_file(tmp_path) == new
    assert sorted(p.name for p in tmp_path.iterdir()) == [DAEMON_FILE]  # no temporary file left
    if os.name == "posix":
        assert (tmp_path / DAEMON_FILE).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("content", [b"", b"{", b'{"pid": "x", "port": 1, "version": "v"}', b"[]"])
def test_a_damaged_report_reads_as_none(tmp_path: Path, content: bytes) -> None:
    (tmp_path / DAEMON_FILE).write_bytes(content)
    assert read_daemon_file(tmp_path) is None


def test_a_daemon_removes_only_its_own_report(tmp_path: Path) -> None:
    mine = DaemonFile(pid=os.getpid(), port=50123, version="0.1.0")
    theirs = DaemonFile(pid=os.getpid() + 1, port=50124, version="0.1.0")
    write_daemon_file(tmp_path, theirs)  # a newer daemon on this folder replaced our report
    remove_daemon_file(tmp_path, mine)
    assert read_daemon_file(tmp_path) == theirs
    remove_daemon_file(tmp_path, theirs)
    assert read_daemon_file(tmp_path) is None
