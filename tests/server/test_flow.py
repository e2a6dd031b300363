"""The server's entry flow (daemon/server/flow.py): approvals by other people at one or two levels, rejection with a
comment, the conflict rule, team approval "none", and the outbox fed exactly once."""

from __future__ import annotations

import pytest

from daemon.entries.model import Entry, RuleNote
from daemon.server import flow
from daemon.server.flow import FlowError
from daemon.server.model import Person, SyncedEntry, Team
from daemon.server.store import decisions, entries
from tests.server.support import RunningServer, seed_person, seed_team


def _entry(entry_id: str, status: str = "submitted", notes: str = "") -> Entry:
    return Entry(
        id=entry_id, source="timer", instance="cw", ticket_id=7, started_at=1000.0, ended_at=1900.0,
        actual_seconds=900, billed_seconds=900, notes=notes, status=status, created_at=1000.0, updated_at=1900.0,  # type: ignore[arg-type]
    )  # fmt: skip


async def _people(server: RunningServer, approval: str) -> tuple[Team, Person, Person, Person]:
    s = server.services
    team = await seed_team(s, "Desk", approval)
    tech = await seed_person(s, "tech@example.com", team=team)
    lead = await seed_person(s, "lead@example.com", team=team, roles=("approver1", "technician"))
    billing = await seed_person(s, "billing@example.com", team=team, roles=("approver2",))
    return team, tech, lead, billing


async def _send(server: RunningServer, team: Team, tech: Person, entry: Entry, version: int) -> str:
    async with server.services.db.transaction() as tx:
        return await flow.receive(tx, team, tech, SyncedEntry(entry=entry, version=version, device_id="d1"), 5.0)


async def _outbox(server: RunningServer) -> list[str]:
    rows = await server.services.db.pool.fetch("SELECT entry_id FROM outbox ORDER BY entry_id")
    return [r["entry_id"] for r in rows]


async def _status(server: RunningServer, entry_id: str) -> str:
    async with server.services.db.connection() as conn:
        got = await entries.get(conn, entry_id)
    assert got is not None
    return got[0].entry.status


async def test_two_levels_by_two_other_people_then_queued_once(server: RunningServer) -> None:
    team, tech, lead, billing = await _people(server, "two")
    assert await _send(server, team, tech, _entry("e1"), 1) == "stored"
    db = server.services.db
    async with db.transaction() as tx:
        with pytest.raises(FlowError, match="your own time"):
            await flow.approve(tx, "e1", await _with_role(server, tech, team, "approver1"), 1, 6.0)
    async with db.transaction() as tx:
        with pytest.raises(FlowError, match="not a level-2 approver"):
            await flow.approve(tx, "e1", lead, 2, 6.0)
    async with db.transaction() as tx:
        assert await flow.approve(tx, "e1", lead, 1, 6.0) == "approved_l1"
    assert await _outbox(server) == []
    async with db.transaction() as tx:
        with pytest.raises(FlowError, match="not submitted"):
            await flow.approve(tx, "e1", lead, 1, 7.0)
    async with db.transaction() as tx:
        assert await flow.approve(tx, "e1", billing, 2, 7.0) == "approved"
    assert await _outbox(server) == ["e1"]
    assert await _status(server, "e1") == "queued"
    async with db.connection() as conn:
        feed = await decisions.since(conn, tech.id, 0)
    assert [(d.kind, d.actor) for d in feed] == [("approved_l1", "Lead"), ("approved", "Billing")]
    audit = await db.pool.fetch("SELECT actor_name, action FROM audit WHERE entry_id = 'e1' ORDER BY seq")
    assert [(r["actor_name"], r["action"]) for r in audit] == [
        ("Tech", "synced:submitted"),
        ("Lead", "approved_l1"),
        ("Billing", "approved"),
    ]


async def test_the_same_person_cannot_approve_both_levels(server: RunningServer) -> None:
    team, tech, lead, _billing = await _people(server, "two")
    both = await _with_role(server, lead, team, "approver2")
    await _send(server, team, tech, _entry("e1"), 1)
    async with server.services.db.transaction() as tx:
        await flow.approve(tx, "e1", both, 1, 6.0)
    async with server.services.db.transaction() as tx:
        with pytest.raises(FlowError, match="someone other than level 1"):
            await flow.approve(tx, "e1", both, 2, 7.0)
    assert await _status(server, "e1") == "approved_l1"


async def test_rejection_needs_a_comment_and_a_fixed_version_replaces_it(server: RunningServer) -> None:
    team, tech, lead, _ = await _people(server, "one")
    await _send(server, team, tech, _entry("e1"), 1)
    async with server.services.db.transaction() as tx:
        with pytest.raises(FlowError, match="needs a comment"):
            await flow.reject(tx, "e1", lead, 1, "  ", 6.0)
    async with server.services.db.transaction() as tx:
        await flow.reject(tx, "e1", lead, 1, "wrong ticket", 6.0)
    assert await _status(server, "e1") == "rejected"
    assert await _send(server, team, tech, _entry("e1", "submitted", "fixed"), 1) == "duplicate"
    assert await _send(server, team, tech, _entry("e1", "submitted", "fixed"), 2) == "stored"
    async with server.services.db.transaction() as tx:
        assert await flow.approve(tx, "e1", lead, 1, 7.0) == "approved"
    assert await _outbox(server) == ["e1"]


