"""A local look-alike of HaloPSA: its OAuth2 token endpoint, the API paths TicketClock uses, and ticket web pages.

URLs (relative to the app's root, which plays `https://<tenant>.halopsa.com`):

    POST /auth/token[?tenant=T]     form client_credentials grant → {"access_token","token_type","expires_in"}
    GET  /api/Agent/me              the API application's agent ("Agent to log in as")
    GET  /api/Agent/{id}            one agent
    GET  /api/Agent?search=…        bare array, or {"record_count","results"} with pageinate=true
    GET  /api/Tickets/{id}          a ticket (swagger `Faults`)
    GET  /api/Actions?ticket_id=N   {"record_count","actions"}; excludesys, agentonly, excludeprivate, timeentriesonly
    POST /api/Actions               a JSON array of actions → 200 + the (last) created action; ?returnall=true: array
    GET  /ticket?id=N, /tickets?id=N[&view=all]    the agent UI's ticket page (HTML)

Vendor rules enforced: bearer tokens expire `expires_in` seconds after issue by the sandbox's clock (and can all be
revoked at once); `POST /api/Actions` takes an array only, needs a known `ticket_id`, and `timetaken` must be a
number ≥ 0 (hours). Action ids are per ticket, as in Halo.

Error bodies follow the shapes NOTES §3.4 lists (Halo has no one format). Which shape Halo uses for which error is
UNVERIFIED; the choices here: model-binding (type) errors as a one-key object keyed by the JSON path
(`{"[0].timetaken": ["…"]}`, the `[0].id` form n8n reads), business-rule refusals as a .NET exception
(`{"ClassName": …, "Message": …}`), a missing ticket as 404 with a plain-text message, and an API call with a bad
or expired token as an empty 401 with `WWW-Authenticate: Bearer error="invalid_token"` (ASP.NET's default).
The token endpoint answers a wrong client id or secret with 401 `{"error": "invalid_client"}`.
"""

from __future__ import annotations

import hmac
import html
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from daemon.clock import Clock, from_ts, to_ts
from daemon.connectors.halopsa.config import Credentials
from daemon.sandbox.common import Seed, StoredEntry
from daemon.sandbox.control import add_control_routes
from daemon.sandbox.faults import FAULTS, Faults, fault_middleware
from daemon.settings import InstanceConfig

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "SEED",
    "STORE",
    "TENANT",
    "HaloStore",
    "create_app",
    "demo_instance",
    "stored_entries",
]

CLIENT_ID = "ticketclock-sandbox"
CLIENT_SECRET = "sandbox-secret-not-for-production"  # a test double's fixed credential
TENANT = "sandbox"
UNASSIGNED = 1

SEED = Seed(
    service_ticket=1001,
    project_ticket=1002,
    missing_ticket=9999,
    api_user="2",
    assignee="3",
    other_user="jordan.lee@contoso.example",
    ticket_company="Contoso Ltd",
    ticket_summary="Outlook keeps asking for the password",
    work_order=1002,
)


@dataclass
class Agent:
    id: int
    name: str
    email: str = ""
    team: str = ""
    isdisabled: bool = False
    isapiagent: bool = False

    def json(self) -> dict[str, Any]:
        first, _, last = self.name.partition(" ")
        return {
            "id": self.id,
            "name": self.name,
            "firstname": first,
            "surname": last,
            "initials": (first[:1] + last[:1]).upper(),
            "email": self.email,
            "team": self.team,
            "isdisabled": self.isdisabled,
            "isapiagent": self.isapiagent,
        }


