"""One contract, three PSAs: the same scenarios run against each connector and its sandbox look-alike.

Each connector is built from the `CONNECTORS` registry with the sandbox's `demo_instance`, and talks to the sandbox on
a real loopback socket through a real `httpx.AsyncClient`. Every request body sent during a test is captured by an
httpx event hook and checked against the vendor's API extract (tests/contracts) when the test ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web

from daemon.clock import FakeClock
from daemon.connectors import (
    CONNECTORS,
    Connector,
    ConnectorAuthError,
    ConnectorUnavailable,
    PostEntry,
    TicketNotFound,
)
from daemon.connectors.base import marker
from daemon.sandbox import KINDS, sandbox_module
from daemon.sandbox.common import Seed, StoredEntry
from daemon.sandbox.faults import FAULTS, Faults
from daemon.settings import InstanceConfig
from daemon.timers.model import TicketRef
from tests.daemon.connectors.schema import validate_body

NOW = datetime(2026, 5, 27, 15, 0, tzinfo=UTC).timestamp()
"""A Wednesday afternoon (UTC): entries an hour or two earlier stay on one day in every time zone rule."""

WRONG_SECRET = {"connectwise": "private_key", "autotask": "secret", "halopsa": "client_secret"}
"""The secret field of each kind's credentials (replaced with a wrong value to test refusal)."""

pytestmark = pytest.mark.parametrize("kind", KINDS)


@dataclass
class Env:
    kind: str
    module: ModuleType
    app: web.Application
    base_url: str
    clock: FakeClock
    http: httpx.AsyncClient
    instance: InstanceConfig
    credentials: Any
    sent: list[tuple[str, httpx.URL, bytes, str]] = field(default_factory=list)
    """(method, url, body, content type) of every request any connector sent."""

    @property
    def seed(self) -> Seed:
        seed: Seed = self.module.SEED
        return seed

    @property
    def faults(self) -> Faults:
        return self.app[FAULTS]

    def connector(self, credentials: Any = None) -> Connector:
        cls: Any = CONNECTORS[self.kind]
        made: Connector = cls(self.instance, credentials or self.credentials, http=self.http, clock=self.clock)
        return made

    def stored(self) -> list[StoredEntry]:
        stored: list[StoredEntry] = self.module.stored_entries(self.app)
        return stored

    def with_marker(self, entry_id: str) -> list[StoredEntry]:
        tag = marker(entry_id)
        return [s for s in self.stored() if tag in s.notes or tag in s.internal_notes]

    def entry(self, entry_id: str, *, minutes: int = 30, ago_s: float = 7200, ticket: int | None = None) -> PostEntry:
        start = float(int(NOW - ago_s))
        return PostEntry(
            entry_id=entry_id,
            ticket=TicketRef(
                instance=self.instance.name, kind=self.kind, id=self.seed.service_ticket if ticket is None else ticket
            ),
            start=start,
            end=start + minutes * 60,
            seconds=minutes * 60,
            notes=f"Contract note for {entry_id}",
        )


def _schema_for(kind: str, method: str, url: httpx.URL) -> str | None:
    """The vendor schema a request body must satisfy (None: a body that is not a vendor JSON payload)."""
    path = url.path.lower()
    if kind == "connectwise":
        return "TimeEntry" if method == "POST" and path.endswith("/time/entries") else None
    if kind == "autotask":
        if path.endswith("/query") or path.endswith("/query/count"):
            return "QueryModel"
        return "TimeEntryModel" if method == "POST" and path.endswith("/timeentries") else None
    return "Actions" if method == "POST" and path.endswith("/api/actions") else None


def check_sent(env: Env) -> int:
    """Validate every captured JSON body (and Autotask's GET `?search=` queries); returns how many were checked."""
    checked = 0
    for method, url, content, content_type in env.sent:
        if env.kind == "autotask" and method == "GET" and "search" in url.params:
            validate_body("autotask", "QueryModel", json.loads(url.params["search"]))
            checked += 1
        if not content:
            continue
        schema = _schema_for(env.kind, method, url)
        if schema is None:
            assert not content_type.startswith("application/json"), f"unexpected JSON body to {method} {url.path}"
            continue
        validate_body(env.kind, schema, json.loads(content))
        checked += 1
    return checked


