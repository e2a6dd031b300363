"""`read_json` over a real loopback socket: a body already buffered when the handler asks for it is read without
arming the per-body read timeout (a timer per request on the event path, issue 14); a body still arriving is read
under it. The timers are seen by wrapping the running loop's `call_at` (asyncio's, passed through unchanged)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
from aiohttp import web

from daemon.api.connections import LIMITS, ConnectionLimits
from daemon.api.routing import json_response, read_json


class Body(msgspec.Struct):
    n: int


async def echo(request: web.Request) -> web.Response:
    body = await read_json(request, Body)
    return json_response({"n": body.n})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application()
    app[LIMITS] = ConnectionLimits(read_timeout_s=30.0, max_unauthenticated=8)
    app.router.add_post("/x", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
async def body_timers() -> AsyncIterator[list[object]]:
    """The per-body timeouts armed (`asyncio.timeout` deadlines) while the test runs."""
    loop = asyncio.get_running_loop()
    armed: list[object] = []
    real = loop.call_at

    def call_at(when: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> asyncio.TimerHandle:
        if isinstance(getattr(callback, "__self__", None), asyncio.Timeout):
            armed.append(callback)
        return real(when, callback, *args, context=context)

    loop.call_at = call_at  # type: ignore[method-assign]
    try:
        yield armed
    finally:
        del loop.call_at  # the loop's own method again


def head(length: int) -> bytes:
    return (
        f"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


async def test_a_buffered_body_is_read_without_a_timer(port: int, body_timers: list[object]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"n": 7}'
    writer.write(head(len(body)) + body)
    await writer.drain()
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b'{"n":7}')
    assert body_timers == []


async def test_a_body_still_arriving_is_read_under_the_timeout(port: int, body_timers: list[object]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"n": 8}'
    writer.write(head(len(body)) + body[:3])
    await writer.drain()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not body_timers and loop.time() < deadline:  # the handler is waiting for the rest under its timeout
        await asyncio.sleep(0.01)
    assert len(body_timers) == 1
    writer.write(body[3:])
    await writer.drain()
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b'{"n":8}')
