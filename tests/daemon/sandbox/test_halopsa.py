"""The HaloPSA sandbox speaks like Halo: auth, endpoints, field names, error bodies, rules, ticket pages, faults."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web

from daemon.clock import FakeClock
from daemon.sandbox.common import StoredEntry
from daemon.sandbox.faults import FAULTS
from daemon.sandbox.halopsa import (
    CLIENT_ID,
    CLIENT_SECRET,
    SEED,
    STORE,
    TENANT,
    HaloStore,
    create_app,
    demo_instance,
    stored_entries,
)
from tests.daemon.connectors.schema import schema_errors, validate_body

# Halo returns `who` (the agent's name) on actions although its swagger lacks it (NOTES §3.2).
RESPONSE_EXTRA = frozenset({"who"})


@dataclass
class Sandbox:
    app: web.Application
    http: httpx.AsyncClient
    clock: FakeClock

    @property
    def store(self) -> HaloStore:
        return self.app[STORE]

    async def token(self, **form: str) -> httpx.Response:
        data = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        data.update(form)
        return await self.http.post("/auth/token", params={"tenant": TENANT}, data=data | {"scope": "all"})

    async def authed(self) -> None:
        response = await self.token()
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    async def post_actions(self, body: Any, **params: str) -> httpx.Response:
        return await self.http.post("/api/Actions", json=body, params=params)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    clock = FakeClock()
    app = create_app(clock=clock)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
        yield Sandbox(app=app, http=http, clock=clock)
    await runner.cleanup()


def action(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ticket_id": SEED.service_ticket,
        "timetaken": 0.25,
        "actionarrivaldate": "2026-05-28T10:00:00Z",
        "actioncompletiondate": "2026-05-28T10:15:00Z",
        "note": "Checked the mailbox [ticketclock:x]",
        "hiddenfromuser": True,
        "sendemail": False,
    }
    base.update(fields)
    return base


# --- auth ---------------------------------------------------------------------------------------------------------


async def test_token_grant(sandbox: Sandbox) -> None:
    response = await sandbox.token()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"]
    assert sandbox.store.token_requests == 1


async def test_token_refuses_wrong_credentials(sandbox: Sandbox) -> None:
    for form in ({"client_secret": "nope"}, {"client_id": "nope"}):
        response = await sandbox.token(**form)
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_client"}
    wrong_tenant = await sandbox.http.post(
        "/auth/token",
        params={"tenant": "elsewhere"},
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    assert wrong_tenant.status_code == 401
    grant = await sandbox.token(grant_type="password")
    assert grant.status_code == 400 and grant.json() == {"error": "unsupported_grant_type"}
    assert sandbox.store.token_requests == 0


async def test_api_needs_a_live_token(sandbox: Sandbox) -> None:
    missing = await sandbox.http.get("/api/Agent/me")
    assert missing.status_code == 401
    assert "invalid_token" in missing.headers["WWW-Authenticate"]
    await sandbox.authed()
    assert (await sandbox.http.get("/api/Agent/me")).status_code == 200
    sandbox.clock.advance(3599)
    assert (await sandbox.http.get("/api/Agent/me")).status_code == 200
    sandbox.clock.advance(1)
    assert (await sandbox.http.get("/api/Agent/me")).status_code == 401


async def test_revoked_tokens_are_refused(sandbox: Sandbox) -> None:
    await sandbox.authed()
    sandbox.store.revoke_tokens()
    assert (await sandbox.http.get("/api/Agent/me")).status_code == 401


async def test_configurable_token_lifetime(sandbox: Sandbox) -> None:
    sandbox.store.expires_in = 5
    response = await sandbox.token()
    assert response.json()["expires_in"] == 5
    await sandbox.authed()
    sandbox.clock.advance(5)
    assert (await sandbox.http.get("/api/Agent/me")).status_code == 401


# --- look-ups -----------------------------------------------------------------------------------------------------


async def test_agents(sandbox: Sandbox) -> None:
    await sandbox.authed()
    me = (await sandbox.http.get("/api/Agent/me")).json()
    assert str(me["id"]) == SEED.api_user
    assert not schema_errors("halopsa", "Uname", me)
    assignee = (await sandbox.http.get(f"/api/Agent/{SEED.assignee}")).json()
    assert assignee["name"] == "Sam Tech"
    assert (await sandbox.http.get("/api/Agent/404")).status_code == 404
    bare = (await sandbox.http.get("/api/Agent", params={"search": SEED.other_user})).json()
    assert [a["id"] for a in bare] == [4]
    keyed = (await sandbox.http.get("/api/Agent", params={"search": "jordan", "pageinate": "true"})).json()
    assert keyed["record_count"] == 1 and keyed["results"][0]["id"] == 4
    everyone = (await sandbox.http.get("/api/Agent")).json()
    assert 1 not in [a["id"] for a in everyone]  # agent 1 is "unassigned"


async def test_ticket(sandbox: Sandbox) -> None:
    await sandbox.authed()
    ticket = (await sandbox.http.get(f"/api/Tickets/{SEED.service_ticket}")).json()
    assert not schema_errors("halopsa", "Faults", ticket)
    assert ticket["summary"] == SEED.ticket_summary
    assert ticket["client_name"] == SEED.ticket_company
    assert str(ticket["agent_id"]) == SEED.assignee
    assert ticket["is_project"] is False
    project = (await sandbox.http.get(f"/api/Tickets/{SEED.project_ticket}")).json()
    assert project["is_project"] is True
    missing = await sandbox.http.get(f"/api/Tickets/{SEED.missing_ticket}")
    assert missing.status_code == 404
    assert missing.text == f"Ticket {SEED.missing_ticket} not found"


# --- actions ------------------------------------------------------------------------------------------------------


async def test_post_action_stores_time_with_per_ticket_ids(sandbox: Sandbox) -> None:
    await sandbox.authed()
    first = await sandbox.post_actions([action()])
    assert first.status_code == 200
    created = first.json()
    assert not schema_errors("halopsa", "Actions", created, allowed_extra=RESPONSE_EXTRA)
    assert created["id"] == 2  # 1 is the ticket's own "Ticket logged" action
    assert created["ticket_id"] == SEED.service_ticket
    assert created["who_agentid"] == int(SEED.api_user)
    assert created["timetaken"] == 0.25
    other = (await sandbox.post_actions([action(ticket_id=SEED.project_ticket)])).json()
    assert other["id"] == 2  # action ids are per ticket
    both = await sandbox.post_actions([action(), action(timetaken=1)], returnall="true")
    assert [a["id"] for a in both.json()] == [3, 4]
    stored = stored_entries(sandbox.app)
    assert [e.psa_id for e in stored] == ["1001/2", "1001/3", "1001/4", "1002/2"]
    assert stored[0] == StoredEntry(
        psa_id="1001/2",
        ticket_id=SEED.service_ticket,
        start=1_779_962_400.0,
        end=1_779_963_300.0,
        hours=0.25,
        notes="Checked the mailbox [ticketclock:x]",
        internal_notes="",
        who=SEED.api_user,
    )
    for _, path, body in sandbox.store.writes:
        assert path == "/api/Actions"
        validate_body("halopsa", "Actions", body)


async def test_post_action_as_another_agent(sandbox: Sandbox) -> None:
    await sandbox.authed()
    by_id = (await sandbox.post_actions([action(who_agentid=4)])).json()
    assert by_id["who_agentid"] == 4 and by_id["who"] == "Jordan Lee"
    by_name = (await sandbox.post_actions([action(who="Sam Tech")])).json()
    assert by_name["who_agentid"] == 3
    for bad in ({"who_agentid": 1}, {"who_agentid": 5}, {"who": "Nobody"}, {"who": "Sam Tech", "who_agentid": 4}):
        response = await sandbox.post_actions([action(**bad)])
        assert response.status_code == 400, bad
        assert set(response.json()) == {"ClassName", "Message"}


async def test_post_action_validation(sandbox: Sandbox) -> None:
    await sandbox.authed()
    not_array = await sandbox.post_actions(action())
    assert not_array.status_code == 400 and list(not_array.json()) == ["$"]
    no_ticket = await sandbox.post_actions([action(ticket_id=None)])
    assert no_ticket.status_code == 400 and "ticket" in no_ticket.json()["Message"]
    unknown = await sandbox.post_actions([action(ticket_id=SEED.missing_ticket)])
    assert unknown.status_code == 400
    assert unknown.json()["Message"] == f"Ticket {SEED.missing_ticket} does not exist"
    as_text = await sandbox.post_actions([action(timetaken="0.5")])
    assert as_text.status_code == 400 and list(as_text.json()) == ["[0].timetaken"]
    negative = await sandbox.post_actions([action(timetaken=-0.5)])
    assert negative.status_code == 400 and negative.json()["Message"] == "Time taken cannot be negative"
    bad_date = await sandbox.post_actions([action(), action(actionarrivaldate="yesterday")])
    assert bad_date.status_code == 400 and list(bad_date.json()) == ["[1].actionarrivaldate"]
    as_bool = await sandbox.post_actions([action(ticket_id=True)])
    assert as_bool.status_code == 400
    garbage = await sandbox.http.post("/api/Actions", content=b"{", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400
    assert stored_entries(sandbox.app) == []  # nothing half-applied


async def test_list_actions(sandbox: Sandbox) -> None:
    await sandbox.authed()
    await sandbox.post_actions([action(), action(ticket_id=SEED.project_ticket)])
    everything = (await sandbox.http.get("/api/Actions", params={"ticket_id": SEED.service_ticket})).json()
    assert [a["id"] for a in everything["actions"]] == [1, 2]
    assert everything["record_count"] == 2
    params: dict[str, str | int] = {"ticket_id": SEED.service_ticket, "excludesys": "true", "agentonly": "true"}
    ours = (await sandbox.http.get("/api/Actions", params=params)).json()
    assert [a["id"] for a in ours["actions"]] == [2]
    assert "[ticketclock:x]" in ours["actions"][0]["note"]
    private = (await sandbox.http.get("/api/Actions", params=params | {"excludeprivate": "true"})).json()
    assert private["actions"] == []
    none = (await sandbox.http.get("/api/Actions", params={"ticket_id": SEED.missing_ticket})).json()
    assert none == {"record_count": 0, "actions": []}
    bad = await sandbox.http.get("/api/Actions", params={"ticket_id": "abc"})
    assert bad.status_code == 400


# --- web pages ----------------------------------------------------------------------------------------------------


async def test_ticket_pages(sandbox: Sandbox) -> None:
    for url in (f"/ticket?id={SEED.service_ticket}", f"/tickets?id={SEED.service_ticket}&view=all"):
        page = await sandbox.http.get(url)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        title = re.search(r"<title>(.*)</title>", page.text)
        assert title is not None
        assert str(SEED.service_ticket) in title.group(1)
        assert SEED.ticket_summary in title.group(1)
    missing = await sandbox.http.get(f"/ticket?id={SEED.missing_ticket}")
    assert missing.status_code == 404
    index = await sandbox.http.get("/")
    assert f"/ticket?id={SEED.service_ticket}" in index.text


# --- faults -------------------------------------------------------------------------------------------------------


async def test_faults_apply_to_api_paths_only(sandbox: Sandbox) -> None:
    faults = sandbox.app[FAULTS]
    faults.fail_next = 1
    assert (await sandbox.http.get(f"/ticket?id={SEED.service_ticket}")).status_code == 200
    await sandbox.authed()  # the token endpoint is not faulted either
    assert (await sandbox.http.get("/api/Agent/me")).status_code == 503
    assert (await sandbox.http.get("/api/Agent/me")).status_code == 200
    faults.rate_limit_every = 1
    faults.retry_after_s = 3
    limited = await sandbox.http.get("/api/Agent/me")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert faults.log == [("GET", "/api/Agent/me", 503), ("GET", "/api/Agent/me", 200), ("GET", "/api/Agent/me", 429)]


async def test_drop_after_commit_applies_the_write(sandbox: Sandbox) -> None:
    await sandbox.authed()
    sandbox.app[FAULTS].drop_after_commit_next = 1
    with pytest.raises(httpx.RemoteProtocolError):
        await sandbox.post_actions([action()])
    assert len(stored_entries(sandbox.app)) == 1


# --- exports ------------------------------------------------------------------------------------------------------


async def test_demo_instance_works_against_the_sandbox(sandbox: Sandbox) -> None:
    base = str(sandbox.http.base_url).rstrip("/")
    instance, credentials = demo_instance(base + "/")
    assert instance.name == "halopsa-sandbox" and instance.kind == "halopsa"
    assert instance.origins == [base] and instance.api_url == base
    response = await sandbox.http.post(
        "/auth/token",
        params={"tenant": credentials.tenant},
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "scope": "all",
        },
    )
    assert response.status_code == 200
    assert stored_entries(sandbox.app) == []
