"""The team web API (daemon/server/api/team.py) against the real PostgreSQL: who sees whose time, the approvers'
queues per level, bulk decisions, team timesheets and summaries, and period close per team."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from daemon.server.auth import hash_password
from daemon.server.model import Person, Team
from daemon.server.store import decisions, entries
from tests.server.support import RunningServer, seed_entry, seed_person, seed_team, signed_in
from tests.support import assert_api_error

PW = "correct horse battery"
MON = 1795424400.0
"""Monday 2026-11-23 09:00 UTC (a weekly period from Monday starts that day)."""
DAY = 86400.0
HASH = hash_password(PW)


@dataclass
class Org:
    desk: Team
    ops: Team
    ann: Person
    bob: Person
    lead: Person
    billing: Person
    cara: Person
    admin: Person


async def _org(server: RunningServer) -> Org:
    """Desk (two levels): technicians Ann and Bob, Lead (level 1, also a technician), Billing (level 2).
    Ops (one level): technician Cara. And an admin who is in no team."""
    s = server.services
    desk = await seed_team(s, "Desk", "two")
    ops = await seed_team(s, "Ops", "one")
    ann = await seed_person(s, "ann@example.com", team=desk, password_hash=HASH)
    bob = await seed_person(s, "bob@example.com", team=desk, password_hash=HASH)
    lead = await seed_person(s, "lead@example.com", team=desk, roles=("technician", "approver1"), password_hash=HASH)
    billing = await seed_person(s, "billing@example.com", team=desk, roles=("approver2",), password_hash=HASH)
    cara = await seed_person(s, "cara@example.com", team=ops, password_hash=HASH)
    admin = await seed_person(s, "admin@example.com", is_admin=True, password_hash=HASH)
    return Org(desk, ops, ann, bob, lead, billing, cara, admin)


async def _entries_of(org: Org, server: RunningServer) -> None:
    s = server.services
    assert await seed_entry(s, org.desk, org.ann, "ann-1", started_at=MON, seconds=3600, company="Acme") == "stored"
    assert await seed_entry(s, org.desk, org.ann, "ann-2", started_at=MON + DAY, seconds=1800, company="Beta") == (
        "stored"
    )
    assert await seed_entry(s, org.desk, org.bob, "bob-1", started_at=MON + 600, seconds=2700) == "stored"
    assert await seed_entry(s, org.desk, org.lead, "lead-1", started_at=MON + 900, seconds=600) == "stored"
    assert await seed_entry(s, org.ops, org.cara, "cara-1", started_at=MON, seconds=5400) == "stored"
    assert await seed_entry(s, org.desk, org.ann, "ann-p", started_at=MON + 2 * DAY, status="pending") == "stored"


def _ids(body: dict[str, Any]) -> list[str]:
    return sorted(e["id"] for e in body["entries"])


async def _status(server: RunningServer, entry_id: str) -> tuple[str, str]:
    async with server.services.db.connection() as conn:
        found = await entries.get(conn, entry_id)
    assert found is not None
    return found[0].entry.status, found[0].entry.status_reason


async def test_a_technician_sees_only_their_own_time(server: RunningServer) -> None:
    org = await _org(server)
    await _entries_of(org, server)
    async with signed_in(server.url, "ann@example.com", PW) as ann:
        assert _ids((await ann.get("/api/team/v1/entries")).json()) == ["ann-1", "ann-2", "ann-p"]
        assert _ids((await ann.get("/api/team/v1/entries?mine=1")).json()) == ["ann-1", "ann-2", "ann-p"]
        asked = await ann.get(f"/api/team/v1/entries?team={org.desk.id}")
        assert _ids(asked.json()) == ["ann-1", "ann-2", "ann-p"]  # naming the team shows no one else's
        assert _ids((await ann.get(f"/api/team/v1/entries?team={org.ops.id}")).json()) == []
        summary = (await ann.get(f"/api/team/v1/summary?team={org.desk.id}&from=2026-11-23&to=2026-11-29")).json()
        assert [(r["label"], r["seconds"]) for r in summary["rows"]] == [("Ann", 3600 + 1800 + 3600)]
        everyone = (await ann.get("/api/team/v1/summary?from=2026-11-23&to=2026-11-29&group=company")).json()
        assert everyone["seconds"] == 3600 + 1800 + 3600
        assert_api_error(await ann.get(f"/api/team/v1/teams/{org.desk.id}/timesheet"), 403, "forbidden")
        assert_api_error(await ann.get("/api/team/v1/entries/bob-1/audit"), 404, "not_found")
        own = (await ann.get("/api/team/v1/entries/ann-1/audit")).json()
        assert own["entry"]["person_name"] == "Ann" and [a["action"] for a in own["audit"]] == ["synced:submitted"]
        queue = (await ann.get("/api/team/v1/approvals?level=1")).json()
        assert queue["entries"] == [] and queue["total"] == 0
        refused = await ann.post("/api/team/v1/approvals", json={"ids": ["bob-1"], "level": 1, "action": "approve"})
        assert refused.status_code == 200
        assert refused.json()["results"] == [
            {"id": "bob-1", "ok": False, "status": "", "code": "forbidden",
             "message": "you are not a level-1 approver of team Desk"},
        ]  # fmt: skip
        assert [t["name"] for t in (await ann.get("/api/team/v1/teams")).json()] == ["Desk"]
    assert await _status(server, "bob-1") == ("submitted", "")
    async with signed_in(server.url, "lead@example.com", PW) as lead:
        seen = _ids((await lead.get("/api/team/v1/entries")).json())
        assert seen == ["ann-1", "ann-2", "ann-p", "bob-1", "lead-1"]  # the team they approve; not Ops
        assert_api_error(await lead.get(f"/api/team/v1/teams/{org.ops.id}/timesheet"), 403, "forbidden")
        assert (await lead.get("/api/team/v1/entries/bob-1/audit")).status_code == 200
        assert_api_error(await lead.get("/api/team/v1/entries/cara-1/audit"), 404, "not_found")
    async with signed_in(server.url, "admin@example.com", PW) as admin:
        assert len((await admin.get("/api/team/v1/entries")).json()["entries"]) == 6
        assert [t["name"] for t in (await admin.get("/api/team/v1/teams")).json()] == ["Desk", "Ops"]
        assert (await admin.get(f"/api/team/v1/teams/{org.ops.id}/timesheet")).status_code == 200


async def test_queues_per_level_and_bulk_decisions(server: RunningServer) -> None:
    org = await _org(server)
    await _entries_of(org, server)
    async with signed_in(server.url, "lead@example.com", PW) as lead:
        queue = (await lead.get("/api/team/v1/approvals?level=1")).json()
        assert [(e["id"], e["person_name"]) for e in queue["entries"]] == [
            ("ann-1", "Ann"), ("bob-1", "Bob"), ("ann-2", "Ann"),
        ]  # fmt: skip
        assert queue["total"] == 3  # not Lead's own, not the pending one, not Ops'
        first = (await lead.get("/api/team/v1/approvals?level=1&limit=2")).json()
        assert [e["id"] for e in first["entries"]] == ["ann-1", "bob-1"] and first["next"]
        rest = await lead.get("/api/team/v1/approvals", params={"level": "1", "limit": "2", "after": first["next"]})
        assert [e["id"] for e in rest.json()["entries"]] == ["ann-2"] and rest.json()["next"] is None
        assert (await lead.get("/api/team/v1/approvals?level=2")).json()["entries"] == []  # no level-2 role
        assert_api_error(await lead.get(f"/api/team/v1/approvals?level=2&team={org.desk.id}"), 403, "forbidden")
        bulk = await lead.post(
            "/api/team/v1/approvals",
            json={"ids": ["ann-1", "bob-1", "nope", "ann-1", "lead-1"], "level": 1, "action": "approve"},
        )
        assert bulk.status_code == 200, bulk.text
        answer = bulk.json()
        assert [(r["id"], r["ok"], r["status"] or r["code"]) for r in answer["results"]] == [
            ("ann-1", True, "approved_l1"), ("bob-1", True, "approved_l1"), ("nope", False, "not_found"),
            ("lead-1", False, "forbidden"),
        ]  # fmt: skip
        assert (answer["done"], answer["refused"]) == (2, 2)
        assert [e["id"] for e in (await lead.get("/api/team/v1/approvals?level=1")).json()["entries"]] == ["ann-2"]
    async with signed_in(server.url, "billing@example.com", PW) as billing:
        queue = (await billing.get("/api/team/v1/approvals?level=2")).json()
        assert [e["id"] for e in queue["entries"]] == ["ann-1", "bob-1"]
        # a rejection without a comment is refused whole and changes nothing
        blank = {"ids": ["bob-1"], "level": 2, "action": "reject", "comment": "  "}
        assert_api_error(await billing.post("/api/team/v1/approvals", json=blank), 422, "invalid_input")
        assert await _status(server, "bob-1") == ("approved_l1", "")
        why = "Bill this to the project, not the agreement"
        rejected = await billing.post(
            "/api/team/v1/approvals", json={"ids": ["bob-1"], "level": 2, "action": "reject", "comment": why}
        )
        assert rejected.json()["results"] == [
            {"id": "bob-1", "ok": True, "status": "rejected", "code": "", "message": ""}
        ]
        approved = await billing.post(
            "/api/team/v1/approvals", json={"ids": ["ann-1"], "level": 2, "action": "approve"}
        )
        assert approved.json()["results"][0]["status"] == "queued" or approved.json()["results"][0]["status"] == (
            "approved"
        )
    assert await _status(server, "ann-1") == ("queued", "")
    async with signed_in(server.url, "bob@example.com", PW) as bob:
        mine = (await bob.get("/api/team/v1/entries?mine=1")).json()["entries"]
        assert [(e["id"], e["status"], e["status_comment"]) for e in mine] == [("bob-1", "rejected", why)]
        trail = (await bob.get("/api/team/v1/entries/bob-1/audit")).json()["audit"]
        assert [(a["actor"], a["action"]) for a in trail] == [
            ("Bob", "synced:submitted"), ("Lead", "approved_l1"), ("Billing", "rejected_l2"),
        ]  # fmt: skip
        assert trail[-1]["detail"]["comment"] == why


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(server: RunningServer) -> None:
    org = await _org(server)
    await _entries_of(org, server)
    async with signed_in(server.url, "lead@example.com", PW) as lead:
        for body in (
            {"ids": [], "level": 1, "action": "approve"},
            {"ids": ["ann-1"], "level": 3, "action": "approve"},
            {"ids": ["ann-1"], "level": 1, "action": "maybe"},
            {"ids": ["ann-1"], "level": 1, "action": "approve", "extra": 1},
            {"ids": ["ann-1"] * 501, "level": 1, "action": "approve"},
            {"ids": ["ann\u0000-1"], "level": 1, "action": "approve"},
            {"ids": ["ann-1"], "level": 1, "action": "reject", "comment": "nul \u0000 here"},
        ):
            assert_api_error(await lead.post("/api/team/v1/approvals", json=body), 422, "invalid_input")
        for query in ("level=3", "level=1&limit=0", "level=1&limit=x", "level=1&after=garbage", "level=1&after=nan:x"):
            assert_api_error(await lead.get(f"/api/team/v1/approvals?{query}"), 400, "invalid_query")
        for query in ("from=2026-11-30&to=2026-11-23", "from=yesterday", "group=planet&from=2026-11-23", ""):
            assert_api_error(await lead.get(f"/api/team/v1/summary?{query}"), 400, "invalid_query")
        assert_api_error(await lead.get("/api/team/v1/entries?status=happy"), 400, "invalid_query")
        assert_api_error(await lead.get(f"/api/team/v1/teams/{org.desk.id}/timesheet?period=soon"), 400)
        assert_api_error(await lead.get("/api/team/v1/teams/nope/timesheet"), 404, "not_found")
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        for path in ("/api/team/v1/approvals", "/api/team/v1/entries", "/api/team/v1/teams"):
            assert_api_error(await anonymous.get(path), 401, "unauthorized")
    assert await _status(server, "ann-1") == ("submitted", "")


async def test_team_timesheet_cuts_the_teams_periods_in_its_zone(server: RunningServer) -> None:
    org = await _org(server)
    await _entries_of(org, server)
    # Ann late on Sunday 29 Nov in New York is Monday 30 Nov in UTC: the team's zone decides
    late = 1795424400.0 + 6 * DAY + 15 * 3600  # 2026-11-30 00:00 UTC = Sunday 19:00 in New York
    assert await seed_entry(server.services, org.desk, org.ann, "ann-late", started_at=late, seconds=900) == "stored"
    async with signed_in(server.url, "lead@example.com", PW) as lead:
        utc = (await lead.get(f"/api/team/v1/teams/{org.desk.id}/timesheet?period=2026-11-25")).json()
        assert (utc["period"]["start"], utc["period"]["end"], utc["period"]["kind"]) == (
            "2026-11-23", "2026-11-29", "weekly"
        )  # fmt: skip
        rows = {r["name"]: r for r in utc["rows"]}
        assert list(rows) == ["Ann", "Bob", "Lead"]  # technicians only (Billing approves, tracks nothing)
        assert [c["seconds"] for c in rows["Ann"]["days"]] == [3600, 1800, 3600, 0, 0, 0, 0]
        assert rows["Ann"]["days"][2]["statuses"] == ["pending"]
        assert rows["Bob"]["days"][0] == {"day": "2026-11-23", "seconds": 2700, "entries": 1, "statuses": ["submitted"]}
        assert utc["seconds"] == 3600 + 1800 + 3600 + 2700 + 600 and utc["period"]["previous"] == "2026-11-16"
        await server.services.db.pool.execute(
            "UPDATE teams SET settings = $2 WHERE id = $1",
            org.desk.id,
            {"period": "weekly", "first_weekday": "monday", "timezone": "America/New_York"},
        )
        ny = (await lead.get(f"/api/team/v1/teams/{org.desk.id}/timesheet?period=2026-11-25")).json()
        ann = next(r for r in ny["rows"] if r["name"] == "Ann")
        assert ann["days"][6] == {"day": "2026-11-29", "seconds": 900, "entries": 1, "statuses": ["submitted"]}
        await server.services.db.pool.execute(
            "UPDATE teams SET settings = $2 WHERE id = $1", org.desk.id, {"period": "monthly"}
        )
        month = (await lead.get(f"/api/team/v1/teams/{org.desk.id}/timesheet?period=2026-11-25")).json()
        assert (month["period"]["start"], month["period"]["end"], len(month["period"]["days"])) == (
            "2026-11-01", "2026-11-30", 30
        )  # fmt: skip


async def test_summary_groups_sum_to_the_same_total(server: RunningServer) -> None:
    org = await _org(server)
    await _entries_of(org, server)
    async with signed_in(server.url, "lead@example.com", PW) as lead:
        totals = {}
        for group in ("technician", "day", "company", "work_type", "status", "ticket"):
            got = await lead.get("/api/team/v1/summary", params={"team": org.desk.id, "from": "2026-11-23",
                                                                 "to": "2026-11-29", "group": group})  # fmt: skip
            assert got.status_code == 200, got.text
            body = got.json()
            assert sum(r["seconds"] for r in body["rows"]) == body["seconds"]
            totals[group] = body["seconds"], body["entries"]
            if group == "technician":
                assert [(r["label"], r["seconds"], r["entries"]) for r in body["rows"]] == [
                    ("Ann", 9000, 3), ("Bob", 2700, 1), ("Lead", 600, 1),
                ]  # fmt: skip
            if group == "day":
                assert [(r["key"], r["seconds"]) for r in body["rows"]] == [
                    ("2026-11-23", 3600 + 2700 + 600), ("2026-11-24", 1800), ("2026-11-25", 3600),
                ]  # fmt: skip
            if group == "status":
                assert {r["key"]: r["entries"] for r in body["rows"]} == {"pending": 1, "submitted": 4}
        assert set(totals.values()) == {(12300, 5)}
        one_day = (await lead.get(f"/api/team/v1/summary?team={org.desk.id}&from=2026-11-24")).json()
        assert one_day["seconds"] == 1800


async def _feed(server: RunningServer, person: Person) -> list[tuple[str, str]]:
    async with server.services.db.connection() as conn:
        found = await decisions.since(conn, person.id, 0)
    return [(d.kind, d.detail.get("start", "")) for d in found if d.entry_id is None]


async def test_closing_a_period_makes_its_entries_read_only_and_tells_each_technician(server: RunningServer) -> None:
    org = await _org(server)
    await _entries_of(org, server)
    s = server.services
    base = f"/api/team/v1/teams/{org.desk.id}/periods"
    async with signed_in(server.url, "lead@example.com", PW) as lead:
        assert_api_error(await lead.post(f"{base}/2026-11-23/close"), 403, "forbidden")  # level 1 only
    async with signed_in(server.url, "billing@example.com", PW) as billing:
        assert_api_error(await billing.post(f"{base}/2026-11-24/close"), 422, "invalid_input")  # not a first day
        assert_api_error(await billing.post(f"{base}/someday/close"), 400, "invalid_query")
        assert_api_error(await billing.post(f"{base}/2026-11-23/reopen"), 409, "invalid_transition")
        closed = await billing.post(f"{base}/2026-11-23/close")
        assert closed.status_code == 200, closed.text
        assert closed.json() == {"team_id": org.desk.id, "start": "2026-11-23", "end": "2026-11-29", "closed": True,
                                 "technicians": 3}  # fmt: skip
        assert_api_error(await billing.post(f"{base}/2026-11-23/close"), 409, "period_closed")
        sheet = (await billing.get(f"/api/team/v1/teams/{org.desk.id}/timesheet?period=2026-11-23")).json()
        assert sheet["period"]["closed"] is True
    for person in (org.ann, org.bob, org.lead):
        assert await _feed(server, person) == [("period_closed", "2026-11-23")]
    assert await _feed(server, org.cara) == []  # another team's technician
    # the closed period's entries are read-only: a new version, a new entry, or moving one out are all refused
    assert await seed_entry(s, org.desk, org.ann, "ann-2", started_at=MON + DAY, seconds=60, version=2) == "closed"
    assert await seed_entry(s, org.desk, org.ann, "ann-new", started_at=MON + 3 * DAY) == "closed"
    assert await seed_entry(s, org.desk, org.ann, "ann-2", started_at=MON + 8 * DAY, version=3) == "closed"
    assert await seed_entry(s, org.desk, org.ann, "ann-2", started_at=MON + DAY, version=1) == "duplicate"
    assert await seed_entry(s, org.desk, org.ann, "ann-next", started_at=MON + 7 * DAY) == "stored"  # next week
    assert await seed_entry(s, org.ops, org.cara, "cara-2", started_at=MON + DAY) == "stored"  # Ops' week is open
    row = await s.db.pool.fetchrow("SELECT version, actual_seconds FROM entries WHERE id = 'ann-2'")
    assert (row["version"], row["actual_seconds"]) == (1, 1800)
    assert await s.db.pool.fetchval("SELECT count(*) FROM entries WHERE id = 'ann-new'") == 0
    async with signed_in(server.url, "admin@example.com", PW) as admin:
        reopened = await admin.post(f"{base}/2026-11-23/reopen")
        assert reopened.status_code == 200 and reopened.json()["closed"] is False
    assert await _feed(server, org.ann) == [("period_closed", "2026-11-23"), ("period_reopened", "2026-11-23")]
    assert await seed_entry(s, org.desk, org.ann, "ann-2", started_at=MON + DAY, seconds=60, version=2) == "stored"
    audit = await s.db.pool.fetch("SELECT actor_name, action FROM audit WHERE entry_id IS NULL ORDER BY seq")
    assert [(r["actor_name"], r["action"]) for r in audit] == [
        ("Billing", "period_closed"),
        ("Admin", "period_reopened"),
    ]


async def test_an_approver_of_two_teams_has_one_queue_of_both(server: RunningServer) -> None:
    org = await _org(server)
    await _entries_of(org, server)
    async with server.services.db.transaction() as tx:
        from daemon.server.store import people

        await people.add_role(tx, org.ops.id, org.lead.id, "approver1")
    async with signed_in(server.url, "lead@example.com", PW) as lead:
        both = (await lead.get("/api/team/v1/approvals?level=1")).json()
        assert [e["id"] for e in both["entries"]] == ["ann-1", "cara-1", "bob-1", "ann-2"] and both["total"] == 4
        page = (await lead.get("/api/team/v1/approvals?level=1&limit=2&after=" + both["entries"][0]["started_at"]
                               .__repr__() + ":ann-1")).json()  # fmt: skip
        assert [e["id"] for e in page["entries"]] == ["cara-1", "bob-1"]
        ops = (await lead.get(f"/api/team/v1/approvals?level=1&team={org.ops.id}")).json()
        assert [e["id"] for e in ops["entries"]] == ["cara-1"]
        seen = (await lead.get("/api/team/v1/summary?from=2026-11-23&to=2026-11-29&group=technician")).json()
        assert [r["label"] for r in seen["rows"]] == ["Ann", "Bob", "Cara", "Lead"]


ODD = ["", "0", "-1", "1e309", "nan", "x" * 5000, "é\u202e", "2026-02-30", "99999-01-01", "%00", "1:2:3", "a:b"]


async def test_odd_query_values_never_give_a_server_error(server: RunningServer) -> None:
    org = await _org(server)
    await _entries_of(org, server)
    paths = {
        "/api/team/v1/approvals": ["level", "team", "limit", "after"],
        "/api/team/v1/summary": ["team", "from", "to", "group", "mine"],
        "/api/team/v1/entries": ["mine", "team", "status", "from", "to", "limit", "before"],
        f"/api/team/v1/teams/{org.desk.id}/timesheet": ["period"],
    }
    async with signed_in(server.url, "admin@example.com", PW) as admin:
        for path, names in paths.items():
            for name in names:
                for value in ODD:
                    answer = await admin.get(path, params={name: value})
                    assert answer.status_code < 500, (path, name, value, answer.text[:300])
        for start in ODD[1:]:
            answer = await admin.post(f"/api/team/v1/teams/{org.desk.id}/periods/{start}/close")
            assert answer.status_code < 500, (start, answer.text[:300])
            answer = await admin.get(f"/api/team/v1/entries/{start}/audit")
            assert answer.status_code < 500, (start, answer.text[:300])