@dataclass
class Ticket:
    id: int
    summary: str
    client_id: int
    client_name: str
    status_id: int
    status_name: str
    team: str
    agent_id: int
    tickettype_id: int = 1
    is_project: bool = False
    details: str = ""

    def json(self, agents: dict[int, Agent]) -> dict[str, Any]:
        agent = agents.get(self.agent_id)
        return {
            "id": self.id,
            "summary": self.summary,
            "details": self.details,
            "client_id": self.client_id,
            "client_name": self.client_name,
            "status_id": self.status_id,
            "status_name": self.status_name,
            "team": self.team,
            "agent_id": self.agent_id,
            "agent_name": agent.name if agent and self.agent_id != UNASSIGNED else "",
            "tickettype_id": self.tickettype_id,
            "is_project": self.is_project,
        }


@dataclass
class Action:
    """One stored action, in the vendor's field names; `system` marks Halo's own (excludesys hides them)."""

    id: int
    ticket_id: int
    fields: dict[str, Any]
    system: bool = False

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "ticket_id": self.ticket_id, **self.fields}


@dataclass
class HaloStore:
    """The sandbox's state; tests reach it as `app[STORE]`."""

    clock: Clock
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    tenant: str = TENANT
    api_agent_id: int = int(SEED.api_user)
    expires_in: int = 3600
    """Lifetime of new tokens, in seconds of the sandbox clock."""
    agents: dict[int, Agent] = field(default_factory=dict)
    tickets: dict[int, Ticket] = field(default_factory=dict)
    outcomes: dict[int, str] = field(default_factory=dict)
    actions: dict[int, list[Action]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    """Access token → expiry (epoch seconds)."""
    token_requests: int = 0
    """Token grants issued (successful token requests)."""
    writes: list[tuple[str, str, Any]] = field(default_factory=list)
    """(method, path, decoded JSON body) of every API write received, valid or not."""

    def revoke_tokens(self) -> None:
        """Invalidate every issued token, as a server-side key rotation would."""
        self.tokens.clear()

    def token_valid(self, token: str) -> bool:
        expires = self.tokens.get(token)
        return expires is not None and self.clock.now() < expires


STORE = web.AppKey("halopsa_store", HaloStore)


def _seed(store: HaloStore) -> None:
    for agent in (
        Agent(UNASSIGNED, "Unassigned"),
        Agent(2, "TicketClock API", "api@msp.example", "Service Desk", isapiagent=True),
        Agent(3, "Sam Tech", "sam.tech@msp.example", "Service Desk"),
        Agent(4, "Jordan Lee", SEED.other_user, "Projects"),
        Agent(5, "Former Tech", "former@msp.example", "Service Desk", isdisabled=True),
    ):
        store.agents[agent.id] = agent
    for ticket in (
        Ticket(SEED.service_ticket, SEED.ticket_summary, 12, SEED.ticket_company, 2, "In Progress", "Service Desk", 3),
        Ticket(1002, "Migrate file server to SharePoint", 12, SEED.ticket_company, 2, "In Progress", "Projects", 4,
               tickettype_id=3, is_project=True),
        Ticket(1003, "New starter: laptop for R. Patel", 15, "Fabrikam Inc", 1, "New", "Service Desk", UNASSIGNED),
        Ticket(1004, "Printer offline on 2nd floor", 15, "Fabrikam Inc", 9, "Closed", "Service Desk", 3),
    ):  # fmt: skip
        store.tickets[ticket.id] = ticket
        store.actions[ticket.id] = [
            Action(1, ticket.id, {"outcome": "Ticket Logged", "note": "Ticket logged", "who_agentid": 0}, system=True)
        ]
    store.outcomes = {1: "Note", 2: "Private Note", 7: "Time Logged", 8: "Internal Note"}


def create_app(*, clock: Clock, faults: Faults | None = None) -> web.Application:
    app = web.Application(middlewares=[fault_middleware(_is_api), _auth_middleware])
    store = HaloStore(clock=clock)
    _seed(store)
    app[STORE] = store
    app[FAULTS] = faults if faults is not None else Faults()
    add_control_routes(app, stored_entries)
    app.router.add_post("/auth/token", _token)
    app.router.add_get("/api/Agent/me", _agent_me)
    app.router.add_get("/api/Agent/{id}", _agent)
    app.router.add_get("/api/Agent", _agents)
    app.router.add_get("/api/Tickets/{id}", _ticket)
    app.router.add_get("/api/Actions", _actions)
    app.router.add_post("/api/Actions", _post_actions)
    app.router.add_get("/ticket", _ticket_page)
    app.router.add_get("/tickets", _ticket_page)
    app.router.add_get("/", _index_page)
    return app


def demo_instance(base_url: str) -> tuple[InstanceConfig, Credentials]:
    base = base_url.rstrip("/")
    instance = InstanceConfig(name="halopsa-sandbox", kind="halopsa", origins=[base], api_url=base)
    return instance, Credentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)


