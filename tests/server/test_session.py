"""Signing in with a password (argon2), the session cookie, sign-out, and the Origin rule for changes made with a
session."""

from __future__ import annotations

import httpx

from daemon.clock import FakeClock
from daemon.server.auth import COOKIE, hash_password
from tests.server.support import RunningServer, seed_person, seed_team
from tests.support import assert_api_error


async def test_sign_in_me_sign_out(server: RunningServer, fake_clock: FakeClock) -> None:
    team = await seed_team(server.services, "Desk")
    await seed_person(server.services, "Ann@Example.com", team=team, password_hash=hash_password("correct horse"))
    origin = {"Origin": server.url}
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert_api_error(await client.get("/api/team/v1/me"), 401, "unauthorized")
        wrong = await client.post("/api/team/v1/session", json={"email": "ann@example.com", "password": "nope"})
        assert_api_error(wrong, 401, "sign_in_failed")
        unknown = await client.post("/api/team/v1/session", json={"email": "zed@example.com", "password": "nope"})
        assert_api_error(unknown, 401, "sign_in_failed")
        assert_api_error(await client.post("/api/team/v1/session", json={"email": "x"}), 422, "invalid_input")
        ok = await client.post("/api/team/v1/session", json={"email": " ANN@example.com", "password": "correct horse"})
        assert ok.status_code == 200, ok.text
        assert "httponly" in ok.headers["set-cookie"].lower() and "samesite=lax" in ok.headers["set-cookie"].lower()
        me = (await client.get("/api/team/v1/me")).json()
        assert me["email"] == "ann@example.com" and me["roles"] == {team.id: ["technician"]}
        # a change with the cookie from another origin (or none) is refused and changes nothing
        assert_api_error(await client.delete("/api/team/v1/session"), 403, "origin_forbidden")
        evil = await client.delete("/api/team/v1/session", headers={"Origin": "https://evil.example"})
        assert_api_error(evil, 403, "origin_forbidden")
        assert (await client.get("/api/team/v1/me")).status_code == 200
        assert (await client.delete("/api/team/v1/session", headers=origin)).status_code == 204
        assert COOKIE not in client.cookies
        stored = await server.services.db.pool.fetchval("SELECT count(*) FROM sessions")
        assert stored == 0


async def test_a_session_ends_after_12_hours_unused(server: RunningServer, fake_clock: FakeClock) -> None:
    await seed_person(server.services, "ann@example.com", password_hash=hash_password("pw-pw-pw-pw"))
    async with httpx.AsyncClient(base_url=server.url) as client:
        await client.post("/api/team/v1/session", json={"email": "ann@example.com", "password": "pw-pw-pw-pw"})
        fake_clock.advance(11 * 3600)
        assert (await client.get("/api/team/v1/me")).status_code == 200
        fake_clock.advance(11 * 3600)  # used 11 h ago: still live
        assert (await client.get("/api/team/v1/me")).status_code == 200
        fake_clock.advance(12 * 3600 + 1)
        assert_api_error(await client.get("/api/team/v1/me"), 401, "unauthorized")


async def test_the_password_hash_is_never_sent_and_unknown_bearers_are_refused(server: RunningServer) -> None:
    await seed_person(server.services, "ann@example.com", password_hash=hash_password("pw-pw-pw-pw"))
    async with httpx.AsyncClient(base_url=server.url) as client:
        ok = await client.post("/api/team/v1/session", json={"email": "ann@example.com", "password": "pw-pw-pw-pw"})
        assert "argon2" not in ok.text and "password" not in ok.text
        bad = await client.get("/api/team/v1/me", headers={"Authorization": "Bearer tcd_nothing"})
        assert_api_error(bad, 401, "unauthorized")


async def test_text_the_database_cannot_hold_is_refused_as_input(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        nul = await client.post("/api/team/v1/session", json={"email": "ann\x00@example.com", "password": "x"})
        assert_api_error(nul, 422, "invalid_input")
        assert "NUL" in nul.json()["error"]["message"]


async def test_routes_that_need_nobody_do_not_look_at_credentials(server: RunningServer) -> None:
    # a load balancer's probe or a page's script file is answered whatever stale token or cookie comes with it
    async with httpx.AsyncClient(base_url=server.url, cookies={COOKIE: "tcs_stale"}) as client:
        assert (await client.get("/healthz", headers={"Authorization": "Bearer tcd_revoked"})).status_code == 200
        assert (await client.get("/web/team.js")).status_code == 200
        assert_api_error(await client.get("/api/team/v1/me", headers={"Authorization": "Bearer tcd_x"}), 401)


async def test_another_sites_page_cannot_sign_a_browser_in(server: RunningServer) -> None:
    await seed_person(server.services, "mallory@example.com", password_hash=hash_password("mallory-secret-1"))
    body = {"email": "mallory@example.com", "password": "mallory-secret-1"}
    async with httpx.AsyncClient(base_url=server.url) as client:
        evil = await client.post("/api/team/v1/session", json=body, headers={"Origin": "https://evil.example"})
        assert_api_error(evil, 403, "origin_forbidden")
        assert COOKIE not in client.cookies
        assert await server.services.db.pool.fetchval("SELECT count(*) FROM sessions") == 0
        own = await client.post("/api/team/v1/session", json=body, headers={"Origin": server.url})
        assert own.status_code == 200, own.text
