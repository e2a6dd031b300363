"""A real team server subprocess and real daemon subprocesses: `ticketclock team join`, entries up, decisions down,
a week offline, a daemon SIGKILLed mid-sync, a revoked device, and no device token in any log."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.server import flow
from daemon.server.api.devices import new_invite_code
from daemon.server.auth import token_hash
from daemon.server.model import Person, Team
from daemon.server.store import ServerDatabase, devices, people
from tests.server.pg import Cluster
from tests.server.support import ServerProcess, server_output, spawn_server, wait_ready
from tests.support import daemon_env, daemon_output, spawn_daemon, stop_process, wait_until

pytestmark = pytest.mark.slow

DAY = 86400.0
CONFIG = """credentials = "file"

[[tasks]]
name = "Admin"

[team]
sync_interval_s = 0.2
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster.start()
    try:
        yield c
    finally:
        c.stop()


class Team_:
    """A team server's database and the people in it, seeded from the test (as an admin would)."""

    def __init__(self, url: str, db: ServerDatabase, team: Team, tech: Person, lead: Person) -> None:
        self.url, self.db, self.team, self.tech, self.lead = url, db, team, tech, lead

    async def invite(self) -> str:
        code = new_invite_code()
        async with self.db.transaction() as tx:
            await devices.create_invite(
                tx, token_hash(code), self.tech.id, self.lead.id, time.time(), time.time() + DAY
            )
        return code

    async def entries(self) -> dict[str, tuple[int, str]]:
        rows = await self.db.pool.fetch("SELECT id, version, status FROM entries")
        return {r["id"]: (r["version"], r["status"]) for r in rows}

    async def stored_twice(self) -> int:
        """Audit rows recording the same (entry, version) arriving more than once."""
        return int(
            await self.db.pool.fetchval(
                "SELECT count(*) FROM (SELECT entry_id, detail->>'version' FROM audit WHERE action LIKE 'synced:%' "
                "GROUP BY 1, 2 HAVING count(*) > 1) t"
            )
        )


@pytest.fixture
async def team(cluster: Cluster) -> AsyncIterator[Team_]:
    url = cluster.new_database()
    db = await ServerDatabase.open(url)
    t = Team(id=uuid.uuid4().hex, name="Desk", approval="one", created_at=time.time())
    tech = Person(id=uuid.uuid4().hex, email="tech@example.com", name="Tess Tech", created_at=time.time())
    lead = Person(id=uuid.uuid4().hex, email="lead@example.com", name="Lee Lead", created_at=time.time())
    async with db.transaction() as tx:
        await people.create_team(tx, t)
        for person, role in ((tech, "technician"), (lead, "approver1")):
            await people.create_person(tx, person)
            await people.add_role(tx, t.id, person.id, role)  # type: ignore[arg-type]
        found_tech, found_lead = await people.person_by_id(tx, tech.id), await people.person_by_id(tx, lead.id)
    assert found_tech is not None and found_lead is not None
    try:
        yield Team_(url, db, t, found_tech, found_lead)
    finally:
        await db.close()


def _run_cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        env=daemon_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        check=False,
    )