@pytest.fixture
async def env(kind: str) -> AsyncIterator[Env]:
    module = sandbox_module(kind)
    clock = FakeClock(NOW)
    app = module.create_app(clock=clock)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base_url = f"http://{host}:{port}"
    instance, credentials = module.demo_instance(base_url)
    sent: list[tuple[str, httpx.URL, bytes, str]] = []

    async def capture(request: httpx.Request) -> None:
        sent.append((request.method, request.url, request.content, request.headers.get("Content-Type", "")))

    try:
        async with httpx.AsyncClient(event_hooks={"request": [capture]}) as http:
            env = Env(kind, module, app, base_url, clock, http, instance, credentials, sent)
            yield env
    finally:
        await runner.cleanup()
    check_sent(env)


# -- look-ups ------------------------------------------------------------------------------------------------------


async def test_test_gives_the_api_identity(env: Env) -> None:
    who = await env.connector().test()
    assert who.id == env.seed.api_user
    assert who.name


async def test_service_ticket(env: Env) -> None:
    info = await env.connector().ticket(
        TicketRef(instance=env.instance.name, kind=env.kind, id=env.seed.service_ticket)
    )
    assert info.id == env.seed.service_ticket
    assert info.summary == env.seed.ticket_summary
    assert info.company == env.seed.ticket_company
    assert info.assignee is not None and info.assignee.id == env.seed.assignee
    assert not info.is_project


async def test_missing_ticket(env: Env) -> None:
    with pytest.raises(TicketNotFound):
        await env.connector().ticket(TicketRef(instance=env.instance.name, kind=env.kind, id=env.seed.missing_ticket))


async def test_identities(env: Env) -> None:
    connector = env.connector()
    me = await connector.identity(None)
    assert me.id == env.seed.api_user
    other = await connector.identity(env.seed.other_user)
    assert other.id not in (env.seed.api_user, env.seed.assignee, "")


# -- post and find -------------------------------------------------------------------------------------------------


async def test_post_stores_one_record_that_find_returns(env: Env) -> None:
    connector = env.connector()
    entry = env.entry("contract-1", minutes=30)
    assert await connector.find(entry) is None
    posted = await connector.post(entry)
    (stored,) = env.with_marker("contract-1")
    assert posted.psa_ids == [stored.psa_id]
    assert stored.ticket_id == env.seed.service_ticket
    assert stored.hours == pytest.approx(entry.seconds / 3600, abs=0.005)
    assert (stored.start, stored.end) == (entry.start, entry.end)
    assert entry.notes in stored.notes
    assert stored.who == env.seed.api_user
    assert len(env.stored()) == 1
    assert await connector.find(entry) == posted


async def test_a_second_entry_on_the_ticket_does_not_confuse_find(env: Env) -> None:
    connector = env.connector()
    first, second = env.entry("contract-1"), env.entry("contract-10", ago_s=4 * 3600, minutes=45)
    posted_first = await connector.post(first)
    assert await connector.find(second) is None
    posted_second = await connector.post(second)
    assert posted_first.psa_ids != posted_second.psa_ids
    assert await connector.find(first) == posted_first
    assert await connector.find(second) == posted_second
    assert len(env.stored()) == 2


async def test_dropped_after_commit_is_ambiguous_and_find_recovers_it(env: Env) -> None:
    connector = env.connector()
    entry = env.entry("contract-drop")
    await connector.test()  # token, zone and identity look-ups out of the way: the drop hits the time entry
    env.faults.drop_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(entry)
    assert caught.value.ambiguous
    assert env.faults.drop_after_commit_next == 0
    (stored,) = env.with_marker("contract-drop")
    found = await connector.find(entry)
    assert found is not None and found.psa_ids == [stored.psa_id]


# -- failures ------------------------------------------------------------------------------------------------------


