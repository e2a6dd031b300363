"""The ConnectWise PSA look-alike: REST API 3.0 under `/v4_6_release/apis/3.0/`, codebase discovery, ticket pages.

Auth is the vendor's: `Authorization: Basic base64("company+publicKey:privateKey")` plus a registered `clientId`
header on every API call. Failures answer 401 with ConnectWise's error body. Fault switches (`app[FAULTS]`) apply to
API paths only; `/login/companyinfo/…` and the web pages always answer.

Endpoints (all GET unless noted): `/login/companyinfo/{company}`, `system/info`, `system/members`,
`system/members/{id}`, `service/tickets`, `service/tickets/{id}`, `time/entries` (GET, POST), `time/entries/count`,
`time/entries/{id}`. List endpoints take `conditions` (see conditions.py), `fields`, `page`, `pageSize`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from aiohttp import web

from daemon.clock import Clock
from daemon.connectors.connectwise.config import Credentials
from daemon.sandbox.common import StoredEntry
from daemon.sandbox.connectwise.conditions import ConditionsError, parse_conditions
from daemon.sandbox.connectwise.pages import CODEBASE, add_page_routes
from daemon.sandbox.connectwise.store import (
    API_MEMBER,
    CLIENT_ID,
    COMPANY_ID,
    PRIVATE_KEY,
    PUBLIC_KEY,
    CapturedRequest,
    CwStore,
    Rejected,
    new_store,
)
from daemon.sandbox.control import add_control_routes
from daemon.sandbox.faults import FAULTS, Faults, fault_middleware
from daemon.settings import InstanceConfig

__all__ = ["API_PREFIX", "CW_STORE", "create_app", "demo_instance", "stored_entries"]

API_PREFIX = f"/{CODEBASE}apis/3.0"
MEDIA_TYPE = "application/vnd.connectwise.com+json; version=2025.8"
CW_STORE = web.AppKey("connectwise_store", CwStore)
CLOCK = web.AppKey("connectwise_clock", Clock)
_BODY = web.RequestKey("connectwise_body", object)
_MEMBER = web.RequestKey("connectwise_member", int)
"""request[_MEMBER]: id of the member whose API keys authenticated the request."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(*, clock: Clock, faults: Faults | None = None) -> web.Application:
    app = web.Application(middlewares=[fault_middleware(_is_api), _api_middleware])
    app[CW_STORE] = new_store()
    app[CLOCK] = clock
    app[FAULTS] = faults if faults is not None else Faults()
    add_control_routes(app, stored_entries)
    app.router.add_get("/login/companyinfo/{company}", _companyinfo)
    api = API_PREFIX
    app.router.add_get(f"{api}/system/info", _system_info)
    app.router.add_get(f"{api}/system/members", _members)
    app.router.add_get(f"{api}/system/members/{{id:[0-9]+}}", _member)
    app.router.add_get(f"{api}/service/tickets", _tickets)
    app.router.add_get(f"{api}/service/tickets/{{id:[0-9]+}}", _ticket)
    app.router.add_get(f"{api}/time/entries", _entries)
    app.router.add_post(f"{api}/time/entries", _create_entry)
    app.router.add_get(f"{api}/time/entries/count", _count_entries)
    app.router.add_get(f"{api}/time/entries/{{id:[0-9]+}}", _entry)
    app.router.add_get(f"{api}/time/workTypes", _work_types)
    app.router.add_get(f"{api}/time/workRoles", _work_roles)
    add_page_routes(app, CW_STORE)
    app.on_response_prepare.append(_date_header)
    return app


async def _date_header(request: web.Request, response: web.StreamResponse) -> None:
    """The `Date` header by the sandbox's own clock (a test may run it behind or ahead of the daemon's): the time
    its rules (no time in the future) go by."""
    response.headers["Date"] = formatdate(request.app[CLOCK].now(), usegmt=True)


