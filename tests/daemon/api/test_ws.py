"""The WebSocket /api/v1/ws over a real port: hello and its token, welcome/config/state, durable acks, pushes to
other clients, malformed frames, the Origin check at the handshake and oversized frames."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.clock import FakeClock
from tests.events import batch, beat, opened
from tests.support import RunningDaemon, make_settings, start_daemon
from tests.support import get_timers as timers

CONFIG = """
[timing]
heartbeat_s = 15
idle_s = 240

[[instances]]
name = "halo"
kind = "halopsa"
origins = ["https://acme.halopsa.com"]
"""
EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
RECV_S = 5.0


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def own_origin(d: RunningDaemon) -> str:
    return f"http://127.0.0.1:{d.port}"


async def connect(
    d: RunningDaemon, session: aiohttp.ClientSession, origin: str | None = None
) -> aiohttp.ClientWebSocketResponse:
    headers = {"Origin": origin if origin is not None else own_origin(d)}
    ws: aiohttp.ClientWebSocketResponse = await session.ws_connect(f"{d.base_url}/api/v1/ws", headers=headers)
    return ws


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=RECV_S)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    data: dict[str, Any] = json.loads(msg.data)
    return data


async def receive_type(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of this type, skipping state pushes (which may come at any time)."""
    while True:
        message = await receive(ws)
        if message["type"] == kind:
            return message
        assert message["type"] == "state", message


async def hello(
    d: RunningDaemon, session: aiohttp.ClientSession, install: str = "ext-a", token: str | None = None
) -> tuple[aiohttp.ClientWebSocketResponse, list[dict[str, Any]]]:
    ws = await connect(d, session)
    await ws.send_json({"type": "hello", "install": install, "instance": "i-1", "token": token or d.token})
    greeting = [await receive(ws), await receive(ws), await receive(ws)]
    return ws, greeting


