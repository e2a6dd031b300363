"""The connectors' shared HTTP client sends each request in one piece (issue 11: the Autotask posting rate).

Real sockets on 127.0.0.1: an aiohttp server echoes what it got, and the client side's `send` calls are counted on
the standard library's socket class (the one asyncio's transports write through), for sockets connected to that
server only.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web

from daemon.cli.serving import SharedHttp


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(body=body, headers={"X-Method": request.method, "X-Got": str(len(body))})

    app = web.Application(client_max_size=4_000_000)
    app.router.add_route("*", "/echo", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch, echo: int) -> Iterator[list[int]]:
    """The sizes of the client's `send` calls to the echo server, in order."""
    seen: list[int] = []
    send = socket.socket.send

    def counted(self: socket.socket, data: Any, *args: Any) -> int:
        n = send(self, data, *args)
        try:
            to_server = self.getpeername()[1] == echo
        except OSError:
            to_server = False
        if to_server:
            seen.append(n)
        return n

    monkeypatch.setattr(socket.socket, "send", counted)
    yield seen


async def test_a_post_leaves_in_one_send_per_request(echo: int, sends: list[int]) -> None:
    http = SharedHttp()
    try:
        body = b'{"ticketID": 1, "hoursWorked": 0.25}'
        for _ in range(3):  # the first request connects; the others reuse the kept-alive connection
            response = await http.request(
                "POST", f"http://127.0.0.1:{echo}/echo", content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 200
            assert response.content == body
    finally:
        await http.aclose()
    assert len(sends) == 3, sends  # head and body together, once per request


async def test_requests_without_a_body_and_with_a_large_one_arrive_whole(echo: int, sends: list[int]) -> None:
    http = SharedHttp()
    try:
        response = await http.request("GET", f"http://127.0.0.1:{echo}/echo", params={"search": "x"})
        assert (response.status_code, response.headers["X-Method"], response.content) == (200, "GET", b"")
        large = bytes(range(256)) * 1_000  # past the 64 KiB the stream holds before sending
        response = await http.request("PUT", f"http://127.0.0.1:{echo}/echo", content=large)
        assert (response.status_code, response.headers["X-Got"]) == (200, str(len(large)))
        assert response.content == large
    finally:
        await http.aclose()
    assert sum(sends) > len(large)