def demo_instance(base_url: str) -> tuple[InstanceConfig, Credentials]:
    """An instance config and credentials that work against this sandbox served at `base_url`."""
    base = base_url.rstrip("/")
    instance = InstanceConfig(
        name="connectwise-sandbox",
        kind="connectwise",
        origins=[base],
        api_url=base,
        options={"member": API_MEMBER},
    )
    return instance, Credentials(
        company=COMPANY_ID, public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, client_id=CLIENT_ID
    )


def stored_entries(app: web.Application) -> list[StoredEntry]:
    return app[CW_STORE].stored_entries()


# -- plumbing -------------------------------------------------------------------------------------------------


def _is_api(request: web.Request) -> bool:
    return request.path.startswith(f"{API_PREFIX}/")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": MEDIA_TYPE, "api-current-version": "2025.8"},
    )


def _fail(status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return _json(body, status)


@web.middleware
async def _api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Capture the request, then authenticate it the vendor's way."""
    if not _is_api(request):
        return await handler(request)
    store = request.app[CW_STORE]
    body: Any = None
    if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
    store.requests.append(CapturedRequest(request.method, request.path, dict(request.query), body))
    request[_BODY] = body
    # UNVERIFIED: the status and text for a missing/unknown clientId are not public; 401 keeps it an auth
    # problem (the vendor spec marks clientId required on every operation).
    client_id = request.headers.get("clientId", "")
    if not client_id:
        return _fail(401, "Unauthorized", "clientId header is required")
    if client_id not in store.client_ids:
        return _fail(401, "Unauthorized", "clientId is not registered")
    member_id = _authenticate(store, request.headers.get("Authorization", ""))
    if member_id is None:
        # Body as quoted in NOTES §1.4 (Invoke-CWMWebRequest.ps1): code "ConnectWiseApi", "UserNotAuthenticated".
        return _fail(401, "ConnectWiseApi", "UserNotAuthenticated")
    request[_MEMBER] = member_id
    return await handler(request)


def _authenticate(store: CwStore, header: str) -> int | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        user, sep, private = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    company, plus, public = user.partition("+")
    if not sep or not plus or company.lower() != store.company_id.lower():
        return None
    key = store.api_keys.get(public)
    if key is None or not hmac.compare_digest(key[0].encode(), private.encode()):
        return None
    return key[1]


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{API_PREFIX}"


def _listing(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    """Apply `conditions`, paging (`page` 1-based, `pageSize` default 25, max 1000) and `fields`."""
    query = request.query
    try:
        if query.get("conditions"):
            keep = parse_conditions(query["conditions"])
            rows = [r for r in rows if keep(r)]
        page = int(query.get("page", "1"))
        size = min(int(query.get("pageSize", "25")), 1000)
    except ConditionsError as exc:
        # UNVERIFIED: the vendor's text for a bad condition.
        return _fail(400, "InvalidObject", f"conditions are invalid: {exc}")
    except ValueError:
        return _fail(400, "InvalidObject", "page and pageSize must be integers")
    if page < 1 or size < 1:
        return _fail(400, "InvalidObject", "page and pageSize must be positive")
    rows = rows[(page - 1) * size : page * size]
    return _json([_fields(r, query.get("fields", "")) for r in rows])


def _fields(row: dict[str, Any], fields: str) -> dict[str, Any]:
    if not fields.strip():
        return row
    wanted = {f.strip().split("/")[0] for f in fields.split(",") if f.strip()}
    return {k: v for k, v in row.items() if k in wanted}


# -- handlers -------------------------------------------------------------------------------------------------


async def _companyinfo(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    if request.match_info["company"].lower() != store.company_id.lower():
        return web.json_response(None)  # the vendor answers JSON null for an unknown company
    return web.json_response(
        {
            "CompanyName": store.company_name,
            "Codebase": store.codebase,
            "VersionCode": "v2025.1",
            "VersionNumber": "v4.6.12345",
            "CompanyID": store.company_id,
            "IsCloud": True,
            "SiteUrl": request.host,
        }
    )


async def _system_info(request: web.Request) -> web.Response:
    return _json(
        {
            "version": "v2025.1.12345",
            "isCloud": True,
            "serverTimeZone": "Eastern Standard Time",
            "licenseBits": [],
            "cloudRegion": "NA",
            "maxWorkFlowRecordsAllowed": 10000,
        }
    )


async def _members(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    return _listing(request, [store.member_json(m, _base(request)) for m in store.members.values()])


async def _member(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    member = store.members.get(int(request.match_info["id"]))
    if member is None:
        return _fail(404, "NotFound", f"Member with id {request.match_info['id']} not found")  # UNVERIFIED text
    return _json(_fields(store.member_json(member, _base(request)), request.query.get("fields", "")))


async def _tickets(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    return _listing(request, [store.ticket_json(t, _base(request)) for t in store.tickets.values()])


async def _ticket(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    ticket = store.tickets.get(int(request.match_info["id"]))
    if ticket is None:
        # UNVERIFIED text: the vendor's 404 body shape is {"code": "NotFound", "message": …}.
        return _fail(404, "NotFound", f"Ticket with id {request.match_info['id']} not found")
    return _json(_fields(store.ticket_json(ticket, _base(request)), request.query.get("fields", "")))


async def _work_types(request: web.Request) -> web.Response:
    """`GET /time/workTypes`: the `WorkType` schema's required fields (name, billTime, rateType, rate) and more."""
    store = request.app[CW_STORE]
    rows = [
        {
            "id": wid,
            "name": name,
            "billTime": bill,
            "rateType": "Multiplier",
            "rate": 1.0,
            "inactiveFlag": False,
            "_info": {"lastUpdated": "2025-01-01T00:00:00Z"},
        }
        for wid, (name, bill) in store.work_types.items()
    ]
    return _listing(request, rows)


async def _work_roles(request: web.Request) -> web.Response:
    """`GET /time/workRoles` (`WorkRole`: name required)."""
    store = request.app[CW_STORE]
    rows = [
        {"id": rid, "name": name, "hourlyRate": 0.0, "inactiveFlag": False, "_info": {}}
        for rid, name in store.work_roles.items()
    ]
    return _listing(request, rows)


async def _entries(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    return _listing(request, [store.entry_json(e, _base(request)) for e in store.entries.values()])


async def _count_entries(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    rows = [store.entry_json(e, _base(request)) for e in store.entries.values()]
    if request.query.get("conditions"):
        try:
            keep = parse_conditions(request.query["conditions"])
        except ConditionsError as exc:
            return _fail(400, "InvalidObject", f"conditions are invalid: {exc}")
        rows = [r for r in rows if keep(r)]
    return _json({"count": len(rows)})


async def _entry(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    entry = store.entries.get(int(request.match_info["id"]))
    if entry is None:
        return _fail(404, "NotFound", f"TimeEntry with id {request.match_info['id']} not found")  # UNVERIFIED text
    return _json(_fields(store.entry_json(entry, _base(request)), request.query.get("fields", "")))


async def _create_entry(request: web.Request) -> web.Response:
    store = request.app[CW_STORE]
    body: Any = request.get(_BODY)
    if body is None or isinstance(body, str):
        return _fail(
            400,
            "InvalidObject",
            "timeEntry object is invalid",
            [
                {
                    "code": "InvalidObject",
                    "message": "The request body is not valid JSON",
                    "resource": "timeEntry",
                    "field": "",
                }
            ],
        )
    try:
        entry = store.create_entry(body, api_member=request[_MEMBER], now=request.app[CLOCK].now())
    except Rejected as exc:
        return _fail(400, "InvalidObject", "timeEntry object is invalid", exc.errors)
    return _json(store.entry_json(entry, _base(request)), status=201)