def stored_entries(app: web.Application) -> list[StoredEntry]:
    """The time records the sandbox holds (every non-system action), oldest ticket first."""
    entries = []
    for ticket_id, actions in sorted(app[STORE].actions.items()):
        for a in actions:
            if a.system:
                continue
            f = a.fields
            flag = f.get("actisbillable")
            billable = "" if flag is None else ("yes" if flag else "no")
            entries.append(
                StoredEntry(
                    psa_id=f"{ticket_id}/{a.id}",
                    ticket_id=ticket_id,
                    record="work_order" if app[STORE].tickets[ticket_id].is_project else "ticket",
                    start=_ts(f.get("actionarrivaldate")),
                    end=_ts(f.get("actioncompletiondate")),
                    hours=float(f.get("timetaken") or 0.0),
                    notes=f.get("note") or "",
                    internal_notes=f.get("private_note") or "",
                    who=str(f.get("who_agentid", "")),
                    billable=billable,
                )
            )
    return entries


# --- auth ---------------------------------------------------------------------------------------------------------


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def _auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if _is_api(request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not request.app[STORE].token_valid(token.strip()):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    response: web.StreamResponse = await handler(request)
    return response


async def _token(request: web.Request) -> web.Response:
    store = request.app[STORE]
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
    client_id = str(form.get("client_id", ""))
    client_secret = str(form.get("client_secret", ""))
    tenant = request.query.get("tenant")
    ok = hmac.compare_digest(client_id, store.client_id) & hmac.compare_digest(client_secret, store.client_secret)
    if not ok or (tenant is not None and tenant != store.tenant):
        return web.json_response({"error": "invalid_client"}, status=401)
    token = secrets.token_urlsafe(32)
    store.tokens[token] = store.clock.now() + store.expires_in
    store.token_requests += 1
    scope = str(form.get("scope") or "all")
    return web.json_response(
        {"access_token": token, "token_type": "Bearer", "expires_in": store.expires_in, "scope": scope}
    )


# --- API ----------------------------------------------------------------------------------------------------------


def _not_found(message: str) -> web.Response:
    return web.Response(status=404, text=message)


def _exception(message: str, status: int = 400) -> web.Response:
    return web.json_response({"ClassName": "HaloException", "Message": message}, status=status)


def _binding_error(path: str, message: str) -> web.Response:
    return web.json_response({path: [message]}, status=400)


def _int_param(request: web.Request, name: str) -> int | web.Response | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return _binding_error(name, f"The value '{raw}' is not valid.")


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() == "true"


async def _agent_me(request: web.Request) -> web.Response:
    store = request.app[STORE]
    return web.json_response(store.agents[store.api_agent_id].json())


async def _agent(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not raw.isdigit():
        return _binding_error("id", f"The value '{raw}' is not valid.")
    agent = request.app[STORE].agents.get(int(raw))
    if agent is None:
        return _not_found(f"Agent {raw} not found")
    return web.json_response(agent.json())


async def _agents(request: web.Request) -> web.Response:
    store = request.app[STORE]
    search = request.query.get("search", "").casefold()
    found = [
        a.json()
        for a in store.agents.values()
        if (a.id != UNASSIGNED or _flag(request, "includeunassigned"))
        and (not a.isdisabled or _flag(request, "includedisabled"))
        and (search in a.name.casefold() or search in a.email.casefold())
    ]
    if _flag(request, "pageinate"):
        return web.json_response({"record_count": len(found), "results": found})
    return web.json_response(found)


async def _ticket(request: web.Request) -> web.Response:
    store = request.app[STORE]
    raw = request.match_info["id"]
    if not raw.lstrip("-").isdigit():
        return _binding_error("id", f"The value '{raw}' is not valid.")
    ticket = store.tickets.get(int(raw))
    if ticket is None:
        return _not_found(f"Ticket {raw} not found")
    return web.json_response(ticket.json(store.agents))


async def _actions(request: web.Request) -> web.Response:
    store = request.app[STORE]
    ticket_id = _int_param(request, "ticket_id")
    if isinstance(ticket_id, web.Response):
        return ticket_id
    pool = (
        store.actions.get(ticket_id, [])
        if ticket_id is not None
        else [a for actions in store.actions.values() for a in actions]
    )
    found = [
        a.json()
        for a in pool
        if not (a.system and (_flag(request, "excludesys") or _flag(request, "agentonly")))
        and not (_flag(request, "excludeprivate") and a.fields.get("hiddenfromuser"))
        and not (_flag(request, "timeentriesonly") and not a.fields.get("timetaken"))
    ]
    return web.json_response({"record_count": len(found), "actions": found})


# Types of the `Actions` properties this sandbox reads, as the vendor's model binder would check them.
_TYPES: dict[str, tuple[type, ...]] = {
    "ticket_id": (int,),
    "timetaken": (int, float),
    "nonbilltime": (int, float),
    "actionarrivaldate": (str,),
    "actioncompletiondate": (str,),
    "note": (str,),
    "private_note": (str,),
    "outcome": (str,),
    "outcome_id": (int,),
    "who": (str,),
    "who_agentid": (int,),
    "hiddenfromuser": (bool,),
    "sendemail": (bool,),
    "actisbillable": (bool,),
    "chargerate": (int,),
}
_NET_TYPES = {int: "System.Int32", float: "System.Double", str: "System.String", bool: "System.Boolean"}


async def _post_actions(request: web.Request) -> web.Response:
    store = request.app[STORE]
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        return _binding_error("$", "The input does not contain any JSON tokens or is not valid JSON.")
    store.writes.append(("POST", request.path, body))
    if not isinstance(body, list):
        return _binding_error(
            "$", "The JSON value could not be converted to System.Collections.Generic.List`1[Actions]."
        )
    checked: list[tuple[Ticket, dict[str, Any]]] = []
    for n, item in enumerate(body):
        result = _check_action(store, n, item)
        if isinstance(result, web.Response):
            return result
        checked.append(result)
    created = []
    for ticket, fields in checked:
        actions = store.actions.setdefault(ticket.id, [])
        action = Action(max((a.id for a in actions), default=0) + 1, ticket.id, fields)
        actions.append(action)
        created.append(action.json())
    if _flag(request, "returnall"):
        return web.json_response(created)
    return web.json_response(created[-1] if created else {})


def _check_action(store: HaloStore, n: int, item: Any) -> tuple[Ticket, dict[str, Any]] | web.Response:
    if not isinstance(item, dict):
        return _binding_error(f"[{n}]", "The JSON value could not be converted to Actions.")
    for key, types in _TYPES.items():
        value = item.get(key)
        if value is None:
            continue
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            net = _NET_TYPES[types[-1]]
            return _binding_error(f"[{n}].{key}", f"The JSON value could not be converted to {net}. Path: $[{n}].{key}")
    ticket_id = item.get("ticket_id")
    if ticket_id is None:
        return _exception("Please specify the ticket for this action (ticket_id)")
    ticket = store.tickets.get(ticket_id)
    if ticket is None:
        return _exception(f"Ticket {ticket_id} does not exist")
    timetaken = item.get("timetaken") or 0
    if timetaken < 0 or (item.get("nonbilltime") or 0) < 0:
        return _exception("Time taken cannot be negative")
    start = _parse_date(item.get("actionarrivaldate"))
    end = _parse_date(item.get("actioncompletiondate"))
    for key, when in (("actionarrivaldate", start), ("actioncompletiondate", end)):
        if when is None and item.get(key) is not None:
            return _binding_error(
                f"[{n}].{key}", f"The JSON value could not be converted to System.DateTime. Path: $[{n}].{key}"
            )
    if start is not None and end is not None and end < start:
        return _exception("The action's completion date is before its arrival date")  # UNVERIFIED rule and text
    agent = store.agents[store.api_agent_id]
    if item.get("who_agentid") is not None:
        found = store.agents.get(item["who_agentid"])
        if found is None or found.id == UNASSIGNED or found.isdisabled:
            return _exception(f"Agent {item['who_agentid']} is not a valid agent")
        agent = found
    if item.get("who"):
        named = [a for a in store.agents.values() if a.name.casefold() == item["who"].casefold() and not a.isdisabled]
        if not named or (item.get("who_agentid") is not None and named[0].id != agent.id):
            return _exception(f"Agent '{item['who']}' not found")
        agent = named[0]
    outcome = item.get("outcome") or ""
    if item.get("outcome_id") is not None:
        if item["outcome_id"] not in store.outcomes:
            return _exception(f"Outcome {item['outcome_id']} does not exist")
        outcome = store.outcomes[item["outcome_id"]]
    outcome_id = next((k for k, v in store.outcomes.items() if v.casefold() == outcome.casefold()), None)
    fields = {k: v for k, v in item.items() if k in _TYPES and k != "ticket_id"}  # the binder drops unknown keys
    fields.update(
        who=agent.name,
        who_agentid=agent.id,
        actionby_agent_id=agent.id,
        outcome=outcome,
        outcome_id=outcome_id,
        timetaken=float(timetaken),
        datetime=_iso(store.clock.now()),
    )
    return ticket, fields


def _parse_date(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return to_ts(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _ts(value: Any) -> float:
    parsed = _parse_date(value)
    return parsed if parsed is not None else 0.0


def _iso(ts: float) -> str:
    return from_ts(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the agent UI's pages -----------------------------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>{body}</body></html>\n"
    )
    return web.Response(text=text, content_type="text/html", status=status)


async def _ticket_page(request: web.Request) -> web.Response:
    store = request.app[STORE]
    raw = request.query.get("id", "")
    ticket = store.tickets.get(int(raw)) if raw.isdigit() else None
    if ticket is None:
        return _page("HaloPSA", f"<h1>Ticket {html.escape(raw)} could not be found</h1>", status=404)
    agent = store.agents.get(ticket.agent_id)
    assignee = agent.name if agent and ticket.agent_id != UNASSIGNED else "Unassigned"
    body = (
        f'<header><h1 id="ticket-title">{ticket.id} - {html.escape(ticket.summary)}</h1></header>'
        f'<dl><dt>Customer</dt><dd id="client">{html.escape(ticket.client_name)}</dd>'
        f'<dt>Status</dt><dd id="status">{html.escape(ticket.status_name)}</dd>'
        f'<dt>Team</dt><dd id="team">{html.escape(ticket.team)}</dd>'
        f'<dt>Agent</dt><dd id="agent">{html.escape(assignee)}</dd></dl>'
    )
    return _page(f"{ticket.id} - {ticket.summary} - HaloPSA", body)


async def _index_page(request: web.Request) -> web.Response:
    items = "".join(
        f'<li><a href="/ticket?id={t.id}">{t.id}</a> {html.escape(t.summary)}</li>'
        for t in request.app[STORE].tickets.values()
    )
    return _page("Tickets - HaloPSA", f"<h1>Tickets</h1><ul>{items}</ul>")
