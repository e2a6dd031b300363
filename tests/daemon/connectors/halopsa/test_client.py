"""HaloPsaConnector against the HaloPSA sandbox on a real loopback socket, with a real httpx client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web

from daemon.clock import FakeClock
from daemon.connectors.base import (
    ConnectorAuthError,
    ConnectorRejected,
    ConnectorUnavailable,
    Identity,
    PostEntry,
    TicketNotFound,
    marker,
)
from daemon.connectors.halopsa import Credentials, HaloPsaConnector
from daemon.connectors.halopsa.models import action_list_decoder, agent_list_decoder
from daemon.sandbox.faults import FAULTS
from daemon.sandbox.halopsa import SEED, STORE, create_app, demo_instance, stored_entries
from daemon.timers.model import TicketRef
from tests.daemon.connectors.schema import DOCUMENTED_EXTRA, properties, validate_body
from tests.support import HANG_TIMEOUT_S

# The one key we send that the vendor's `Actions` schema lacks: the agent user name Halo acts on (NOTES §3.2).
DOCUMENTED_EXTRA_KEYS = DOCUMENTED_EXTRA["halopsa"]["Actions"]


@dataclass
class Env:
    app: web.Application
    base_url: str
    clock: FakeClock
    http: httpx.AsyncClient
    sent: list[tuple[str, str, Any]] = field(default_factory=list)
    """(method, path, JSON body) of every JSON request the connector sent."""

    def connector(self, **options: str | int | bool) -> HaloPsaConnector:
        instance, credentials = demo_instance(self.base_url)
        instance = msgspec.structs.replace(instance, options=options)
        return HaloPsaConnector(instance, credentials, http=self.http, clock=self.clock)

    @property
    def store(self) -> Any:
        return self.app[STORE]

    @property
    def faults(self) -> Any:
        return self.app[FAULTS]

    def statuses(self) -> list[int]:
        return [status for _, _, status in self.faults.log]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    app = create_app(clock=clock)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    sent: list[tuple[str, str, Any]] = []

    async def capture(request: httpx.Request) -> None:
        if request.headers.get("Content-Type", "").startswith("application/json"):
            sent.append((request.method, request.url.path, msgspec.json.decode(request.content)))

    async with httpx.AsyncClient(event_hooks={"request": [capture]}) as http:
        yield Env(app=app, base_url=f"http://{host}:{port}", clock=clock, http=http, sent=sent)
    await runner.cleanup()
    # Every body any test sent must fit the vendor's schema.
    for method, path, body in sent:
        assert (method, path) == ("POST", "/api/Actions"), f"unexpected JSON body to {method} {path}"
        validate_body("halopsa", "Actions", body)


def entry(clock: FakeClock, *, entry_id: str = "e-1", ticket: int = SEED.service_ticket, **kw: Any) -> PostEntry:
    seconds = kw.pop("seconds", 5400)
    end = kw.pop("end", clock.now())
    return PostEntry(
        entry_id=entry_id,
        ticket=TicketRef(instance="halopsa-sandbox", kind="halopsa", id=ticket),
        start=end - seconds,
        end=end,
        seconds=seconds,
        **kw,
    )


# --- look-ups -----------------------------------------------------------------------------------------------------


async def test_test_returns_the_api_agent(env: Env) -> None:
    me = await env.connector().test()
    assert me == Identity(id=SEED.api_user, name="TicketClock API")


async def test_ticket_found(env: Env) -> None:
    connector = env.connector()
    info = await connector.ticket(TicketRef(instance="h", kind="halopsa", id=SEED.service_ticket))
    assert info.id == SEED.service_ticket
    assert info.number == str(SEED.service_ticket)
    assert info.summary == SEED.ticket_summary
    assert info.company == SEED.ticket_company
    assert info.status == "In Progress"
    assert info.board == "Service Desk"
    assert info.assignee is not None and info.assignee.id == SEED.assignee
    assert info.is_project is False
    project = await connector.ticket(TicketRef(instance="h", kind="halopsa", number=str(SEED.project_ticket)))
    assert project.is_project is True


async def test_ticket_assigned_to_agent_1_has_no_assignee(env: Env) -> None:
    info = await env.connector().ticket(TicketRef(instance="h", kind="halopsa", id=1003))
    assert info.assignee is None


async def test_ticket_not_found(env: Env) -> None:
    with pytest.raises(TicketNotFound) as caught:
        await env.connector().ticket(TicketRef(instance="h", kind="halopsa", id=SEED.missing_ticket))
    assert caught.value.status == 404
    assert str(SEED.missing_ticket) in caught.value.message


async def test_identity(env: Env) -> None:
    connector = env.connector()
    assert (await connector.identity(None)).id == SEED.api_user
    assert (await connector.identity(SEED.assignee)).name == "Sam Tech"
    other = await connector.identity(SEED.other_user)
    assert other == Identity(id="4", name="Jordan Lee")
    assert (await connector.identity("jordan lee")).id == "4"
    with pytest.raises(ConnectorRejected, match="no HaloPSA agent"):
        await connector.identity("nobody@nowhere.example")
    with pytest.raises(ConnectorRejected, match="unassigned"):
        await connector.identity("1")
    with pytest.raises(ConnectorRejected) as caught:
        await connector.identity("77")
    assert caught.value.status == 404


def test_lists_decode_as_bare_arrays_and_keyed_objects() -> None:
    """Halo is inconsistent about list shapes (NOTES §3.3)."""
    agent = b'{"id": 3, "name": "Sam Tech", "email": null, "unknown_field": 1}'
    for body in (b"[" + agent + b"]", b'{"results": [' + agent + b"]}", b'{"agents": [' + agent + b"]}"):
        found = agent_list_decoder.decode(body)
        agents = found if isinstance(found, list) else found.items()
        assert [a.id for a in agents] == [3]
    bare = action_list_decoder.decode(b'[{"id": 2, "note": null}]')
    assert isinstance(bare, list) and bare[0].id == 2


# --- posting ------------------------------------------------------------------------------------------------------


async def test_post_stores_exactly_one_record(env: Env) -> None:
    e = entry(env.clock, notes="Reset the user's password", internal_notes="called from mobile")
    posted = await env.connector().post(e)
    stored = stored_entries(env.app)
    assert len(stored) == 1
    record = stored[0]
    assert posted.psa_ids == [record.psa_id] == [f"{SEED.service_ticket}/2"]  # action 1 is Halo's own
    assert record.ticket_id == SEED.service_ticket
    assert (record.start, record.end) == (e.start, e.end)
    assert record.hours == 1.5
    assert record.notes.startswith("Reset the user's password")
    assert record.notes.endswith(marker("e-1"))
    assert record.internal_notes == "called from mobile"
    assert record.who == SEED.api_user
    action = env.store.actions[SEED.service_ticket][-1].fields
    assert action["hiddenfromuser"] is True and action["sendemail"] is False
    assert action["outcome"] == "Time Logged"


async def test_timetaken_is_hours(env: Env) -> None:
    """Vendor rule: `timetaken` is in hours; a 90-minute entry is 1.5."""
    await env.connector().post(entry(env.clock, seconds=90 * 60))
    (_, _, body) = env.sent[-1]
    assert body[0]["timetaken"] == 1.5
    assert stored_entries(env.app)[0].hours == 1.5


async def test_post_sends_an_array_with_utc_dates(env: Env) -> None:
    env.clock.set(1_780_000_000.0)
    await env.connector().post(entry(env.clock, seconds=600))
    (method, path, body) = env.sent[-1]
    assert (method, path) == ("POST", "/api/Actions")
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["actionarrivaldate"] == "2026-05-28T20:16:40Z"
    assert body[0]["actioncompletiondate"] == "2026-05-28T20:26:40Z"


async def test_post_on_behalf_of_another_agent_and_not_billable(env: Env) -> None:
    log_as = Identity(id="4", name="Jordan Lee")
    await env.connector().post(entry(env.clock, log_as=log_as, billable="no", work_type="3"))
    (record,) = stored_entries(env.app)
    assert record.who == "4"
    assert record.billable == "no"
    body = env.sent[-1][2][0]
    assert body["who_agentid"] == 4 and body["who"] == "Jordan Lee"
    assert body["nonbilltime"] == body["timetaken"] == 1.5
    assert body["chargerate"] == 3


async def test_post_with_agreement_billing_leaves_billing_to_halo(env: Env) -> None:
    await env.connector().post(entry(env.clock))
    body = env.sent[-1][2][0]
    assert not {"actisbillable", "nonbilltime", "chargerate", "who", "who_agentid", "private_note"} & set(body)


async def test_request_bodies_use_only_vendor_schema_keys(env: Env) -> None:
    """Every key we send is in the `Actions` schema, except exactly the documented ones."""
    assert not DOCUMENTED_EXTRA_KEYS & properties("halopsa", "Actions"), "an exception that the schema now has: drop it"
    connector = env.connector(outcome_id=7)
    await connector.post(
        entry(env.clock, internal_notes="x", billable="yes", work_type="2", log_as=Identity(id="3", name="Sam Tech"))
    )
    (_, path, body) = env.sent[-1]
    extra = set(body[0]) - properties("halopsa", "Actions")
    assert extra == DOCUMENTED_EXTRA_KEYS
    assert path == "/api/Actions"
    validate_body("halopsa", "Actions", body)


async def test_rejection_carries_halos_message(env: Env) -> None:
    connector = env.connector()
    with pytest.raises(ConnectorRejected) as caught:
        await connector.post(entry(env.clock, seconds=-60))
    assert caught.value.status == 400
    assert caught.value.message == "Time taken cannot be negative"
    with pytest.raises(ConnectorRejected, match=str(SEED.missing_ticket)):
        await connector.post(entry(env.clock, ticket=SEED.missing_ticket))
    assert stored_entries(env.app) == []


# --- find (idempotent retry) --------------------------------------------------------------------------------------


async def test_find_before_and_after_post(env: Env) -> None:
    connector = env.connector()
    e = entry(env.clock)
    assert await connector.find(e) is None
    posted = await connector.post(e)
    assert await connector.find(e) == posted
    assert await connector.find(entry(env.clock, entry_id="e-2")) is None
    assert ("GET", "/api/Actions", 200) in env.faults.log


async def test_dropped_after_commit_is_ambiguous_and_find_sees_the_record(env: Env) -> None:
    connector = env.connector()
    e = entry(env.clock)
    env.faults.drop_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(e)
    assert caught.value.ambiguous is True
    (record,) = stored_entries(env.app)
    found = await connector.find(e)
    assert found is not None and found.psa_ids == [record.psa_id]


async def test_client_timeout_on_a_hung_write_is_ambiguous(env: Env) -> None:
    connector = env.connector(timeout_s=HANG_TIMEOUT_S)
    e = entry(env.clock)
    env.faults.hang_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(e)
    assert caught.value.ambiguous is True
    found = await connector.find(e)
    assert found is not None and len(found.psa_ids) == 1


async def test_timeout_on_a_read_is_not_ambiguous(env: Env) -> None:
    connector = env.connector(timeout_s=HANG_TIMEOUT_S)
    await connector.test()  # token fetched: the token endpoint has no latency fault
    env.faults.latency_s = 3600  # a read that never answers
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.ticket(TicketRef(instance="h", kind="halopsa", id=SEED.service_ticket))
    assert caught.value.ambiguous is False


async def test_the_read_timeout_applies_apart_from_the_connect_timeout(env: Env) -> None:
    """Only `read_timeout_s` is short: a read that never answers ends by it, not by the connect or request timeout."""
    connector = env.connector(timeout_s=300, connect_timeout_s=300, read_timeout_s=HANG_TIMEOUT_S)
    await connector.test()  # token fetched: the token endpoint has no latency fault
    env.faults.latency_s = 3600  # a read that never answers
    async with asyncio.timeout(60):  # fails, not hangs (300 s), if the read timeout were not applied
        with pytest.raises(ConnectorUnavailable) as caught:
            await connector.ticket(TicketRef(instance="h", kind="halopsa", id=SEED.service_ticket))
    assert "ReadTimeout" in str(caught.value)
    assert caught.value.ambiguous is False


async def test_unreachable_is_unavailable_not_ambiguous(env: Env) -> None:
    instance, credentials = demo_instance("http://127.0.0.1:9")
    connector = HaloPsaConnector(instance, credentials, http=env.http, clock=env.clock)
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(entry(env.clock))
    assert caught.value.ambiguous is False


# --- throttling and server errors ---------------------------------------------------------------------------------


async def test_429_with_retry_after(env: Env) -> None:
    connector = env.connector()
    env.faults.rate_limit_every = 1
    env.faults.retry_after_s = 7
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(entry(env.clock))
    assert caught.value.status == 429
    assert caught.value.retry_after == 7.0
    assert caught.value.ambiguous is False
    assert stored_entries(env.app) == []


async def test_5xx_is_unavailable_then_recovers(env: Env) -> None:
    connector = env.connector()
    env.faults.fail_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(entry(env.clock))
    assert caught.value.status == 503
    assert caught.value.ambiguous is True  # a 503 on a write may follow a commit: look it up first
    assert caught.value.retry_after is None
    await connector.post(entry(env.clock))
    assert len(stored_entries(env.app)) == 1


# --- auth ---------------------------------------------------------------------------------------------------------


async def test_wrong_credentials(env: Env) -> None:
    instance, _ = demo_instance(env.base_url)
    credentials = Credentials(client_id="ticketclock-sandbox", client_secret="wrong-secret", tenant="sandbox")
    connector = HaloPsaConnector(instance, credentials, http=env.http, clock=env.clock)
    with pytest.raises(ConnectorAuthError) as caught:
        await connector.test()
    assert caught.value.status == 401
    assert "invalid_client" in caught.value.message
    assert "wrong-secret" not in str(caught.value)


async def test_token_is_cached(env: Env) -> None:
    connector = env.connector()
    await connector.test()
    await connector.ticket(TicketRef(instance="h", kind="halopsa", id=SEED.service_ticket))
    await connector.post(entry(env.clock))
    assert env.store.token_requests == 1


async def test_token_refreshed_before_it_expires(env: Env) -> None:
    """Vendor rule: tokens expire after `expires_in`; a new one is fetched before that, without a 401 first."""
    connector = env.connector()
    await connector.test()
    assert env.store.token_requests == 1
    env.clock.advance(env.store.expires_in - 30)  # still valid at Halo, but inside the refresh margin
    await connector.test()
    assert env.store.token_requests == 2
    env.clock.advance(env.store.expires_in - 30)
    await connector.post(entry(env.clock))
    assert env.store.token_requests == 3
    assert 401 not in env.statuses()


async def test_refresh_once_on_401(env: Env) -> None:
    """Vendor rule: a token Halo no longer accepts is replaced once, and the call goes through."""
    connector = env.connector()
    await connector.test()
    env.store.revoke_tokens()
    posted = await connector.post(entry(env.clock))
    assert posted.psa_ids
    assert env.store.token_requests == 2
    assert env.statuses().count(401) == 1
    assert len(stored_entries(env.app)) == 1


async def test_still_401_after_refresh_is_an_auth_error(env: Env) -> None:
    """Vendor rule: one refresh only; a 401 with the fresh token is ConnectorAuthError."""
    env.store.expires_in = 0  # every token is dead on arrival
    connector = env.connector()
    with pytest.raises(ConnectorAuthError) as caught:
        await connector.post(entry(env.clock))
    assert caught.value.status == 401
    assert env.store.token_requests == 2
    assert env.statuses().count(401) == 2
    assert stored_entries(env.app) == []


async def test_tenant_and_auth_url_option(env: Env) -> None:
    instance, credentials = demo_instance(env.base_url + "/api/")  # a resource-server URL works as api_url too
    instance = msgspec.structs.replace(instance, options={"auth_url": env.base_url + "/auth/"})
    connector = HaloPsaConnector(instance, credentials, http=env.http, clock=env.clock)
    assert (await connector.test()).id == SEED.api_user
    bad_tenant = msgspec.structs.replace(credentials, tenant="someone-else")
    connector = HaloPsaConnector(instance, bad_tenant, http=env.http, clock=env.clock)
    with pytest.raises(ConnectorAuthError):
        await connector.test()


async def test_no_secret_or_token_in_logs(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    connector = env.connector()
    await connector.test()
    await connector.post(entry(env.clock))
    tokens = list(env.store.tokens)
    env.store.revoke_tokens()
    await connector.find(entry(env.clock))
    _, credentials = demo_instance(env.base_url)
    secrets = [credentials.client_secret, *tokens, *env.store.tokens]
    assert secrets and all(s not in caplog.text for s in secrets)
    assert credentials.client_secret not in repr(credentials)


async def test_vendor_error_text_is_redacted() -> None:
    """Whatever a server echoes back, our secret never reaches an exception message."""

    async def echo(request: web.Request) -> web.Response:
        secret = (await request.post())["client_secret"]
        assert isinstance(secret, str)
        return web.json_response({"error": "invalid_client", "error_description": f"bad {secret}"}, status=400)

    app = web.Application()
    app.router.add_post("/auth/token", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        instance, credentials = demo_instance(f"http://{host}:{port}")
        async with httpx.AsyncClient() as http:
            connector = HaloPsaConnector(instance, credentials, http=http, clock=FakeClock())
            with pytest.raises(ConnectorAuthError) as caught:
                await connector.test()
            await connector.aclose()
    finally:
        await runner.cleanup()
    assert credentials.client_secret not in str(caught.value)
    assert "invalid_client: bad ***" in caught.value.message


# --- configuration ------------------------------------------------------------------------------------------------


async def test_options_typo_names_the_key(env: Env) -> None:
    with pytest.raises(ValueError, match="outcom"):
        env.connector(outcom="Time Logged")


def test_credentials_forbid_unknown_keys() -> None:
    with pytest.raises(msgspec.ValidationError, match="secret"):
        msgspec.convert({"client_id": "a", "client_secret": "b", "secret": "c"}, Credentials)
    assert HaloPsaConnector.kind == "halopsa"
    assert HaloPsaConnector.Credentials is Credentials
