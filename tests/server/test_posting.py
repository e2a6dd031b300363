"""Central posting from the team server (daemon/server/posting.py): the daemon's outbox policy over the shared
PostgreSQL outbox with leases, every entry posted as its technician, the PSA credentials encrypted at rest.

The sandbox PSAs run in this process on real loopback ports; the posting servers are real subprocesses
(`python -m daemon server`) on one database. An in-process server with posting off seeds people and entries and
serves the admin API. Every check reads the SANDBOX's own store: each entry's marker exactly once, as the right user.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from daemon.clock import FakeClock, SystemClock
from daemon.connectors.base import marker
from daemon.entries.model import Entry
from daemon.sandbox import sandbox_module
from daemon.sandbox.autotask.store import OTHER as AT_OTHER
from daemon.sandbox.faults import FAULTS
from daemon.sandbox.runner import RunningSandbox, start_sandboxes
from daemon.server import flow
from daemon.server.auth import hash_password
from daemon.server.credentials import new_key
from daemon.server.model import Person, SyncedEntry, Team
from daemon.server.store import entries
from daemon.server.store.outbox import MAX_HOLD_S, LeasedOutbox
from tests.server.pg import Cluster
from tests.server.support import (
    RunningServer,
    ServerProcess,
    seed_person,
    seed_team,
    server_output,
    spawn_server,
    start_server,
)
from tests.support import assert_api_error, await_until, stop_process

pytestmark = [pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")]

WHO = {"connectwise": "152", "autotask": str(AT_OTHER), "halopsa": "4"}
"""The sandboxes' `other_user` (the technician's PSA identity below), as each PSA stores who the time is for."""
SECRET_FIELDS = {"connectwise": "private_key", "autotask": "secret", "halopsa": "client_secret"}
PASSWORD = "correct horse battery"
LEASE_S = 15
"""Long enough that a live process's renewals (every 5 s) keep it on a loaded machine; a killed one's posts wait
this long before the other process takes them."""
WAIT_S = 120.0


@pytest.fixture
async def sandboxes() -> AsyncIterator[dict[str, RunningSandbox]]:
    running = await start_sandboxes(SystemClock())
    try:
        yield {s.kind: s for s in running}
    finally:
        for s in running:
            await s.runner.cleanup()


def _entry(entry_id: str, instance: str, ticket: int, hour: int) -> Entry:
    start = 1_764_000_000.0 + hour * 3600
    return Entry(
        id=entry_id, source="timer", instance=instance, ticket_id=ticket, started_at=start, ended_at=start + 900,
        actual_seconds=900, billed_seconds=900, notes=f"work {entry_id}", status="submitted", created_at=start,
        updated_at=start + 900,
    )  # fmt: skip


async def _submit(server: RunningServer, team: Team, tech: Person, entry: Entry) -> None:
    async with server.services.db.transaction() as tx:
        got = await flow.receive(tx, team, tech, SyncedEntry(entry=entry, version=1, device_id="d1"), 5.0)
    assert got == "stored"


@contextlib.asynccontextmanager
async def _signed_in(server: RunningServer, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}, timeout=60) as client:
        answer = await client.post("/api/team/v1/session", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        yield client


async def _connect(client: httpx.AsyncClient, sandbox: RunningSandbox, options: dict[str, Any]) -> None:
    instance = msgspec.to_builtins(sandbox.instance)
    instance["options"] = {**instance.get("options", {}), **options}
    added = await client.post("/api/team/v1/psa", json=instance)
    assert added.status_code == 201, added.text
    put = await client.put(
        f"/api/team/v1/psa/{sandbox.instance.name}/credentials", json={"credentials": sandbox.credentials}
    )
    assert put.status_code == 200, put.text
    assert put.json()["credentials"] is True


async def _until(predicate: Any, what: str, server: RunningServer, procs: list[ServerProcess]) -> Any:
    """`await_until`, and when it times out, what the outbox and the server processes said."""
    try:
        return await await_until(predicate, WAIT_S, what)
    except AssertionError as exc:
        rows = await server.services.db.pool.fetch("SELECT * FROM outbox")
        logs = "\n".join(server_output(p.home)[1][-3000:] for p in procs)
        raise AssertionError(f"{exc}\noutbox: {[dict(r) for r in rows]}\nlogs:\n{logs}") from None


async def _everything_in_the_database(server: RunningServer) -> str:
    """Every row of every table as text (what a database dump, a backup or a read-only SQL user would see)."""
    pool = server.services.db.pool
    tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    out = []
    for t in tables:
        rows = await pool.fetch(f'SELECT t::text AS row FROM "{t["tablename"]}" t')  # noqa: S608
        out += [r["row"] for r in rows]
    return "\n".join(out)


async def test_admin_sets_psa_credentials_checked_and_encrypted(
    pg_url: str, fake_clock: FakeClock, sandboxes: dict[str, RunningSandbox], tmp_path: Path
) -> None:
    cw = sandboxes["connectwise"]
    secret = cw.credentials["private_key"]
    keyless = await start_server(pg_url, clock=fake_clock, posting=False)
    try:
        s = keyless.services
        team = await seed_team(s, "Desk")
        await seed_person(s, "admin@example.com", is_admin=True, password_hash=hash_password(PASSWORD))
        await seed_person(s, "tech@example.com", team=team, password_hash=hash_password(PASSWORD))
        async with _signed_in(keyless, "tech@example.com") as tech:
            assert_api_error(await tech.get("/api/team/v1/psa"), 403, "forbidden")
            assert_api_error(
                await tech.post("/api/team/v1/psa", json=msgspec.to_builtins(cw.instance)), 403, "forbidden"
            )
        async with _signed_in(keyless, "admin@example.com") as admin:
            added = await admin.post("/api/team/v1/psa", json=msgspec.to_builtins(cw.instance))
            assert added.status_code == 201, added.text
            again = await admin.post("/api/team/v1/psa", json=msgspec.to_builtins(cw.instance))
            assert_api_error(again, 409, "conflict")
            bad = await admin.post("/api/team/v1/psa", json={"name": "x", "kind": "nope"})
            assert_api_error(bad, 422, "invalid_input")
            # no key: refused before anything is stored, and the PSA is not asked
            no_key = await admin.put(
                f"/api/team/v1/psa/{cw.instance.name}/credentials", json={"credentials": cw.credentials}
            )
            assert_api_error(no_key, 409, "no_secret_key")
    finally:
        await keyless.stop()

    keyed = await start_server(pg_url, clock=fake_clock, posting=False, secret_key=new_key())
    try:
        async with _signed_in(keyed, "admin@example.com") as admin:
            path = f"/api/team/v1/psa/{cw.instance.name}/credentials"
            wrong = await admin.put(path, json={"credentials": {**cw.credentials, "private_key": "WrongWrongWrong"}})
            assert_api_error(wrong, 502, "connection_failed")
            assert_api_error(
                await admin.put("/api/team/v1/psa/nope/credentials", json={"credentials": {}}), 404, "not_found"
            )
            ok = await admin.put(path, json={"credentials": cw.credentials})
            assert ok.status_code == 200, ok.text
            assert ok.json()["credentials"] is True and ok.json()["identity"]
            listed = await admin.get("/api/team/v1/psa")
            assert listed.status_code == 200 and listed.json()["instances"][0]["credentials"] is True
            assert secret not in ok.text + listed.text
        dump = await _everything_in_the_database(keyed)
        assert "psa_credentials_set" in dump and cw.instance.name in dump
        assert secret not in dump and cw.credentials["public_key"] not in dump
        sealed = await keyed.services.db.pool.fetchval("SELECT credentials FROM psa_instances")
        assert sealed and secret.encode() not in sealed
    finally:
        await keyed.stop()

    # credentials stored, no key given: the server refuses to start, and says why
    with pytest.raises(AssertionError, match="PSA credentials for 1 instance"):
        await asyncio.to_thread(spawn_server, tmp_path / "nokey", pg_url)


async def test_two_processes_post_exactly_once_as_the_technician_while_one_is_killed_mid_post(
    pg_url: str, fake_clock: FakeClock, sandboxes: dict[str, RunningSandbox], tmp_path: Path
) -> None:
    key = new_key()
    seeder = await start_server(pg_url, clock=fake_clock, posting=False, secret_key=key)
    procs = []
    try:
        s = seeder.services
        team = await seed_team(s, "Desk", "none")  # submitted → queued at once: this test is about the outbox
        await seed_person(s, "admin@example.com", is_admin=True, password_hash=hash_password(PASSWORD))
        identities = {sb.instance.name: sandbox_module(kind).SEED.other_user for kind, sb in sandboxes.items()}
        tech = await seed_person(s, "tech@example.com", team=team, psa_identities=identities)
        nobody = await seed_person(s, "new@example.com", team=team)  # no PSA identities yet
        async with _signed_in(seeder, "admin@example.com") as admin:
            for sb in sandboxes.values():
                await _connect(admin, sb, {})

        env = {"TICKETCLOCK_SECRET_KEY": key, "TICKETCLOCK_OUTBOX_LEASE_S": str(LEASE_S)}
        procs = [spawn_server(tmp_path / f"p{i}", pg_url, env=env) for i in range(2)]
        cw = sandboxes["connectwise"]
        cw.app[FAULTS].hang_after_commit_next = 1  # stored, then no answer within the 30 s timeout: killed mid-post
        for kind in ("autotask", "halopsa"):
            sandboxes[kind].app[FAULTS].error_after_commit_next = 1  # stored, then a gateway's 502

        ids: dict[str, list[str]] = {}
        for kind, sb in sandboxes.items():
            ticket = sandbox_module(kind).SEED.service_ticket
            ids[kind] = [f"{kind}-{n}" for n in range(4)]
            for n, entry_id in enumerate(ids[kind]):
                await _submit(seeder, team, tech, _entry(entry_id, sb.instance.name, ticket, n))
        orphan = _entry("orphan", cw.instance.name, sandbox_module("connectwise").SEED.service_ticket, 9)
        await _submit(seeder, team, nobody, orphan)

        # the ConnectWise entry the sandbox stored and never answered: kill the process holding its lease
        async def hung() -> tuple[str, str] | None:
            stored = {e.notes + e.internal_notes for e in sandbox_module("connectwise").stored_entries(cw.app)}
            for entry_id in ids["connectwise"]:
                if any(marker(entry_id) in notes for notes in stored):
                    row = await s.db.pool.fetchrow(
                        "SELECT leased_by FROM outbox WHERE entry_id = $1 AND leased_by IS NOT NULL", entry_id
                    )
                    if row is not None:
                        return entry_id, row["leased_by"]
            return None

        hung_id, holder = await _until(hung, "a ConnectWise post hanging after commit", seeder, procs)
        pid = int(holder.split(":")[1])
        victim = next(p for p in procs if p.pid == pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait()

        async def settled() -> dict[str, Entry] | None:
            out = {}
            async with s.db.connection() as conn:
                for entry_id in [*(i for group in ids.values() for i in group), "orphan"]:
                    got = await entries.get(conn, entry_id)
                    assert got is not None
                    if got[0].entry.status not in ("posted", "failed"):
                        return None
                    out[entry_id] = got[0].entry
            return out

        done = await _until(settled, "every entry posted or failed", seeder, procs)
        # the survivor took the killed process's lease over and looked the entry up: found, not posted again
        audit = await s.db.pool.fetch("SELECT entry_id, action, via, detail FROM audit WHERE action = 'posted'")
        by_entry = Counter(r["entry_id"] for r in audit)
        assert all(n == 1 for n in by_entry.values()), by_entry
        [taken_over] = [r for r in audit if r["entry_id"] == hung_id]
        assert taken_over["via"] != f"outbox:{holder}"
        assert taken_over["detail"]["comment"] == "found after an uncertain attempt"

        for kind, sb in sandboxes.items():
            stored = sandbox_module(kind).stored_entries(sb.app)
            for entry_id in ids[kind]:
                entry = done[entry_id]
                assert entry.status == "posted", (entry_id, entry.status_reason)
                mine = [e for e in stored if marker(entry_id) in e.notes + e.internal_notes]
                assert len(mine) >= 1 and sorted(e.psa_id for e in mine) == sorted(entry.psa_ids), (entry_id, mine)
                assert Counter(e.psa_id for e in mine) == Counter(set(e.psa_id for e in mine))
                assert {e.who for e in mine} == {WHO[kind]}, (kind, mine)  # posted as the technician
            assert len({e.psa_id for e in stored}) == len(stored)
            markers = Counter(
                m for e in stored for m in [x for x in ids[kind] if marker(x) in e.notes + e.internal_notes]
            )
            assert set(markers) == set(ids[kind])

        # no identity: failed with a message the admin can act on, fed back to the technician; nothing posted
        assert done["orphan"].status == "failed"
        assert f"no {cw.instance.name} identity" in done["orphan"].status_reason
        assert not any(
            marker("orphan") in e.notes + e.internal_notes for e in sandbox_module("connectwise").stored_entries(cw.app)
        )
        kinds = await s.db.pool.fetch("SELECT entry_id, kind FROM decisions WHERE kind IN ('posted', 'failed')")
        assert Counter(r["kind"] for r in kinds) == Counter({"posted": 12, "failed": 1})
        assert len({r["entry_id"] for r in kinds}) == 13

        # the credentials are in no log line, no database row in clear
        logs = "".join("".join(server_output(p.home)) for p in procs)
        dump = await _everything_in_the_database(seeder)
        for kind, sb in sandboxes.items():
            secret = sb.credentials[SECRET_FIELDS[kind]]
            assert secret not in logs and secret not in dump, kind
    finally:
        for p in procs:
            stop_process(p)
        await seeder.stop()


async def test_lease_expired_entry_is_looked_up_then_posted_once(
    pg_url: str, fake_clock: FakeClock, sandboxes: dict[str, RunningSandbox], tmp_path: Path, pg: Cluster
) -> None:
    """A process died after claiming an entry and before its request left: the next process, once the lease ran
    out, finds nothing by the marker and posts it, once."""
    key = new_key()
    seeder = await start_server(pg_url, clock=fake_clock, posting=False, secret_key=key)
    proc = None
    try:
        s = seeder.services
        team = await seed_team(s, "Desk", "none")
        await seed_person(s, "admin@example.com", is_admin=True, password_hash=hash_password(PASSWORD))
        halo = sandboxes["halopsa"]
        tech = await seed_person(
            s,
            "tech@example.com",
            team=team,
            psa_identities={halo.instance.name: sandbox_module("halopsa").SEED.other_user},
        )
        async with _signed_in(seeder, "admin@example.com") as admin:
            await _connect(admin, halo, {})
        await _submit(
            seeder, team, tech, _entry("e1", halo.instance.name, sandbox_module("halopsa").SEED.service_ticket, 1)
        )
        # a dead process's claim: leased, attempt counted, lease already over (times are the servers' real clock)
        await s.db.pool.execute(
            "UPDATE outbox SET leased_by = 'gone:1:x', lease_until = 1, attempts = 1 WHERE entry_id = 'e1'"
        )
        proc = spawn_server(tmp_path / "p", pg_url, env={"TICKETCLOCK_SECRET_KEY": key})

        async def posted() -> Entry | None:
            async with s.db.connection() as conn:
                got = await entries.get(conn, "e1")
            assert got is not None
            return got[0].entry if got[0].entry.status == "posted" else None

        entry = await await_until(posted, WAIT_S, "e1 posted")
        stored = [
            e for e in sandbox_module("halopsa").stored_entries(halo.app) if marker("e1") in e.notes + e.internal_notes
        ]
        assert [e.psa_id for e in stored] == entry.psa_ids and stored[0].who == WHO["halopsa"]
        comment = await s.db.pool.fetchval("SELECT detail->>'comment' FROM audit WHERE action = 'posted'")
        assert comment == "attempt 2"
        # it was looked up first (the claim was uncertain): a read of the ticket's actions before the one write
        actions = [m for m, path, _ in halo.app[FAULTS].log if path.lower() == "/api/actions"]
        assert actions.count("POST") == 1 and actions.index("GET") < actions.index("POST"), actions
    finally:
        if proc is not None:
            stop_process(proc)
        await seeder.stop()


async def test_a_live_process_keeps_its_lease_while_posting_and_a_silent_ones_runs_out(
    server: RunningServer, fake_clock: FakeClock
) -> None:
    """Leases as the store keeps them (the fake clock stands for the servers' time): A renews while its post runs,
    so B cannot take it; once A stops renewing, B takes it as uncertain (looked up first); A's late result is then
    ignored. A claim is renewed for at most MAX_HOLD_S."""
    s = server.services
    team = await seed_team(s, "Desk", "none")
    tech = await seed_person(s, "tech@example.com", team=team, psa_identities={"cw": "asmith"})
    await _submit(server, team, tech, _entry("e1", "cw", 7, 1))
    a, b = LeasedOutbox(s.db, "a:1:x", 10), LeasedOutbox(s.db, "b:2:y", 10)
    t0 = fake_clock.now()
    [(row, entry)] = await a.claim("cw", t0, 5)
    assert (row.attempts, row.ambiguous, entry.log_as) == (1, False, "asmith")
    assert await b.claim("cw", t0 + 1, 5) == []  # leased
    assert await a.renew(t0 + 8) == 1
    assert await b.claim("cw", t0 + 15, 5) == []  # the renewed lease holds past the first one's end
    [(taken, _)] = await b.claim("cw", t0 + 18.5, 5)  # A went silent: its lease ran out
    assert (taken.attempts, taken.ambiguous) == (2, True)
    await a.posted("e1", ["999"], t0 + 19, "attempt 1")  # A's late answer: no longer its lease, nothing recorded
    async with s.db.connection() as conn:
        got = await entries.get(conn, "e1")
    assert got is not None and got[0].entry.status == "queued"
    await b.posted("e1", ["42"], t0 + 20, "found after an uncertain attempt")
    async with s.db.connection() as conn:
        got = await entries.get(conn, "e1")
    assert got is not None and (got[0].entry.status, got[0].entry.psa_ids) == ("posted", ["42"])

    await _submit(server, team, tech, _entry("e2", "cw", 7, 2))
    t1 = t0 + 100
    assert len(await a.claim("cw", t1, 5)) == 1
    assert await a.renew(t1 + MAX_HOLD_S - 1) == 1
    assert await a.renew(t1 + MAX_HOLD_S + 1) == 0  # held too long: given up, another process will look it up