async def test_429_is_unavailable_with_retry_after(env: Env) -> None:
    connector = env.connector()
    await connector.test()
    env.faults.retry_after_s = 7
    env.faults.rate_limit_every = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.ticket(TicketRef(instance=env.instance.name, kind=env.kind, id=env.seed.service_ticket))
    assert caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(7)
    assert not caught.value.ambiguous
    with pytest.raises(ConnectorUnavailable) as posting:
        await connector.post(env.entry("contract-429"))
    assert posting.value.retry_after == pytest.approx(7)
    env.faults.rate_limit_every = 0
    assert env.stored() == []


async def test_503_on_a_read_is_not_ambiguous_on_a_write_it_is(env: Env) -> None:
    connector = env.connector()
    await connector.test()
    await connector.ticket(TicketRef(instance=env.instance.name, kind=env.kind, id=env.seed.service_ticket))
    env.faults.fail_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.ticket(TicketRef(instance=env.instance.name, kind=env.kind, id=env.seed.service_ticket))
    assert caught.value.status == 503 and not caught.value.ambiguous
    entry = env.entry("contract-503")
    env.faults.fail_next = 1  # look-ups are cached: this 503 answers the time entry itself, before any commit
    with pytest.raises(ConnectorUnavailable) as posting:
        await connector.post(entry)
    assert posting.value.status == 503 and posting.value.ambiguous  # the client cannot tell it was not applied
    assert env.stored() == []
    assert await connector.find(entry) is None  # the look-up the outbox makes, then it posts again
    await connector.post(entry)
    assert len(env.with_marker("contract-503")) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_5xx_after_commit_is_ambiguous_and_find_recovers_it(env: Env, status: int) -> None:
    """A gateway's 5xx (or 408) after the PSA stored the entry: the write may have been applied, on every PSA."""
    connector = env.connector()
    entry = env.entry(f"contract-{status}")
    await connector.test()
    await connector.ticket(TicketRef(instance=env.instance.name, kind=env.kind, id=env.seed.service_ticket))
    env.faults.error_after_commit_status = status
    env.faults.error_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(entry)
    assert (caught.value.status, caught.value.ambiguous) == (status, True)
    assert env.faults.error_after_commit_next == 0
    (stored,) = env.with_marker(entry.entry_id)
    found = await connector.find(entry)
    assert found is not None and found.psa_ids == [stored.psa_id]
    assert len(env.stored()) == 1


async def test_which_failed_writes_may_have_been_applied(env: Env) -> None:
    """The one policy (`base.maybe_applied`) as each connector applies it to a time-entry write."""
    connector = env.connector()
    await connector.test()
    await connector.ticket(TicketRef(instance=env.instance.name, kind=env.kind, id=env.seed.service_ticket))
    env.faults.retry_after_s = 0
    cases: list[tuple[str, dict[str, int], bool]] = [
        ("429 (refused unprocessed)", {"rate_limit_every": 1}, False),
        ("503 before commit", {"fail_next": 1}, True),
        ("502 after commit", {"error_after_commit_next": 1}, True),
        ("dropped after commit", {"drop_after_commit_next": 1}, True),
    ]
    seen = {}
    for n, (what, switches, _) in enumerate(cases):
        for name, value in switches.items():
            setattr(env.faults, name, value)
        with pytest.raises(ConnectorUnavailable) as caught:
            await connector.post(env.entry(f"contract-policy-{n}", ago_s=7200 + n * 3600))
        for name in switches:
            setattr(env.faults, name, 0)
        seen[what] = caught.value.ambiguous
    assert seen == {what: expected for what, _, expected in cases}


async def test_wrong_credentials_are_an_auth_error(env: Env) -> None:
    wrong = msgspec.structs.replace(env.credentials, **{WRONG_SECRET[env.kind]: "not-the-secret"})
    with pytest.raises(ConnectorAuthError):
        await env.connector(wrong).test()
    with pytest.raises(ConnectorAuthError):
        await env.connector(wrong).post(env.entry("contract-auth"))
    assert env.stored() == []


async def test_every_request_body_fits_the_vendor_contract(env: Env) -> None:
    """The fixture checks the bodies after every test; this one makes sure the check sees the writes at all."""
    connector = env.connector()
    await connector.post(env.entry("contract-schema"))
    await connector.find(env.entry("contract-schema"))
    assert check_sent(env) >= 1
