"""The outbox through the real daemon: 429 storms, 5xx, timeouts, dropped connections, token loss, wrong and missing
credentials, refused entries — against the three sandbox PSAs on real loopback sockets.

The daemon is `create_app` served on a real port with the system clock, a small `outbox.backoff_s` and sandbox
`Retry-After`s of a few hundredths of a second, so retries happen at once without any fake time. Entries are made
through `POST /api/v1/entries` (approval "none": queued at once). Every test ends by reading the SANDBOX's own store:
each entry's marker exists exactly once (Autotask: once per part) and the entry is `posted` with those records' ids,
or it is `failed` with the PSA's message — zero duplicates, zero lost.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import httpx
import msgspec
import pytest
from aiohttp import web

from daemon.clock import SystemClock
from daemon.connectors.base import marker
from daemon.sandbox import KINDS, sandbox_module
from daemon.sandbox.common import StoredEntry
from daemon.sandbox.faults import FAULTS, Faults
from tests.support import (
    HANG_TIMEOUT_S,
    RunningDaemon,
    await_until,
    instance_toml,
    make_settings,
    start_daemon,
    yesterday_at,
)

SHORT_TIMEOUT: dict[str, dict[str, str | int]] = {
    # The connectors' per-request timeout knobs, set to `HANG_TIMEOUT_S` so a hanging PSA times out soon: only in
    # the tests that make the sandbox hang (`hanging_world`); everywhere else the connectors keep their default
    # timeouts. The config's options table holds str, int or bool only, so seconds are written as a string.
    "connectwise": {"timeout_s": str(HANG_TIMEOUT_S)},
    "autotask": {"timeout_ms": HANG_TIMEOUT_S * 1000},
    "halopsa": {"timeout_s": str(HANG_TIMEOUT_S)},
}
WRONG_SECRET = {"connectwise": "private_key", "autotask": "secret", "halopsa": "client_secret"}
PSA_REFUSAL = {
    # What each sandbox says about a ticket that does not exist (the vendors' wording, as the sandboxes carry it).
    "connectwise": "Ticket with id 99999 not found",
    "autotask": "ticketID of type: Ticket does not exist",
    "halopsa": "Ticket 9999 does not exist",
}
WAIT_S = 30.0


@dataclass
class Sandbox:
    kind: str
    module: ModuleType
    app: web.Application
    runner: web.AppRunner
    base_url: str
    name: str
    instance: dict[str, Any]
    credentials: dict[str, Any]

    @property
    def faults(self) -> Faults:
        return self.app[FAULTS]

    def stored(self) -> list[StoredEntry]:
        stored: list[StoredEntry] = self.module.stored_entries(self.app)
        return stored


async def start_sandbox(kind: str, *, short_timeout: bool = False) -> Sandbox:
    module = sandbox_module(kind)
    app = module.create_app(clock=SystemClock())
    # handler_cancellation: a request the sandbox is told to hang on ends when our client gives up on it.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base_url = f"http://{host}:{port}"
    instance, credentials = module.demo_instance(base_url)
    raw = msgspec.to_builtins(instance)
    raw["options"] = {**raw.get("options", {}), **(SHORT_TIMEOUT[kind] if short_timeout else {})}
    return Sandbox(kind, module, app, runner, base_url, instance.name, raw, msgspec.to_builtins(credentials))


def config_text(sandboxes: Iterable[Sandbox]) -> str:
    lines = [
        'credentials = "file"',
        'timezone = "UTC"',
        "",
        "[outbox]",
        "backoff_s = 0.02",
        "max_backoff_s = 0.2",
        "max_attempts = 200",
    ]
    for sb in sandboxes:
        lines += instance_toml(sb.instance)
    return "\n".join(lines) + "\n"


@dataclass
class World:
    daemon: RunningDaemon
    sandboxes: dict[str, Sandbox]
    created: dict[str, list[str]]
    """Entry ids made by the test, per kind."""

    @property
    def api(self) -> httpx.AsyncClient:
        return self.daemon.http

    async def connect(self, kind: str) -> None:
        sb = self.sandboxes[kind]
        response = await self.api.put(f"/api/v1/psa/{sb.name}/credentials", json={"credentials": sb.credentials})
        assert response.status_code == 200, response.text
        assert response.json()["ok"] is True

    async def create(self, kind: str, count: int, *, ticket: int | None = None, first: int = 0) -> list[str]:
        """`count` 20-minute entries yesterday (UTC), 25 minutes apart: in the past, never across midnight."""
        sb = self.sandboxes[kind]
        base = yesterday_at(6)
        ids = []
        for i in range(first, first + count):
            start = base + i * 25 * 60
            body = {
                "instance": sb.name,
                "ticket": str(sb.module.SEED.service_ticket if ticket is None else ticket),
                "started_at": start,
                "ended_at": start + 20 * 60,
                "notes": f"outbox test {kind} #{i}",
            }
            response = await self.api.post("/api/v1/entries", json=body)
            assert response.status_code == 201, response.text
            entry = response.json()
            assert entry["status"] == "queued"
            ids.append(entry["id"])
        self.created.setdefault(kind, []).extend(ids)
        return ids

    async def entries(self) -> dict[str, dict[str, Any]]:
        response = await self.api.get("/api/v1/entries", params={"limit": "5000"})
        assert response.status_code == 200
        return {e["id"]: e for e in response.json()["entries"]}

    async def outbox(self) -> list[dict[str, Any]]:
        response = await self.api.get("/api/v1/outbox")
        assert response.status_code == 200
        rows: list[dict[str, Any]] = response.json()["rows"]
        return rows

    async def settled(self, timeout: float = WAIT_S) -> dict[str, dict[str, Any]]:
        """Wait until none of our entries is queued; returns every entry by id."""

        async def check() -> dict[str, dict[str, Any]] | None:
            entries = await self.entries()
            mine = [entries[i] for ids in self.created.values() for i in ids]
            return entries if all(e["status"] != "queued" for e in mine) else None

        return await await_until(check, timeout=timeout, what="every entry to leave the queue")

    async def check_exactly_once(self) -> dict[str, dict[str, Any]]:
        """The sandbox stores each posted entry's marker exactly once (once per part); failed ones not at all."""
        entries = await self.settled()
        for kind, ids in self.created.items():
            stored = self.sandboxes[kind].stored()
            for entry_id in ids:
                entry = entries[entry_id]
                tag = marker(entry_id)
                records = [s for s in stored if tag in s.notes or tag in s.internal_notes]
                if entry["status"] == "failed":
                    assert records == [], f"{kind}: failed entry {entry_id} reached the PSA"
                    assert entry["status_reason"], f"{kind}: failed entry {entry_id} says nothing"
                    continue
                assert entry["status"] == "posted", f"{kind}: {entry_id} is {entry['status']}"
                assert sorted(s.psa_id for s in records) == sorted(entry["psa_ids"]), (
                    f"{kind}: entry {entry_id} has records {[s.psa_id for s in records]}, psa_ids {entry['psa_ids']}"
                )
                labels = Counter(_marker_line(s, tag) for s in records)
                assert all(n == 1 for n in labels.values()), f"{kind}: {entry_id} stored twice: {labels}"
                assert sum(s.hours for s in records) == pytest.approx(entry["billed_seconds"] / 3600, abs=0.01)
        await self.check_no_secrets()
        return entries

    async def check_no_secrets(self) -> None:
        """No credential value (secret or not) appears in GET /api/v1/psa (instance names aside: Halo's tenant
        "sandbox" is part of "halopsa-sandbox")."""
        body = (await self.api.get("/api/v1/psa")).text
        for sb in self.sandboxes.values():
            body = body.replace(sb.name, "")
        for sb in self.sandboxes.values():
            for key, value in sb.credentials.items():
                if isinstance(value, str) and value:
                    assert value not in body, f"GET /api/v1/psa shows the {sb.kind} credential {key}"


