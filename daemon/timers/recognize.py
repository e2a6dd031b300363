"""Ticket recognition: which ticket, if any, a browser tab shows.

Pure functions over a URL (plus, for ConnectWise's single-page app, the page title and the ticket number a content
script read from the page) and the configured PSA instances. A URL is only looked at when its origin is one of an
instance's configured `origins`; the instance's kind then picks the URL forms to match (DESIGN.md §9,
psa-contracts NOTES.md "Ticket page URLs"):

    ConnectWise  …/services/system_io/Service/fv_sr100_request.rails?service_recid=N
                 …/ConnectWise.aspx?routeTo=ServiceFV&recid=N
                 …/ConnectWise.aspx?…#<opaque hash>  (id from `page_ticket`, else from the title "Ticket #N")
    Autotask     …/Mvc/ServiceDesk/TicketDetail.mvc?…ticketId=N
                 …/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketID=N | &TicketNumber=T…
                 …/AutotaskOnyx/LandingPage?view-data=<base64 JSON wrapping one of the two above>
    HaloPSA      /ticket?id=N, /tickets?id=N

Everything else (lists, dashboards, time-entry screens, foreign origins, bad ids) is not a ticket. These functions
run on every tab event: they never raise for any string input and do no I/O.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import msgspec

from daemon.settings import InstanceConfig
from daemon.timers.model import TicketRef

__all__ = ["is_instance_origin", "origin_of", "recognize"]

MAX_URL_LENGTH = 32_768
"""Longer URLs are not ticket pages; refusing them early bounds the work per tab event."""

_MAX_ID = 2**31 - 1
_MAX_JSON_NODES = 2_000
_DEFAULT_PORTS = {"http": 80, "https": 443}

_ID = re.compile(r"[0-9]{1,10}")
_AUTOTASK_NUMBER = re.compile(r"T[0-9]{8}\.[0-9]{1,9}", re.IGNORECASE)
# What the ConnectWise content script sends: "Ticket #12345", "Service Ticket # 12345", "#12345", "12345".
_PAGE_TICKET = re.compile(r"\s*(?:(?:service\s*)?ticket\s*#?|#)?\s*([0-9]+)\b", re.IGNORECASE)
_TITLE_TICKET = re.compile(r"\bticket\s*#\s*([0-9]+)\b", re.IGNORECASE)
_AUTOTASK_INNER_HINT = re.compile(r"ticketdetail\.mvc|executecommand\.aspx", re.IGNORECASE)

_CW_SR100 = "/services/system_io/service/fv_sr100_request.rails"
_CW_SPA = "/connectwise.aspx"
_AT_DETAIL = "/mvc/servicedesk/ticketdetail.mvc"
_AT_COMMAND = "/autotask/autotaskextend/executecommand.aspx"
_AT_LANDING = "/autotaskonyx/landingpage"
_HALO_PATHS = frozenset({"/ticket", "/tickets"})


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lowercased, default port dropped; None for anything else."""
    parts = _split(url)
    return None if parts is None else _origin(parts)


def is_instance_origin(url: str, instances: Sequence[InstanceConfig]) -> InstanceConfig | None:
    """The first configured instance whose origins include the URL's origin, or None."""
    origin = origin_of(url)
    return None if origin is None else _instance_for(origin, instances)


def recognize(
    url: str, instances: Sequence[InstanceConfig], *, title: str = "", page_ticket: str | None = None
) -> TicketRef | None:
    """The ticket a tab at `url` shows, or None when it is not a ticket page of a configured instance.

    `title` and `page_ticket` only matter for ConnectWise's single-page app, whose URL hides the id.
    """
    parts = _split(url)
    if parts is None:
        return None
    origin = _origin(parts)
    if origin is None:
        return None
    instance = _instance_for(origin, instances)
    if instance is None:
        return None
    found = _MATCHERS[instance.kind](parts, title, page_ticket)
    if found is None:
        return None
    ticket_id, number = found
    return TicketRef(instance=instance.name, kind=instance.kind, id=ticket_id, number=number)


# A match: (id, None) or (None, ticket number).
_Found = tuple[int | None, str | None]


