"""Automations from the cloud: an integration token (`tci_…`) reports runs to the team server; each run is one entry
of the integration's person (a retried run is not logged twice), through the team's approval flow."""

from __future__ import annotations

import httpx

from daemon.server.api.automation import run_entry_id
from daemon.server.auth import hash_password
from daemon.server.store import entries, psa
from daemon.settings import InstanceConfig
from tests.server.support import RunningServer, seed_person, seed_team
from tests.support import assert_api_error

PASSWORD = "correct horse battery"
RUN = {
    "automation": "Password reset",
    "run_id": "run-1",
    "ticket": 48211,
    "instance": "cw",
    "started_at": 1_764_000_000,
    "finished_at": 1_764_000_600,
    "started_by": "flow",
    "outcome": "ok",
    "notes": "reset for jdoe",
}


async def test_integration_token_reports_runs_once_each_and_can_be_revoked(server: RunningServer) -> None:
    s = server.services
    team = await seed_team(s, "Desk", "one")
    await seed_person(s, "admin@example.com", is_admin=True, password_hash=hash_password(PASSWORD))
    tech = await seed_person(s, "tech@example.com", team=team, password_hash=hash_password(PASSWORD))
    async with s.db.transaction() as tx:
        await psa.add(tx, InstanceConfig(name="cw", kind="connectwise", api_url="http://127.0.0.1:9"), 1.0)

    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as admin:
        assert (
            await admin.post("/api/team/v1/session", json={"email": "admin@example.com", "password": PASSWORD})
        ).status_code == 200
        body = {"name": "Rewst", "person_id": tech.id, "team_id": team.id}
        created = await admin.post("/api/team/v1/integrations", json=body)
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        assert token.startswith("tci_")
        listed = await admin.get("/api/team/v1/integrations")
        assert token not in listed.text and listed.json()["integrations"][0]["name"] == "Rewst"
        wrong = await admin.post("/api/team/v1/integrations", json={**body, "person_id": "nobody"})
        assert_api_error(wrong, 422, "invalid_input")

    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as tool:
        first = await tool.post("/api/v1/automation-runs", json=RUN)
        assert first.status_code == 201, first.text
        assert first.json()["entry_id"] == run_entry_id(tech.id, "run-1")
        assert first.json()["status"] == "submitted" and first.json()["repeat"] is False
        again = await tool.post("/api/v1/automation-runs", json=RUN)
        assert again.status_code == 200 and again.json()["repeat"] is True
        assert again.json()["entry_id"] == first.json()["entry_id"]
        bad = await tool.post("/api/v1/automation-runs", json={**RUN, "run_id": "r2", "instance": "nope"})
        assert_api_error(bad, 422, "invalid_input")
        backwards = await tool.post("/api/v1/automation-runs", json={**RUN, "run_id": "r3", "finished_at": 1})
        assert_api_error(backwards, 422, "invalid_input")

    async with s.db.connection() as conn:
        got = await entries.get(conn, first.json()["entry_id"])
        count = await conn.fetchval("SELECT count(*) FROM entries")
    assert count == 1 and got is not None
    synced, owner, team_id = got
    assert (owner, team_id) == (tech.id, team.id)
    entry = synced.entry
    assert (entry.source, entry.automation, entry.ticket_id, entry.billed_seconds) == (
        "automation",
        "Password reset",
        48211,
        600,
    )
    assert entry.notes == "Password reset: ok. reset for jdoe" and entry.status == "submitted"

    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as admin:
        await admin.post("/api/team/v1/session", json={"email": "admin@example.com", "password": PASSWORD})
        integration_id = created.json()["integration"]["id"]
        assert (await admin.delete(f"/api/team/v1/integrations/{integration_id}")).status_code == 204
        assert_api_error(await admin.delete(f"/api/team/v1/integrations/{integration_id}"), 404, "not_found")
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as tool:
        assert_api_error(await tool.post("/api/v1/automation-runs", json={**RUN, "run_id": "r4"}), 401, "unauthorized")
    async with httpx.AsyncClient(base_url=server.url) as nobody:
        assert_api_error(await nobody.post("/api/v1/automation-runs", json=RUN), 401, "unauthorized")


async def test_runs_follow_the_automations_settings_and_skipped_runs_say_why(server: RunningServer) -> None:
    s = server.services
    team = await seed_team(s, "Desk", "none")
    await seed_person(s, "admin@example.com", is_admin=True, password_hash=hash_password(PASSWORD))
    tech = await seed_person(s, "tech@example.com", team=team)
    async with s.db.transaction() as tx:
        await psa.add(tx, InstanceConfig(name="cw", kind="connectwise", api_url="http://127.0.0.1:9"), 1.0)
    settings = {
        "automations": [
            {"name": "Password reset", "minutes": 5, "notes": "{automation} by {started_by}", "billable": "no",
             "work_type": "Remote"},
            {"name": "Off", "enabled": False},
            {"name": "Tagged", "apply_to": "tag:vip"},
        ]
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as admin:
        await admin.post("/api/team/v1/session", json={"email": "admin@example.com", "password": PASSWORD})
        bad = await admin.put("/api/team/v1/automations", json={"automations": [{"name": "x", "notes": "{nope}"}]})
        assert_api_error(bad, 400, "invalid_automations")
        assert bad.json()["error"]["details"]["field"] == "automations[0].notes"
        assert (await admin.get("/api/team/v1/automations")).json()["automations"] == []  # nothing changed
        put = await admin.put("/api/team/v1/automations", json=settings)
        assert put.status_code == 200, put.text
        got = (await admin.get("/api/team/v1/automations")).json()["automations"]
        assert [a["name"] for a in got] == ["Password reset", "Off", "Tagged"]
        created = await admin.post(
            "/api/team/v1/integrations", json={"name": "Flow", "person_id": tech.id, "team_id": team.id}
        )
        token = created.json()["token"]

    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as tool:
        logged = await tool.post("/api/v1/automation-runs", json={**RUN, "automation": "password RESET"})
        assert logged.status_code == 201, logged.text
        assert logged.json()["status"] == "queued"  # team approval "none": straight to the outbox
        for name in ("Off", "Tagged"):
            skipped = await tool.post("/api/v1/automation-runs", json={**RUN, "automation": name, "run_id": name})
            assert skipped.status_code == 200 and skipped.json()["status"] == "skipped", skipped.text
            assert skipped.json()["entry_id"] is None and skipped.json()["reason"]
    async with s.db.connection() as conn:
        got_entry = await entries.get(conn, logged.json()["entry_id"])
        count = await conn.fetchval("SELECT count(*) FROM entries")
        reasons = await conn.fetch("SELECT detail->>'reason' AS r FROM audit WHERE action = 'automation_run_skipped'")
    assert count == 1 and got_entry is not None
    entry = got_entry[0].entry
    assert (entry.started_at, entry.ended_at, entry.billed_seconds) == (
        RUN["finished_at"] - 300,
        RUN["finished_at"],
        300,
    )
    assert (entry.notes, entry.billable, entry.work_type, entry.automation) == (
        "Password reset by flow",
        "no",
        "Remote",
        "Password reset",
    )
    assert sorted(r["r"] for r in reasons) == [
        "automation 'Off' is disabled",
        "automation 'Tagged' applies to tagged clients, and the team server has no client tags yet",
    ]
