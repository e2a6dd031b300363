"""The ConnectWise sandbox speaks the vendor's API: auth, shapes, error bodies, rules, pages and faults."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from daemon.clock import FakeClock, to_ts
from daemon.sandbox.connectwise import (
    API_PREFIX,
    CW_STORE,
    SEED,
    create_app,
    demo_instance,
    spa_hash,
    stored_entries,
    ticket_urls,
)
from daemon.sandbox.faults import FAULTS
from tests.daemon.connectors.schema import schema_errors

NOW = to_ts(datetime(2026, 5, 27, 12, 30, tzinfo=UTC))


@dataclass
class Sandbox:
    app: web.Application
    base_url: str
    http: httpx.AsyncClient
    headers: dict[str, str]

    async def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return await self.http.request(method, f"{self.base_url}{API_PREFIX}/{path}", headers=headers, **kw)

    async def post_entry(self, **fields: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "chargeToId": SEED.service_ticket,
            "chargeToType": "ServiceTicket",
            "member": {"identifier": "jdoe"},
            "timeStart": "2026-05-27T11:00:00Z",
            "timeEnd": "2026-05-27T11:30:00Z",
            "notes": "Fixed it",
            "internalNotes": "[ticketclock:x1]",
        }
        body.update(fields)
        return await self.api("POST", "time/entries", json={k: v for k, v in body.items() if v is not ...})


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    app = create_app(clock=FakeClock(NOW))
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base_url = f"http://{host}:{port}"
    _, creds = demo_instance(base_url)
    token = base64.b64encode(f"{creds.company}+{creds.public_key}:{creds.private_key}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "clientId": creds.client_id}
    async with httpx.AsyncClient() as http:
        yield Sandbox(app, base_url, http, headers)
    await runner.cleanup()


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["message"]
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body
        assert all(set(e) == {"code", "message", "resource", "field"} for e in body["errors"])
        assert all(e["resource"] == "timeEntry" for e in body["errors"])
    return body


def test_demo_instance_and_seed() -> None:
    instance, creds = demo_instance("http://127.0.0.1:9/")
    assert (instance.name, instance.kind, instance.origins) == (
        "connectwise-sandbox",
        "connectwise",
        ["http://127.0.0.1:9"],
    )
    assert instance.options["member"] == "ticketclock"
    assert creds.private_key not in repr(creds)
    assert SEED.service_ticket != SEED.project_ticket != SEED.missing_ticket


async def test_companyinfo(sandbox: Sandbox) -> None:
    known = await sandbox.http.get(f"{sandbox.base_url}/login/companyinfo/TCSANDBOX")
    assert known.json()["Codebase"] == "v4_6_release/"
    unknown = await sandbox.http.get(f"{sandbox.base_url}/login/companyinfo/nosuchco")
    assert (unknown.status_code, unknown.json()) == (200, None)


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({"clientId": ""}, "Unauthorized", "clientId header is required"),
        ({"clientId": "00000000-0000-0000-0000-000000000000"}, "Unauthorized", "clientId is not registered"),
        ({"Authorization": ""}, "ConnectWiseApi", "UserNotAuthenticated"),
        (
            {"Authorization": "Basic " + base64.b64encode(b"tcsandbox+SbxPub0000000001:nope").decode()},
            "ConnectWiseApi",
            "UserNotAuthenticated",
        ),
        (
            {
                "Authorization": "Basic "
                + base64.b64encode(b"otherco+SbxPub0000000001:SbxPriv000000000000000001").decode()
            },
            "ConnectWiseApi",
            "UserNotAuthenticated",
        ),
        ({"Authorization": "Bearer abc"}, "ConnectWiseApi", "UserNotAuthenticated"),
    ],
)
async def test_auth_is_enforced(sandbox: Sandbox, headers: dict[str, str], code: str, message: str) -> None:
    response = await sandbox.api("GET", "system/info", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"code": code, "message": message}


async def test_ticket_and_member_shapes_follow_the_vendor_schema(sandbox: Sandbox) -> None:
    ticket = (await sandbox.api("GET", f"service/tickets/{SEED.service_ticket}")).json()
    assert not schema_errors("connectwise", "Ticket", ticket)
    assert ticket["summary"] == SEED.ticket_summary and ticket["company"]["name"] == SEED.ticket_company
    assert str(ticket["owner"]["id"]) == SEED.assignee and ticket["recordType"] == "ServiceTicket"
    project = (
        await sandbox.api("GET", f"service/tickets/{SEED.project_ticket}", params={"fields": "id,recordType"})
    ).json()
    assert project == {"id": SEED.project_ticket, "recordType": "ProjectTicket"}
    members = (await sandbox.api("GET", "system/members")).json()
    assert members and all(not schema_errors("connectwise", "Member", m) for m in members)
    info = await sandbox.api("GET", "system/info")
    assert info.headers["content-type"].startswith("application/vnd.connectwise.com+json")
    assert not schema_errors("connectwise", "Info", info.json())


async def test_missing_ticket_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.api("GET", f"service/tickets/{SEED.missing_ticket}")
    body = assert_error(response, 404, "NotFound")
    assert str(SEED.missing_ticket) in body["message"]


async def test_conditions_paging_and_fields(sandbox: Sandbox) -> None:
    found = await sandbox.api("GET", "system/members", params={"conditions": f'identifier="{SEED.other_user.upper()}"'})
    assert [m["id"] for m in found.json()] == [152]
    by_id = await sandbox.api("GET", "system/members", params={"conditions": "id=151 and inactiveFlag=false"})
    assert [m["identifier"] for m in by_id.json()] == ["jdoe"]
    either = await sandbox.api(
        "GET",
        "service/tickets",
        params={"conditions": "(recordType='ProjectTicket' or recordType=\"ProjectIssue\")", "fields": "id"},
    )
    assert either.json() == [{"id": SEED.project_ticket}, {"id": 48214}]
    page = await sandbox.api("GET", "service/tickets", params={"page": 2, "pageSize": 2, "fields": "id"})
    assert page.json() == [{"id": 48213}, {"id": 48214}]
    bad = await sandbox.api("GET", "time/entries", params={"conditions": "chargeToId=="})
    assert_error(bad, 400, "InvalidObject")


async def test_create_time_entry(sandbox: Sandbox) -> None:
    response = await sandbox.post_entry(
        billableOption="DoNotBill", workType={"name": "onsite"}, addToResolutionFlag=False
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert not schema_errors("connectwise", "TimeEntry", created)
    assert created["status"] == "Open" and created["enteredBy"] == "ticketclock"
    assert created["dateEntered"] == "2026-05-27T12:30:00Z"
    assert created["timeSheet"]["id"] and created["_info"]
    assert (created["member"]["id"], created["workType"]["name"], created["actualHours"]) == (151, "Onsite", 0.5)
    assert created["ticket"] == {"id": SEED.service_ticket, "summary": SEED.ticket_summary}
    [stored] = stored_entries(sandbox.app)
    assert (stored.psa_id, stored.ticket_id, stored.who, stored.billable) == (
        str(created["id"]),
        SEED.service_ticket,
        "151",
        "DoNotBill",
    )
    assert stored.end - stored.start == 1800 and stored.internal_notes == "[ticketclock:x1]"
    query = {
        "conditions": f'chargeToId={SEED.service_ticket} and chargeToType="ServiceTicket"'
        ' and internalNotes contains "[TICKETCLOCK:X1]"'
    }
    assert [e["id"] for e in (await sandbox.api("GET", "time/entries", params=query)).json()] == [created["id"]]
    count = await sandbox.api("GET", "time/entries/count", params=query)
    assert count.json() == {"count": 1}
    assert (await sandbox.api("GET", f"time/entries/{created['id']}")).json()["id"] == created["id"]
    [captured] = [r for r in sandbox.app[CW_STORE].requests if r.method == "POST"]
    assert captured.body["billableOption"] == "DoNotBill"


async def test_member_defaults_to_the_key_owner(sandbox: Sandbox) -> None:
    response = await sandbox.post_entry(member=...)
    assert response.json()["member"]["id"] == int(SEED.api_user)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timeEnd": "2026-05-27T12:30:01Z"}, "timeEnd"),  # future time is refused
        ({"timeStart": "2026-05-27T12:40:00Z", "timeEnd": "2026-05-27T12:50:00Z"}, None),
        ({"timeEnd": "2026-05-27T10:59:59Z"}, "timeEnd"),  # before timeStart
        ({"timeStart": "2026-05-27T11:00:00.000Z"}, "timeStart"),  # fractions
        ({"timeStart": "2026-05-27T11:00:00+00:00"}, "timeStart"),  # offset instead of Z
        ({"timeStart": "2026-05-27 11:00:00"}, "timeStart"),
        ({"timeStart": ...}, "timeStart"),  # required
        ({"chargeToType": "Ticket"}, "chargeToType"),
        ({"chargeToType": "ProjectIssue"}, "chargeToType"),
        ({"chargeToId": SEED.missing_ticket}, "chargeToId"),
        ({"chargeToId": SEED.project_ticket}, "chargeToId"),  # a project ticket charged as ServiceTicket
        ({"chargeToId": str(SEED.service_ticket)}, "chargeToId"),  # bad type
        ({"actualHours": "0.5"}, "actualHours"),
        ({"member": {"identifier": "bwayne"}}, "member"),  # inactive
        ({"workRole": {"name": "Astronaut"}}, "workRole"),
        ({"billableOption": "Maybe"}, "billableOption"),
        ({"emailCcFlag": "no"}, "emailCcFlag"),
    ],
)
async def test_time_entry_rules(sandbox: Sandbox, fields: dict[str, Any], field: str | None) -> None:
    body = assert_error(await sandbox.post_entry(**fields), 400, "InvalidObject")
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body
    else:
        assert {e["field"] for e in body["errors"]} == {"timeStart", "timeEnd"}
    assert stored_entries(sandbox.app) == []


async def test_project_ticket_charged_as_project_ticket(sandbox: Sandbox) -> None:
    for ticket_id in (SEED.project_ticket, 48214):
        response = await sandbox.post_entry(chargeToId=ticket_id, chargeToType="ProjectTicket")
        assert response.status_code == 201, response.text


async def test_not_json_is_refused(sandbox: Sandbox) -> None:
    response = await sandbox.api("POST", "time/entries", content=b"{nope", headers={"Content-Type": "application/json"})
    assert_error(response, 400, "InvalidObject")
    array = await sandbox.api("POST", "time/entries", json=[])
    assert_error(array, 400, "InvalidObject")


@pytest.mark.parametrize("kind", ["classic", "deep_link"])
async def test_ticket_pages(sandbox: Sandbox, kind: str) -> None:
    page = await sandbox.http.get(ticket_urls(sandbox.base_url, SEED.service_ticket)[kind])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    title = re.search(r"<title>(.*?)</title>", page.text)
    assert title and title.group(1) == f"Ticket #{SEED.service_ticket} - {SEED.ticket_summary}"
    assert f'<h1 class="ticket-header">Ticket #{SEED.service_ticket} - ' in page.text
    missing = await sandbox.http.get(ticket_urls(sandbox.base_url, SEED.missing_ticket)[kind])
    assert missing.status_code == 404


async def test_spa_page_hides_the_id_in_an_opaque_hash(sandbox: Sandbox) -> None:
    url = ticket_urls(sandbox.base_url, SEED.service_ticket)["spa"]
    assert url.split("#")[0].endswith("/v4_6_release/ConnectWise.aspx?fullscreen=false")
    fragment = url.split("#")[1]
    assert fragment == spa_hash(SEED.service_ticket) and fragment.startswith("XQAAAC")
    assert str(SEED.service_ticket) not in fragment and spa_hash(SEED.project_ticket) != fragment
    page = await sandbox.http.get(url)  # the fragment never reaches the server; the page maps it in the DOM
    data = re.search(r'<script type="application/json" id="routes">(.*?)</script>', page.text, re.S)
    assert data is not None
    routes = json.loads(data.group(1))
    assert routes[fragment]["id"] == SEED.service_ticket
    assert '<h1 class="ticket-header">' in page.text and '"Ticket #" + ticket.id + " - " + ticket.summary' in page.text


async def test_faults_hit_api_paths_only(sandbox: Sandbox) -> None:
    faults = sandbox.app[FAULTS]
    faults.fail_next = 1
    assert (await sandbox.http.get(f"{sandbox.base_url}/login/companyinfo/tcsandbox")).status_code == 200
    assert (await sandbox.http.get(ticket_urls(sandbox.base_url, SEED.service_ticket)["classic"])).status_code == 200
    assert (await sandbox.api("GET", "system/info")).status_code == 503
    assert (await sandbox.api("GET", "system/info")).status_code == 200
    faults.rate_limit_every = 1
    faults.retry_after_s = 3
    limited = await sandbox.api("GET", "system/info")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