def _connectwise(parts: SplitResult, title: str, page_ticket: str | None) -> _Found | None:
    path = parts.path.lower()
    if path.endswith(_CW_SR100):
        return _with_id(_query(parts).get("service_recid"))
    if not path.endswith(_CW_SPA):
        return None
    query = _query(parts)
    route = query.get("routeto")
    if route is not None:
        # routeTo=ServiceFV opens a ticket; TimeEntryFV and the others are not tickets.
        return _with_id(query.get("recid")) if route.lower() == "servicefv" else None
    # The single-page app: the hash is an opaque blob, so the id comes from the page itself.
    if page_ticket:
        match = _PAGE_TICKET.match(page_ticket)
        if match:
            return _with_id(match.group(1))
    if title:
        match = _TITLE_TICKET.search(title)
        if match:
            return _with_id(match.group(1))
    return None


def _autotask(parts: SplitResult, title: str, page_ticket: str | None) -> _Found | None:
    if parts.path.lower().endswith(_AT_LANDING):
        view_data = _query(parts).get("view-data")
        return None if view_data is None else _autotask_view_data(view_data)
    return _autotask_page(parts)


def _autotask_page(parts: SplitResult) -> _Found | None:
    path = parts.path.lower()
    if path.endswith(_AT_DETAIL):
        query = _query(parts)
        if "ticketid" in query:
            return _with_id(query["ticketid"])
        # `TicketDetail.mvc?TicketNumber=T…` is seen in one integration note only (UNVERIFIED); harmless to accept.
        return _with_number(query.get("ticketnumber"))
    if path.endswith(_AT_COMMAND):
        query = _query(parts)
        if query.get("code", "").lower() != "openticketdetail":
            return None
        if "ticketid" in query:
            return _with_id(query["ticketid"])
        return _with_number(query.get("ticketnumber"))
    return None


def _autotask_view_data(value: str) -> _Found | None:
    """Decode `view-data` (base64 of JSON, standard or URL-safe, padding optional) and find a ticket URL inside."""
    if "%" in value:
        value = unquote(value)  # percent-encoded twice: parse_qsl undid one layer
    # A literal "+" in a query string reads as a space; URL-safe letters map onto the standard alphabet.
    text = value.strip().replace(" ", "+").replace("-", "+").replace("_", "/").rstrip("=")
    if not text or len(text) % 4 == 1:
        return None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        data: Any = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError, RecursionError):
        return None
    # Walk the JSON without recursion, looking at string values only, with a bound on the work.
    stack: list[Any] = [data]
    seen = 0
    while stack and seen < _MAX_JSON_NODES:
        node = stack.pop()
        seen += 1
        if isinstance(node, str):
            found = _autotask_inner_url(node)
            if found is not None:
                return found
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return None


def _autotask_inner_url(text: str) -> _Found | None:
    if not _AUTOTASK_INNER_HINT.search(text):
        return None
    parts = _split(text.strip())
    if parts is None or parts.scheme not in ("", "http", "https"):
        return None
    return _autotask_page(parts)


def _halopsa(parts: SplitResult, title: str, page_ticket: str | None) -> _Found | None:
    path = parts.path.lower()
    if path.endswith("/") and len(path) > 1:
        path = path[:-1]
    if path not in _HALO_PATHS:
        return None
    return _with_id(_query(parts).get("id"))


_MATCHERS: dict[str, Callable[[SplitResult, str, str | None], _Found | None]] = {
    "connectwise": _connectwise,
    "autotask": _autotask,
    "halopsa": _halopsa,
}


def _split(url: str) -> SplitResult | None:
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        return None
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port; check it once here
    except ValueError:
        return None
    return parts


def _origin(parts: SplitResult) -> str | None:
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    host = parts.hostname  # lowercased, IPv6 without brackets
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@functools.lru_cache(maxsize=256)
def _configured_origin(origin: str) -> str | None:
    """A configured origin, normalised like a tab's ("HTTPS://Na.MyConnectWise.net:443/" → "https://na.…net")."""
    return origin_of(origin)


def _instance_for(origin: str, instances: Sequence[InstanceConfig]) -> InstanceConfig | None:
    for instance in instances:
        for configured in instance.origins:
            if _configured_origin(configured) == origin:
                return instance
    return None


def _query(parts: SplitResult) -> dict[str, str]:
    """Query parameters by lowercased name; the first occurrence of a name wins."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        params.setdefault(name.lower(), value)
    return params


def _with_id(value: str | None) -> _Found | None:
    if value is None or not _ID.fullmatch(value):
        return None
    ticket_id = int(value)
    return (ticket_id, None) if 1 <= ticket_id <= _MAX_ID else None


def _with_number(value: str | None) -> _Found | None:
    if value is None or not _AUTOTASK_NUMBER.fullmatch(value.strip()):
        return None
    return (None, value.strip().upper())
