"""Issue 13 end to end, from outside the processes, real parts only.

One PostgreSQL cluster (a new database), the sandbox PSAs in their own process (faults switched over HTTP), two
`ticketclock server` processes on that database behind a small TCP load balancer (round robin, skipping a process
that refuses connections), the first admin made by `ticketclock server-admin add-admin`, everything else through
the public admin API. Three daemon subprocesses, each joined as its own technician with `ticketclock team join
--invite`; the third reaches the servers only through a relay the test cuts, so it stays offline through all of:
timers on sandbox tickets, entries submitted and synced, a level-1 approver approving and rejecting (with a
comment) and a level-2 approver approving in real Chromium, posting while the server process holding a hung post
is SIGKILLed (the other takes the post over: looked up, not posted again), the rejected entry edited, resubmitted,
approved and posted. Then the relay comes back: the third daemon's entries arrive, are approved and posted, and
every entry of every daemon is in its PSA exactly once, as its technician, `posted` locally with the PSA's id, with
the same seconds on the daemon, the server and the PSA.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.connectors.base import marker
from daemon.sandbox import sandbox_module
from daemon.sandbox.autotask.store import API_USER as AT_API
from daemon.sandbox.autotask.store import ASSIGNEE as AT_ASSIGNEE
from daemon.sandbox.autotask.store import OTHER as AT_OTHER
from daemon.sandbox.common import StoredEntry
from daemon.server.credentials import new_key
from tests.daemon.sandbox.process import RemoteSandbox, spawn_sandboxes
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, _require_chromium
from tests.server.pg import Cluster
from tests.server.support import ServerProcess, server_output, spawn_server
from tests.support import daemon_env, daemon_output, instance_toml, spawn_daemon, stop_process, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)"),
]

PW = "correct horse battery"
LEASE_S = 10
"""How long a killed process's post waits before the other process takes it (its renewals, every third of it,
keep a live process's posts; the sandbox's hang outlasts it, as it outlasts the connectors' 30 s timeout)."""
WAIT_S = 90.0
KINDS = ("connectwise", "autotask", "halopsa")
IDENTITY = {  # technician n → (what the admin enters as their PSA identity, the user id the PSA stores)
    "connectwise": [("151", "151"), ("asmith", "152"), ("150", "150")],
    "autotask": [(str(AT_ASSIGNEE), str(AT_ASSIGNEE)), ("asmith", str(AT_OTHER)), (str(AT_API), str(AT_API))],
    "halopsa": [("3", "3"), ("jordan.lee@contoso.example", "4"), ("2", "2")],
}
REJECT_COMMENT = "Wrong ticket: this was the Contoso printer, not the mailbox"


# --- a TCP relay: the load balancer in front of the servers, and the third daemon's cuttable link ------------------


