"""Team server test helpers: server processes (`spawn_server`), an in-process server on a real port
(`start_server`), and seeding people and teams straight into the database."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from daemon.clock import Clock
from daemon.server.app import create_server_app
from daemon.server.config import ServerConfig
from daemon.server.model import Person, Role, Team
from daemon.server.services import SERVER, ServerServices
from daemon.server.store import people
from tests.support import POLL_S, START_DEADLINE_S, daemon_env, stop_process

__all__ = [
    "RunningServer",
    "ServerProcess",
    "launch_server",
    "seed_entry",
    "seed_person",
    "seed_team",
    "server_output",
    "signed_in",
    "spawn_server",
    "start_server",
    "wait_ready",
]

_LISTENING = re.compile(r"listening on (http://\S+)")


class ServerProcess(subprocess.Popen[bytes]):
    """A `python -m daemon server` child; `url` is the address it reported, once /readyz answered 200."""

    url: str = ""
    home: Path


def server_output(home: Path) -> tuple[str, str]:
    out, err = home / "server.stdout.txt", home / "server.stderr.txt"
    return (
        out.read_text(encoding="utf-8", errors="replace") if out.exists() else "",
        err.read_text(encoding="utf-8", errors="replace") if err.exists() else "",
    )


def spawn_server(
    home: Path, database_url: str, *, env: dict[str, str] | None = None, timeout: float = START_DEADLINE_S
) -> ServerProcess:
    """Start `python -m daemon server --bind 127.0.0.1:0`; return once it printed its address and /readyz is 200.
    Output goes to server.stdout.txt / server.stderr.txt in `home`."""
    return wait_ready(launch_server(home, database_url, env=env), timeout=timeout)


def launch_server(home: Path, database_url: str, *, env: dict[str, str] | None = None) -> ServerProcess:
    """Start a server process without waiting for it (`wait_ready` does)."""
    home.mkdir(parents=True, exist_ok=True)
    child_env = daemon_env(home) | {"TICKETCLOCK_DATABASE_URL": database_url} | (env or {})
    with (home / "server.stdout.txt").open("wb") as out, (home / "server.stderr.txt").open("wb") as err:
        proc = ServerProcess(
            [sys.executable, "-m", "daemon", "server", "--bind", "127.0.0.1:0"],
            env=child_env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    proc.home = home
    return proc


def wait_ready(proc: ServerProcess, *, timeout: float = START_DEADLINE_S) -> ServerProcess:
    """Wait until `proc` printed its address and its /readyz answers 200; `proc.url` is then that address."""
    deadline = time.monotonic() + timeout
    seen = "nothing printed yet"
    while True:
        stdout, stderr = server_output(proc.home)
        found = _LISTENING.search(stdout)
        if found:
            try:
                answer = httpx.get(found.group(1) + "/readyz", timeout=10)
                if answer.status_code == 200:
                    proc.url = found.group(1)
                    return proc
                seen = f"/readyz {answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                seen = f"/readyz: {type(exc).__name__} {exc}"
        exited = proc.poll() is not None
        if exited or time.monotonic() > deadline:
            code = stop_process(proc)
            why = f"exited with {code}" if exited else f"not ready after {timeout} s (killed: {code})"
            raise AssertionError(
                f"server {why}; last check: {seen}\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
            )
        time.sleep(POLL_S)


@dataclass
class RunningServer:
    url: str
    runner: web.AppRunner
    app: web.Application

    @property
    def services(self) -> ServerServices:
        return self.app[SERVER]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_server(database_url: str, *, clock: Clock | None = None, **config: Any) -> RunningServer:
    """The server app in this process on a real loopback port (port 0, read back)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    app = create_server_app(ServerConfig(database_url=database_url, port=port, **config), clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return RunningServer(url=f"http://127.0.0.1:{port}", runner=runner, app=app)


async def seed_team(services: ServerServices, name: str, approval: str = "one") -> Team:
    team = Team(id=uuid.uuid4().hex, name=name, approval=approval, created_at=services.clock.now())  # type: ignore[arg-type]
    async with services.db.transaction() as tx:
        await people.create_team(tx, team)
    return team


async def seed_person(
    services: ServerServices,
    email: str,
    *,
    name: str = "",
    team: Team | None = None,
    roles: tuple[Role, ...] = ("technician",),
    is_admin: bool = False,
    password_hash: str | None = None,
    psa_identities: dict[str, str] | None = None,
) -> Person:
    person = Person(
        id=uuid.uuid4().hex,
        email=email,
        name=name or email.partition("@")[0].title(),
        is_admin=is_admin,
        psa_identities=psa_identities or {},
        created_at=services.clock.now(),
    )
    async with services.db.transaction() as tx:
        await people.create_person(tx, person, password_hash)
        for role in roles if team is not None else ():
            assert team is not None
            await people.add_role(tx, team.id, person.id, role)
    found = await _person(services, person.id)
    return found


async def _person(services: ServerServices, person_id: str) -> Person:
    async with services.db.connection() as conn:
        found = await people.person_by_id(conn, person_id)
    assert found is not None
    return found


# --- teamweb: entries synced by a technician, and a signed-in web client ------------------------------------------


async def seed_entry(
    services: ServerServices,
    team: Team,
    person: Person,
    entry_id: str,
    *,
    started_at: float,
    seconds: int = 3600,
    status: str = "submitted",
    version: int = 1,
    company: str = "Acme",
    work_type: str = "Remote",
    ticket_id: int | None = 7,
    task: str | None = None,
    notes: str = "",
) -> str:
    """An entry arriving from `person`'s daemon through the entry flow (`flow.receive`); returns its answer."""
    from daemon.entries.model import Entry
    from daemon.server import flow
    from daemon.server.model import SyncedEntry

    entry = Entry(
        id=entry_id, source="timer", instance="cw", ticket_id=ticket_id, ticket_number=None if ticket_id is None
        else str(ticket_id), task=task, kind="task" if task else "ticket", summary=f"Ticket {ticket_id}",
        company=company, work_type=work_type, started_at=started_at, ended_at=started_at + seconds,
        actual_seconds=seconds, billed_seconds=seconds, notes=notes, status=status,  # type: ignore[arg-type]
        created_at=started_at, updated_at=started_at + seconds,
    )  # fmt: skip
    async with services.db.transaction() as tx:
        return await flow.receive(
            tx, team, person, SyncedEntry(entry=entry, version=version, device_id="seed"), services.clock.now()
        )


@contextlib.asynccontextmanager
async def signed_in(url: str, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in with a password (its session cookie kept; its changes sent from the server's own
    origin, as its pages send them)."""
    async with httpx.AsyncClient(base_url=url, headers={"Origin": url}, timeout=30) as client:
        answer = await client.post("/api/team/v1/session", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        yield client


# --- sync (s4-sync): admins, invites and enrolled devices -------------------------------------------------------------


@contextlib.asynccontextmanager
async def admin_client(
    server_url: str, services: ServerServices, email: str = "admin@example.com"
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client signed in as a new admin (its changes carry the server's Origin)."""
    from daemon.server.auth import hash_password

    await seed_person(services, email, is_admin=True, password_hash=hash_password("admin-password"))
    async with httpx.AsyncClient(base_url=server_url, headers={"Origin": server_url}) as client:
        signed = await client.post("/api/team/v1/session", json={"email": email, "password": "admin-password"})
        assert signed.status_code == 200, signed.text
        yield client


async def invite_code(admin: httpx.AsyncClient, person_id: str) -> str:
    made = await admin.post("/api/team/v1/invites", json={"person_id": person_id})
    assert made.status_code == 201, made.text
    code: str = made.json()["code"]
    return code


async def enrolled_device(server_url: str, admin: httpx.AsyncClient, person_id: str, name: str = "laptop") -> str:
    """A device token for the person, enrolled by an invite (active at once)."""
    async with httpx.AsyncClient(base_url=server_url) as client:
        done = await client.post(
            "/api/team/v1/devices/enroll", json={"name": name, "invite_code": await invite_code(admin, person_id)}
        )
    assert done.status_code == 201, done.text
    token: str = done.json()["token"]
    return token
