"""The HaloPSA connector: OAuth2 client credentials, tickets, agents and time as ticket actions.

Time is posted as a ticket action (`POST /api/Actions`, a JSON array of one action) with `timetaken` in hours and
the work span in `actionarrivaldate`/`actioncompletiondate`. The idempotency marker is appended to the action's
`note`: Halo has no internal-notes field on an action that the action list is known to return (`private_note` is
in the swagger, but whether `GET /api/Actions` returns it is UNVERIFIED), and `note` is what NOTES §3.3 proposes to
match on. The action is hidden from the end user (`hiddenfromuser`) and mails nobody (`sendemail: false`), so the
marker is seen by agents only. `find()` lists the ticket's actions (`GET /api/Actions?ticket_id=N&excludesys=true&
agentonly=true`) and matches the marker in `note` (or `private_note`). Action ids are unique per ticket only, so a
posted record's id is `"<ticket_id>/<action_id>"`.

Work orders: in Halo a project is a ticket (`is_project`), so a work order's time is an action on that ticket like
any other. Admin tasks are not posted to Halo: its non-ticket time (`/TimesheetEvent` without a ticket) is UNVERIFIED
in the API extract, so the config refuses a `[[tasks]]` post to a Halo instance and such tasks stay local.

Every vendor call goes through `_send` (timeout, transport errors), and every API call through `_request` (base URL,
bearer token, one token refresh on 401, status mapping, the vendor's message, redaction). A failed write is
`ambiguous` exactly when `base.maybe_applied` says so (a 502 after the action was stored included).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, TypeVar

import httpx
import msgspec

from daemon.clock import Clock, from_ts
from daemon.connectors.base import (
    ConnectorAuthError,
    ConnectorRejected,
    ConnectorUnavailable,
    Identity,
    Posted,
    PostEntry,
    TicketInfo,
    TicketNotFound,
    is_transient,
    marker,
    maybe_applied,
    parse_retry_after,
    ticket_of,
    transport_failure,
    unavailable,
)
from daemon.connectors.halopsa.config import Credentials as HaloCredentials
from daemon.connectors.halopsa.config import parse_options
from daemon.connectors.halopsa.models import (
    Action,
    Agent,
    NewAction,
    action_list_decoder,
    agent_decoder,
    agent_list_decoder,
    created_decoder,
    ticket_decoder,
    token_decoder,
)
from daemon.settings import InstanceConfig
from daemon.timers.model import TicketRef

__all__ = ["UNASSIGNED_AGENT_ID", "HaloPsaConnector"]

log = logging.getLogger(__name__)

UNASSIGNED_AGENT_ID = 1
"""Halo's placeholder agent: "The Agent with id 1 represents the concept of being unassigned" (NOTES §3.3)."""

_json = msgspec.json.Encoder()
T = TypeVar("T")


