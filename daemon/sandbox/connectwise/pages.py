"""Ticket web pages at ConnectWise's real URL shapes, for the extension's tests and the demo.

- `/{codebase}services/system_io/Service/fv_sr100_request.rails?service_recid=N` (classic ticket page)
- `/{codebase}ConnectWise.aspx?routeTo=ServiceFV&recid=N` (deep link into the app)
- `/{codebase}ConnectWise.aspx?fullscreen=false#XQAAAC…` (the single-page app: the hash is opaque, so the ticket
  is known only from the DOM header `Ticket #N - summary`, as on the real site)
"""

from __future__ import annotations

import base64
import hashlib
import html
import json

from aiohttp import web

from daemon.sandbox.connectwise.store import CwStore, Ticket

__all__ = ["spa_hash", "ticket_urls"]

CODEBASE = "v4_6_release/"


def spa_hash(ticket_id: int) -> str:
    """An opaque, deterministic SPA hash for a ticket. Real hashes start with `XQAA` (an LZMA header, NOTES §1.5);
    nothing in this one reveals the id."""
    digest = hashlib.sha256(f"connectwise-sandbox:ServiceFV:{ticket_id}".encode()).digest()[:24]
    return "XQAAAC" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def ticket_urls(base_url: str, ticket_id: int) -> dict[str, str]:
    """The three ways a browser shows a ConnectWise ticket, as full URLs on this sandbox."""
    root = f"{base_url.rstrip('/')}/{CODEBASE}"
    return {
        "classic": f"{root}services/system_io/Service/fv_sr100_request.rails?service_recid={ticket_id}",
        "deep_link": f"{root}ConnectWise.aspx?routeTo=ServiceFV&recid={ticket_id}",
        "spa": f"{root}ConnectWise.aspx?fullscreen=false#{spa_hash(ticket_id)}",
    }


def _title(t: Ticket) -> str:
    return f"Ticket #{t.id} - {t.summary}"


def _ticket_html(store: CwStore, t: Ticket) -> str:
    company = store.companies[t.company_id].name
    owner = store.members[t.owner_id].name if t.owner_id is not None else ""
    e = html.escape
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(_title(t))}</title></head>
<body>
<div class="pod_service_ticket_ticket_header"><h1 class="ticket-header">{e(_title(t))}</h1></div>
<div class="pod_ticketSummary">
  <dl>
    <dt>Company</dt><dd class="ticket-company">{e(company)}</dd>
    <dt>Board</dt><dd class="ticket-board">{e(t.board[1])}</dd>
    <dt>Status</dt><dd class="ticket-status">{e(t.status[1])}</dd>
    <dt>Assigned</dt><dd class="ticket-owner">{e(owner)}</dd>
  </dl>
</div>
</body></html>
"""


def _not_found(what: str) -> web.Response:
    body = f"<!doctype html><html><head><title>ConnectWise</title></head><body><p>{html.escape(what)}</p></body></html>"
    return web.Response(text=body, status=404, content_type="text/html")


def _ticket_page(store: CwStore, raw_id: str | None) -> web.Response:
    ticket = store.tickets.get(int(raw_id)) if raw_id and raw_id.isascii() and raw_id.isdigit() else None
    if ticket is None:
        return _not_found("The ticket could not be found.")
    return web.Response(text=_ticket_html(store, ticket), content_type="text/html")


_SPA_SCRIPT = """
const routes = JSON.parse(document.getElementById("routes").textContent);
function render() {
  const ticket = routes[location.hash.slice(1)];
  const header = document.querySelector("h1.ticket-header");
  const company = document.querySelector(".ticket-company");
  const pod = document.querySelector(".pod_service_ticket_ticket_header");
  if (ticket) {
    header.textContent = "Ticket #" + ticket.id + " - " + ticket.summary;
    company.textContent = ticket.company;
    pod.hidden = false;
    document.title = header.textContent;
  } else {
    header.textContent = "";
    company.textContent = "";
    pod.hidden = true;
    document.title = "ConnectWise PSA";
  }
}
window.addEventListener("hashchange", render);
render();
"""


def _spa_html(store: CwStore) -> str:
    routes = {
        spa_hash(t.id): {"id": t.id, "summary": t.summary, "company": store.companies[t.company_id].name}
        for t in store.tickets.values()
    }
    data = json.dumps(routes).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ConnectWise PSA</title></head>
<body>
<div id="app">
  <div class="pod_service_ticket_ticket_header" hidden><h1 class="ticket-header"></h1></div>
  <div class="pod_ticketSummary"><span class="ticket-company"></span></div>
</div>
<script type="application/json" id="routes">{data}</script>
<script>{_SPA_SCRIPT}</script>
</body></html>
"""


def add_page_routes(app: web.Application, store_key: web.AppKey[CwStore]) -> None:
    async def classic(request: web.Request) -> web.Response:
        return _ticket_page(request.app[store_key], request.query.get("service_recid"))

    async def connectwise_aspx(request: web.Request) -> web.Response:
        store = request.app[store_key]
        if request.query.get("routeTo") == "ServiceFV":
            return _ticket_page(store, request.query.get("recid"))
        return web.Response(text=_spa_html(store), content_type="text/html")

    app.router.add_get(f"/{CODEBASE}services/system_io/Service/fv_sr100_request.rails", classic)
    app.router.add_get(f"/{CODEBASE}ConnectWise.aspx", connectwise_aspx)
