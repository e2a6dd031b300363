"""Notices reach the user (issue 7): what changed billed time without the user's hand is stored with the state that
caused it, pushed on the WebSocket, listed by GET /api/v1/notices with read/unread, and survives a restart. Real
daemon on a loopback port, real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.clock import FakeClock
from daemon.notices import ALERT_CODES
from tests.events import batch, opened
from tests.support import RunningDaemon, assert_api_error, make_settings, start_daemon

CONFIG = """
[[instances]]
name = "halo"
kind = "halopsa"
origins = ["https://acme.halopsa.com"]
"""
RECV_S = 5.0


async def notices(d: RunningDaemon, **params: str) -> dict[str, Any]:
    response = await d.http.get("/api/v1/notices", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def open_ten_tickets(d: RunningDaemon, t0: float) -> None:
    """Ten ticket tabs, one after another: the tenth evicts the least recently attended timer."""
    events = [opened(n, t0 + n, n, 100 + n) for n in range(1, 11)]
    response = await d.http.post("/api/v1/browser/events", json=batch(events))
    assert response.status_code == 200, response.text


async def next_of_type(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=RECV_S)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data: dict[str, Any] = json.loads(msg.data)
        if data["type"] == kind:
            return data


async def test_an_eviction_is_pushed_listed_and_marked_read(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    assert await notices(tc) == {"notices": [], "unread": 0}
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{tc.base_url}/api/v1/ws", headers={"Origin": tc.base_url})
        await ws.send_json({"type": "hello", "install": "ext-b", "instance": "i-1", "token": tc.token})
        t0 = fake_clock.now()
        fake_clock.set(t0 + 10)
        await open_ten_tickets(tc, t0)
        pushed = await next_of_type(ws, "notice")
        await ws.close()

    listed = await notices(tc)
    [notice] = listed["notices"]
    assert listed["unread"] == 1
    assert (notice["code"], notice["alert"], notice["read"], notice["at"]) == ("evicted", True, False, t0 + 10)
    assert notice["message"] and notice["timer_id"]
    assert pushed == {"type": "notice", "notice": notice, "unread": 1}
    assert (await notices(tc, unread="true"))["notices"] == [notice]

    response = await tc.http.post("/api/v1/notices/read", json={"up_to": notice["id"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"notices": [], "unread": 0}
    assert (await notices(tc))["notices"] == [{**notice, "read": True}]
    assert (await notices(tc, unread="true"))["notices"] == []


async def test_notices_survive_a_restart_and_new_ones_stay_unread(tmp_path: Path, fake_clock: FakeClock) -> None:
    """A manual timer running when the daemon stops is paused at restart: that notice is there after the restart."""
    settings = make_settings(tmp_path, config_text=CONFIG)
    first = await start_daemon(settings, clock=fake_clock)
    try:
        response = await first.http.post("/api/v1/timers", json={"task": "Admin"})
        assert response.status_code == 201, response.text
        fake_clock.advance(120)
    finally:
        await first.stop()
    fake_clock.advance(60)
    again = await start_daemon(settings, clock=fake_clock)
    try:
        [notice] = (await notices(again))["notices"]
        assert (notice["code"], notice["alert"], notice["read"]) == ("restart", True, False)
        assert "Admin" in notice["message"]
        # Marking by id, then a notice that arrives later is unread on its own.
        response = await again.http.post("/api/v1/notices/read", json={"ids": [notice["id"]]})
        assert response.json()["unread"] == 0
        await open_ten_tickets(again, fake_clock.now() - 20)
        listed = await notices(again)
        # The paused manual timer holds a slot too: ten tickets evict two automatic timers.
        assert [(n["code"], n["read"]) for n in listed["notices"]] == [
            ("evicted", False),
            ("evicted", False),
            ("restart", True),
        ]
        assert listed["unread"] == 2
    finally:
        await again.stop()


async def test_every_code_the_engine_uses_changes_billed_time() -> None:
    engine = (Path(__file__).parents[3] / "daemon" / "timers" / "engine.py").read_text(encoding="utf-8")
    codes = {part.split('"')[1] for part in engine.split("Notice(code=")[1:]}
    codes |= {line.split('"')[1] for line in engine.splitlines() if line.strip().startswith('code="')}
    assert codes and codes <= ALERT_CODES, codes - ALERT_CODES


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/api/v1/notices?unread=maybe", None, 400, "invalid_query"),
        ("GET", "/api/v1/notices?limit=0", None, 400, "invalid_query"),
        ("GET", "/api/v1/notices?limit=x", None, 400, "invalid_query"),
        ("GET", "/api/v1/notices?since=1", None, 400, "invalid_query"),
        ("POST", "/api/v1/notices/read", {}, 422, "invalid_input"),
        ("POST", "/api/v1/notices/read", {"up_to": "all"}, 422, "invalid_input"),
        ("POST", "/api/v1/notices/read", {"up_to": -1}, 422, "invalid_input"),
        ("POST", "/api/v1/notices/read", {"ids": [1], "extra": 1}, 422, "invalid_input"),
        ("POST", "/api/v1/notices/read", "not json", 400, "invalid_json"),
    ],
)
async def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    tc: RunningDaemon, fake_clock: FakeClock, method: str, path: str, body: Any, status: int, code: str
) -> None:
    await open_ten_tickets(tc, fake_clock.now() - 20)
    before = await notices(tc)
    content = body.encode() if isinstance(body, str) else None if body is None else json.dumps(body).encode()
    response = await tc.http.request(method, path, content=content, headers={"Content-Type": "application/json"})
    assert_api_error(response, status, code)
    assert await notices(tc) == before
    assert before["unread"] == 1


async def test_a_notice_is_durable_with_the_state_that_caused_it(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    await open_ten_tickets(tc, fake_clock.now() - 20)
    conn = sqlite3.connect(tc.settings.db_path)
    try:
        rows = conn.execute("SELECT code, read_at FROM notices").fetchall()
        evicted = conn.execute("SELECT count(*) FROM entries WHERE status != 'open'").fetchone()[0]
    finally:
        conn.close()
    assert rows == [("evicted", None)]
    assert evicted == 1  # the evicted timer's entry, written in the same transaction