async def test_an_edit_after_approval_is_a_conflict_and_the_approved_version_stands(server: RunningServer) -> None:
    team, tech, lead, _ = await _people(server, "one")
    await _send(server, team, tech, _entry("e1", notes="approved text"), 3)
    async with server.services.db.transaction() as tx:
        await flow.approve(tx, "e1", lead, 1, 6.0)
    assert await _send(server, team, tech, _entry("e1", "pending", "edited offline"), 4) == "conflict"
    async with server.services.db.connection() as conn:
        got = await entries.get(conn, "e1")
        feed = await decisions.since(conn, tech.id, 0)
    assert got is not None and (got[0].version, got[0].entry.notes) == (3, "approved text")
    assert feed[-1].kind == "conflict" and feed[-1].detail["refused_version"] == 4


async def test_team_without_approval_queues_what_is_submitted_and_daemons_cannot_claim_approval(
    server: RunningServer,
) -> None:
    team, tech, _lead, _ = await _people(server, "none")
    assert await _send(server, team, tech, _entry("e1", "pending"), 1) == "stored"
    assert await _outbox(server) == []
    assert await _send(server, team, tech, _entry("e1", "submitted"), 2) == "stored"
    assert await _outbox(server) == ["e1"]
    assert await _send(server, team, tech, _entry("e2", "approved"), 1) == "refused"
    assert await _send(server, team, tech, _entry("e2", "posted"), 1) == "refused"


async def _with_role(server: RunningServer, person: Person, team: Team, role: str) -> Person:
    from daemon.server.store import people

    async with server.services.db.transaction() as tx:
        await people.add_role(tx, team.id, person.id, role)  # type: ignore[arg-type]
        found = await people.person_by_id(tx, person.id)
    assert found is not None
    return found


async def test_one_batch_answers_each_entry_as_one_at_a_time_would(server: RunningServer) -> None:
    team, tech, lead, _ = await _people(server, "one")
    other = await seed_person(server.services, "other@example.com", team=team)
    assert await _send(server, team, tech, _entry("approved"), 1) == "stored"
    async with server.services.db.transaction() as tx:
        await flow.approve(tx, "approved", lead, 1, 6.0)
    assert await _send(server, team, tech, _entry("known", "pending"), 2) == "stored"
    assert await _send(server, team, other, _entry("others", "pending"), 1) == "stored"
    batch = [
        SyncedEntry(entry=_entry("new", "pending", "v1"), version=1, device_id="d1"),
        SyncedEntry(entry=_entry("new", "submitted", "v2"), version=2, device_id="d1"),  # newest of the batch counts
        SyncedEntry(entry=_entry("known", "pending"), version=2, device_id="d1"),  # a resend
        SyncedEntry(entry=_entry("approved", "pending"), version=2, device_id="d1"),
        SyncedEntry(entry=_entry("others", "pending", "mine now?"), version=5, device_id="d1"),
        SyncedEntry(entry=_entry("claims", "posted"), version=1, device_id="d1"),
    ]
    async with server.services.db.transaction() as tx:
        results = await flow.receive_many(tx, team, tech, batch, 7.0)
    assert results == {
        "new": "stored",
        "known": "duplicate",
        "approved": "conflict",
        "others": "duplicate",
        "claims": "refused",
    }
    async with server.services.db.connection() as conn:
        new = await entries.get(conn, "new")
        others = await entries.get(conn, "others")
    assert new is not None and (new[0].version, new[0].entry.notes, new[0].entry.status) == (2, "v2", "submitted")
    assert others is not None and others[1] == other.id and others[0].entry.notes == ""
    lines = await server.services.db.pool.fetch("SELECT entry_id, action FROM audit WHERE at = 7.0 ORDER BY seq")
    assert [(r["entry_id"], r["action"]) for r in lines] == [("approved", "conflict"), ("new", "synced:submitted")]


async def test_text_postgresql_cannot_hold_does_not_keep_time_from_the_team(server: RunningServer) -> None:
    # a NUL in a ticket page's title or a note: the entry is stored with U+FFFD instead, and its batch goes through
    team, tech, _lead, _ = await _people(server, "one")
    odd = _entry("odd", "submitted", "before\x00after")
    odd.summary = "Printer\x00jam"
    odd.explanation = [RuleNote("rounding", "a\x00b")]
    batch = [
        SyncedEntry(entry=odd, version=1, device_id="d1"),
        SyncedEntry(entry=_entry("plain", "submitted", "fine \\u0000 as typed"), version=1, device_id="d1"),
    ]
    async with server.services.db.transaction() as tx:
        assert await flow.receive_many(tx, team, tech, batch, 7.0) == {"odd": "stored", "plain": "stored"}
    async with server.services.db.connection() as conn:
        odd_row = await entries.get(conn, "odd")
        plain_row = await entries.get(conn, "plain")
    assert odd_row is not None and plain_row is not None
    assert (odd_row[0].entry.notes, odd_row[0].entry.summary) == ("before\ufffdafter", "Printer\ufffdjam")
    assert odd_row[0].entry.explanation[0].detail == "a\ufffdb"
    assert plain_row[0].entry.notes == "fine \\u0000 as typed"  # a backslash-u typed by a person is left alone
