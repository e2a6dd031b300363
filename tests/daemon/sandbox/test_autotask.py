"""The Autotask sandbox speaks like the vendor: auth, wrappers, query language, TimeEntries rules, limits, pages."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web

from daemon.clock import FakeClock
from daemon.sandbox.autotask import SEED, STORE, AutotaskStore, create_app, demo_instance, stored_entries
from daemon.sandbox.faults import FAULTS, Faults

API_USER, ASSIGNEE, OTHER, INACTIVE = 29682885, 29682886, 29682887, 29682888
TECHNICIAN, ENGINEER, PROJECT_MANAGER = 29683461, 29683462, 29683463
REMOTE_WORK_TYPE = 29682801


@dataclass
class Box:
    app: web.Application
    base: str
    clock: FakeClock
    http: httpx.AsyncClient

    @property
    def store(self) -> AutotaskStore:
        return self.app[STORE]

    @property
    def faults(self) -> Faults:
        return self.app[FAULTS]

    @property
    def api(self) -> str:
        return f"{self.base}/ATServicesRest/V1.0"

    def headers(self, **extra: str) -> dict[str, str]:
        _, creds = demo_instance(self.base)
        return {
            "ApiIntegrationCode": creds.integration_code,
            "UserName": creds.username,
            "Secret": creds.secret,
        } | extra

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(f"{self.api}/{path}", headers=self.headers(), **kw)

    async def create(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.post(f"{self.api}/TimeEntries", json=body, headers=self.headers(**headers))

    async def query(self, entity: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"{self.api}/{entity}/query", json=body, headers=self.headers())


@pytest.fixture
async def box() -> AsyncIterator[Box]:
    clock = FakeClock()
    app = create_app(clock=clock)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with httpx.AsyncClient() as http:
        yield Box(app, f"http://{host}:{port}", clock, http)
    await runner.cleanup()


def good_entry(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ticketID": SEED.service_ticket,
        "resourceID": API_USER,
        "roleID": TECHNICIAN,
        "dateWorked": "2026-05-04T00:00:00Z",
        "startDateTime": "2026-05-04T14:00:00Z",
        "endDateTime": "2026-05-04T14:30:00Z",
        "hoursWorked": 0.5,
        "summaryNotes": "Replaced toner",
        "internalNotes": "[ticketclock:x]",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def errors(resp: httpx.Response) -> list[str]:
    data = resp.json()
    assert set(data) == {"errors"} and isinstance(data["errors"], list)
    return list(data["errors"])


# -- zone, auth, wrappers ----------------------------------------------------------------------------------------------


async def test_zone_information_points_back_at_the_sandbox(box: Box) -> None:
    _, creds = demo_instance(box.base)
    resp = await box.http.get(f"{box.base}/atservicesrest/v1.0/zoneInformation", params={"user": creds.username})
    assert resp.status_code == 200
    assert resp.json()["url"] == f"{box.base}/ATServicesRest/"
    unknown = await box.http.get(f"{box.api}/ZoneInformation", params={"user": "nobody@example.com"})
    assert unknown.status_code == 500 and errors(unknown) == ["Zone information could not be determined"]


async def test_wrong_or_missing_credentials_get_401_with_errors(box: Box) -> None:
    bad_secret = box.headers(Secret="nope")
    resp = await box.http.get(f"{box.api}/Tickets/{SEED.service_ticket}", headers=bad_secret)
    assert resp.status_code == 401 and errors(resp)
    resp = await box.http.get(f"{box.api}/Tickets/{SEED.service_ticket}")
    assert resp.status_code == 401 and errors(resp) == ["IntegrationCode is invalid."]


async def test_item_wrapper_and_null_item_for_a_missing_ticket(box: Box) -> None:
    found = (await box.get(f"Tickets/{SEED.service_ticket}")).json()["item"]
    assert (found["title"], found["ticketNumber"], found["assignedResourceID"]) == (
        SEED.ticket_summary,
        "T20240501.0042",
        int(SEED.assignee),
    )
    company = (await box.get(f"Companies/{found['companyID']}")).json()["item"]
    assert company["companyName"] == SEED.ticket_company
    assert (await box.get(f"Tickets/{SEED.missing_ticket}")).json() == {"item": None}
    unknown = await box.get("Widgets/1")
    assert unknown.status_code == 404


async def test_paths_are_case_insensitive(box: Box) -> None:
    resp = await box.http.get(f"{box.base}/atservicesrest/v1.0/tickets/{SEED.service_ticket}", headers=box.headers())
    assert resp.json()["item"]["id"] == SEED.service_ticket


async def test_threshold_information_counts_requests(box: Box) -> None:
    await box.get(f"Tickets/{SEED.service_ticket}")
    data = (await box.get("ThresholdInformation")).json()
    assert data["externalRequestThreshold"] == 10_000
    assert data["currentTimeframeRequestCount"] == 2


# -- queries -----------------------------------------------------------------------------------------------------------


async def test_query_by_ticket_number_post_and_get(box: Box) -> None:
    body = {"filter": [{"op": "eq", "field": "TicketNumber", "value": "t20240501.0042"}]}
    posted = (await box.query("Tickets", body)).json()
    assert [t["id"] for t in posted["items"]] == [SEED.service_ticket]
    assert posted["pageDetails"]["count"] == 1 and posted["pageDetails"]["nextPageUrl"] is None
    got = (await box.get("Tickets/query", params={"search": json.dumps(body)})).json()
    assert got["items"] == posted["items"]


async def test_query_and_or_contains_and_count(box: Box) -> None:
    body = {
        "filter": [
            {
                "op": "or",
                "items": [
                    {"op": "eq", "field": "userName", "value": "asmith"},
                    {"op": "contains", "field": "email", "value": "JDOE"},
                ],
            },
            {"op": "eq", "field": "isActive", "value": True},
        ]
    }
    items = (await box.query("Resources", body)).json()["items"]
    assert sorted(r["id"] for r in items) == [ASSIGNEE, OTHER]
    count = await box.http.post(f"{box.api}/Resources/query/count", json=body, headers=box.headers())
    assert count.json() == {"queryCount": 2}


async def test_query_refusals(box: Box) -> None:
    refused: list[dict[str, Any]] = [
        {"filter": []},
        {"filter": [{"op": "like", "field": "id", "value": 1}]},
        {"filter": [{"op": "eq", "field": "noSuchField", "value": 1}]},
        {"filter": [{"op": "eq", "field": "id", "value": 1}], "MaxRecords": 501},
    ]
    for body in refused:
        resp = await box.query("Tickets", body)
        assert resp.status_code == 500 and errors(resp)
    garbage = await box.http.post(f"{box.api}/Tickets/query", content=b"{", headers=box.headers())
    assert garbage.status_code == 500 and errors(garbage)


async def test_paging_follows_next_page_url(box: Box) -> None:
    box.store.page_size = 2
    body = {"filter": [{"op": "gte", "field": "id", "value": 0}]}
    page = (await box.query("Tickets", body)).json()
    ids = [t["id"] for t in page["items"]]
    while page["pageDetails"]["nextPageUrl"]:
        page = (await box.http.get(page["pageDetails"]["nextPageUrl"], headers=box.headers())).json()
        ids += [t["id"] for t in page["items"]]
    assert ids == sorted(box.store.tickets)


async def test_time_entries_are_queryable_by_ticket_and_internal_notes(box: Box) -> None:
    assert (await box.create(good_entry())).status_code == 200
    body = {
        "filter": [
            {"op": "eq", "field": "ticketID", "value": SEED.service_ticket},
            {"op": "contains", "field": "internalNotes", "value": "[ticketclock:x]"},
        ]
    }
    assert len((await box.query("TimeEntries", body)).json()["items"]) == 1
    empty = await box.query(
        "TimeEntries", {"filter": [{"op": "eq", "field": "ticketID", "value": SEED.project_ticket}]}
    )
    assert empty.json()["items"] == []


# -- TimeEntries rules -------------------------------------------------------------------------------------------------


async def test_create_returns_item_id_and_stores_the_entry(box: Box) -> None:
    resp = await box.create(good_entry(isNonBillable=True))
    assert resp.status_code == 200 and set(resp.json()) == {"itemId"}
    [stored] = stored_entries(box.app)
    assert stored.psa_id == str(resp.json()["itemId"])
    assert (stored.ticket_id, stored.hours, stored.who, stored.billable) == (
        SEED.service_ticket,
        0.5,
        str(API_USER),
        "no",
    )
    assert stored.end - stored.start == 1800
    item = (await box.get(f"TimeEntries/{stored.psa_id}")).json()["item"]
    assert item["internalNotes"] == "[ticketclock:x]"


async def test_task_time_and_regular_time_are_stored_with_their_targets(box: Box) -> None:
    """A project task's time (taskID, a work order) and regular time (internalBillingCodeID, an admin task)."""
    task = await box.create(good_entry(ticketID=..., taskID=SEED.work_order, internalNotes="[ticketclock:t]"))
    regular = await box.create(
        good_entry(ticketID=..., roleID=..., internalBillingCodeID=SEED.task_code, internalNotes="[ticketclock:r]")
    )
    assert (task.status_code, regular.status_code) == (200, 200)
    by_note = {s.internal_notes: s for s in stored_entries(box.app)}
    assert (by_note["[ticketclock:t]"].record, by_note["[ticketclock:t]"].ticket_id) == ("work_order", SEED.work_order)
    assert (by_note["[ticketclock:r]"].record, by_note["[ticketclock:r]"].ticket_id) == ("task", SEED.task_code)
    item = (await box.get(f"TimeEntries/{regular.json()['itemId']}")).json()["item"]
    assert (item["ticketID"], item["taskID"], item["internalBillingCodeID"]) == (None, None, SEED.task_code)