class Relay:
    """Listens on 127.0.0.1 (port 0) in its own thread and event loop; each connection goes to the next target that
    accepts one (round robin), as a load balancer without sticky sessions would. `cut()` drops every open
    connection and every new one (reset at once) until `restore()`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.targets: list[tuple[str, int]] = []
        self.open = True
        self.dropped = 0
        self._turn = 0
        self._links: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"relay-{name}", daemon=True)
        self._thread.start()
        self.port: int = self._call(self._listen())
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None
        if self.open:
            for _ in range(len(self.targets)):
                host, port = self.targets[self._turn % len(self.targets)]
                self._turn += 1
                with contextlib.suppress(OSError):
                    upstream = await asyncio.open_connection(host, port)
                    break
        if upstream is None:
            self.dropped += 1
            writer.transport.abort()
            writer.close()
            return
        up_reader, up_writer = upstream
        self._links |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._links -= {writer, up_writer}
            writer.close()
            up_writer.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()
        except (OSError, RuntimeError):
            sink.transport.abort()

    async def _drop_all(self) -> None:
        self.open = False
        for link in list(self._links):
            link.transport.abort()

    def cut(self) -> None:
        self._call(self._drop_all())

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        async def shut() -> None:
            await self._drop_all()
            self._server.close()

        self._call(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# --- the processes ------------------------------------------------------------------------------------------------


def _cli(
    home: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        env=daemon_env(home) | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        check=False,
    )


def _daemon_config(instances: list[dict[str, Any]]) -> str:
    """The sandbox instances (no credentials: the server posts), timers kept however short, billed by the quarter
    hour (so the PSAs' hours are exact), and a fast sync loop."""
    lines = ['credentials = "file"', 'timezone = "UTC"', "", "[timing]", "min_seconds = 0", "", "[rounding]"]
    lines += ["increment_s = 900", "", "[team]", "sync_interval_s = 0.2"]
    for instance in instances:
        lines += instance_toml(instance)
    return "\n".join(lines) + "\n"


@dataclass
class Daemon:
    """A technician's daemon subprocess and the entries its timers made."""

    n: int
    home: Path
    proc: Any = None
    made: dict[str, str] = field(default_factory=dict)
    """entry id → the sandbox kind it is for."""

    @property
    def port(self) -> int:
        port: int = self.proc.port
        return port

    def client(self) -> httpx.Client:
        token = (self.home / "data" / "token").read_text(encoding="utf-8").strip()
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        with self.client() as c:
            answer = c.request(method, path, json=body)
        assert answer.status_code in ok, f"daemon {self.n}: {method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def timed(self, instance: str, ticket: int, kind: str, notes: str) -> str:
        """Start a timer on the ticket, stop it; the entry it made (pending) is submitted."""
        timer = self.call("POST", "/api/v1/timers", {"instance": instance, "ticket": str(ticket), "notes": notes})
        wait_until(lambda: _elapsed(self.call("GET", f"/api/v1/timers/{timer['id']}")) >= 1.5, what="time on the timer")
        stopped = self.call("POST", f"/api/v1/timers/{timer['id']}/stop")
        [entry] = stopped["entries"]
        if entry["status"] == "open":  # still inside its merge window: finished now
            entry = self.call("POST", f"/api/v1/entries/{entry['id']}/finish")
        assert entry["status"] == "pending", entry
        submitted = self.call("POST", f"/api/v1/entries/{entry['id']}/submit", {})
        assert submitted["status"] == "submitted", submitted
        self.made[entry["id"]] = kind
        entry_id: str = entry["id"]
        return entry_id

    def entries(self) -> dict[str, dict[str, Any]]:
        got = self.call("GET", "/api/v1/entries?limit=5000")
        return {e["id"]: e for e in got["entries"]}

    def team(self) -> dict[str, Any]:
        state: dict[str, Any] = self.call("GET", "/api/v1/team")
        return state

    def logs(self) -> str:
        out, err = daemon_output(self.home)
        return f"{out}\n{err}"[-3000:]


def _elapsed(view: dict[str, Any]) -> float:
    """A timer's seconds so far (this machine's clock is the daemon's): a timer stopped within its first second
    has no time to bill."""
    return float(view["elapsed_s"]) + (time.time() - view["as_of"] if view["running"] else 0.0)


# --- the public API -------------------------------------------------------------------------------------------------


def _signed_in(base: str, email: str) -> httpx.Client:
    """A person's HTTP client through the load balancer: a new connection per request (so requests spread over both
    processes, and none rides a connection to a killed one), changes sent from the public origin."""
    client = httpx.Client(
        base_url=base, headers={"Origin": base}, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)
    )
    answer = client.post("/api/team/v1/session", json={"email": email, "password": PW})
    assert answer.status_code == 200, answer.text
    return client


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, (
        f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text}"
    )
    return answer.json() if answer.content else None


def _server_entries(admin: httpx.Client) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    path = "/api/team/v1/entries?limit=500"
    while True:
        page = _ok(admin.get(path))
        found |= {e["id"]: e for e in page["entries"]}
        if not page["next"]:
            return found
        path = f"/api/team/v1/entries?limit=500&before={page['next']}"


def _decide(approver: httpx.Client, ids: list[str], level: int) -> None:
    done = _ok(approver.post("/api/team/v1/approvals", json={"ids": ids, "level": level, "action": "approve"}))
    assert done["done"] == len(ids) and done["refused"] == 0, done


