"""Ticket web pages at Autotask's URL shapes, for the extension's tests and the demo."""

from __future__ import annotations

import base64
import binascii
import html
import json
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from .api import api
from .store import STORE, AutotaskStore, Record

__all__ = ["pages"]


def _params(request: web.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.query.items()}


def _ticket_page(store: AutotaskStore, params: dict[str, str]) -> web.Response:
    ticket: Record | None = None
    if params.get("ticketid", "").isdigit():
        ticket = store.tickets.get(int(params["ticketid"]))
    elif params.get("ticketnumber"):
        wanted = params["ticketnumber"].strip().upper()
        ticket = next((t for t in store.tickets.values() if t["ticketNumber"] == wanted), None)
    if ticket is None:
        page = "<!DOCTYPE html><html><head><title>Ticket not found - Autotask</title></head><body>"
        return web.Response(
            text=page + "<p>This ticket does not exist.</p></body></html>", status=404, content_type="text/html"
        )
    company = store.companies.get(ticket["companyID"], {}).get("companyName", "")
    number, title = html.escape(ticket["ticketNumber"]), html.escape(ticket["title"])
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{number} - {title} - Ticket Detail - Autotask</title></head><body>"
        f"<div class='TicketDetail' data-ticket-id='{ticket['id']}'>"
        f"<div class='IdentificationText'>{number}</div><h1 class='Title'>{title}</h1>"
        f"<div class='Company'>{html.escape(company)}</div></div></body></html>"
    )
    return web.Response(text=page, content_type="text/html")


async def pages(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    path = request.path.lower()
    params = _params(request)
    if path == "/mvc/servicedesk/ticketdetail.mvc":
        return _ticket_page(store, params)
    if path == "/autotask/autotaskextend/executecommand.aspx":
        # The vendor now redirects this to TicketDetail.mvc; the sandbox answers in place so the TicketNumber form
        # (resolved through the API by the daemon) can be exercised in a browser.
        if params.get("code", "").lower() != "openticketdetail":
            return web.Response(text="Unknown command", status=400)
        return _ticket_page(store, params)
    if path == "/autotaskonyx/landingpage":
        try:
            inner = json.loads(base64.b64decode(params.get("view-data", ""), validate=False))
            url = urlsplit(str(inner["url"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return web.Response(text="Bad view-data", status=400)
        if url.path.lower() == "/mvc/servicedesk/ticketdetail.mvc":
            return _ticket_page(store, {k.lower(): v for k, v in parse_qsl(url.query)})
        return web.Response(
            text="<!DOCTYPE html><html><head><title>Autotask</title></head></html>", content_type="text/html"
        )
    if path.startswith("/atservicesrest/"):
        return await api(request)
    return web.Response(text="Not found", status=404)