class HaloPsaConnector:
    """Implements `daemon.connectors.base.Connector` for HaloPSA (hosted or self-hosted)."""

    kind: ClassVar[str] = "halopsa"
    Credentials: ClassVar[type[HaloCredentials]] = HaloCredentials

    def __init__(
        self,
        instance: InstanceConfig,
        credentials: HaloCredentials,
        *,
        http: httpx.AsyncClient,
        clock: Clock,
    ) -> None:
        self._options = parse_options(instance)
        base = (instance.api_url or (instance.origins[0] if instance.origins else "")).rstrip("/")
        base = base.removesuffix("/api")
        if not base:
            raise ValueError(f"PSA instance {instance.name!r} (halopsa) needs api_url (the Halo web address)")
        self._api = f"{base}/api"
        self._auth = (self._options.auth_url or f"{base}/auth").rstrip("/")
        self._credentials = credentials
        self._http = http
        self._clock = clock
        self._timeout = self._options.timeout()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._token_lock = asyncio.Lock()

    # --- the Connector protocol -------------------------------------------------------------------------------

    async def test(self) -> Identity:
        return await self.identity(None)

    async def ticket(self, ref: TicketRef) -> TicketInfo:
        ticket_id = _ticket_id(ref)
        body = await self._request("GET", f"/Tickets/{ticket_id}", not_found=TicketNotFound)
        t = self._decode(ticket_decoder, body, "ticket")
        assignee = None
        if t.agent_id is not None and t.agent_id > UNASSIGNED_AGENT_ID:
            assignee = Identity(id=str(t.agent_id), name=t.agent_name or "")
        return TicketInfo(
            id=t.id,
            number=str(t.id),
            summary=t.summary or "",
            company=t.client_name or "",
            status=t.status_name or (str(t.status_id) if t.status_id is not None else ""),
            board=t.team or "",
            assignee=assignee,
            is_project=bool(t.is_project),
        )

    async def identity(self, who: str | None) -> Identity:
        who = (who or "").strip()
        if not who:
            body = await self._request("GET", "/Agent/me")
            return _identity(self._decode(agent_decoder, body, "agent"))
        if who.isdigit():
            if int(who) == UNASSIGNED_AGENT_ID:
                raise ConnectorRejected("HaloPSA agent 1 is the 'unassigned' placeholder, not a person")
            body = await self._request("GET", f"/Agent/{int(who)}")
            return _identity(self._decode(agent_decoder, body, "agent"))
        body = await self._request("GET", "/Agent", params={"search": who})
        found = self._decode(agent_list_decoder, body, "agent list")
        agents = [
            a
            for a in (found if isinstance(found, list) else found.items())
            if a.id > UNASSIGNED_AGENT_ID and not a.isdisabled
        ]
        wanted = who.casefold()
        exact = [a for a in agents if wanted in ((a.email or "").casefold(), (a.name or "").casefold())]
        if len(exact) == 1:
            return _identity(exact[0])
        if not exact and len(agents) == 1:
            return _identity(agents[0])
        if not agents:
            raise ConnectorRejected(f"no HaloPSA agent matches {who!r}")
        raise ConnectorRejected(f"{len(exact) or len(agents)} HaloPSA agents match {who!r}; use the agent id")

    async def post(self, entry: PostEntry) -> Posted:
        ticket_id = _ticket_id(ticket_of(entry))
        hours = round(entry.seconds / 3600, 6)
        tag = marker(entry.entry_id)
        action = NewAction(
            ticket_id=ticket_id,
            timetaken=hours,
            actionarrivaldate=_iso(entry.start),
            actioncompletiondate=_iso(entry.end),
            note=f"{entry.notes}\n\n{tag}" if entry.notes else tag,
            hiddenfromuser=True,
            sendemail=False,
            outcome=self._options.outcome or None,
            outcome_id=self._options.outcome_id or None,
            private_note=entry.internal_notes or None,
            actisbillable={"yes": True, "no": False}.get(entry.billable),
            nonbilltime=hours if entry.billable == "no" else None,
            chargerate=int(entry.work_type) if entry.work_type.isdigit() else None,
        )
        if entry.log_as is not None:
            if entry.log_as.id == str(UNASSIGNED_AGENT_ID):
                raise ConnectorRejected("cannot log time as HaloPSA agent 1 ('unassigned')")
            action.who_agentid = int(entry.log_as.id) if entry.log_as.id.isdigit() else None
            action.who = entry.log_as.name or None
        body = await self._request("POST", "/Actions", json_body=[action], not_found=TicketNotFound)
        try:
            created = created_decoder.decode(body)
        except msgspec.DecodeError:
            created = []
        actions = created if isinstance(created, list) else [created]
        if not actions:
            # 200 without the created action: it was most likely stored; let the outbox look before retrying.
            raise ConnectorUnavailable("HaloPSA accepted the action but returned no id", status=200, ambiguous=True)
        return Posted(psa_ids=[_psa_id(a, ticket_id) for a in actions])

    async def find(self, entry: PostEntry) -> Posted | None:
        ticket_id = _ticket_id(ticket_of(entry))
        params = {"ticket_id": str(ticket_id), "excludesys": "true", "agentonly": "true"}
        body = await self._request("GET", "/Actions", params=params, not_found=TicketNotFound)
        found = self._decode(action_list_decoder, body, "action list")
        actions = found if isinstance(found, list) else (found.actions or [])
        tag = marker(entry.entry_id)
        ids = [_psa_id(a, ticket_id) for a in actions if tag in (a.note or "") or tag in (a.private_note or "")]
        return Posted(psa_ids=ids) if ids else None

    async def aclose(self) -> None:
        # The httpx client is shared and closed by its owner; only forget the token.
        self._token = None
        self._refresh_at = 0.0

    # --- the request path ------------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        not_found: type[ConnectorRejected] = ConnectorRejected,
    ) -> bytes:
        """One API call: bearer token, one refresh on 401, errors mapped to the connector exception tree."""
        content = _json.encode(json_body) if json_body is not None else None
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        stale: str | None = None
        while True:
            token = await self._bearer(stale)
            headers["Authorization"] = f"Bearer {token}"
            response = await self._send(method, f"{self._api}{path}", params=params, content=content, headers=headers)
            log.debug("halopsa %s %s -> %s", method, path, response.status_code)
            if response.status_code == 401 and stale is None:
                stale = token  # the token may have been revoked or expired early: fetch one new token, once
                continue
            self._check(response, not_found=not_found)
            return response.content

    async def _bearer(self, stale: str | None) -> str:
        """The cached token, or a new one when it is (nearly) expired or the API refused `stale`."""
        async with self._token_lock:
            token = self._token
            if token is not None and token != stale and self._clock.now() < self._refresh_at:
                return token
            form = {
                "grant_type": "client_credentials",
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret,
                "scope": self._options.scope,
            }
            params = {"tenant": self._credentials.tenant} if self._credentials.tenant else None
            response = await self._send(
                "POST", f"{self._auth}/token", params=params, data=form, headers={"Accept": "application/json"}
            )
            if response.status_code in (400, 401, 403):
                raise ConnectorAuthError(
                    f"HaloPSA refused the API application's credentials: {self._message(response)}",
                    status=response.status_code,
                )
            self._check(response, not_found=ConnectorRejected)
            issued = self._decode(token_decoder, response.content, "token")
            lifetime = max(issued.expires_in, 0.0)
            self._token = issued.access_token
            self._refresh_at = self._clock.now() + lifetime - min(self._options.token_margin_s, lifetime / 2)
            log.debug("halopsa: new access token, expires in %.0f s", lifetime)
            return issued.access_token

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str],
    ) -> httpx.Response:
        """The single place a request leaves: timeout, and transport errors as ConnectorUnavailable."""
        try:
            return await self._http.request(
                method, url, params=params, content=content, data=data, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            if maybe_applied(exc):
                text = f"HaloPSA did not answer ({transport_failure(exc)})"
            else:
                text = f"cannot reach HaloPSA ({transport_failure(exc)})"
            raise unavailable(text, exc, write=_is_write(method, url)) from None

    def _check(self, response: httpx.Response, *, not_found: type[ConnectorRejected]) -> None:
        status = response.status_code
        if status < 300:
            return
        message = self._message(response)
        if status in (401, 403):
            raise ConnectorAuthError(f"HaloPSA refused the request ({status}): {message}", status=status)
        if status == 404:
            raise not_found(message, status=status)
        if is_transient(status):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
            write = _is_write(response.request.method, response.request.url.path)
            raise unavailable(message, status, write=write, retry_after=retry_after)
        raise ConnectorRejected(message, status=status)

    def _message(self, response: httpx.Response) -> str:
        """The PSA's own error text (Halo has no one error shape, NOTES §3.4), with our secrets blanked out."""
        return self._redact(_vendor_message(response))

    def _redact(self, text: str) -> str:
        for secret in (self._credentials.client_secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _decode(self, decoder: msgspec.json.Decoder[T], body: bytes, what: str) -> T:
        try:
            return decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise ConnectorUnavailable(f"HaloPSA answered with an unexpected {what}: {exc}") from None


def _is_write(method: str, url_or_path: str) -> bool:
    """A request that changes the PSA (the token request changes nothing we could post twice)."""
    return method != "GET" and not url_or_path.endswith("/token")


def _identity(agent: Agent) -> Identity:
    return Identity(id=str(agent.id), name=agent.name or agent.email or "")


def _ticket_id(ref: TicketRef) -> int:
    """Halo's ticket number is its id (NOTES §3.5)."""
    if ref.id is not None:
        ticket_id = ref.id
    elif ref.number and ref.number.lstrip("#").isdigit():
        ticket_id = int(ref.number.lstrip("#"))
    else:
        raise TicketNotFound(f"not a HaloPSA ticket id: {ref.number!r}")
    if ticket_id <= 0:
        raise TicketNotFound(f"not a HaloPSA ticket id: {ticket_id}")
    return ticket_id


def _psa_id(action: Action, ticket_id: int) -> str:
    """Action ids are unique per ticket only."""
    return f"{action.ticket_id or ticket_id}/{action.id}"


def _iso(ts: float) -> str:
    return from_ts(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _vendor_message(response: httpx.Response) -> str:
    fallback = f"HTTP {response.status_code}"
    text = response.text.strip()
    try:
        data = msgspec.json.decode(response.content) if text else None
    except msgspec.DecodeError:
        return text[:500] or fallback
    return (_message_of(data) or text)[:500] or fallback


def _message_of(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(m for m in map(_message_of, data) if m)
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, str):
        description = data.get("error_description")
        return f"{error}: {description}" if isinstance(description, str) and description else error
    if isinstance(error, dict):
        return _message_of(error.get("error_description") or error.get("message") or error)
    for key in ("Message", "message", "error_description", "title"):
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])
    if isinstance(data.get("errors"), dict):
        return _message_of(list(data["errors"].values()))
    if len(data) == 1:
        return _message_of(next(iter(data.values())))
    return ""