# --- the browser ----------------------------------------------------------------------------------------------------


async def _browser_sign_in(browser: Any, base: str, email: str) -> tuple[Any, Any, list[str]]:
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "status of 40" not in msg.text
            else None)  # fmt: skip
    await page.goto(base + "/")
    await page.wait_for_selector("form.signin")
    await page.fill("#email", email)
    await page.fill("#password", PW)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#signout:not([hidden])")
    await page.wait_for_selector("body[data-rendered='1']")
    return context, page, errors


async def _rows(page: Any) -> list[str]:
    found: list[str] = await page.eval_on_selector_all("table.list tbody tr", "rows => rows.map(r => r.dataset.id)")
    return found


async def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"team-e2e-{name}.png"), full_page=True)


async def _approve_in_chromium(base: str, reject: str, level1: list[str], level2: list[str]) -> None:
    """Level 1 rejects `reject` with a comment and approves the rest; level 2 approves what level 1 approved."""
    _require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            context, page, errors = await _browser_sign_in(browser, base, "lead@example.com")
            assert await page.get_attribute("body", "data-page") == "approvals"
            assert sorted(await _rows(page)) == sorted(level1)
            await _shot(page, "l1-queue")
            await page.check(f"tbody tr[data-id='{reject}'] input[type=checkbox]")
            await page.fill("#reject-comment", REJECT_COMMENT)
            await _shot(page, "l1-rejecting")
            await page.click("#reject")
            await page.wait_for_selector("#flash:has-text('Rejected 1 entry')")
            await page.wait_for_selector("body[data-rendered='1']")
            assert sorted(await _rows(page)) == sorted(set(level1) - {reject})
            await page.focus("tbody tr:first-child input[type=checkbox]")
            await page.keyboard.press("a")  # A selects all
            await page.click("#approve")
            await page.wait_for_selector(f"#flash:has-text('Approved {len(level1) - 1} entries')")
            await page.wait_for_selector("#queue-empty")
            await _shot(page, "l1-done")
            assert errors == []
            await context.close()

            context, page, errors = await _browser_sign_in(browser, base, "billing@example.com")
            await page.wait_for_selector("a[aria-current='page']:has-text('Level 2')")
            assert sorted(await _rows(page)) == sorted(level2)
            await _shot(page, "l2-queue")
            await page.focus("tbody tr:first-child input[type=checkbox]")
            await page.keyboard.press("a")
            await page.click("#approve")
            await page.wait_for_selector(f"#flash:has-text('Approved {len(level2)} entries')")
            await page.wait_for_selector("#queue-empty")
            await _shot(page, "l2-done")
            assert errors == []
            await context.close()
        finally:
            await browser.close()


# --- the test -------------------------------------------------------------------------------------------------------


@pytest.fixture
def relays() -> Iterator[tuple[Relay, Relay]]:
    lb, far = Relay("lb"), Relay("far")
    try:
        yield lb, far
    finally:
        lb.close()
        far.close()