def _marker_line(stored: StoredEntry, tag: str) -> str:
    """The marker with its part label (Autotask: "[ticketclock:ID] part 1/2"), as stored."""
    for line in (stored.internal_notes + "\n" + stored.notes).splitlines():
        if tag in line:
            return line[line.index(tag) :]
    raise AssertionError(f"{tag} not in {stored}")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with _world(tmp_path, short_timeout=False) as made:
        yield made


@pytest.fixture
async def hanging_world(tmp_path: Path) -> AsyncIterator[World]:
    """For tests that make a sandbox hang: the connectors time out after 0.3 s."""
    async with _world(tmp_path, short_timeout=True) as made:
        yield made


@contextlib.asynccontextmanager
async def _world(tmp_path: Path, *, short_timeout: bool) -> AsyncIterator[World]:
    sandboxes = {kind: await start_sandbox(kind, short_timeout=short_timeout) for kind in KINDS}
    try:
        settings = make_settings(tmp_path, config_text=config_text(sandboxes.values()))
        daemon = await start_daemon(settings)
        try:
            yield World(daemon, sandboxes, {})
        finally:
            await daemon.stop()
    finally:
        for sb in sandboxes.values():
            await sb.runner.cleanup()


async def connected(world: World, kind: str) -> Sandbox:
    await world.connect(kind)
    return world.sandboxes[kind]


# -- the happy path, all three at once ---------------------------------------------------------------------------


