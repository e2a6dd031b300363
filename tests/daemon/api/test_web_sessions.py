"""The web UI's sign-in (web-contract.md "Sessions") against a real daemon on a loopback port: a one-time code
becomes an HttpOnly, SameSite=Strict cookie with a 303 that drops the code from the address bar; every refusal
(used code, expired code, foreign Origin, missing cookie, signed out, idle and absolute expiry) and the scope of a
session minted by the extension. Time is a FakeClock."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import httpx
import pytest

from daemon.api.security import SESSION_KEY_HEADER as KEY_HEADER
from daemon.auth import LOGIN_CODE_TTL_S, SESSION_IDLE_S, SESSION_MAX_S
from daemon.clock import FakeClock
from tests.support import RunningDaemon, assert_api_error


async def login_url(d: RunningDaemon, token: str | None = None, **body: str) -> str:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    r = await d.http.post("/api/v1/web/login-code", json=body or None, headers=headers)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["expires_in"] == LOGIN_CODE_TTL_S
    assert data["url"].startswith(f"http://127.0.0.1:{d.port}/login?code=")
    return str(data["url"])


def browser(d: RunningDaemon) -> httpx.AsyncClient:
    """A cookie-keeping client without the token: what a browser tab holds."""
    return httpx.AsyncClient(base_url=d.base_url, timeout=10)


async def sign_in(d: RunningDaemon, b: httpx.AsyncClient, token: str | None = None, **body: str) -> httpx.Response:
    """Follow a sign-in link as the page does: the cookie is kept by the client, the page key (from the redirect's
    fragment) is sent as the header on every later request."""
    url = urlsplit(await login_url(d, token, **body))
    r = await b.get(f"{url.path}?{url.query}")
    if r.status_code == 303:
        b.headers[KEY_HEADER] = page_key(r)
    return r


def page_key(r: httpx.Response) -> str:
    location = urlsplit(r.headers["Location"])
    assert location.fragment.startswith("key="), location
    return location.fragment.removeprefix("key=")


async def test_a_code_becomes_a_strict_httponly_cookie_and_a_303_without_the_code(tc: RunningDaemon) -> None:
    async with browser(tc) as b:
        r = await sign_in(tc, b, next="/timesheet")
        assert r.status_code == 303
        assert r.headers["Location"].split("#")[0] == "/timesheet"  # the code leaves the address bar
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith("tc_session=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        timers = await b.get("/api/v1/timers")
        assert timers.status_code == 200, timers.text
        # the cookie is stored only as its hash
        value = b.cookies["tc_session"]
        db = sqlite3.connect(tc.settings.db_path)
        try:
            stored = [row[0] for row in db.execute("SELECT token_sha256 FROM web_sessions")]
        finally:
            db.close()
        assert len(stored) == 1 and value not in stored[0] and len(stored[0]) == 64


async def test_a_used_code_is_refused_with_a_page_saying_how_to_get_a_new_link(tc: RunningDaemon) -> None:
    url = urlsplit(await login_url(tc))
    async with browser(tc) as b:
        assert (await b.get(f"{url.path}?{url.query}")).status_code == 303
    async with browser(tc) as again:
        r = await again.get(f"{url.path}?{url.query}")
        assert r.status_code == 400
        assert "already used" in r.text and "ticketclock open" in r.text
        assert "set-cookie" not in r.headers
        assert_api_error(await again.get("/api/v1/timers"), 401, "unauthorized")


async def test_an_expired_code_is_refused(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    url = urlsplit(await login_url(tc))
    fake_clock.advance(LOGIN_CODE_TTL_S + 1)
    async with browser(tc) as b:
        r = await b.get(f"{url.path}?{url.query}")
        assert r.status_code == 400 and "expired" in r.text
        assert "tc_session" not in b.cookies


async def test_an_unknown_code_is_refused(tc: RunningDaemon) -> None:
    async with browser(tc) as b:
        r = await b.get("/login?code=not-a-code")
        assert r.status_code == 400 and "not valid" in r.text and "tc_session" not in b.cookies


async def test_a_cookie_request_that_changes_something_must_come_from_the_daemons_origin(tc: RunningDaemon) -> None:
    async with browser(tc) as b:
        await sign_in(tc, b)
        body = {"task": "Admin"}
        for origin in (None, "http://evil.example", "chrome-extension://abcdefghijklmnop"):
            headers = {} if origin is None else {"Origin": origin}
            r = await b.post("/api/v1/timers", json=body, headers=headers)
            assert r.status_code in (401, 403), r.text
        assert (await tc.http.get("/api/v1/timers")).json()["timers"] == []  # nothing changed
        ok = await b.post("/api/v1/timers", json=body, headers={"Origin": tc.base_url})
        assert ok.status_code in (200, 201), ok.text


async def test_no_cookie_no_access(tc: RunningDaemon) -> None:
    async with browser(tc) as b:
        assert_api_error(await b.get("/api/v1/timers"), 401, "unauthorized")
        b.cookies.set("tc_session", "tcs_forged")
        assert_api_error(await b.get("/api/v1/timers"), 401, "session_expired")


async def test_the_cookie_alone_is_not_enough_without_its_page_key(tc: RunningDaemon) -> None:
    """A cookie is sent to every port of 127.0.0.1 (another user's program may read it); the page key lives in the
    origin's localStorage, port included. Without it, or with another session's, the cookie opens nothing."""
    async with browser(tc) as b, browser(tc) as other:
        await sign_in(tc, b)
        await sign_in(tc, other)
        assert (await b.get("/api/v1/timers")).status_code == 200
        key = b.headers.pop(KEY_HEADER)
        assert_api_error(await b.get("/api/v1/timers"), 401, "session_expired")
        b.headers[KEY_HEADER] = other.headers[KEY_HEADER]
        assert_api_error(await b.get("/api/v1/timers"), 401, "session_expired")
        b.headers[KEY_HEADER] = key
        assert (await b.get("/api/v1/timers")).status_code == 200


async def test_signing_out_ends_the_session(tc: RunningDaemon) -> None:
    async with browser(tc) as b:
        await sign_in(tc, b)
        value = b.cookies["tc_session"]
        r = await b.post("/api/v1/web/logout", headers={"Origin": tc.base_url})
        assert r.status_code == 204
        assert "tc_session" not in b.cookies  # the daemon told the browser to forget it
        b.cookies.set("tc_session", value)  # a copy kept elsewhere is dead too
        assert_api_error(await b.get("/api/v1/timers"), 401, "session_expired")


async def test_a_session_expires_when_idle_and_after_its_absolute_limit(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    async with browser(tc) as idle, browser(tc) as busy:
        await sign_in(tc, idle)
        await sign_in(tc, busy)
        fake_clock.advance(SESSION_IDLE_S - 60)
        assert (await busy.get("/api/v1/timers")).status_code == 200  # activity keeps it alive
        fake_clock.advance(120)
        assert_api_error(await idle.get("/api/v1/timers"), 401, "session_expired")
        assert (await busy.get("/api/v1/timers")).status_code == 200
        elapsed = SESSION_IDLE_S + 60
        while elapsed + 3 * 3600 < SESSION_MAX_S:  # in use every few hours: still ends after 7 days
            fake_clock.advance(3 * 3600)
            elapsed += 3 * 3600
            assert (await busy.get("/api/v1/timers")).status_code == 200
        fake_clock.advance(SESSION_MAX_S - elapsed + 1)
        assert_api_error(await busy.get("/api/v1/timers"), 401, "session_expired")


async def test_a_session_minted_by_the_extension_may_not_mint_pairings_or_touch_credentials(
    tc: RunningDaemon,
) -> None:
    code = (await tc.http.post("/api/v1/pair/codes")).json()["code"]
    pair = await tc.http.post("/api/v1/pair", json={"code": code}, headers={"Authorization": ""})
    ext_token = pair.json()["token"]
    async with browser(tc) as b:
        assert (await sign_in(tc, b, ext_token)).status_code == 303
        own = {"Origin": tc.base_url}
        assert (await b.get("/api/v1/timers")).status_code == 200
        assert_api_error(await b.post("/api/v1/pair/codes", headers=own), 403, "cli_only")
        assert_api_error(await b.get("/api/v1/clients"), 403, "cli_only")
    async with browser(tc) as full:  # minted with the CLI token: everything the CLI may do
        await sign_in(tc, full)
        assert (await full.post("/api/v1/pair/codes", headers={"Origin": tc.base_url})).status_code == 201
        assert (await full.get("/api/v1/web/me")).json()["scope"] == "full"


async def test_me_names_the_viewer_and_the_scope(tc: RunningDaemon) -> None:
    code = (await tc.http.post("/api/v1/pair/codes")).json()["code"]
    ext_token = (await tc.http.post("/api/v1/pair", json={"code": code}, headers={"Authorization": ""})).json()["token"]
    async with browser(tc) as b:
        await sign_in(tc, b, ext_token)
        me = (await b.get("/api/v1/web/me")).json()
        assert me["scope"] == "web"
        assert me["viewer"]["name"] and "approver" in me["viewer"]["roles"]


async def test_the_pages_are_served_with_a_strict_csp_and_no_remote_anything(tc: RunningDaemon) -> None:
    async with browser(tc) as b:
        for path in ("/", "/timesheet", "/summary", "/approvals", "/outbox"):
            r = await b.get(path)
            assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "default-src 'none'" in csp
            assert "http" not in r.text.replace(f"http://127.0.0.1:{tc.port}", "")
        js = await b.get("/web/app.js")
        assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
        assert (await b.get("/web/app.js", headers={"If-None-Match": js.headers["ETag"]})).status_code == 304
        assert_api_error(await b.get("/web/..%2Fapi%2Fweb.py"), 404)
        assert_api_error(await b.get("/web/nothing.js"), 404, "not_found")


ODD = ["", "%00", "../x", "..%2F..%2Fapp.py", "a" * 1000, "\u00e9", "null", "-1", "index.html?x=1", "%ZZ"]


async def test_the_pages_and_login_never_give_a_server_error_and_refuse_in_the_one_error_shape(
    tc: RunningDaemon,
) -> None:
    """The page routes are not in the OpenAPI document (so test_fuzz.py does not reach them): odd input here."""
    async with browser(tc) as b:
        for odd in ODD:
            for path, params in (("/login", {"code": odd, "next": odd}), (f"/web/{odd}", {}), ("/", {"x": odd})):
                r = await b.get(path, params=params)
                assert r.status_code < 500, (path, odd, r.status_code)
                if r.status_code >= 400:
                    assert_api_error(r, r.status_code)
        page = await b.get("/login", params={"code": "nope"}, headers={"Accept": "text/html"})
        assert page.status_code == 400 and page.headers["Content-Type"].startswith("text/html")
        assert "ticketclock open" in page.text and "tc_session" not in b.cookies


async def test_the_websocket_takes_the_session_cookie_and_refuses_without_it(tc: RunningDaemon) -> None:
    import aiohttp

    async with browser(tc) as b:
        await sign_in(tc, b)
        cookie = f"tc_session={b.cookies['tc_session']}"
        hello = {"type": "hello", "install": "web-ui", "instance": "web", "token": b.headers[KEY_HEADER]}
    keyless = {**hello, "token": ""}
    async with aiohttp.ClientSession() as session:
        url = f"{tc.base_url}/api/v1/ws"
        async with session.ws_connect(url, headers={"Cookie": cookie, "Origin": tc.base_url}) as ws:
            await ws.send_json(hello)
            first = await ws.receive_json(timeout=10)
            assert first["type"] == "welcome"
        for headers, said in (({"Origin": tc.base_url}, hello), ({"Cookie": cookie, "Origin": tc.base_url}, keyless)):
            async with session.ws_connect(url, headers=headers) as ws:
                await ws.send_json(said)
                refused = await ws.receive_json(timeout=10)
                assert refused["type"] == "error" and refused["code"] == "unauthorized"
        with pytest.raises(aiohttp.WSServerHandshakeError):  # a foreign page never gets to the hello
            await session.ws_connect(url, headers={"Cookie": cookie, "Origin": "http://evil.example"})