async def test_three_daemons_two_servers_two_levels_in_chromium_a_kill_mid_post_and_a_daemon_offline_throughout(
    pg: Cluster, pg_url: str, tmp_path: Path, relays: tuple[Relay, Relay]
) -> None:
    lb, far = relays
    database = pg_url.rsplit("/", 1)[1]
    procs: list[Any] = []
    daemons: list[Daemon] = []
    servers: list[ServerProcess] = []
    try:
        sandbox_proc, sandboxes = spawn_sandboxes(tmp_path / "sandbox")
        procs.append(sandbox_proc)
        env = {
            "TICKETCLOCK_SECRET_KEY": new_key(),
            "TICKETCLOCK_OUTBOX_LEASE_S": str(LEASE_S),
            "TICKETCLOCK_PUBLIC_URL": lb.url,
        }
        servers = [spawn_server(tmp_path / f"server{i}", pg_url, env=env) for i in (1, 2)]
        targets = [("127.0.0.1", int(s.url.rsplit(":", 1)[1])) for s in servers]
        lb.targets = far.targets = targets

        # the first admin, from the command line; the password on stdin
        added = _cli(
            tmp_path / "admin",
            "server-admin", "add-admin", "boss@example.com", "--name", "The Boss",
            stdin=PW + "\n", env={"TICKETCLOCK_DATABASE_URL": pg_url},
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert PW not in added.stdout + added.stderr

        # everything else through the admin API
        admin = _signed_in(lb.url, "boss@example.com")
        team = _ok(admin.post("/api/team/v1/admin/teams", json={"name": "Service Desk", "approval": "two"}), 201)
        techs = []
        for n, name in enumerate(("Tess Tech", "Theo Tech", "Tara Tech")):
            identities = {sandboxes[kind].instance["name"]: IDENTITY[kind][n][0] for kind in KINDS}
            person = _ok(admin.post("/api/team/v1/admin/people", json={
                "email": f"tech{n + 1}@example.com", "name": name, "password": PW, "psa_identities": identities
            }), 201)  # fmt: skip
            _ok(admin.put(f"/api/team/v1/admin/teams/{team['id']}/people/{person['id']}/roles/technician"))
            techs.append(person)
        for email, name, role in (("lead@example.com", "Lee Lead", "approver1"),
                                  ("billing@example.com", "Bea Billing", "approver2")):  # fmt: skip
            person = _ok(
                admin.post("/api/team/v1/admin/people", json={"email": email, "name": name, "password": PW}), 201
            )
            _ok(admin.put(f"/api/team/v1/admin/teams/{team['id']}/people/{person['id']}/roles/{role}"))
        for kind in KINDS:
            sb = sandboxes[kind]
            _ok(admin.post("/api/team/v1/psa", json=sb.instance), 201)
            put = _ok(
                admin.put(f"/api/team/v1/psa/{sb.instance['name']}/credentials", json={"credentials": sb.credentials})
            )
            assert put["credentials"] is True

        # three daemons, each joined by an invite; the third through the relay that is cut once it has joined
        config = _daemon_config([sandboxes[kind].instance for kind in KINDS])
        for n, person in enumerate(techs):
            d = Daemon(n + 1, tmp_path / f"tech{n + 1}")
            (d.home / "config").mkdir(parents=True)
            (d.home / "config" / "config.toml").write_text(config, encoding="utf-8")
            code = _ok(admin.post("/api/team/v1/invites", json={"person_id": person["id"]}), 201)["code"]
            url = far.url if n == 2 else lb.url
            joined = _cli(d.home, "team", "join", url, "--invite", code, "--name", f"laptop {n + 1}")
            assert joined.returncode == 0 and "(active)" in joined.stdout, joined.stdout + joined.stderr
            daemons.append(d)
        far.cut()
        for d in daemons:
            d.proc = spawn_daemon(d.home)
            procs.append(d.proc)
        one, two, three = daemons

        # timers on the sandboxes' tickets: one per PSA for each technician, submitted
        for d in daemons:
            for kind in KINDS:
                sb = sandboxes[kind]
                d.timed(sb.instance["name"], sandbox_module(kind).SEED.service_ticket, kind, f"tech {d.n} on {kind}")

        # daemons 1 and 2 sync; daemon 3 works on, offline
        online = {**one.made, **two.made}
        wait_until(
            lambda: {i: e["status"] for i, e in _server_entries(admin).items()} == dict.fromkeys(online, "submitted"),
            WAIT_S, "the online daemons' entries on the server",
        )  # fmt: skip
        offline_state = three.team()
        assert offline_state["failures"] > 0 and offline_state["state"]["waiting"] == 3, offline_state
        assert far.dropped > 0

        # in Chromium: level 1 rejects one entry with a comment and approves the rest; the ConnectWise PSA will hang
        # after storing the next time entry; level 2 approves
        rejected = next(i for i, kind in two.made.items() if kind == "halopsa")
        approved = sorted(set(online) - {rejected})
        cw = sandboxes["connectwise"]
        assert cw.faults(hang_after_commit_next=1)["hang_after_commit_next"] == 1
        await _approve_in_chromium(lb.url, rejected, sorted(online), approved)

        # a server process holds the hung ConnectWise post: SIGKILL it
        cw_ids = [i for i in approved if online[i] == "connectwise"]

        def hung() -> tuple[str, int] | None:
            stored = _notes(cw.stored())
            for entry_id in cw_ids:
                if any(marker(entry_id) in text for text in stored):
                    leases = pg.psql("SELECT entry_id, leased_by FROM outbox WHERE leased_by IS NOT NULL", database)
                    holder = dict(line.split("|", 1) for line in leases.splitlines() if "|" in line).get(entry_id)
                    if holder:
                        return entry_id, int(holder.split(":")[1])
            return None

        holding = wait_until(hung, WAIT_S, "a ConnectWise post hanging after the PSA stored it")
        assert holding is not None
        hung_id, pid = holding
        [victim] = [s for s in servers if s.pid == pid]
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        survivor = next(s for s in servers if s is not victim)

        def settled(ids: list[str]) -> dict[str, dict[str, Any]] | None:
            found = _server_entries(admin)
            return found if all(found[i]["status"] == "posted" for i in ids) else None

        _wait(lambda: settled(approved), "every approved entry posted", servers, daemons)
        found = _audit(admin, hung_id)
        posted = [a for a in found if a["action"] == "posted"]
        assert len(posted) == 1 and "found after an uncertain attempt" in json.dumps(posted[0]), found
        assert f":{survivor.pid}:" in posted[0]["via"], posted  # recorded by the process that took it over
        _each_once(sandboxes, {i: online[i] for i in approved}, techs_of(daemons), admin)

        # the rejected entry: the daemon shows it with the comment; edited, resubmitted, approved at both levels
        wait_until(lambda: two.entries()[rejected]["status"] == "rejected", WAIT_S, "the rejection on daemon 2")
        listed = _cli(two.home, "entries", "--port", str(two.port))
        assert listed.returncode == 0, listed.stderr
        [line] = [line for line in listed.stdout.splitlines() if line.startswith(rejected[:8])]
        assert "rejected" in line and REJECT_COMMENT in listed.stdout, listed.stdout
        two.call("PATCH", f"/api/v1/entries/{rejected}", {"notes": "tech 2 on halopsa: the Contoso printer"})
        assert two.call("POST", f"/api/v1/entries/{rejected}/submit", {})["status"] == "submitted"
        wait_until(lambda: _server_entries(admin)[rejected]["status"] == "submitted", WAIT_S, "the resubmitted entry")
        lead, billing = _signed_in(lb.url, "lead@example.com"), _signed_in(lb.url, "billing@example.com")
        _decide(lead, [rejected], 1)
        _decide(billing, [rejected], 2)
        _wait(lambda: settled([rejected]), "the resubmitted entry posted", [survivor], daemons)

        # the relay comes back: daemon 3's entries arrive (its next local change syncs at once), approved, posted
        far.restore()
        late = three.timed(
            sandboxes["autotask"].instance["name"], sandbox_module("autotask").SEED.service_ticket, "autotask",
            "tech 3, back online"
        )  # fmt: skip
        wait_until(
            lambda: all(_server_entries(admin).get(i, {}).get("status") == "submitted" for i in three.made),
            WAIT_S, "daemon 3's entries on the server",
        )  # fmt: skip
        _decide(lead, sorted(three.made), 1)
        _decide(billing, sorted(three.made), 2)
        everything = {**online, **three.made}
        final = _wait(lambda: settled(sorted(everything)), "daemon 3's entries posted", [survivor], daemons)
        assert late in final

        # nothing lost or doubled: every entry of every daemon posted once, as its technician, with its PSA id
        # locally; the seconds agree on the daemon, the server and the PSA
        stored = _each_once(sandboxes, everything, techs_of(daemons), admin)
        assert "tech 2 on halopsa: the Contoso printer" in stored[rejected].notes  # the edited version was posted
        for d in daemons:
            local = wait_until(partial(_all_posted, d), WAIT_S, f"daemon {d.n}'s entries posted locally")
            assert local is not None
            assert set(local) == set(d.made), (d.n, set(local) ^ set(d.made))
            for entry_id, kind in d.made.items():
                assert local[entry_id]["psa_ids"] == [stored[entry_id].psa_id], (d.n, entry_id, kind)
            seconds = {i: local[i]["billed_seconds"] for i in d.made}
            assert seconds == {i: final[i]["billed_seconds"] for i in d.made}
            assert seconds == {i: round(stored[i].hours * 3600) for i in d.made}, d.n
        assert len(final) == len(everything) == 10
        # and in total, per technician: the daemons, the server's team summary, the PSAs
        days = sorted({time.strftime("%Y-%m-%d", time.gmtime(e["started_at"])) for e in final.values()})
        summary = _ok(
            admin.get(f"/api/team/v1/summary?team={team['id']}&from={days[0]}&to={days[-1]}&group=technician")
        )
        by_tech = {row["key"]: row["billed_seconds"] for row in summary["rows"]}
        for d, person in zip(daemons, techs, strict=True):
            daemon_total = sum(e["billed_seconds"] for i, e in d.entries().items() if i in d.made)
            psa_total = round(sum(stored[i].hours for i in d.made) * 3600)
            assert by_tech[person["id"]] == daemon_total == psa_total, (d.n, summary)
        assert summary["entries"] == 10 and summary["billed_seconds"] == 10 * 900
        for client in (admin, lead, billing):
            client.close()
    finally:
        for proc in [*procs, *servers]:
            stop_process(proc)


def _all_posted(d: Daemon) -> dict[str, dict[str, Any]] | None:
    got = d.entries()
    return got if all(got[i]["status"] == "posted" for i in d.made) else None


def techs_of(daemons: list[Daemon]) -> dict[str, int]:
    """entry id → its technician's index."""
    return {i: d.n - 1 for d in daemons for i in d.made}


def _notes(stored: list[StoredEntry]) -> list[str]:
    return [e.notes + e.internal_notes for e in stored]


def _each_once(
    sandboxes: dict[str, RemoteSandbox],
    made: dict[str, str],
    tech: dict[str, int],
    admin: httpx.Client,
) -> dict[str, StoredEntry]:
    """Each entry's marker exactly once in its PSA, logged as its technician, with the PSA id the server recorded;
    no PSA holds a record of anything else."""
    found: dict[str, StoredEntry] = {}
    for kind in KINDS:
        stored = sandboxes[kind].stored()
        mine = {i for i, k in made.items() if k == kind}
        counts = Counter(i for e in stored for i in mine if marker(i) in e.notes + e.internal_notes)
        assert counts == Counter(mine), (kind, counts)
        assert len(stored) == len(mine), (kind, stored)
        for entry_id in mine:
            [record] = [e for e in stored if marker(entry_id) in e.notes + e.internal_notes]
            assert record.who == IDENTITY[kind][tech[entry_id]][1], (kind, entry_id, record)
            [posted] = [a for a in _audit(admin, entry_id) if a["action"] == "posted"]
            assert posted["detail"]["psa_ids"] == [record.psa_id], (entry_id, posted)
            found[entry_id] = record
    return found


def _audit(admin: httpx.Client, entry_id: str) -> list[dict[str, Any]]:
    trail: list[dict[str, Any]] = _ok(admin.get(f"/api/team/v1/entries/{entry_id}/audit"))["audit"]
    return trail


def _wait(predicate: Any, what: str, servers: list[ServerProcess], daemons: list[Daemon]) -> Any:
    """`wait_until` with the servers' and daemons' output when it times out."""
    try:
        return wait_until(predicate, WAIT_S, what)
    except AssertionError as exc:
        logs = "\n".join(f"--- {s.home.name}\n{server_output(s.home)[1][-3000:]}" for s in servers)
        logs += "\n".join(f"--- daemon {d.n}\n{d.logs()}" for d in daemons)
        raise AssertionError(f"{exc}\n{logs}") from None