async def test_entries_reach_every_psa_once(world: World) -> None:
    for kind in KINDS:
        await world.connect(kind)
        await world.create(kind, 4)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for ids in world.created.values() for i in ids)
    assert await world.outbox() == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_backlog_drained_when_credentials_arrive_asks_each_look_up_once(world: World, kind: str) -> None:
    """Entries queued before the credentials are claimed together the moment they arrive. One connector serves them
    all, the one that checked the credentials: no look-up (Autotask's zone and API user, a ConnectWise member, a
    Halo agent) is asked twice, and the writes are the entries, once each. Separate connectors built at once would
    each ask again, and each keep its own thread limit and hourly budget."""
    sb = world.sandboxes[kind]
    await world.create(kind, 8)
    await world.connect(kind)
    await world.check_exactly_once()
    reads = Counter((method, path) for method, path, _ in sb.faults.log if method == "GET")
    assert reads and max(reads.values()) == 1, reads
    writes = [status for method, _, status in sb.faults.log if method != "GET"]
    assert len(writes) == 8 and all(status < 300 for status in writes), writes


# -- faults, per PSA ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_429_storm(world: World, kind: str) -> None:
    sb = await connected(world, kind)
    sb.faults.retry_after_s = 0.05
    sb.faults.rate_limit_every = 3
    await world.create(kind, 10)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for i in world.created[kind])
    assert any(status == 429 for _, _, status in sb.faults.log)


@pytest.mark.parametrize("kind", KINDS)
async def test_5xx_then_recovery_and_the_outbox_shows_it(world: World, kind: str) -> None:
    sb = await connected(world, kind)
    sb.faults.fail_next = 1_000_000
    ids = await world.create(kind, 3)

    async def failing() -> list[dict[str, Any]] | None:
        rows = [r for r in await world.outbox() if r["entry_id"] in ids]
        return rows if len(rows) == 3 and all(r["attempts"] >= 2 and r["last_error"] for r in rows) else None

    rows = await await_until(failing, timeout=WAIT_S, what="the outbox to show failing attempts")
    for row in rows:
        assert row["instance"] == sb.name and row["status"] == "queued"
        assert "Service Unavailable" in row["last_error"] or "503" in row["last_error"], row
        assert row["next_at"] > 0
    assert sb.stored() == []
    sb.faults.fail_next = 0
    sb.faults.error_every = 4  # still some 5xx while draining
    await world.create(kind, 5, first=3)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for i in world.created[kind])
    history = (await world.api.get(f"/api/v1/entries/{ids[0]}")).json()["history"]
    assert history[-1]["to_status"] == "posted"


@pytest.mark.parametrize("kind", KINDS)
async def test_timeouts_after_commit_are_looked_up_not_reposted(hanging_world: World, kind: str) -> None:
    world = hanging_world
    sb = await connected(world, kind)
    sb.faults.hang_after_commit_next = 2
    await world.create(kind, 4)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for i in world.created[kind])
    assert sb.faults.hang_after_commit_next == 0
    assert len(sb.stored()) == 4


@pytest.mark.parametrize("kind", KINDS)
async def test_5xx_after_commit_is_looked_up_not_reposted(world: World, kind: str) -> None:
    """The PSA stored the entry, a gateway answered 502: the outbox finds it by its marker instead of posting again."""
    sb = await connected(world, kind)
    sb.faults.error_after_commit_next = 3
    await world.create(kind, 5)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for i in world.created[kind])
    assert sb.faults.error_after_commit_next == 0
    assert len(sb.stored()) == 5
    histories = [(await world.api.get(f"/api/v1/entries/{i}")).json()["history"] for i in world.created[kind]]
    assert sum("found after an uncertain attempt" in h[-1]["comment"] for h in histories) == 3


@pytest.mark.parametrize("kind", KINDS)
async def test_dropped_connections_after_commit(world: World, kind: str) -> None:
    sb = await connected(world, kind)
    sb.faults.drop_after_commit_next = 3
    await world.create(kind, 6)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for i in world.created[kind])
    assert sb.faults.drop_after_commit_next == 0
    assert len(sb.stored()) == 6
    histories = [(await world.api.get(f"/api/v1/entries/{i}")).json()["history"] for i in world.created[kind]]
    found = [h for h in histories if "found after an uncertain attempt" in h[-1]["comment"]]
    assert len(found) == 3


async def test_halo_token_revoked_and_expiring_mid_run(world: World) -> None:
    sb = await connected(world, "halopsa")
    store = sb.app[sb.module.STORE]
    await world.create("halopsa", 3)
    await world.settled()
    grants = store.token_requests
    store.revoke_tokens()  # the daemon's token is now refused with 401: it must fetch one new token and go on
    await world.create("halopsa", 3, first=3)
    await world.settled()
    assert store.token_requests == grants + 1
    store.expires_in = 1  # short-lived tokens from now on
    store.revoke_tokens()
    await world.create("halopsa", 3, first=6)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for i in world.created["halopsa"])
    assert len(sb.stored()) == 9