def _relaunch(home: Path, database_url: str, port: int) -> ServerProcess:
    """The server again on the same port (the daemon's config names it)."""
    home.mkdir(parents=True, exist_ok=True)
    env = daemon_env(home) | {"TICKETCLOCK_DATABASE_URL": database_url}
    with (home / "server.stdout.txt").open("wb") as out, (home / "server.stderr.txt").open("wb") as err:
        proc = ServerProcess(
            [sys.executable, "-m", "daemon", "server", "--bind", f"127.0.0.1:{port}"],
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    proc.home = home
    return wait_ready(proc)


class Daemon:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        self.proc = spawn_daemon(self.home)
        self.port = self.proc.port  # type: ignore[attr-defined]

    def kill(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)  # SIGKILL
            self.proc = None

    def _client(self) -> httpx.Client:
        token = (self.home / "data" / "token").read_text(encoding="utf-8").strip()
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def add(self, started_at: float, notes: str = "") -> str:
        with self._client() as c:
            made = c.post(
                "/api/v1/entries", json={"started_at": started_at, "seconds": 900, "task": "Admin", "notes": notes}
            )
        assert made.status_code in (200, 201), made.text
        entry_id: str = made.json()["id"]
        return entry_id

    def act(self, entry_id: str, action: str) -> httpx.Response:
        with self._client() as c:
            return c.post(f"/api/v1/entries/{entry_id}/{action}", json={})

    def entries(self) -> dict[str, str]:
        with self._client() as c:
            got = c.get("/api/v1/entries", params={"limit": "5000"})
        assert got.status_code == 200, got.text
        return {e["id"]: e["status"] for e in got.json()["entries"]}

    def team_state(self) -> dict[str, Any]:
        with self._client() as c:
            state: dict[str, Any] = c.get("/api/v1/team").json()
        return state

    def waiting(self) -> int:
        state = self.team_state()["state"]
        return int(state["waiting"]) if state else -1

    def logs(self) -> str:
        out, err = daemon_output(self.home)
        files = [
            p.read_text(encoding="utf-8", errors="replace") for p in (self.home / "logs").rglob("*") if p.is_file()
        ]
        return "\n".join([out, err, *files])

    def diagnosis(self) -> str:
        """What the daemon says of its sync (for failure messages)."""
        try:
            state = self.team_state()
        except httpx.HTTPError as exc:
            state = {"error": repr(exc)}
        return f"team state: {state}\nlog tail:\n{self.logs()[-3000:]}"

    def token(self) -> str:
        import json

        stored = json.loads((self.home / "data" / "credentials.json").read_text(encoding="utf-8"))
        token: str = stored["team:device"]["token"]
        return token


def _join(home: Path, url: str, code: str) -> subprocess.CompletedProcess[str]:
    (home / "config").mkdir(parents=True, exist_ok=True)
    config = home / "config" / "config.toml"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
    return _run_cli(home, "team", "join", url, "--invite", code, "--name", "laptop")


async def test_entries_go_up_decisions_come_back_and_the_token_is_in_no_log(
    cluster: Cluster, team: Team_, tmp_path: Path
) -> None:
    server = spawn_server(tmp_path / "server", _db_url(cluster, team))
    d = Daemon(tmp_path / "tech")
    try:
        joined = _join(d.home, server.url, await team.invite())
        assert joined.returncode == 0, joined.stderr
        assert "(active)" in joined.stdout
        token = d.token()
        assert token.startswith("tcd_") and token not in joined.stdout + joined.stderr
        assert f'server = "{server.url}"' in (d.home / "config" / "config.toml").read_text(encoding="utf-8")
        d.start()
        now = time.time()
        first, second = d.add(now - 3 * 3600, "printer"), d.add(now - 2 * 3600, "backup")
        assert d.act(first, "submit").status_code == 200
        assert d.act(second, "submit").status_code == 200
        # local approvals are the team server's now
        refused = d.act(first, "approve")
        assert refused.status_code == 409 and "team server" in refused.json()["error"]["message"]
        await _until(lambda: _has(team, {first: "submitted", second: "submitted"}), "both entries on the server", d)
        async with team.db.transaction() as tx:
            await flow.approve(tx, first, team.lead, 1, time.time())
            await flow.reject(tx, second, team.lead, 1, "wrong ticket", time.time())
        wait_until(lambda: d.entries() == {first: "approved", second: "rejected"}, what="decisions applied")
        listed = _run_cli(d.home, "entries", "--port", str(d.port))
        assert listed.returncode == 0, listed.stderr
        lines = {line[:8]: line for line in listed.stdout.splitlines()}
        assert "approved" in lines[first[:8]] and "rejected" in lines[second[:8]] and "wrong ticket" in listed.stdout
        status = _run_cli(d.home, "team", "status", "--port", str(d.port))
        assert "laptop (active)" in status.stdout and "entries waiting: 0" in status.stdout, status.stdout
        # a fixed version goes up again and replaces the rejected one
        assert d.act(second, "submit").status_code == 200
        await _until(lambda: _has(team, {second: "submitted"}), "the resubmitted entry", d)
        actions = await team.db.pool.fetch("SELECT action FROM audit WHERE entry_id = $1 ORDER BY seq", first)
        assert [a["action"] for a in actions][-2:] == ["synced:submitted", "approved"]  # approved once, nothing after
        assert await team.stored_twice() == 0
    finally:
        d.kill()
        stop_process(server)
    everything = d.logs() + "".join(server_output(server.home)) + joined.stdout + joined.stderr
    assert token not in everything and token[4:] not in everything


async def test_a_week_offline_then_a_kill_mid_sync_loses_and_doubles_nothing(
    cluster: Cluster, team: Team_, tmp_path: Path
) -> None:
    database = _db_url(cluster, team)
    server: ServerProcess | None = spawn_server(tmp_path / "server", database)
    assert server is not None
    port = int(server.url.rsplit(":", 1)[1])
    d = Daemon(tmp_path / "tech")
    try:
        assert _join(d.home, server.url, await team.invite()).returncode == 0
        d.start()
        online = d.add(time.time() - 8 * DAY)
        await _until(lambda: _has(team, {online: "pending"}), "the first entry", d)
        # the server commits before it answers: stopped in between, the daemon would rightly count the entry as
        # still waiting (and send it again later, which the server takes once)
        wait_until(lambda: d.waiting() == 0, what="the daemon to take the server's answer")
        stop_process(server)  # the server is away for the week
        server = None
        start = time.time() - 7 * DAY
        made = [d.add(start + i * 500, f"offline {i}") for i in range(1100)]  # three batches' worth
        for entry_id in made[:50]:
            assert d.act(entry_id, "submit").status_code == 200
        wait_until(lambda: d.team_state()["state"]["last_error"] != "", what="a failed attempt recorded")
        assert d.waiting() == 1100
        server = _relaunch(tmp_path / "server-again", database, port)
        d.act(made[0], "void")  # a local change tries at once, whatever the back-off
        await _until(lambda: _count(team, lambda n: n > 1), "the first batch arriving", d)
        d.kill()  # SIGKILL mid-sync
        d.start()
        wait_until(lambda: d.waiting() == 0, timeout=120, what="everything sent after the restart")
        on_server = await team.entries()
        local = d.entries()
        assert set(on_server) == set(local) and len(local) == 1101
        assert {on_server[i][1] for i in made[1:50]} == {"submitted"} and on_server[made[0]][1] == "voided"
        assert await team.stored_twice() == 0
    finally:
        d.kill()
        if server is not None:
            stop_process(server)


async def test_a_revoked_device_is_refused_on_its_next_sync(cluster: Cluster, team: Team_, tmp_path: Path) -> None:
    server = spawn_server(tmp_path / "server", _db_url(cluster, team))
    d = Daemon(tmp_path / "tech")
    try:
        assert _join(d.home, server.url, await team.invite()).returncode == 0
        d.start()
        kept = d.add(time.time() - 3600)
        await _until(lambda: _has(team, {kept: "pending"}), "the first entry", d)
        async with team.db.transaction() as tx:
            rows = await tx.fetch("SELECT id FROM devices")
            assert len(rows) == 1
            assert await devices.decide(tx, rows[0]["id"], "revoked", ("active",), team.lead.id, time.time())
        late = d.add(time.time() - 1800)
        wait_until(lambda: d.team_state()["state"]["device_status"] == "revoked", what="the refusal recorded")
        assert late not in await team.entries() and d.waiting() == 1
        status = _run_cli(d.home, "team", "status", "--port", str(d.port))
        assert "revoked" in status.stdout, status.stdout
    finally:
        d.kill()
        stop_process(server)


def _db_url(cluster: Cluster, team: Team_) -> str:
    return team.url


async def _has(team: Team_, wanted: dict[str, str]) -> bool:
    found = await team.entries()
    return all(found.get(i, (0, ""))[1] == s for i, s in wanted.items())


async def _count(team: Team_, check: Any) -> bool:
    return bool(check(len(await team.entries())))


async def _until(predicate: Any, what: str, d: Daemon, timeout: float = 60) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; {d.diagnosis()}")
        await asyncio.sleep(0.05)
