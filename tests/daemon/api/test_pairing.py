"""Pairing over real HTTP, with time driven by a FakeClock: single use, expiry, lockout, hashed storage."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from daemon.auth import LOCKOUT_S, MAX_ATTEMPTS, PAIRING_CODE_TTL_S, hash_token
from daemon.clock import FakeClock
from daemon.settings import Settings
from tests.support import RunningDaemon, start_daemon
from tests.support import assert_api_error as assert_error

EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


@pytest.fixture
async def d(settings: Settings, fake_clock: FakeClock) -> AsyncIterator[RunningDaemon]:
    running = await start_daemon(settings, clock=fake_clock)
    try:
        yield running
    finally:
        await running.stop()


async def new_code(d: RunningDaemon) -> str:
    response = await d.http.post("/api/v1/pair/codes")
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    assert re.fullmatch(r"[0-9]{8}", code)
    return code


async def pair(d: RunningDaemon, body: object, origin: str | None = EXTENSION) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    async with httpx.AsyncClient(base_url=d.base_url) as anonymous:
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
            return await anonymous.post("/api/v1/pair", content=body, headers=headers)
        return await anonymous.post("/api/v1/pair", json=body, headers=headers)


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 10**8:08d}"


async def test_a_code_expires_300_s_after_it_is_made(d: RunningDaemon, fake_clock: FakeClock) -> None:
    response = await d.http.post("/api/v1/pair/codes")
    assert response.json()["expires_at"] == pytest.approx(fake_clock.now() + PAIRING_CODE_TTL_S)
    assert PAIRING_CODE_TTL_S == 300


async def test_a_code_works_once(d: RunningDaemon) -> None:
    code = await new_code(d)
    first = await pair(d, {"code": code})
    assert first.status_code == 200, first.text
    assert set(first.json()) == {"token", "client_id"}
    assert_error(await pair(d, {"code": code}), 400, "pairing_code_invalid")


async def test_codes_are_independent_and_each_works_once(d: RunningDaemon) -> None:
    a, b = await new_code(d), await new_code(d)
    assert (await pair(d, {"code": b})).status_code == 200
    assert (await pair(d, {"code": a})).status_code == 200
    assert_error(await pair(d, {"code": a}), 400, "pairing_code_invalid")
    assert_error(await pair(d, {"code": b}), 400, "pairing_code_invalid")


async def test_a_code_just_before_its_expiry_works(d: RunningDaemon, fake_clock: FakeClock) -> None:
    code = await new_code(d)
    fake_clock.advance(PAIRING_CODE_TTL_S - 1)
    assert (await pair(d, {"code": code})).status_code == 200


async def test_a_code_is_expired_after_300_s(d: RunningDaemon, fake_clock: FakeClock) -> None:
    code = await new_code(d)
    fake_clock.advance(PAIRING_CODE_TTL_S)
    assert_error(await pair(d, {"code": code}), 400, "pairing_code_expired")
    # an expired code is gone, not revived
    assert_error(await pair(d, {"code": code}), 400, "pairing_code_invalid")
    clients = await d.http.get("/api/v1/clients")
    assert clients.json()["clients"] == []


async def test_five_wrong_codes_lock_pairing_and_void_every_code(d: RunningDaemon, fake_clock: FakeClock) -> None:
    assert MAX_ATTEMPTS == 5
    right = await new_code(d)
    other = await new_code(d)
    wrong = wrong_code(right)
    while wrong == other:
        wrong = wrong_code(wrong)
    for _ in range(MAX_ATTEMPTS - 1):
        assert_error(await pair(d, {"code": wrong}), 400, "pairing_code_invalid")
    locked = await pair(d, {"code": wrong})
    assert_error(locked, 429, "too_many_attempts")
    assert int(locked.headers["Retry-After"]) == LOCKOUT_S

    # during the lockout even the right code is refused, and Retry-After counts down
    fake_clock.advance(LOCKOUT_S / 2)
    still = await pair(d, {"code": right})
    assert_error(still, 429, "too_many_attempts")
    assert 0 < int(still.headers["Retry-After"]) <= LOCKOUT_S / 2
    during = await new_code(d)
    assert_error(await pair(d, {"code": during}), 429, "too_many_attempts")

    # after the lockout, the codes made before it are void
    fake_clock.advance(LOCKOUT_S / 2 + 1)
    assert_error(await pair(d, {"code": right}), 400, "pairing_code_invalid")
    assert_error(await pair(d, {"code": other}), 400, "pairing_code_invalid")
    assert (await d.http.get("/api/v1/clients")).json()["clients"] == []

    # a fresh code works
    fresh = await new_code(d)
    assert (await pair(d, {"code": fresh})).status_code == 200


async def test_a_successful_pairing_resets_the_wrong_attempt_count(d: RunningDaemon) -> None:
    right = await new_code(d)
    wrong = wrong_code(right)
    for _ in range(MAX_ATTEMPTS - 1):
        assert_error(await pair(d, {"code": wrong}), 400, "pairing_code_invalid")
    assert (await pair(d, {"code": right})).status_code == 200
    for _ in range(MAX_ATTEMPTS - 1):
        assert_error(await pair(d, {"code": wrong}), 400, "pairing_code_invalid")


async def test_the_returned_token_authenticates(d: RunningDaemon, fake_clock: FakeClock) -> None:
    code = await new_code(d)
    paired = await pair(d, {"code": code, "client": "Firefox"}, origin=None)
    token = paired.json()["token"]
    assert token != d.token
    async with httpx.AsyncClient(base_url=d.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        response = await client.get("/api/v1/timers")
    assert response.status_code == 200
    [info] = (await d.http.get("/api/v1/clients")).json()["clients"]
    assert info == {"id": paired.json()["client_id"], "name": "Firefox", "origin": None, "created_at": fake_clock.now()}


async def test_the_token_is_stored_only_as_a_hash(d: RunningDaemon, settings: Settings) -> None:
    code = await new_code(d)
    token = (await pair(d, {"code": code})).json()["token"]
    cli_token = d.token

    conn = sqlite3.connect(settings.db_path)
    try:
        values: list[object] = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from sqlite_master
                values.extend(row)
    finally:
        conn.close()
    text = [str(v) for v in values]
    assert hash_token(token) in text  # the control: we did read the clients table
    for secret in (token, cli_token, token.removeprefix("tc_")):
        assert not any(secret in v for v in text)

    # and not in the raw bytes either (the WAL included)
    for path in Path(settings.data_dir).glob("ticketclock.db*"):
        assert token.encode() not in path.read_bytes(), path.name


@pytest.mark.parametrize(
    "body",
    [
        {"code": "{code}", "extra": 1},
        {"code": "{code}", "token": "x"},
        {"code": "1234567"},
        {"code": "123456789"},
        {"code": "abcdefgh"},
        {"code": "1234 567"},
        {"code": "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"},  # full-width digits
        {"code": ""},
        {"code": 12345678},
        {"code": None},
        {"code": ["{code}"]},
        {},
        {"client": "x"},
        {"code": "{code}", "client": ""},
        {"code": "{code}", "client": "x" * 81},
        {"code": "{code}", "client": 5},
        [],
        "{code}",
        b"null",
        b"true",
        b'"{code}"',
    ],
)
async def test_malformed_bodies_are_422_in_the_one_error_shape(d: RunningDaemon, body: object) -> None:
    code = await new_code(d)
    filled = _fill(body, code)
    assert_error(await pair(d, filled), 422, "invalid_input")
    # nothing changed: the code still pairs
    assert (await pair(d, {"code": code})).status_code == 200


def _fill(body: object, code: str) -> object:
    if isinstance(body, bytes):
        return body.replace(b"{code}", code.encode())
    if isinstance(body, str):
        return body.replace("{code}", code)
    if isinstance(body, dict):
        return {k: _fill(v, code) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, code) for v in body]
    return body
