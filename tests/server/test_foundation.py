"""The team server's base: migrations (once, across processes started together), readiness, settings from the
environment, structured logs, and the entry and decision stores' idempotence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from daemon.entries.model import Entry
from daemon.server.model import SyncedEntry
from daemon.server.store import SchemaTooNew, ServerDatabase, decisions, entries
from daemon.server.store.migrations import MIGRATIONS
from tests.server.pg import Cluster
from tests.server.support import (
    RunningServer,
    launch_server,
    seed_person,
    seed_team,
    server_output,
    spawn_server,
    wait_ready,
)
from tests.support import daemon_env, stop_process


def test_two_processes_started_together_migrate_once_and_both_serve(pg: Cluster, tmp_path: Path) -> None:
    url = pg.new_database()
    procs = []
    try:
        procs = [launch_server(tmp_path / f"s{i}", url) for i in range(3)]  # all at once
        procs = [wait_ready(proc) for proc in procs]
        versions = pg.psql(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations", url.rsplit("/", 1)[1]
        )
        assert versions == ",".join(str(v) for v in range(1, len(MIGRATIONS) + 1))
        for proc in procs:
            assert httpx.get(proc.url + "/healthz").json()["status"] == "ok"
            assert httpx.get(proc.url + "/readyz").json()["status"] == "ready"
    finally:
        for proc in procs:
            stop_process(proc)


def test_server_logs_one_json_object_per_line(pg: Cluster, tmp_path: Path) -> None:
    proc = spawn_server(tmp_path, pg.new_database())
    try:
        assert httpx.get(proc.url + "/nowhere").status_code == 404
    finally:
        stop_process(proc)
    lines = [json.loads(line) for line in server_output(tmp_path)[1].splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "ticketclock.server.access"]
    assert access and access[-1]["path"] == "/nowhere" and access[-1]["status"] == 404
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)


@pytest.mark.parametrize(
    ("env", "args", "said"),
    [
        ({}, [], "no database"),
        ({"TICKETCLOCK_DATABASE_URL": "mysql://x/y"}, [], "postgresql://"),
        ({"TICKETCLOCK_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"}, ["--bind", "nohost"], "host:port"),
        (
            {"TICKETCLOCK_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x", "TICKETCLOCK_LOG_FORMAT": "xml"},
            [],
            "json or text",
        ),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], args: list[str], said: str
) -> None:
    base = {k: v for k, v in daemon_env(tmp_path).items() if not k.startswith("TICKETCLOCK_DATABASE")}
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "server", *args], env=base | env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert said in done.stderr


def test_unreachable_database_is_a_clear_refusal(tmp_path: Path) -> None:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    env = daemon_env(tmp_path) | {"TICKETCLOCK_DATABASE_URL": f"postgresql://u:p@127.0.0.1:{port}/x"}
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "server"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "cannot connect to the database" in done.stderr
    assert ":p@" not in done.stderr  # the password is not printed


async def test_a_schema_from_a_newer_version_is_refused(pg_url: str) -> None:
    db = await ServerDatabase.open(pg_url)
    try:
        await db.pool.execute("INSERT INTO schema_migrations (version) VALUES ($1)", len(MIGRATIONS) + 1)
        assert await db.ready() == (False, f"schema version {len(MIGRATIONS) + 1}, expected {len(MIGRATIONS)}")
    finally:
        await db.close()
    with pytest.raises(SchemaTooNew, match="upgrade TicketClock"):
        await ServerDatabase.open(pg_url)


def _entry(entry_id: str, notes: str = "", status: str = "pending") -> Entry:
    return Entry(
        id=entry_id, source="timer", instance="cw", ticket_id=7, started_at=1000.0, ended_at=1900.0,
        actual_seconds=900, billed_seconds=900, notes=notes, status=status, created_at=1000.0, updated_at=1900.0,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_entries_are_idempotent_by_version_and_stay_their_persons(server: RunningServer) -> None:
    services = server.services
    team = await seed_team(services, "Service desk")
    ann = await seed_person(services, "ann@example.com", team=team)
    bob = await seed_person(services, "bob@example.com", team=team)
    async with services.db.transaction() as tx:
        assert await entries.put(tx, ann.id, team.id, SyncedEntry(entry=_entry("e1", "v1"), version=1), 10.0)
        assert not await entries.put(tx, ann.id, team.id, SyncedEntry(entry=_entry("e1", "v1 again"), version=1), 11.0)
        assert await entries.put(tx, ann.id, team.id, SyncedEntry(entry=_entry("e1", "v3"), version=3), 12.0)
        assert not await entries.put(tx, ann.id, team.id, SyncedEntry(entry=_entry("e1", "v2 late"), version=2), 13.0)
        assert not await entries.put(tx, bob.id, team.id, SyncedEntry(entry=_entry("e1", "bob's"), version=9), 14.0)
        got = await entries.get(tx, "e1")
    assert got is not None
    synced, person_id, _team = got
    assert (synced.version, synced.entry.notes, person_id) == (3, "v3", ann.id)


async def test_decisions_are_read_by_cursor_per_person(server: RunningServer) -> None:
    services = server.services
    team = await seed_team(services, "Projects")
    ann = await seed_person(services, "ann@example.com", team=team)
    bob = await seed_person(services, "bob@example.com", team=team)
    async with services.db.transaction() as tx:
        first = await decisions.record(tx, ann.id, "approved", actor="x", at=1.0, entry_id="e1", version=1)
        await decisions.record(tx, bob.id, "rejected", actor="x", at=2.0, entry_id="e2", version=1, comment="why")
        second = await decisions.record(tx, ann.id, "posted", actor="server", at=3.0, entry_id="e1", version=1)
    async with services.db.connection() as conn:
        assert [d.kind for d in await decisions.since(conn, ann.id, 0)] == ["approved", "posted"]
        assert [d.seq for d in await decisions.since(conn, ann.id, first)] == [second]
        assert [d.comment for d in await decisions.since(conn, bob.id, 0)] == ["why"]