@pytest.mark.parametrize("kind", KINDS)
async def test_wrong_credentials_are_refused_and_entries_wait(world: World, kind: str) -> None:
    sb = world.sandboxes[kind]
    wrong = {**sb.credentials, WRONG_SECRET[kind]: "not-the-secret"}
    response = await world.api.put(f"/api/v1/psa/{sb.name}/credentials", json={"credentials": wrong})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "connection_failed"
    assert "not-the-secret" not in response.text
    credentials_file = world.daemon.settings.data_dir / "credentials.json"
    assert not credentials_file.exists() or sb.name not in json.loads(credentials_file.read_text())
    (status,) = [s for s in (await world.api.get("/api/v1/psa")).json()["instances"] if s["name"] == sb.name]
    # refused keys are not stored and say nothing of the instance's health: none were ever accepted
    assert status["credentials"] is False and status["health"] == "never"

    ids = await world.create(kind, 2)

    async def waiting() -> list[dict[str, Any]] | None:
        rows = [r for r in await world.outbox() if r["entry_id"] in ids]
        return rows if len(rows) == 2 and all(r["last_error"].startswith("no credentials") for r in rows) else None

    rows = await await_until(waiting, timeout=WAIT_S, what="entries waiting for credentials")
    assert all(r["status"] == "queued" for r in rows)
    assert sb.stored() == []
    # Good credentials: the waiting entries go out at once (not after the minute they were put off for).
    await world.connect(kind)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for i in ids)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_refused_entry_fails_with_the_psas_message(world: World, kind: str) -> None:
    sb = await connected(world, kind)
    (bad,) = await world.create(kind, 1, ticket=sb.module.SEED.missing_ticket)
    good = await world.create(kind, 2, first=1)
    entries = await world.check_exactly_once()
    assert all(entries[i]["status"] == "posted" for i in good)
    failed = entries[bad]
    assert failed["status"] == "failed"
    reason = failed["status_reason"]
    assert PSA_REFUSAL[kind] in reason, reason
    detail = (await world.api.get(f"/api/v1/entries/{bad}")).json()
    assert detail["entry"]["status_reason"] == reason
    assert detail["history"][-1]["to_status"] == "failed"
    (row,) = [r for r in await world.outbox() if r["entry_id"] == bad]
    assert row["status"] == "failed" and row["last_error"] == reason
    # Retrying a refused entry refuses it again, still without reaching the PSA.
    response = await world.api.post(f"/api/v1/entries/{bad}/retry")
    assert response.status_code == 200 and response.json()["status"] == "queued"

    async def failed_again() -> bool:
        return (await world.entries())[bad]["status"] == "failed"

    await await_until(failed_again, timeout=WAIT_S, what="the retried entry to fail again")
    await world.check_exactly_once()


async def test_websocket_clients_hear_of_posted_and_failed_entries(world: World) -> None:
    """The extension shows a notification per entry posted or refused: the daemon pushes `entry` news."""
    sb = await connected(world, "halopsa")
    d = world.daemon
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{d.base_url}/api/v1/ws", headers={"Origin": f"http://127.0.0.1:{d.port}"})
        await ws.send_json({"type": "hello", "install": "news", "instance": "i", "token": d.token})
        (bad,) = await world.create("halopsa", 1, ticket=sb.module.SEED.missing_ticket)
        (good,) = await world.create("halopsa", 1, first=1)
        news: dict[str, dict[str, Any]] = {}
        while len(news) < 2:
            msg = await ws.receive(timeout=WAIT_S)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data["type"] == "entry":
                news[data["id"]] = data
        await ws.close()
    assert news[good]["status"] == "posted" and news[good]["label"] == f"#{sb.module.SEED.service_ticket}"
    assert news[good]["seconds"] == 20 * 60
    assert news[bad]["status"] == "failed" and PSA_REFUSAL["halopsa"] in news[bad]["message"]
    await world.check_exactly_once()


async def test_an_autotask_ticket_known_by_number_is_resolved_and_posted(world: World) -> None:
    """ExecuteCommand.aspx?…&TicketNumber=T… pages name a number, not an id: the outbox asks the PSA for the id."""
    sb = await connected(world, "autotask")
    start = yesterday_at(9)
    body = {"instance": sb.name, "ticket": "T20240501.0042", "started_at": start, "ended_at": start + 1800}
    response = await world.api.post("/api/v1/entries", json=body)
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["status"] == "queued" and entry["ticket_id"] is None and entry["ticket_number"] == "T20240501.0042"
    world.created.setdefault("autotask", []).append(entry["id"])
    entries = await world.check_exactly_once()
    assert entries[entry["id"]]["ticket_id"] == sb.module.SEED.service_ticket
    [stored] = [s for s in sb.stored() if marker(entry["id"]) in s.internal_notes]
    assert stored.ticket_id == sb.module.SEED.service_ticket
