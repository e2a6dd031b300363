"""The admin API (teams, people, roles; admins only, audited, bad input refused with nothing changed), a person's own
password, deactivation ending sessions, sign-in throttling shared by server processes, and `server-admin add-admin`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from daemon.clock import FakeClock
from daemon.server.auth import THROTTLE_LIMIT, THROTTLE_LOCK_S, hash_password
from tests.server.support import RunningServer, seed_person, seed_team, start_server
from tests.support import assert_api_error, daemon_env

ADMIN = "/api/team/v1/admin"
PASSWORD = "a long enough password"


@asynccontextmanager
async def signed_in(server: RunningServer, email: str, password: str = PASSWORD) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as client:
        answer = await client.post("/api/team/v1/session", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        yield client


async def counts(server: RunningServer) -> tuple[int, int, int, int]:
    pool = server.services.db.pool
    return (
        await pool.fetchval("SELECT count(*) FROM teams"),
        await pool.fetchval("SELECT count(*) FROM people"),
        await pool.fetchval("SELECT count(*) FROM memberships"),
        await pool.fetchval("SELECT count(*) FROM audit"),
    )


async def test_admins_manage_teams_people_and_roles_and_everyone_else_gets_403(server: RunningServer) -> None:
    services = server.services
    await seed_person(services, "boss@example.com", is_admin=True, password_hash=hash_password(PASSWORD))
    desk = await seed_team(services, "Desk")
    await seed_person(services, "tech@example.com", team=desk, password_hash=hash_password(PASSWORD))
    async with signed_in(server, "boss@example.com") as boss, signed_in(server, "tech@example.com") as tech:
        before = await counts(server)
        someone = (await boss.get(ADMIN + "/people")).json()[0]["id"]
        for method, path, body in [
            ("GET", "/teams", None),
            ("POST", "/teams", {"name": "Mine"}),
            ("PATCH", f"/teams/{desk.id}", {"approval": "none"}),
            ("GET", "/people", None),
            ("POST", "/people", {"email": "x@example.com", "name": "X", "password": PASSWORD}),
            ("PATCH", f"/people/{someone}", {"is_admin": True}),
            ("PUT", f"/teams/{desk.id}/people/{someone}/roles/approver1", None),
            ("DELETE", f"/teams/{desk.id}/people/{someone}/roles/technician", None),
        ]:
            assert_api_error(await tech.request(method, ADMIN + path, json=body), 403, "forbidden")
            async with httpx.AsyncClient(base_url=server.url) as nobody:
                assert_api_error(await nobody.request(method, ADMIN + path, json=body), 401, "unauthorized")
        assert await counts(server) == before

        made = await boss.post(ADMIN + "/teams", json={"name": "Projects", "approval": "two"})
        assert made.status_code == 201, made.text
        team = made.json()
        assert team["approval"] == "two"
        assert_api_error(await boss.post(ADMIN + "/teams", json={"name": "Projects"}), 409, "team_name_taken")
        assert_api_error(await boss.post(ADMIN + "/teams", json={"name": "X", "approval": "three"}), 422)
        changed = await boss.patch(f"{ADMIN}/teams/{team['id']}", json={"approval": "one", "name": "Project work"})
        assert changed.json() | {"created_at": 0} == team | {"approval": "one", "name": "Project work", "created_at": 0}
        assert_api_error(await boss.patch(f"{ADMIN}/teams/{team['id']}", json={"name": "Desk"}), 409)
        assert_api_error(await boss.patch(f"{ADMIN}/teams/nope", json={"name": "Z"}), 404, "not_found")

        person = {"email": " Carol@Example.COM", "name": "Carol", "password": PASSWORD,
                  "psa_identities": {"cw": "carol", "halo": "Carol C"}}  # fmt: skip
        created = await boss.post(ADMIN + "/people", json=person)
        assert created.status_code == 201, created.text
        carol = created.json()
        assert carol["email"] == "carol@example.com" and carol["psa_identities"] == {"cw": "carol", "halo": "Carol C"}
        assert "password" not in created.text and "argon2" not in created.text
        before = await counts(server)
        for bad, code in [
            ({**person, "email": "CAROL@example.com"}, "email_taken"),
            ({**person, "email": "carol-at-example.com"}, "invalid_input"),
            ({**person, "email": "carol@example"}, "invalid_input"),
            ({**person, "email": "new@example.com", "password": "short pw 11"}, "invalid_input"),
            ({**person, "email": "new@example.com", "role": "admin"}, "invalid_input"),
            ({**person, "email": "new@example.com", "name": "  "}, "invalid_input"),
        ]:
            assert_api_error(await boss.post(ADMIN + "/people", json=bad), 409 if code == "email_taken" else 422, code)
        role = f"{ADMIN}/teams/{team['id']}/people/{carol['id']}/roles"
        assert_api_error(await boss.put(role + "/approver3"), 422, "invalid_input")
        assert_api_error(await boss.put(f"{ADMIN}/teams/nope/people/{carol['id']}/roles/technician"), 404)
        assert_api_error(await boss.patch(f"{ADMIN}/people/{carol['id']}", json={"email": "tech@example.com"}), 409)
        assert await counts(server) == before

        oidc_only = await boss.post(ADMIN + "/people", json={"email": "dan@example.com", "name": "Dan"})
        assert oidc_only.status_code == 201
        assert (await boss.put(role + "/technician")).json()["roles"] == {team["id"]: ["technician"]}
        granted = await boss.put(role + "/approver1")
        assert granted.json()["roles"] == {team["id"]: ["approver1", "technician"]}
        assert (await boss.delete(role + "/technician")).json()["roles"] == {team["id"]: ["approver1"]}
        listed = {p["email"]: p for p in (await boss.get(ADMIN + "/people")).json()}
        assert set(listed) == {"boss@example.com", "tech@example.com", "carol@example.com", "dan@example.com"}
        assert listed["carol@example.com"]["roles"] == {team["id"]: ["approver1"]}
        assert [t["name"] for t in (await boss.get(ADMIN + "/teams")).json()] == ["Desk", "Project work"]

    audit = await services.db.pool.fetch("SELECT actor_name, via, action, detail FROM audit ORDER BY seq")
    assert [a["action"] for a in audit] == ["team_created", "team_changed", "person_created", "person_created",
                                            "role_granted", "role_granted", "role_revoked"]  # fmt: skip
    assert {(a["actor_name"], a["via"]) for a in audit} == {("Boss", "web")}
    assert all(PASSWORD not in str(a["detail"]) for a in audit)


async def test_deactivating_a_person_ends_their_sessions_and_sign_in(server: RunningServer) -> None:
    boss_person = await seed_person(
        server.services, "boss@example.com", is_admin=True, password_hash=hash_password(PASSWORD)
    )
    ann = await seed_person(server.services, "ann@example.com", password_hash=hash_password(PASSWORD))
    async with signed_in(server, "boss@example.com") as boss, signed_in(server, "ann@example.com") as ann_client:
        assert (await ann_client.get("/api/team/v1/me")).status_code == 200
        off = await boss.patch(f"{ADMIN}/people/{ann.id}", json={"active": False})
        assert off.status_code == 200 and off.json()["active"] is False
        assert_api_error(await ann_client.get("/api/team/v1/me"), 401, "unauthorized")
        stored = await server.services.db.pool.fetchval("SELECT count(*) FROM sessions WHERE person_id = $1", ann.id)
        assert stored == 0
        again = await ann_client.post("/api/team/v1/session", json={"email": "ann@example.com", "password": PASSWORD})
        assert_api_error(again, 401, "sign_in_failed")
        # an admin cannot lock themselves out
        assert_api_error(await boss.patch(f"{ADMIN}/people/{boss_person.id}", json={"active": False}), 409)
        assert_api_error(await boss.patch(f"{ADMIN}/people/{boss_person.id}", json={"is_admin": False}), 409)
        assert (await boss.get(ADMIN + "/people")).status_code == 200
        on = await boss.patch(f"{ADMIN}/people/{ann.id}", json={"active": True})
        assert on.json()["active"] is True
    async with signed_in(server, "ann@example.com") as back:
        assert (await back.get("/api/team/v1/me")).json()["email"] == "ann@example.com"


async def test_a_person_changes_their_own_password_with_the_old_one(server: RunningServer) -> None:
    await seed_person(server.services, "ann@example.com", password_hash=hash_password(PASSWORD))
    async with signed_in(server, "ann@example.com") as here, signed_in(server, "ann@example.com") as elsewhere:
        url = "/api/team/v1/me/password"
        wrong = await here.post(url, json={"old_password": "not it at all", "new_password": "a brand new password"})
        assert_api_error(wrong, 401, "sign_in_failed")
        short = await here.post(url, json={"old_password": PASSWORD, "new_password": "too short"})
        assert_api_error(short, 422, "invalid_input")
        assert (await elsewhere.get("/api/team/v1/me")).status_code == 200
        ok = await here.post(url, json={"old_password": PASSWORD, "new_password": "a brand new password"})
        assert ok.status_code == 204, ok.text
        assert (await here.get("/api/team/v1/me")).status_code == 200
        assert_api_error(await elsewhere.get("/api/team/v1/me"), 401)  # the other session ended
    async with httpx.AsyncClient(base_url=server.url) as client:
        old = await client.post("/api/team/v1/session", json={"email": "ann@example.com", "password": PASSWORD})
        assert_api_error(old, 401, "sign_in_failed")
    async with signed_in(server, "ann@example.com", "a brand new password") as client:
        # guessing the old password with a session is throttled like signing in
        guess = {"old_password": "a guess at it", "new_password": "a brand new password"}
        for _ in range(THROTTLE_LIMIT - 1):
            assert_api_error(await client.post("/api/team/v1/me/password", json=guess), 401, "sign_in_failed")
        assert_api_error(await client.post("/api/team/v1/me/password", json=guess), 429, "too_many_attempts")


async def test_failed_sign_ins_lock_an_email_in_every_server_process(
    server: RunningServer, pg_url: str, fake_clock: FakeClock
) -> None:
    await seed_person(server.services, "ann@example.com", password_hash=hash_password(PASSWORD))
    await seed_person(server.services, "bob@example.com", password_hash=hash_password(PASSWORD))
    other = await start_server(pg_url, clock=fake_clock)  # a second process's worth: its own pool, same database
    try:
        async with (
            httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as a,
            httpx.AsyncClient(base_url=other.url, headers={"Origin": other.url}) as b,
        ):

            def attempt(client: httpx.AsyncClient, password: str, email: str = "ann@example.com") -> Any:
                return client.post("/api/team/v1/session", json={"email": email, "password": password})

            for n in range(THROTTLE_LIMIT - 1):
                assert_api_error(await attempt(a if n % 2 else b, f"wrong {n}"), 401, "sign_in_failed")
            locked = await attempt(a, "wrong again")
            assert_api_error(locked, 429, "too_many_attempts")
            assert int(locked.headers["Retry-After"]) == THROTTLE_LOCK_S
            assert_api_error(await attempt(b, PASSWORD), 429, "too_many_attempts")  # even the right one, elsewhere
            assert_api_error(await attempt(a, PASSWORD, "ANN@example.com "), 429, "too_many_attempts")
            assert (await attempt(b, PASSWORD, "bob@example.com")).status_code == 200  # other e-mails unaffected
            fake_clock.advance(THROTTLE_LOCK_S + 1)
            assert (await attempt(b, PASSWORD)).status_code == 200
            # a success forgets earlier failures
            for n in range(THROTTLE_LIMIT - 1):
                assert_api_error(await attempt(a, f"wrong {n}"), 401)
            assert (await attempt(a, PASSWORD)).status_code == 200
            assert_api_error(await attempt(a, "wrong"), 401, "sign_in_failed")
    finally:
        await other.stop()


def add_admin(tmp_path: Path, pg_url: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = daemon_env(tmp_path) | {"TICKETCLOCK_DATABASE_URL": pg_url}
    return subprocess.run(
        [sys.executable, "-m", "daemon", "server-admin", "add-admin", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_server_admin_add_admin_reads_the_password_from_stdin(
    tmp_path: Path, pg_url: str, fake_clock: FakeClock
) -> None:
    short = add_admin(tmp_path, pg_url, "too short\n", "boss@example.com", "--name", "The Boss")
    assert short.returncode == 1 and "12 characters" in short.stderr, short
    done = add_admin(tmp_path, pg_url, PASSWORD + "\n", "Boss@Example.com", "--name", "The Boss")
    assert done.returncode == 0, done.stderr
    assert "added admin boss@example.com" in done.stdout and PASSWORD not in done.stdout + done.stderr
    again = add_admin(tmp_path, pg_url, PASSWORD + "\n", "boss@example.com", "--name", "Another")
    assert again.returncode == 1 and "email_taken" in again.stderr
    server = await start_server(pg_url, clock=fake_clock)
    try:
        async with signed_in(server, "boss@example.com") as boss:
            me = (await boss.get("/api/team/v1/me")).json()
            assert me["is_admin"] is True and me["name"] == "The Boss"
            assert (await boss.get(ADMIN + "/people")).status_code == 200
        audit = await server.services.db.pool.fetch("SELECT actor_name, via, action FROM audit")
        assert [tuple(a) for a in audit] == [("ticketclock server-admin", "cli", "person_created")]
        assert await server.services.db.pool.fetchval("SELECT count(*) FROM people") == 1
    finally:
        await server.stop()
