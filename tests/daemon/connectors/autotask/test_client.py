"""The Autotask connector against its sandbox on a real loopback socket, through a real httpx client.

Every request body the connector sends is captured by an httpx event hook and checked against the vendor's swagger
extract (tests/contracts/autotask.openapi.json) when each test ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiohttp import web

from daemon.clock import FakeClock, SystemClock
from daemon.connectors.autotask import AutotaskConnector, Credentials
from daemon.connectors.autotask.config import OptionsError
from daemon.connectors.base import (
    ConnectorAuthError,
    ConnectorRejected,
    ConnectorUnavailable,
    Identity,
    PostEntry,
    TicketNotFound,
    marker,
)
from daemon.sandbox.autotask import SEED, STORE, create_app, demo_instance, stored_entries
from daemon.sandbox.faults import FAULTS
from daemon.settings import InstanceConfig
from daemon.timers.model import TicketRef
from tests.daemon.connectors.schema import validate_body
from tests.support import HANG_TIMEOUT_S

START = datetime(2026, 5, 4, 14, 0, tzinfo=UTC).timestamp()
TECHNICIAN, ENGINEER = "29683461", "29683462"


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Env:
    app: web.Application
    base: str
    clock: FakeClock
    http: httpx.AsyncClient
    sent: list[tuple[str, str, bytes]] = field(default_factory=list)
    made: list[AutotaskConnector] = field(default_factory=list)

    def connector(
        self, *, options: dict[str, str | int | bool] | None = None, creds: Credentials | None = None, clock: Any = None
    ) -> AutotaskConnector:
        instance, good = demo_instance(self.base)
        if options:
            instance = InstanceConfig(
                name=instance.name, kind="autotask", origins=instance.origins, api_url=instance.api_url, options=options
            )
        conn = AutotaskConnector(instance, creds or good, http=self.http, clock=clock or self.clock)
        self.made.append(conn)
        return conn

    @property
    def store(self) -> Any:
        return self.app[STORE]

    @property
    def faults(self) -> Any:
        return self.app[FAULTS]


def check_sent(sent: list[tuple[str, str, bytes]]) -> None:
    """Every body we sent is a TimeEntryModel (create) or a QueryModel (query, also as GET ?search=) by the vendor's
    schema."""
    for method, url, content in sent:
        path = httpx.URL(url).path
        if method == "GET":
            assert not content
            search = httpx.URL(url).params.get("search")
            if search is not None:
                validate_body("autotask", "QueryModel", json.loads(search))
            continue
        body = json.loads(content)
        if path.lower().endswith("/query"):
            validate_body("autotask", "QueryModel", body)
        elif path.lower().endswith("/v1.0/timeentries"):
            validate_body("autotask", "TimeEntryModel", body)
        else:
            raise AssertionError(f"unexpected write {method} {path}")


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock(START + 3 * 86_400)
    app = create_app(clock=clock)
    sent: list[tuple[str, str, bytes]] = []

    async def capture(request: httpx.Request) -> None:
        sent.append((request.method, str(request.url), request.content))

    async with serve(app) as base, httpx.AsyncClient(event_hooks={"request": [capture]}) as http:
        e = Env(app=app, base=base, clock=clock, http=http, sent=sent)
        yield e
        for conn in e.made:
            await conn.aclose()
    assert sent, "the test sent nothing"
    check_sent(sent)


def entry(entry_id: str = "e1", **kw: Any) -> PostEntry:
    values: dict[str, Any] = {
        "entry_id": entry_id,
        "ticket": TicketRef(instance="autotask-sandbox", kind="autotask", id=SEED.service_ticket),
        "start": START,
        "end": START + 1800,
        "seconds": 1800,
        "notes": "Replaced the toner; test page printed.",
        "internal_notes": "Toner was a counterfeit.",
    }
    values.update(kw)
    return PostEntry(**values)


def posts(env: Env) -> list[Any]:
    return [r for r in env.store.requests if r.method == "POST" and r.path.lower().endswith("/v1.0/timeentries")]


# -- test / identity / ticket -----------------------------------------------------------------------------------------


async def test_test_resolves_the_api_user_and_its_default_role(env: Env) -> None:
    me = await env.connector().test()
    assert me == Identity(id=SEED.api_user, name="TicketClock API", role_id=TECHNICIAN)


async def test_identity_none_login_email_and_id(env: Env) -> None:
    conn = env.connector()
    assert (await conn.identity(None)).id == SEED.api_user
    other = await conn.identity(SEED.other_user)
    assert (other.name, other.role_id) == ("Alice Smith", ENGINEER)
    assert (await conn.identity("alice.smith@contoso-msp.example")).id == other.id
    assignee = await conn.identity(SEED.assignee)
    assert (assignee.id, assignee.name, assignee.role_id) == (SEED.assignee, "John Doe", TECHNICIAN)
    with pytest.raises(ConnectorRejected, match="no resource"):
        await conn.identity("nobody@example.com")
    with pytest.raises(ConnectorRejected, match="inactive"):
        await conn.identity("oldtech")


async def test_ticket_found_by_id_and_by_number(env: Env) -> None:
    conn = env.connector()
    info = await conn.ticket(TicketRef(instance="autotask-sandbox", kind="autotask", id=SEED.service_ticket))
    assert info.id == SEED.service_ticket
    assert info.number == "T20240501.0042"
    assert (info.summary, info.company) == (SEED.ticket_summary, SEED.ticket_company)
    assert (info.status, info.board, info.is_project) == ("In Progress", "Service Desk", False)
    assert info.assignee is not None and info.assignee.id == SEED.assignee
    by_number = await conn.ticket(TicketRef(instance="autotask-sandbox", kind="autotask", number="T20240501.0042"))
    assert by_number == info
    project = await conn.ticket(TicketRef(instance="autotask-sandbox", kind="autotask", id=SEED.project_ticket))
    assert project.is_project


async def test_ticket_not_found(env: Env) -> None:
    conn = env.connector()
    with pytest.raises(TicketNotFound):
        await conn.ticket(TicketRef(instance="autotask-sandbox", kind="autotask", id=SEED.missing_ticket))
    with pytest.raises(TicketNotFound):
        await conn.ticket(TicketRef(instance="autotask-sandbox", kind="autotask", number="T19990101.0001"))


async def test_zone_is_discovered_once(env: Env) -> None:
    conn = env.connector()
    await conn.test()
    await conn.ticket(TicketRef(instance="autotask-sandbox", kind="autotask", id=SEED.service_ticket))
    zone_calls = [s for s in env.sent if httpx.URL(s[1]).path.lower().endswith("/zoneinformation")]
    assert len(zone_calls) == 1


# -- post / find ------------------------------------------------------------------------------------------------------


async def test_post_stores_one_record_and_find_sees_it(env: Env) -> None:
    conn = env.connector()
    e = entry(billable="no")
    assert await conn.find(e) is None
    posted = await conn.post(e)
    [stored] = stored_entries(env.app)
    assert posted.psa_ids == [stored.psa_id]
    assert stored.ticket_id == SEED.service_ticket
    assert (stored.start, stored.end, stored.hours) == (START, START + 1800, 0.5)
    assert stored.notes == e.notes
    assert stored.internal_notes == f"{e.internal_notes}\n{marker('e1')}"
    assert (stored.who, stored.billable) == (SEED.api_user, "no")
    record = env.store.time_entries[int(stored.psa_id)]
    assert (record["roleID"], record["dateWorked"]) == (int(TECHNICIAN), "2026-05-04T00:00:00Z")
    assert await conn.find(e) == posted
    assert await conn.find(entry("e2")) is None


async def test_empty_notes_get_the_default_summary(env: Env) -> None:
    await env.connector().post(entry(notes="", internal_notes=""))
    [stored] = stored_entries(env.app)
    assert stored.notes == "Time logged by TicketClock"
    assert stored.internal_notes == marker("e1")


async def test_post_by_ticket_number(env: Env) -> None:
    ref = TicketRef(instance="autotask-sandbox", kind="autotask", number="T20240501.0042")
    posted = await env.connector().post(entry(ticket=ref))
    assert [s.ticket_id for s in stored_entries(env.app)] == [SEED.service_ticket]
    assert await env.connector().find(entry(ticket=ref)) == posted


async def test_post_to_a_missing_ticket_is_ticket_not_found(env: Env) -> None:
    ref = TicketRef(instance="autotask-sandbox", kind="autotask", id=SEED.missing_ticket)
    with pytest.raises(TicketNotFound, match="ticketID"):
        await env.connector().post(entry(ticket=ref))
    assert stored_entries(env.app) == []


async def test_vendor_refusal_is_rejected_with_the_vendors_text(env: Env) -> None:
    with pytest.raises(ConnectorRejected, match="not associated with Resource") as info:
        await env.connector().post(entry(role="29683463"))
    assert info.value.status == 500
    assert not isinstance(info.value, ConnectorUnavailable)


async def test_find_follows_next_page_url(env: Env) -> None:
    env.store.page_size = 1
    conn = env.connector()
    await conn.post(entry("other-1"))
    await conn.post(entry("other-2", internal_notes="mentions [ticketclock:e1] but is not it"))
    start = datetime(2026, 5, 4, 23, 0, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()
    late = entry("e1", start=start, end=start + 7200, seconds=7200, timezone="Europe/Amsterdam")
    assert await conn.find(late) is None  # other-2 quotes the marker but does not end with it
    posted = await conn.post(late)
    await conn.post(entry("other-3"))
    assert len(posted.psa_ids) == 2
    assert await conn.find(late) == posted
    assert any("/query/next" in url for _, url, _ in env.sent)


# -- errors -----------------------------------------------------------------------------------------------------------


async def test_wrong_secret_is_an_auth_error_that_leaks_nothing(env: Env) -> None:
    _, good = demo_instance(env.base)
    bad = Credentials(integration_code=good.integration_code, username=good.username, secret="WRONG-SECRET-42")
    conn = env.connector(creds=bad)
    with pytest.raises(ConnectorAuthError) as info:
        await conn.test()
    assert info.value.status == 401
    assert "WRONG-SECRET-42" not in str(info.value)
    assert "WRONG-SECRET-42" not in repr(conn) and "WRONG-SECRET-42" not in repr(bad)


async def test_wrong_integration_code_and_unknown_user_are_auth_errors(env: Env) -> None:
    _, good = demo_instance(env.base)
    wrong_code = Credentials(integration_code="NOPE", username=good.username, secret=good.secret)
    with pytest.raises(ConnectorAuthError, match="IntegrationCode is invalid"):
        await env.connector(creds=wrong_code).test()
    wrong_user = Credentials(integration_code=good.integration_code, username="nobody@example.com", secret=good.secret)
    with pytest.raises(ConnectorAuthError, match="zone"):
        await env.connector(creds=wrong_user).test()


async def test_429_carries_retry_after(env: Env) -> None:
    conn = env.connector()
    await conn.test()
    env.faults.rate_limit_every = 1
    env.faults.retry_after_s = 7
    with pytest.raises(ConnectorUnavailable) as info:
        await conn.ticket(TicketRef(instance="autotask-sandbox", kind="autotask", id=SEED.service_ticket))
    assert (info.value.status, info.value.retry_after, info.value.ambiguous) == (429, 7.0, False)


async def test_5xx_on_a_write_is_unavailable_and_ambiguous(env: Env) -> None:
    conn = env.connector()
    await conn.test()
    env.faults.fail_next = 1
    with pytest.raises(ConnectorUnavailable) as info:
        await conn.post(entry())
    assert (info.value.status, info.value.ambiguous) == (503, True)  # a 503 may follow a commit
    assert stored_entries(env.app) == []


async def test_retry_after_as_an_http_date(env: Env) -> None:
    when = datetime.fromtimestamp(env.clock.now() + 120, UTC)

    async def busy(request: web.Request) -> web.Response:
        return web.json_response(
            {"errors": []}, status=503, headers={"Retry-After": format_datetime(when, usegmt=True)}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", busy)
    async with serve(app) as base:
        conn = env.connector(options={"zone_url": f"{base}/ATServicesRest/"})
        with pytest.raises(ConnectorUnavailable) as info:
            await conn.test()
    assert info.value.retry_after == 120.0


async def test_drop_after_commit_is_ambiguous_and_find_returns_the_record(env: Env) -> None:
    conn = env.connector()
    await conn.test()
    env.faults.drop_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as info:
        await conn.post(entry())
    assert info.value.ambiguous
    [stored] = stored_entries(env.app)
    found = await conn.find(entry())
    assert found is not None and found.psa_ids == [stored.psa_id]


async def test_a_hung_write_times_out_as_ambiguous(env: Env) -> None:
    conn = env.connector(options={"timeout_ms": HANG_TIMEOUT_S * 1000}, clock=SystemClock())
    await conn.test()
    env.faults.hang_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as info:
        await conn.post(entry())
    assert info.value.ambiguous
    assert len(stored_entries(env.app)) == 1


async def test_a_refused_connection_is_not_ambiguous(env: Env) -> None:
    async with serve(create_app(clock=env.clock)) as base:
        conn = env.connector(options={"zone_url": f"{base}/ATServicesRest/"})
        await conn.test()
    with pytest.raises(ConnectorUnavailable) as info:  # that sandbox is gone: its port refuses the connection
        await conn.post(entry())
    assert not info.value.ambiguous


async def test_options_typo_names_the_key(env: Env) -> None:
    with pytest.raises(OptionsError, match="timout_ms"):
        env.connector(options={"timout_ms": 5})
    with pytest.raises(OptionsError, match="max_concurrent"):
        env.connector(options={"max_concurrent": 4})
    await env.connector().test()


# -- Autotask rules ---------------------------------------------------------------------------------------------------


async def test_rule_midnight_split_posts_one_record_per_local_day(env: Env) -> None:
    tz = ZoneInfo("Europe/Amsterdam")
    start = datetime(2026, 5, 4, 23, 30, tzinfo=tz).timestamp()
    e = entry(start=start, end=start + 3600, seconds=3601, timezone="Europe/Amsterdam")
    conn = env.connector()
    posted = await conn.post(e)
    stored = stored_entries(env.app)
    assert len(stored) == 2 and posted.psa_ids == [s.psa_id for s in stored]
    records = [env.store.time_entries[int(s.psa_id)] for s in stored]
    assert [r["dateWorked"] for r in records] == ["2026-05-04T00:00:00Z", "2026-05-05T00:00:00Z"]
    assert [(s.start, s.end) for s in stored] == [(start, start + 1800), (start + 1800, start + 3600)]
    assert sorted(s.hours for s in stored) == [0.5, 0.5003]
    assert [s.internal_notes.rsplit("\n", 1)[1] for s in stored] == [
        f"{marker('e1')} part 1/2",
        f"{marker('e1')} part 2/2",
    ]
    assert await conn.find(e) == posted


async def test_rule_split_post_after_partial_failure_posts_only_the_missing_part(env: Env) -> None:
    tz = ZoneInfo("Europe/Amsterdam")
    start = datetime(2026, 5, 4, 23, 30, tzinfo=tz).timestamp()
    e = entry(start=start, end=start + 3600, seconds=3600, timezone="Europe/Amsterdam")
    conn = env.connector()
    await conn.test()
    env.faults.drop_after_commit_next = 1  # part 1 is stored, its answer lost; part 2 is never sent
    with pytest.raises(ConnectorUnavailable) as info:
        await conn.post(e)
    assert info.value.ambiguous and len(stored_entries(env.app)) == 1
    assert await conn.find(e) is None  # only part 1 of 2 exists
    posted = await conn.post(e)
    stored = stored_entries(env.app)
    assert len(stored) == 2 and posted.psa_ids == [s.psa_id for s in stored]
    assert [p.body["internalNotes"].rsplit(" ", 1)[1] for p in posts(env)] == ["1/2", "2/2"]


async def test_rule_proxy_time_uses_the_impersonation_header(env: Env) -> None:
    conn = env.connector()
    await conn.post(entry(log_as=Identity(id=SEED.assignee)))
    [stored] = stored_entries(env.app)
    assert stored.who == SEED.assignee
    [create] = posts(env)
    assert create.impersonation == SEED.assignee
    assert create.body["roleID"] == int(TECHNICIAN)  # the assignee's default role, looked up
    assert all(r.impersonation is None for r in env.store.requests if r is not create)
    record = env.store.time_entries[int(stored.psa_id)]
    assert record["impersonatorCreatorResourceID"] == int(SEED.api_user)


async def test_rule_24_hours_or_more_is_refused_before_sending(env: Env) -> None:
    conn = env.connector()
    await conn.test()
    for seconds in (86_400, 90_000):
        with pytest.raises(ConnectorRejected, match="24 hours"):
            await conn.post(entry(end=START + seconds, seconds=seconds))
    assert posts(env) == []


async def test_rule_three_requests_per_endpoint_at_most(env: Env) -> None:
    conn = env.connector()
    await conn.test()
    env.faults.latency_s = 0.05
    results = await asyncio.gather(*(conn.post(entry(f"c{i}")) for i in range(10)))
    assert len({r.psa_ids[0] for r in results}) == 10
    assert env.store.peak_in_flight["timeentries"] == 3
    assert env.store.throttled == 0
    assert all(status != 429 for _, _, status in env.faults.log)


async def test_rule_hourly_budget_refuses_without_sending(env: Env) -> None:
    conn = env.connector(options={"requests_per_hour": 4})
    await conn.test()  # two requests: the resource, its default role (zone discovery does not count)
    ref = TicketRef(instance="autotask-sandbox", kind="autotask", id=SEED.project_ticket)
    await conn.ticket(ref)  # two more: the ticket, its company
    seen = len(env.store.requests)
    with pytest.raises(ConnectorUnavailable) as info:
        await conn.ticket(ref)
    assert info.value.retry_after == 3600.0
    assert len(env.store.requests) == seen
    env.clock.advance(3600)
    assert (await conn.ticket(ref)).is_project


def test_schema_check_catches_unknown_and_mistyped_keys() -> None:
    good: dict[str, Any] = {"ticketID": 1, "resourceID": 2, "roleID": 3, "hoursWorked": 0.5, "isNonBillable": False}
    validate_body("autotask", "TimeEntryModel", good)
    bad: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
        lambda b: {**b, "ticketId2": 1},
        lambda b: {**b, "hoursWorked": "0.5"},
        lambda b: {**b, "isNonBillable": None},
    ]
    for change in bad:
        with pytest.raises(AssertionError):
            validate_body("autotask", "TimeEntryModel", change(good))
    validate_body("autotask", "QueryModel", {"filter": [{"op": "eq", "field": "ticketID", "value": 5}]})


async def test_api_url_may_be_a_pasted_zone_root(env: Env) -> None:
    instance, creds = demo_instance(env.base)
    pasted = InstanceConfig(name=instance.name, kind="autotask", api_url=f"{env.base}/ATServicesRest/V1.0/")
    conn = AutotaskConnector(pasted, creds, http=env.http, clock=env.clock)
    assert (await conn.test()).id == SEED.api_user
