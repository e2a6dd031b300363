"""ConnectWiseConnector against the ConnectWise sandbox on a real loopback socket."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web

from daemon.clock import FakeClock, from_ts, to_ts
from daemon.connectors.base import (
    ConnectorAuthError,
    ConnectorRejected,
    ConnectorUnavailable,
    Identity,
    Posted,
    PostEntry,
    TicketNotFound,
    marker,
)
from daemon.connectors.connectwise import ConnectWiseConnector, Credentials
from daemon.sandbox.common import StoredEntry
from daemon.sandbox.connectwise import CW_STORE, SEED, create_app, demo_instance, stored_entries
from daemon.sandbox.faults import FAULTS, Faults
from daemon.settings import InstanceConfig
from daemon.timers.model import TicketRef
from tests.daemon.connectors.schema import validate_body
from tests.support import HANG_TIMEOUT_S

NOON = to_ts(datetime(2026, 5, 27, 12, 30, tzinfo=UTC))
TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@dataclass
class Env:
    app: web.Application
    base_url: str
    clock: FakeClock
    http: httpx.AsyncClient
    instance: InstanceConfig
    credentials: Credentials
    cw: ConnectWiseConnector

    @property
    def faults(self) -> Faults:
        return self.app[FAULTS]

    def connector(self, credentials: Credentials | None = None, **options: Any) -> ConnectWiseConnector:
        instance = msgspec.structs.replace(self.instance, options={**self.instance.options, **options})
        return ConnectWiseConnector(instance, credentials or self.credentials, http=self.http, clock=self.clock)

    def bodies(self) -> list[Any]:
        return [r.body for r in self.app[CW_STORE].requests if r.method == "POST"]

    def stored(self) -> list[StoredEntry]:
        return stored_entries(self.app)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock(NOON)
    app = create_app(clock=clock)
    runner, base_url = await serve(app)
    instance, credentials = demo_instance(base_url)
    async with httpx.AsyncClient() as http:
        yield Env(
            app,
            base_url,
            clock,
            http,
            instance,
            credentials,
            ConnectWiseConnector(instance, credentials, http=http, clock=clock),
        )
    # Every body the connector sent must be a valid vendor TimeEntry with only keys the vendor defines.
    for body in [r.body for r in app[CW_STORE].requests if r.method == "POST"]:
        validate_body("connectwise", "TimeEntry", body)
    await runner.cleanup()


def ref(ticket_id: int | None = None, number: str | None = None) -> TicketRef:
    return TicketRef(instance="connectwise-sandbox", kind="connectwise", id=ticket_id, number=number)


def entry(
    ticket_id: int = SEED.service_ticket, *, start: float = NOON - 3600, minutes: float = 20, **kw: Any
) -> PostEntry:
    fields: dict[str, Any] = {"entry_id": "e-1", "seconds": int(minutes * 60), "notes": "Reset the password"}
    fields.update(kw)
    return PostEntry(ticket=ref(ticket_id), start=start, end=start + minutes * 60, **fields)


# -- test / ticket / identity ----------------------------------------------------------------------------------


async def test_test_returns_the_configured_member(env: Env) -> None:
    who = await env.cw.test()
    assert who == Identity(id=SEED.api_user, name="TicketClock Integration")


async def test_ticket_found(env: Env) -> None:
    info = await env.cw.ticket(ref(SEED.service_ticket))
    assert info.id == SEED.service_ticket
    assert info.number == str(SEED.service_ticket)
    assert info.summary == SEED.ticket_summary
    assert info.company == SEED.ticket_company
    assert (info.status, info.board) == ("In Progress", "Help Desk")
    assert info.assignee is not None and info.assignee.id == SEED.assignee
    assert info.is_project is False


async def test_ticket_by_number_and_project_tickets(env: Env) -> None:
    assert (await env.cw.ticket(ref(number=f"#{SEED.service_ticket}"))).id == SEED.service_ticket
    assert (await env.cw.ticket(ref(SEED.project_ticket))).is_project is True
    assert (await env.cw.ticket(ref(48214))).is_project is True  # recordType ProjectIssue


async def test_ticket_not_found(env: Env) -> None:
    with pytest.raises(TicketNotFound) as caught:
        await env.cw.ticket(ref(SEED.missing_ticket))
    assert caught.value.status == 404
    assert str(SEED.missing_ticket) in caught.value.message
    with pytest.raises(TicketNotFound):
        await env.cw.ticket(ref(number="T20240101.0001"))


async def test_identity(env: Env) -> None:
    assert (await env.cw.identity(None)).id == SEED.api_user
    assert await env.cw.identity(SEED.other_user) == Identity(id="152", name="Alex Smith")
    assert (await env.cw.identity(SEED.assignee)).name == "Jane Doe"
    assert (await env.cw.identity("jane.doe@sandbox.example")).id == SEED.assignee
    with pytest.raises(ConnectorRejected):
        await env.cw.identity("nobody")


# -- post / find -----------------------------------------------------------------------------------------------


async def test_post_stores_exactly_one_record(env: Env) -> None:
    e = entry(internal_notes="called the user", minutes=20, seconds=15 * 60)
    posted = await env.cw.post(e)
    [stored] = env.stored()
    assert posted == Posted(psa_ids=[stored.psa_id])
    assert stored.ticket_id == SEED.service_ticket
    assert (stored.start, stored.end) == (e.start, e.end)
    assert stored.hours == 0.25  # billed seconds, not the 20-minute window
    assert stored.notes == "Reset the password"
    assert stored.internal_notes == f"called the user\n{marker('e-1')}"
    assert stored.who == SEED.api_user
    [body] = env.bodies()
    assert body["chargeToType"] == "ServiceTicket"
    assert body["member"] == {"identifier": "ticketclock"}
    assert all(body[flag] is False for flag in ("addToDetailDescriptionFlag", "emailContactFlag", "emailCcFlag"))
    assert "workType" not in body and "workRole" not in body


async def test_post_as_another_member_with_work_type_and_role(env: Env) -> None:
    assignee = await env.cw.identity(SEED.assignee)
    await env.cw.post(entry(log_as=assignee, work_type="Onsite", role="Engineer", billable="yes"))
    [stored] = env.stored()
    assert stored.who == SEED.assignee
    assert stored.billable == "Billable"
    [body] = env.bodies()
    assert body["member"] == {"id": int(SEED.assignee)}
    assert (body["workType"], body["workRole"]) == ({"name": "Onsite"}, {"name": "Engineer"})


async def test_rule_future_window_is_shifted_to_end_now(env: Env) -> None:
    # Created at 12:30 for 12:20-12:40: ConnectWise refuses the future, so it becomes 12:10-12:30.
    await env.cw.post(entry(start=NOON - 600, minutes=20))
    [stored] = env.stored()
    assert (stored.start, stored.end) == (NOON - 1200, NOON)


async def test_rule_times_are_utc_whole_seconds(env: Env) -> None:
    await env.cw.post(entry(start=NOON - 3600.75, minutes=20))
    [body] = env.bodies()
    assert TIME_RE.fullmatch(body["timeStart"]) and TIME_RE.fullmatch(body["timeEnd"])
    assert body["timeStart"] == from_ts(NOON - 3601).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("billable", "sent", "stored"), [("agreement", None, "Billable"), ("no", "DoNotBill", "DoNotBill")]
)
async def test_rule_billable_option_left_unset_for_agreement(
    env: Env, billable: str, sent: str | None, stored: str
) -> None:
    await env.cw.post(entry(billable=billable))
    [body] = env.bodies()
    assert body.get("billableOption") == sent
    assert ("billableOption" in body) is (sent is not None)
    assert env.stored()[0].billable == stored  # "agreement": the sandbox applies the work type's default


@pytest.mark.parametrize("ticket_id", [SEED.project_ticket, 48214])
async def test_rule_project_tickets_are_charged_as_project_ticket(env: Env, ticket_id: int) -> None:
    posted = await env.cw.post(entry(ticket_id))
    assert env.bodies()[0]["chargeToType"] == "ProjectTicket"
    assert await env.cw.find(entry(ticket_id)) == posted


async def test_find_before_and_after_post(env: Env) -> None:
    e = entry()
    assert await env.cw.find(e) is None
    posted = await env.cw.post(e)
    assert await env.cw.find(e) == posted
    other = entry(entry_id="e-2")
    assert await env.cw.find(other) is None
    queries = [r.query for r in env.app[CW_STORE].requests if r.path.endswith("/time/entries") and r.method == "GET"]
    assert queries[-1]["pageSize"] == "1000" and queries[-1]["page"] == "1"
    assert 'internalNotes contains "[ticketclock:e-2]"' in queries[-1]["conditions"]


async def test_post_to_a_missing_ticket(env: Env) -> None:
    with pytest.raises(TicketNotFound):
        await env.cw.post(entry(SEED.missing_ticket))
    assert env.stored() == []


async def test_rejection_carries_the_psa_message(env: Env) -> None:
    with pytest.raises(ConnectorRejected) as caught:
        await env.cw.post(entry(work_type="Underwater Basket Weaving"))
    assert caught.value.status == 400
    assert caught.value.message == "workType was not found"
    assert not isinstance(caught.value, TicketNotFound)


# -- auth and failures -----------------------------------------------------------------------------------------


async def test_wrong_credentials(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = msgspec.structs.replace(env.credentials, private_key="WrongPrivateKey123")
    with pytest.raises(ConnectorAuthError) as caught:
        await env.connector(bad).test()
    assert caught.value.status == 401
    assert caught.value.message == "UserNotAuthenticated"
    assert "WrongPrivateKey123" not in caplog.text + caught.value.message + repr(bad)
    with pytest.raises(ConnectorAuthError):
        await env.connector(msgspec.structs.replace(env.credentials, client_id="not-registered")).test()
    with pytest.raises(ConnectorAuthError, match="does not know the company"):
        await env.connector(msgspec.structs.replace(env.credentials, company="nosuchco")).test()


async def test_rate_limited_with_retry_after(env: Env) -> None:
    env.faults.rate_limit_every = 1
    env.faults.retry_after_s = 7
    with pytest.raises(ConnectorUnavailable) as caught:
        await env.cw.ticket(ref(SEED.service_ticket))
    assert (caught.value.status, caught.value.retry_after, caught.value.ambiguous) == (429, 7.0, False)


async def test_server_error_on_a_write_is_unavailable_and_ambiguous(env: Env) -> None:
    await env.cw.ticket(ref(SEED.service_ticket))
    env.faults.fail_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await env.cw.post(entry())
    assert (caught.value.status, caught.value.ambiguous) == (503, True)  # a 503 may follow a commit
    assert env.stored() == []
    await env.cw.post(entry())
    assert len(env.stored()) == 1


async def test_drop_after_commit_is_ambiguous_and_find_recovers(env: Env) -> None:
    e = entry()
    await env.cw.ticket(ref(SEED.service_ticket))
    env.faults.drop_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await env.cw.post(e)
    assert caught.value.ambiguous is True
    [stored] = env.stored()
    assert await env.cw.find(e) == Posted(psa_ids=[stored.psa_id])


async def test_hung_write_times_out_ambiguous(env: Env) -> None:
    e = entry()
    cw = env.connector(timeout_s=HANG_TIMEOUT_S)
    await cw.ticket(ref(SEED.service_ticket))
    env.faults.hang_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await cw.post(e)
    assert caught.value.ambiguous is True
    assert await cw.find(e) == Posted(psa_ids=[env.stored()[0].psa_id])


async def test_connection_refused_is_not_ambiguous(env: Env) -> None:
    runner, base_url = await serve(web.Application())
    await runner.cleanup()  # nothing listens there any more
    instance, credentials = demo_instance(base_url)
    cw = ConnectWiseConnector(instance, credentials, http=env.http, clock=env.clock)
    with pytest.raises(ConnectorUnavailable) as caught:
        await cw.test()
    assert caught.value.ambiguous is False


async def test_retry_after_as_http_date(env: Env) -> None:
    async def limited(request: web.Request) -> web.Response:
        when = format_datetime(from_ts(NOON + 90), usegmt=True)
        return web.json_response({"message": "Too Many Requests"}, status=429, headers={"Retry-After": when})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", limited)
    runner, base_url = await serve(app)
    try:
        instance, credentials = demo_instance(base_url)
        instance = msgspec.structs.replace(instance, options={**instance.options, "codebase": "v4_6_release/"})
        cw = ConnectWiseConnector(instance, credentials, http=env.http, clock=env.clock)
        with pytest.raises(ConnectorUnavailable) as caught:
            await cw.test()
        assert caught.value.retry_after == 90.0
    finally:
        await runner.cleanup()


async def test_options_typo_names_the_key(env: Env) -> None:
    with pytest.raises(ValueError, match="membr"):
        env.connector(membr="jdoe")


async def test_api_url_derived_from_cloud_origin(env: Env) -> None:
    from daemon.connectors.connectwise.client import api_site

    instance = InstanceConfig(name="cw", kind="connectwise", origins=["https://na.myconnectwise.net"])
    assert api_site(instance) == "https://api-na.myconnectwise.net"
