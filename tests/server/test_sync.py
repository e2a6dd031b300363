"""Devices and sync on the team server: enrollment by invite (active) or password (pending until an admin approves),
revocation seen at once by every server process, sync up (idempotent, resent and reordered batches change nothing)
and decisions down by cursor."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from daemon.clock import FakeClock
from daemon.server import flow
from daemon.server.auth import hash_password
from tests.server.pg import Cluster
from tests.server.support import (
    RunningServer,
    admin_client,
    enrolled_device,
    invite_code,
    seed_person,
    seed_team,
    server_output,
    spawn_server,
)
from tests.support import assert_api_error, stop_process


def _entry(entry_id: str, status: str = "submitted", notes: str = "", start: float = 1000.0) -> dict[str, Any]:
    return {
        "id": entry_id, "source": "timer", "instance": "cw", "ticket_id": 7, "started_at": start,
        "ended_at": start + 900, "actual_seconds": 900, "billed_seconds": 900, "notes": notes, "status": status,
        "created_at": start, "updated_at": start + 900,
    }  # fmt: skip


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _sync(url: str, token: str, items: list[tuple[dict[str, Any], int]], cursor: int = 0) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, headers=_bearer(token)) as client:
        return await client.post(
            "/api/team/v1/sync", json={"entries": [{"entry": e, "version": v} for e, v in items], "cursor": cursor}
        )


async def _count(server: RunningServer, sql: str) -> int:
    return int(await server.services.db.pool.fetchval(sql))


async def test_invite_enrolls_entries_sync_up_idempotently_and_decisions_come_back(
    server: RunningServer, fake_clock: FakeClock
) -> None:
    s = server.services
    team = await seed_team(s, "Desk")
    tech = await seed_person(s, "tech@example.com", team=team)
    lead = await seed_person(s, "lead@example.com", team=team, roles=("approver1",))
    async with admin_client(server.url, s) as admin:
        token = await enrolled_device(server.url, admin, tech.id)
        code = await invite_code(admin, tech.id)
        # typed by a person, passed on a command line: base32 groups, never a leading "-" (argparse's option mark)
        assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){5}", code), code
        async with httpx.AsyncClient(base_url=server.url) as anon:
            typed = f"  {code.lower()} "
            first = await anon.post("/api/team/v1/devices/enroll", json={"name": "a", "invite_code": typed})
            assert first.status_code == 201
            again = await anon.post("/api/team/v1/devices/enroll", json={"name": "b", "invite_code": code})
            assert_api_error(again, 403, "invite_invalid")
            listed = (await admin.get("/api/team/v1/devices")).json()
            late = await invite_code(admin, tech.id)
            fake_clock.advance(24 * 3600 + 1)
            expired = await anon.post("/api/team/v1/devices/enroll", json={"name": "c", "invite_code": late})
            assert_api_error(expired, 403, "invite_invalid")
    assert [d["status"] for d in listed] == ["active", "active"] and token not in str(listed)
    assert await _count(server, "SELECT count(*) FROM devices WHERE token_hash LIKE 'tcd_%'") == 0

    batch = [(_entry("e1"), 1), (_entry("e2", "pending"), 1), (_entry("e3", "approved"), 1)]
    answer = await _sync(server.url, token, batch)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == {"e1": "stored", "e2": "stored", "e3": "refused"}
    # resent, reordered, and an older version after a newer one: nothing changes
    again = await _sync(server.url, token, [(_entry("e2", "pending"), 1), (_entry("e1"), 1)])
    assert again.json()["results"] == {"e1": "duplicate", "e2": "duplicate"}
    newer = await _sync(server.url, token, [(_entry("e2", "submitted", "v3"), 3), (_entry("e2", "pending", "v2"), 2)])
    assert newer.json()["results"] == {"e2": "stored"}
    assert await _count(server, "SELECT version FROM entries WHERE id = 'e2'") == 3
    assert await _count(server, "SELECT count(*) FROM entries") == 2

    async with s.db.transaction() as tx:
        await flow.approve(tx, "e1", lead, 1, fake_clock.now())
        await flow.reject(tx, "e2", lead, 1, "wrong ticket", fake_clock.now())
    down = (await _sync(server.url, token, [])).json()
    assert [(d["entry_id"], d["kind"], d["actor"]) for d in down["decisions"]] == [
        ("e1", "approved", "Lead"),
        ("e2", "rejected", "Lead"),
    ]
    assert down["decisions"][1]["comment"] == "wrong ticket" and down["more"] is False
    after = (await _sync(server.url, token, [], cursor=down["cursor"])).json()
    assert after["decisions"] == [] and after["cursor"] == down["cursor"]
    # an edit of the approved entry is a conflict, and the conflict decision comes back in the same answer
    edited = (await _sync(server.url, token, [(_entry("e1", "pending", "edited"), 2)], cursor=down["cursor"])).json()
    assert edited["results"] == {"e1": "conflict"}
    assert [d["kind"] for d in edited["decisions"]] == ["conflict"]


async def test_password_enrollment_waits_for_an_admin(server: RunningServer) -> None:
    s = server.services
    team = await seed_team(s, "Desk")
    await seed_person(s, "tech@example.com", team=team, password_hash=hash_password("tech-password"))
    async with httpx.AsyncClient(base_url=server.url) as anon:
        wrong = await anon.post(
            "/api/team/v1/devices/enroll", json={"name": "pc", "email": "tech@example.com", "password": "nope"}
        )
        assert_api_error(wrong, 401, "sign_in_failed")
        both = await anon.post(
            "/api/team/v1/devices/enroll",
            json={"name": "pc", "email": "tech@example.com", "password": "x", "invite_code": "y"},
        )
        assert_api_error(both, 422, "invalid_input")
        assert await _count(server, "SELECT count(*) FROM devices") == 0
        done = await anon.post(
            "/api/team/v1/devices/enroll", json={"name": "pc", "email": "TECH@example.com", "password": "tech-password"}
        )
    assert done.status_code == 201 and done.json()["device"]["status"] == "pending"
    token, device_id = done.json()["token"], done.json()["device"]["id"]
    assert_api_error(await _sync(server.url, token, [(_entry("e1"), 1)]), 403, "device_pending")
    assert await _count(server, "SELECT count(*) FROM entries") == 0
    async with admin_client(server.url, s) as admin:
        async with httpx.AsyncClient(base_url=server.url, headers=_bearer(token)) as device:
            assert_api_error(await device.post(f"/api/team/v1/devices/{device_id}/approve"), 401, "unauthorized")
            assert (await device.get("/api/team/v1/device")).json()["device"]["status"] == "pending"
        approved = await admin.post(f"/api/team/v1/devices/{device_id}/approve")
        assert approved.status_code == 200 and approved.json()["status"] == "active"
        assert_api_error(await admin.post(f"/api/team/v1/devices/{device_id}/approve"), 409, "invalid_transition")
    assert (await _sync(server.url, token, [(_entry("e1"), 1)])).json()["results"] == {"e1": "stored"}
    actions = await s.db.pool.fetch("SELECT actor_name, action FROM audit ORDER BY seq")
    assert [(r["actor_name"], r["action"]) for r in actions][:2] == [
        ("Tech", "device_enrolled"),
        ("Admin", "device_approved"),
    ]


async def test_bad_batches_are_refused_whole_and_a_technician_needs_one_team(server: RunningServer) -> None:
    s = server.services
    loner = await seed_person(s, "loner@example.com")
    async with admin_client(server.url, s) as admin:
        token = await enrolled_device(server.url, admin, loner.id)
    assert_api_error(await _sync(server.url, token, [(_entry("e1"), 1)]), 409, "no_team")
    assert (await _sync(server.url, token, [])).status_code == 200  # decisions only: no team needed
    too_many = [(_entry(f"e{i}"), 1) for i in range(501)]
    assert_api_error(await _sync(server.url, token, too_many), 422, "invalid_input")
    assert_api_error(await _sync(server.url, token, [(_entry("e1"), 0)]), 422, "invalid_input")
    async with httpx.AsyncClient(base_url=server.url, headers=_bearer(token)) as client:
        unknown = await client.post("/api/team/v1/sync", json={"entries": [], "cursor": 0, "extra": 1})
        assert_api_error(unknown, 422, "invalid_input")
    assert await _count(server, "SELECT count(*) FROM entries") == 0


async def test_decisions_come_down_in_pages_of_500(server: RunningServer, fake_clock: FakeClock) -> None:
    s = server.services
    team = await seed_team(s, "Desk", "none")
    tech = await seed_person(s, "tech@example.com", team=team)
    async with admin_client(server.url, s) as admin:
        token = await enrolled_device(server.url, admin, tech.id)
    for lot in range(2):
        items = [(_entry(f"e{lot}-{i:03d}"), 1) for i in range(300)]
        assert set((await _sync(server.url, token, items)).json()["results"].values()) == {"stored"}
    first = (await _sync(server.url, token, [])).json()
    assert len(first["decisions"]) == 500 and first["more"] is True
    second = (await _sync(server.url, token, [], cursor=first["cursor"])).json()
    assert len(second["decisions"]) == 100 and second["more"] is False
    seen = {d["entry_id"] for d in first["decisions"] + second["decisions"]}
    assert len(seen) == 600


async def test_a_revoked_device_is_refused_by_every_server_process_and_its_token_is_never_logged(
    pg: Cluster, tmp_path: Path
) -> None:
    url = pg.new_database()
    one = spawn_server(tmp_path / "one", url)
    two = spawn_server(tmp_path / "two", url)
    try:
        from tests.server.support import start_server

        local = await start_server(url)
        try:
            s = local.services
            team = await seed_team(s, "Desk")
            tech = await seed_person(s, "tech@example.com", team=team)
            await seed_person(s, "admin@example.com", is_admin=True, password_hash=hash_password("admin-password"))
        finally:
            await local.stop()
        async with httpx.AsyncClient(base_url=one.url, headers={"Origin": one.url}) as admin:
            signed = await admin.post(
                "/api/team/v1/session", json={"email": "admin@example.com", "password": "admin-password"}
            )
            assert signed.status_code == 200
            token = await enrolled_device(one.url, admin, tech.id)
            assert (await _sync(two.url, token, [(_entry("e1"), 1)])).json()["results"] == {"e1": "stored"}
            device_id = (await admin.get("/api/team/v1/devices")).json()[0]["id"]
            assert (await admin.delete(f"/api/team/v1/devices/{device_id}")).status_code == 200
        assert_api_error(await _sync(two.url, token, [(_entry("e2"), 1)]), 401, "unauthorized")
        assert_api_error(await _sync(one.url, token, []), 401, "unauthorized")
    finally:
        stop_process(one)
        stop_process(two)
    for proc in (one, two):
        out, err = server_output(proc.home)
        assert "/api/team/v1/sync" in err + out  # the access log was written
        assert token not in out + err and token[4:] not in out + err
