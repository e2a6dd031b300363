"""Stalled connections against a real daemon subprocess with a low file limit (RLIMIT_NOFILE 256): 500 peers
that send half a request head or half a body cannot make it unreachable, and are dropped after the read
timeout (configured short here: the one place a short timeout belongs)."""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.support import daemon_output, spawn_daemon, stop_process

resource = pytest.importorskip("resource", reason="RLIMIT_NOFILE is POSIX")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="RLIMIT_NOFILE is POSIX")]

FILE_LIMIT = 256
STALLED = 500
READ_TIMEOUT_S = 2


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    home = tmp_path / "home"
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f"[limits]\nread_timeout_s = {READ_TIMEOUT_S}\n", encoding="utf-8")
    proc = spawn_daemon(home, preexec_fn=_low_file_limit)  # POSIX only: the daemon runs out of descriptors at 256
    try:
        yield proc.port, home
    finally:
        stop_process(proc)


def stalled_requests(port: int) -> list[bytes]:
    host = b"Host: 127.0.0.1:%d\r\n" % port
    half_head = b"GET /api/v1/health HTTP/1.1\r\n" + host + b"X-Slow: "
    half_body_public = (
        b"POST /api/v1/pair HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"code": "1'
    )
    half_body_private = (
        b"POST /api/v1/timers HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"task": "A'
    )
    kinds = [half_head, half_body_public, half_body_private]
    return [kinds[i % len(kinds)] for i in range(STALLED)]


def open_stalled(port: int) -> list[socket.socket]:
    socks = []
    for data in stalled_requests(port):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(data)
        socks.append(s)
    return socks


def wait_all_dropped(socks: list[socket.socket], timeout: float) -> None:
    """Every socket reaches EOF (or a reset) from the daemon's side; answers such as 408 may come first."""
    selector = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
    open_ = set(socks)
    deadline = time.monotonic() + timeout
    while open_ and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                selector.unregister(sock)
                open_.discard(sock)
    selector.close()
    assert not open_, f"{len(open_)} of {len(socks)} stalled connections still open after {timeout} s"


def test_health_answers_while_500_stalled_connections_sit_open_and_they_are_dropped(
    daemon: tuple[int, Path],
) -> None:
    port, home = daemon
    socks = open_stalled(port)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10)
        assert response.status_code == 200, response.text
        wait_all_dropped(socks, timeout=60)
    finally:
        for s in socks:
            s.close()
    assert healthy(port)
    _, stderr = daemon_output(home)
    assert "Traceback" not in stderr, stderr[-3000:]


def test_a_half_sent_head_is_dropped_after_the_read_timeout(daemon: tuple[int, Path]) -> None:
    port, _ = daemon
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(stalled_requests(port)[0])
        assert s.recv(65536) == b""  # closed by the daemon; the socket timeout above only guards a hang


def test_a_half_sent_body_gets_408_in_the_one_error_shape(daemon: tuple[int, Path]) -> None:
    port, _ = daemon
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(stalled_requests(port)[1])
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b'"code":"request_timeout"' in body, answer


# --- the cap alone (in-process, a long read timeout so only the cap can drop anyone) ---------------------------


async def test_beyond_the_cap_the_oldest_unauthenticated_connections_are_dropped_not_the_authenticated(
    tmp_path: Path,
) -> None:
    import asyncio

    from aiohttp import web

    from daemon.api.connections import GuardedRunner
    from daemon.app import create_app
    from daemon.clock import SystemClock
    from daemon.runtime import listen_socket
    from tests.support import make_settings

    settings = make_settings(tmp_path, config_text="[limits]\nread_timeout_s = 600\nmax_unauthenticated = 5\n")
    sock = listen_socket("127.0.0.1", 0)  # bound first, so that the app's Host check knows the port
    settings = msgspec.structs.replace(settings, port=sock.getsockname()[1])
    async with httpx.AsyncClient() as upstream:
        app = create_app(settings, clock=SystemClock(), http=upstream)
        # shutdown_timeout: the stalled peers left at the end wait out a 600 s read timeout, not the test
        runner = GuardedRunner(app, handle_signals=False, shutdown_timeout=1)
        await runner.setup()
        try:
            port = settings.port
            await web.SockSite(runner, sock).start()
            token = settings.token_file.read_text(encoding="utf-8").strip()
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as trusted:
                assert (await trusted.get("/api/v1/timers")).status_code == 200  # a kept-alive, trusted connection
                stalled = []
                for data in stalled_requests(port)[:20]:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(data)
                    await writer.drain()
                    stalled.append((reader, writer))
                async with httpx.AsyncClient(base_url=base) as stranger:
                    assert (await stranger.get("/api/v1/health")).status_code == 200
                for reader, _ in stalled[:16]:  # the oldest: dropped (the 60 s only guards a hang)
                    await asyncio.wait_for(reader.read(), 60)  # up to EOF (after a 401 for the tokenless)
                    assert reader.at_eof()
                for reader, _ in stalled[16:]:  # the newest: still waiting for the rest of their request
                    assert not reader.at_eof()
                assert (await trusted.get("/api/v1/timers")).status_code == 200
                for _, writer in stalled:
                    writer.close()
        finally:
            await runner.cleanup()