async def closed_after_error(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    error = await receive(ws)
    assert error["type"] == "error", error
    msg = await ws.receive(timeout=RECV_S)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
    assert ws.closed
    return error


def acked_rows(d: RunningDaemon) -> dict[str, int]:
    conn = sqlite3.connect(d.settings.db_path)
    try:
        return dict(conn.execute("SELECT install, acked_seq FROM installs").fetchall())
    finally:
        conn.close()


# --- hello ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "tc_not-the-token", "é" * 10])
async def test_a_hello_without_a_valid_token_is_refused_and_closed(
    tc: RunningDaemon, session: aiohttp.ClientSession, fake_clock: FakeClock, token: str
) -> None:
    ws = await connect(tc, session)
    await ws.send_json({"type": "hello", "install": "ext-a", "instance": "i-1", "token": token})
    error = await closed_after_error(ws)
    assert error["code"] == "unauthorized"
    assert ws.close_code == 4401


async def test_events_before_hello_are_refused_and_not_applied(
    tc: RunningDaemon, session: aiohttp.ClientSession, fake_clock: FakeClock
) -> None:
    ws = await connect(tc, session)
    await ws.send_json(batch([opened(1, fake_clock.now(), 7, 101)]))
    error = await closed_after_error(ws)
    assert error["code"] == "invalid_message"  # a protocol error, not a token problem: the extension must not re-pair
    assert (await timers(tc))["timers"] == []
    assert acked_rows(tc) == {}


async def test_the_bearer_header_can_stand_in_for_the_hello_token(
    tc: RunningDaemon, session: aiohttp.ClientSession
) -> None:
    ws = await session.ws_connect(
        f"{tc.base_url}/api/v1/ws", headers={"Origin": own_origin(tc), "Authorization": f"Bearer {tc.token}"}
    )
    await ws.send_json({"type": "hello", "install": "ext-a", "instance": "i-1"})
    assert (await receive(ws))["type"] == "welcome"
    await ws.close()


async def test_hello_gets_welcome_config_and_state(
    tc: RunningDaemon, session: aiohttp.ClientSession, fake_clock: FakeClock
) -> None:
    t0 = fake_clock.now()
    response = await tc.http.post("/api/v1/browser/events", json=batch([opened(1, t0, 7, 101), beat(2, t0)]))
    assert response.status_code == 200
    ws, (welcome, config, state) = await hello(tc, session)
    assert welcome == {"type": "welcome", "instance": "i-1", "acked": 2}
    assert config == {
        "type": "config",
        "instances": [{"name": "halo", "kind": "halopsa", "origins": ["https://acme.halopsa.com"]}],
        "heartbeat_s": 15,
        "idle_s": 240,
        "mode": "focus",
    }
    assert state == await timers(tc)
    assert [t["ticket"]["id"] for t in state["timers"]] == [101]
    await ws.close()

    other, (welcome_b, _, _) = await hello(tc, session, install="ext-b")
    assert welcome_b["acked"] == 0  # acks are per install
    await other.close()


# --- batches ------------------------------------------------------------------------------------------------------


async def test_a_batch_is_acked_only_once_durable(
    tc: RunningDaemon, session: aiohttp.ClientSession, fake_clock: FakeClock
) -> None:
    t0 = fake_clock.now()
    fake_clock.advance(40)
    ws, _ = await hello(tc, session)
    await ws.send_json(batch([beat(3, t0 + 40), opened(1, t0, 7, 101), beat(2, t0 + 20)]))
    ack = await receive_type(ws, "ack")
    assert ack == {"type": "ack", "install": "ext-a", "seq": 3}
    # Another connection to the file (not the daemon's) already sees the ack and the state it covers.
    assert acked_rows(tc) == {"ext-a": 3}
    conn = sqlite3.connect(tc.settings.db_path)
    try:
        blob = conn.execute("SELECT state FROM engine WHERE id = 1").fetchone()[0]
    finally:
        conn.close()
    assert b"halo:101" in bytes(blob)

    await ws.send_json(batch([opened(1, t0, 7, 101), beat(2, t0 + 20), beat(3, t0 + 40)]))
    assert await receive_type(ws, "ack") == {"type": "ack", "install": "ext-a", "seq": 3}  # a replay: same ack
    [timer] = (await timers(tc))["timers"]
    assert timer["elapsed_s"] == 40 and timer["started_at"] == t0
    await ws.close()


async def test_another_client_gets_the_state_pushed(
    tc: RunningDaemon, session: aiohttp.ClientSession, fake_clock: FakeClock
) -> None:
    t0 = fake_clock.now()
    sender, _ = await hello(tc, session, install="ext-a")
    watcher, (_, _, first_state) = await hello(tc, session, install="cli-watch")
    assert first_state["timers"] == []

    await sender.send_json(batch([opened(1, t0, 7, 4242)]))
    assert (await receive_type(sender, "ack"))["seq"] == 1

    pushed = await receive(watcher)
    assert pushed["type"] == "state"
    assert [t["ticket"]["id"] for t in pushed["timers"]] == [4242]
    assert pushed["timers"][0]["state"] == "running"
    await sender.close()
    await watcher.close()


async def test_events_out_of_range_get_an_error_frame_and_nothing_applies(
    tc: RunningDaemon, session: aiohttp.ClientSession, fake_clock: FakeClock
) -> None:
    t0 = fake_clock.now()
    ws, _ = await hello(tc, session)
    await ws.send_json(batch([opened(1, t0, 7, 101), beat(2, 86_400.0)]))
    error = await receive_type(ws, "error")
    assert error["code"] == "invalid_events" and error["details"] == {"seqs": [2]}
    assert (await timers(tc))["timers"] == []
    await ws.send_json(batch([opened(1, t0, 7, 101)]))
    assert (await receive_type(ws, "ack"))["seq"] == 1
    await ws.close()


MALFORMED: list[tuple[str, str | bytes]] = [
    ("not JSON", "{{{"),
    ("empty text", ""),
    ("JSON null", "null"),
    ("unknown type", json.dumps({"type": "rm -rf", "install": "ext-a"})),
    ("unknown field", json.dumps({**batch([]), "sneaky": 1})),
    ("bad event", json.dumps(batch([{"type": "heartbeat", "seq": -1, "at": 1}]))),
    ("NaN", '{"type":"batch","install":"ext-a","events":[{"type":"heartbeat","seq":1,"at":NaN}]}'),
    ("a second hello", json.dumps({"type": "hello", "install": "ext-a", "instance": "i-1", "token": "x"})),
    ("binary garbage", b"\xff\xfe\x00\x01"),
    ("too many events", json.dumps(batch([beat(i + 1, 1e9) for i in range(1001)]))),
]


@pytest.mark.parametrize("frame", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
async def test_a_malformed_frame_gets_an_error_and_the_connection_stays_usable(
    tc: RunningDaemon, session: aiohttp.ClientSession, fake_clock: FakeClock, frame: str | bytes
) -> None:
    t0 = fake_clock.now()
    ws, _ = await hello(tc, session)
    before = await timers(tc)
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)
    error = await receive_type(ws, "error")
    assert error["code"] == "invalid_message"
    assert isinstance(error["message"], str) and error["message"]
    assert await timers(tc) == before
    assert acked_rows(tc) == {}
    await ws.send_json(batch([opened(1, t0, 7, 101)]))
    assert await receive_type(ws, "ack") == {"type": "ack", "install": "ext-a", "seq": 1}
    await ws.close()


# --- origins and sizes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "status"),
    [("https://evil.example", 403), ("http://127.0.0.1:1", 403), ("null", 403), (EXTENSION, 401)],  # 401: unpaired
)
async def test_a_foreign_origin_is_refused_at_the_handshake(
    tc: RunningDaemon, session: aiohttp.ClientSession, origin: str, status: int
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(tc, session, origin=origin)
    assert caught.value.status == status


async def test_a_paired_extension_origin_may_connect(tc: RunningDaemon, session: aiohttp.ClientSession) -> None:
    code = (await tc.http.post("/api/v1/pair/codes")).json()["code"]
    async with session.post(
        f"{tc.base_url}/api/v1/pair", json={"code": code}, headers={"Origin": EXTENSION}
    ) as response:
        assert response.status == 200, await response.text()
        token = (await response.json())["token"]
    ws = await connect(tc, session, origin=EXTENSION)
    await ws.send_json({"type": "hello", "install": "ext-a", "instance": "i-1", "token": token})
    assert (await receive(ws))["type"] == "welcome"
    await ws.close()


async def test_a_frame_over_the_limit_is_refused_and_the_daemon_lives_on(
    tc: RunningDaemon, session: aiohttp.ClientSession, fake_clock: FakeClock
) -> None:
    t0 = fake_clock.now()
    ws, _ = await hello(tc, session)
    huge = json.dumps(batch([{**opened(1, t0, 7, 101), "title": "t" * 2_000_000}]))
    await ws.send_str(huge)
    while True:  # the daemon closes the connection (1009 message too big); nothing is applied
        msg = await ws.receive(timeout=RECV_S)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            break
        assert msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] in ("error", "state"), msg
    assert ws.closed
    assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert (await tc.http.get("/api/v1/health")).status_code == 200
    assert (await timers(tc))["timers"] == []
    again, (welcome, _, _) = await hello(tc, session)
    assert welcome["acked"] == 0
    await again.send_json(batch([opened(1, t0, 7, 101)]))
    assert (await receive_type(again, "ack"))["seq"] == 1
    await again.close()


async def test_a_stopping_daemon_closes_open_sockets_with_going_away(
    tmp_path: Path, fake_clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    d = await start_daemon(make_settings(tmp_path, config_text=CONFIG), clock=fake_clock)
    ws, _ = await hello(d, session)
    stopping = asyncio.create_task(d.stop())
    msg = await ws.receive(timeout=RECV_S)
    while msg.type == aiohttp.WSMsgType.TEXT:  # a last state push may come first
        msg = await ws.receive(timeout=RECV_S)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.GOING_AWAY
    await ws.close()
    await stopping