async def test_field_names_are_case_insensitive(box: Box) -> None:
    body = {k[0].upper() + k[1:]: v for k, v in good_entry().items()}
    assert (await box.create(body)).status_code == 200


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"hoursWorked": 0}, "greater than 0 and less than 24"),
        ({"hoursWorked": -1}, "greater than 0 and less than 24"),
        ({"hoursWorked": 24}, "greater than 0 and less than 24"),
        ({"hoursWorked": 25.5}, "greater than 0 and less than 24"),
        ({"roleID": ...}, "roleID"),
        ({"resourceID": ...}, "resourceID"),
        ({"ticketID": ...}, "Missing Required Field: internalBillingCodeID"),  # regular time needs its code
        ({"ticketID": ..., "roleID": ..., "internalBillingCodeID": SEED.missing_ticket}, "of type: BillingCode"),
        ({"ticketID": ..., "internalBillingCodeID": REMOTE_WORK_TYPE}, "internalBillingCodeID of type: BillingCode"),
        ({"ticketID": SEED.missing_ticket}, "ticketID of type: Ticket"),
        ({"ticketID": ..., "taskID": SEED.missing_ticket}, "taskID of type: Task"),
        ({"ticketID": ..., "taskID": SEED.work_order, "roleID": ...}, "Missing Required Field: roleID"),
        ({"taskID": SEED.work_order}, "a ticket or a task, not both"),
        ({"roleID": PROJECT_MANAGER}, "not associated with Resource"),
        ({"resourceID": INACTIVE}, "resourceID of type: Resource"),
        ({"ticketID": "54321x"}, "Invalid value"),
        ({"isNonBillable": None}, "Invalid value"),
        ({"isNonBillable": "false"}, "Invalid value"),
        ({"summaryNotes": ""}, "summaryNotes"),
        ({"endDateTime": "2026-05-04T13:00:00Z"}, "endDateTime"),
        ({"resourceID": OTHER, "roleID": ENGINEER}, "may not add time entries for resource"),
    ],
)
async def test_create_refusals(box: Box, changes: dict[str, Any], text: str) -> None:
    resp = await box.create(good_entry(**changes))
    assert resp.status_code == 500
    assert text in " ".join(errors(resp))
    assert stored_entries(box.app) == []


async def test_impersonation_creates_the_entry_as_that_resource(box: Box) -> None:
    body = good_entry(resourceID=OTHER, roleID=ENGINEER)
    resp = await box.create(body, ImpersonationResourceId=str(OTHER))
    assert resp.status_code == 200
    [stored] = stored_entries(box.app)
    assert stored.who == str(OTHER)
    assert box.store.requests[-1].impersonation == str(OTHER)
    record = box.store.time_entries[int(stored.psa_id)]
    assert (record["creatorUserID"], record["impersonatorCreatorResourceID"]) == (OTHER, API_USER)


async def test_impersonating_an_inactive_or_unknown_resource_is_refused(box: Box) -> None:
    for who in (str(INACTIVE), "12345", "abc"):
        resp = await box.create(good_entry(resourceID=INACTIVE), ImpersonationResourceId=who)
        assert resp.status_code == 500 and "ImpersonationResourceId" in errors(resp)[0]
    assert stored_entries(box.app) == []


# -- limits and faults -------------------------------------------------------------------------------------------------


async def test_more_than_three_in_flight_per_endpoint_get_429(box: Box) -> None:
    box.faults.latency_s = 0.1
    results = await asyncio.gather(*(box.get(f"Tickets/{SEED.service_ticket}") for _ in range(5)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 200, 200, 429, 429]
    refused = next(r for r in results if r.status_code == 429)
    assert "thread threshold of 3" in errors(refused)[0]
    assert box.store.peak_in_flight["tickets"] == 3
    box.faults.latency_s = 0
    other = await asyncio.gather(box.get("Resources/29682885"), box.get(f"Tickets/{SEED.service_ticket}"))
    assert all(r.status_code == 200 for r in other)


async def test_hourly_threshold_then_recovery(box: Box) -> None:
    box.store.hourly_limit = 3
    for _ in range(3):
        assert (await box.get(f"Tickets/{SEED.service_ticket}")).status_code == 200
    refused = await box.get(f"Tickets/{SEED.service_ticket}")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"
    box.clock.advance(3600)
    assert (await box.get(f"Tickets/{SEED.service_ticket}")).status_code == 200


async def test_faults_touch_the_api_only(box: Box) -> None:
    box.faults.fail_next = 10
    page = await box.http.get(f"{box.base}/Mvc/ServiceDesk/TicketDetail.mvc", params={"ticketId": SEED.service_ticket})
    assert page.status_code == 200
    _, creds = demo_instance(box.base)
    zone = await box.http.get(f"{box.api}/ZoneInformation", params={"user": creds.username})
    assert zone.status_code == 200
    assert (await box.get(f"Tickets/{SEED.service_ticket}")).status_code == 503


# -- web pages ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&mode=0&ticketId=54321",
        "/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&ids%5B0%5D=54321&ticketId=54321",
        "/Mvc/ServiceDesk/TicketDetail.mvc?TicketId=54321",
        "/Mvc/ServiceDesk/TicketDetail.mvc?TicketID=54321",
        "/mvc/servicedesk/ticketdetail.mvc?ticketid=54321",
        "/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketID=54321",
        "/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketNumber=T20240501.0042",
        "/AutotaskOnyx/LandingPage?view-data="
        + base64.b64encode(json.dumps({"url": "/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=54321"}).encode()).decode(),
    ],
)
async def test_ticket_pages(box: Box, url: str) -> None:
    resp = await box.http.get(box.base + url)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    title = resp.text.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "T20240501.0042" in title and SEED.ticket_summary in title


async def test_missing_ticket_page_is_404(box: Box) -> None:
    resp = await box.http.get(f"{box.base}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId={SEED.missing_ticket}")
    assert resp.status_code == 404
    bad = await box.http.get(f"{box.base}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenKB&TicketID=54321")
    assert bad.status_code == 400


async def test_page_text_is_escaped(box: Box) -> None:
    box.store.tickets[SEED.service_ticket]["title"] = "<script>alert(1)</script>"
    resp = await box.http.get(f"{box.base}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId={SEED.service_ticket}")
    assert "<script>" not in resp.text and "&lt;script&gt;" in resp.text


def test_demo_instance_and_seed() -> None:
    instance, creds = demo_instance("http://127.0.0.1:9999/")
    assert (instance.name, instance.kind, instance.origins, instance.api_url) == (
        "autotask-sandbox",
        "autotask",
        ["http://127.0.0.1:9999"],
        "http://127.0.0.1:9999",
    )
    assert creds.secret not in repr(creds) and creds.integration_code not in repr(creds)
    assert SEED.service_ticket != SEED.project_ticket != SEED.missing_ticket
