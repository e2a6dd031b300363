"""ConnectWise PSA (Manage) connector: REST API 3.0 with API-member keys.

Every vendor call goes through `ConnectWiseConnector._request`: it finds the base URL (the codebase is discovered
once via `GET {site}/login/companyinfo/{company}` and cached), sets the Basic auth and `clientId` headers and the
pinned `Accept` version, applies the timeout and maps failures onto the tree in `daemon.connectors.base`::

    httpx error ──────────────────────────────────────────► ConnectorUnavailable
    401 / 403 ────────────────────────────────────────────► ConnectorAuthError (API keys: nothing to refresh)
    404 on a ticket ──────────────────────────────────────► TicketNotFound
    other 4xx ────────────────────────────────────────────► ConnectorRejected(errors[].message or message)
    429 / 5xx / 408 ──────────────────────────────────────► ConnectorUnavailable(retry_after=Retry-After)

A failed write is `ambiguous` exactly when `base.maybe_applied` says so (the one rule for all connectors).

Nothing is retried here; the outbox retries. Secrets (keys, clientId, the Authorization value) never reach a log
line or an exception message: messages are built from the method, the path and the PSA's error text, and that
text is passed through `_redact` in case the PSA echoes anything back.

The marker: `post()` appends `marker(entry_id)` to the entry's **internalNotes** (after the user's own internal
notes); `find()` queries the entries charged to the same target with
`conditions=chargeToId=N and chargeToType="ServiceTicket" and internalNotes contains "[ticketclock:ID]"`
and re-checks the marker locally. (Whether ConnectWise supports `contains` on internalNotes is UNVERIFIED.)

What an entry is charged to (`_charge`): a ticket → "ServiceTicket" or, for a project ticket (its recordType),
"ProjectTicket"; a work order → "ProjectTicket" with no look-up; an admin task → "ChargeCode" with the task's
charge code as chargeToId (the vendor enum's non-ticket time; the member's own company is charged).
"""

from __future__ import annotations

import base64
import email.utils
import logging
import math
import re
from typing import ClassVar, Literal, TypeVar
from urllib.parse import quote, urlsplit

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
    parse_retry_after,
    ticket_of,
    transport_failure,
    unavailable,
)
from daemon.connectors.base import WorkItem as WorkTypeItem
from daemon.connectors.connectwise.config import API_VERSION, parse_options
from daemon.connectors.connectwise.config import Credentials as CwCredentials
from daemon.connectors.connectwise.models import (
    BillableOption,
    CompanyInfo,
    ErrorBody,
    Member,
    MemberRef,
    NamedRef,
    Ticket,
    TimeEntry,
    WorkItem,
)
from daemon.settings import InstanceConfig
from daemon.timers.model import TicketRef

__all__ = ["ConnectWiseConnector", "api_site", "window_until_now"]

log = logging.getLogger(__name__)

ACCEPT = f"application/vnd.connectwise.com+json; version={API_VERSION}"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
PAGE_SIZE = 1000
"""The most ConnectWise returns in one page."""
TICKET_FIELDS = "id,summary,recordType,company,board,status,owner"
MAX_SKEW_S = 86_400.0
"""A `Date` header further than this from our clock is not believed (a broken proxy, not a clock)."""

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TICKET_NUMBER = re.compile(r"#?\s*([0-9]{1,10})")

_encoder = msgspec.json.Encoder()
_companyinfo = msgspec.json.Decoder(CompanyInfo | None)
_ticket = msgspec.json.Decoder(Ticket)
_members = msgspec.json.Decoder(list[Member])
_work_items = msgspec.json.Decoder(list[WorkItem])
_entry = msgspec.json.Decoder(TimeEntry)
_entries = msgspec.json.Decoder(list[TimeEntry])
_error = msgspec.json.Decoder(ErrorBody)

T = TypeVar("T")
ChargeTo = Literal["ServiceTicket", "ProjectTicket", "ChargeCode"]

_BILLABLE: dict[str, BillableOption | None] = {"agreement": None, "yes": "Billable", "no": "DoNotBill"}


class ConnectWiseConnector:
    """Posts time to ConnectWise PSA tickets as `/time/entries` charged to the ticket.

    The idempotency marker lives in the entry's `internalNotes` (see the module docstring).
    """

    kind: ClassVar[str] = "connectwise"
    Credentials: ClassVar[type[CwCredentials]] = CwCredentials

    def __init__(
        self,
        instance: InstanceConfig,
        credentials: CwCredentials,
        *,
        http: httpx.AsyncClient,
        clock: Clock,
    ) -> None:
        self._options = parse_options(instance)
        self._timeout = self._options.timeout()
        self._site = api_site(instance)
        self._credentials = credentials
        self._http = http
        self._clock = clock
        token = base64.b64encode(
            f"{credentials.company}+{credentials.public_key}:{credentials.private_key}".encode()
        ).decode("ascii")
        self._authorization = f"Basic {token}"
        self._secrets = tuple(
            s for s in (token, credentials.private_key, credentials.public_key, credentials.client_id) if s
        )
        self._codebase: str | None = _codebase(self._options.codebase) if self._options.codebase else None
        self._record_types: dict[int, str] = {}
        self._skew = 0.0
        """The PSA's clock minus ours, from the `Date` header of its last answer (whole seconds, so it errs early)."""

    # -- the Connector protocol ------------------------------------------------------------------------------

    async def test(self) -> Identity:
        """`GET /system/info` (a cheap credentials check), then the configured member."""
        await self._request("GET", "system/info")
        return await self.identity(None)

    async def ticket(self, ref: TicketRef) -> TicketInfo:
        ticket_id = _ticket_id(ref)
        raw = await self._request(
            "GET", f"service/tickets/{ticket_id}", params={"fields": TICKET_FIELDS}, not_found=TicketNotFound
        )
        ticket = _decode(_ticket, raw)
        record_type = ticket.record_type or "ServiceTicket"
        self._record_types[ticket.id] = record_type
        owner = ticket.owner
        assignee = None
        if owner is not None and owner.id is not None:
            assignee = Identity(id=str(owner.id), name=owner.name or owner.identifier or "")
        return TicketInfo(
            id=ticket.id,
            number=str(ticket.id),
            summary=ticket.summary,
            company=_name(ticket.company),
            status=_name(ticket.status),
            board=_name(ticket.board),
            assignee=assignee,
            is_project=record_type in ("ProjectIssue", "ProjectTicket"),
        )

    async def identity(self, who: str | None) -> Identity:
        """A member by id ("151"), e-mail (primaryEmail) or identifier; None: the configured `member` option."""
        wanted = self._options.member if who is None else who.strip()
        if wanted.isascii() and wanted.isdigit():
            condition = f"id={int(wanted)}"
        elif "@" in wanted:
            condition = f"primaryEmail={_quote(wanted)}"
        else:
            condition = f"identifier={_quote(wanted)}"
        raw = await self._request("GET", "system/members", params={"conditions": condition, "pageSize": 2})
        members = _decode(_members, raw)
        if not members:
            raise ConnectorRejected(f"no ConnectWise member matches {wanted!r}")
        member = members[0]
        return Identity(id=str(member.id), name=member.name)

    async def work_types(self) -> list[WorkTypeItem]:
        """`GET /time/workTypes`: the active ones, by name (entries name their work type by name)."""
        return await self._work_items("time/workTypes")

    async def work_roles(self) -> list[WorkTypeItem]:
        """`GET /time/workRoles`: the active ones, by name."""
        return await self._work_items("time/workRoles")

    async def _work_items(self, path: str) -> list[WorkTypeItem]:
        params: dict[str, str | int] = {"fields": "id,name,inactiveFlag", "pageSize": 1000}
        raw = await self._request("GET", path, params=params)
        return [
            WorkTypeItem(id=str(item.id), name=item.name, value=item.name)
            for item in _decode(_work_items, raw)
            if not item.inactive_flag
        ]

    async def post(self, entry: PostEntry) -> Posted:
        """`POST /time/entries` charged to the ticket; the marker goes into `internalNotes`.

        - chargeToType follows the ticket's recordType (ProjectIssue/ProjectTicket → "ProjectTicket").
        - ConnectWise refuses time in the future: a window ending after now is shifted back to end at now — the
          PSA's now (`psa_now`: our clock corrected by its `Date` header), so a PSA clock behind ours is no refusal.
        - timeStart/timeEnd: UTC `YYYY-MM-DDTHH:MM:SSZ`, whole seconds.
        - actualHours: the *billed* seconds (after rounding rules) in hours, 2 decimals, so rounding reaches the
          invoice; the start/end window stays the measured one.
        - billableOption is omitted for "agreement" (ConnectWise applies the agreement / work type default).
        - workType/workRole by name, only when given; the copy-to-ticket and e-mail action flags are false.
        """
        charge_to_id, charge_to_type = await self._charge(entry)
        start, end = window_until_now(entry.start, entry.end, self.psa_now())
        internal = marker(entry.entry_id)
        if entry.internal_notes.strip():
            internal = f"{entry.internal_notes.rstrip()}\n{internal}"
        body = TimeEntry(
            charge_to_id=charge_to_id,
            charge_to_type=charge_to_type,
            member=self._member_ref(entry.log_as),
            time_start=_format_time(start),
            time_end=_format_time(end),
            actual_hours=round(entry.seconds / 3600, 2),
            billable_option=_BILLABLE[entry.billable],
            notes=entry.notes,
            internal_notes=internal,
            work_type=NamedRef(name=entry.work_type) if entry.work_type else None,
            work_role=NamedRef(name=entry.role) if entry.role else None,
            add_to_detail_description_flag=False,
            add_to_internal_analysis_flag=False,
            add_to_resolution_flag=False,
            email_resource_flag=False,
            email_contact_flag=False,
            email_cc_flag=False,
        )
        raw = await self._request("POST", "time/entries", body=body)
        created = _decode(_entry, raw, write=True)
        if created.id is None:
            raise ConnectorUnavailable("ConnectWise answered the time entry without an id", ambiguous=True)
        return Posted(psa_ids=[str(created.id)])

    async def find(self, entry: PostEntry) -> Posted | None:
        """The time entries charged to the same target whose internalNotes contain this entry's marker, or None."""
        charge_to_id, charge_to_type = await self._charge(entry)
        tag = marker(entry.entry_id)
        condition = (
            f"chargeToId={charge_to_id} and chargeToType={_quote(charge_to_type)} "
            f"and internalNotes contains {_quote(tag)}"
        )
        ids: list[str] = []
        page = 1
        while True:
            raw = await self._request(
                "GET",
                "time/entries",
                params={"conditions": condition, "fields": "id,internalNotes", "page": page, "pageSize": PAGE_SIZE},
            )
            batch = _decode(_entries, raw)
            # Re-check locally: the filter on internalNotes is UNVERIFIED against a live tenant.
            ids.extend(str(e.id) for e in batch if e.id is not None and tag in (e.internal_notes or ""))
            if len(batch) < PAGE_SIZE:
                break
            page += 1
        return Posted(psa_ids=ids) if ids else None

    def psa_now(self) -> float:
        """Now by the PSA's clock, as far as its last answer's `Date` header tells (our clock until it answered)."""
        return self._clock.now() + self._skew

    async def aclose(self) -> None:
        """Nothing to release: the httpx client is shared and closed by its owner."""
        self._record_types.clear()

    # -- helpers ---------------------------------------------------------------------------------------------

    def _member_ref(self, who: Identity | None) -> MemberRef:
        if who is None:
            return MemberRef(identifier=self._options.member)
        if who.id.isascii() and who.id.isdigit():
            return MemberRef(id=int(who.id))
        return MemberRef(identifier=who.id)

    async def _charge(self, entry: PostEntry) -> tuple[int, ChargeTo]:
        """(chargeToId, chargeToType) of an entry: its charge code, work order or ticket."""
        if entry.task is not None:
            if entry.task.charge_code is None:
                raise ConnectorRejected(f"the task {entry.task_name!r} names no ConnectWise charge code")
            return entry.task.charge_code, "ChargeCode"
        ref = ticket_of(entry)
        ticket_id = _ticket_id(ref)
        if ref.record == "work_order":
            return ticket_id, "ProjectTicket"
        return ticket_id, await self._charge_to_type(ticket_id)

    async def _charge_to_type(self, ticket_id: int) -> ChargeTo:
        record_type = self._record_types.get(ticket_id)
        if record_type is None:
            await self.ticket(TicketRef(instance="", kind="connectwise", id=ticket_id))
            record_type = self._record_types[ticket_id]
        # "ConnectWise doesn't allow 'ProjectIssue' as a valid chargeToType" (djconnectwise sync.py).
        return "ProjectTicket" if record_type in ("ProjectIssue", "ProjectTicket") else "ServiceTicket"

    async def _base(self) -> str:
        if self._codebase is None:
            company = self._credentials.company
            raw = await self._request("GET", f"login/companyinfo/{quote(company, safe='')}", api=False)
            info = _decode(_companyinfo, raw)
            if info is None or not info.codebase:
                raise ConnectorAuthError(f"ConnectWise does not know the company {company!r}")
            self._codebase = _codebase(info.codebase)
        return f"{self._site}/{self._codebase}apis/3.0/"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        body: msgspec.Struct | None = None,
        api: bool = True,
        not_found: type[ConnectorRejected] = ConnectorRejected,
    ) -> bytes:
        """The one place that talks to ConnectWise. `api=False`: a site path without auth (companyinfo)."""
        url = (await self._base() if api else f"{self._site}/") + path
        headers = {"Accept": ACCEPT}
        if api:
            headers["Authorization"] = self._authorization
            headers["clientId"] = self._credentials.client_id
        content = None
        if body is not None:
            content = _encoder.encode(body)
            headers["Content-Type"] = "application/json"
        write = method in _WRITES
        what = f"{method} /{path}"
        try:
            response = await self._http.request(
                method, url, params=params, content=content, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            failure = unavailable(f"ConnectWise {what}: {transport_failure(exc)}", exc, write=write)
            log.warning("connectwise %s failed: %s (ambiguous=%s)", what, type(exc).__name__, failure.ambiguous)
            raise failure from None
        status = response.status_code
        log.debug("connectwise %s -> %s", what, status)
        self._note_clock(response.headers.get("Date"))
        if status < 300:
            return response.content
        message = self._redact(_error_text(response))
        if status in (401, 403):
            raise ConnectorAuthError(message, status=status)
        if status == 404:
            raise not_found(message, status=status)
        if is_transient(status):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
            log.warning("connectwise %s -> %s (retry after %s)", what, status, retry_after)
            raise unavailable(message, status, write=write, retry_after=retry_after)
        raise ConnectorRejected(message, status=status)

    def _note_clock(self, date: str | None) -> None:
        """Keep the PSA's clock offset from an answer's `Date` header (ignored when absent, unreadable or absurd)."""
        if not date:
            return
        try:
            when = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            return
        skew = when.timestamp() - self._clock.now() if when.tzinfo is not None else math.inf
        if abs(skew) < MAX_SKEW_S:
            self._skew = skew

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def api_site(instance: InstanceConfig) -> str:
    """The ConnectWise site the API lives on: `api_url`, else derived from the first agent-UI origin
    (cloud `na.myconnectwise.net` → `api-na.myconnectwise.net`; on-premise hosts serve both)."""
    if instance.api_url:
        return instance.api_url.rstrip("/")
    if not instance.origins:
        raise ValueError(f"instance {instance.name!r}: set api_url (the ConnectWise site) or origins")
    parts = urlsplit(instance.origins[0])
    host = parts.hostname or ""
    if host.endswith(".myconnectwise.net") and not host.startswith("api-"):
        host = f"api-{host}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'https'}://{host}{port}"


def window_until_now(start: float, end: float, now: float) -> tuple[int, int]:
    """ConnectWise refuses time in the future: a window ending after `now` is moved back to end at `now`,
    keeping its length (12:20-12:40 at 12:30 becomes 12:10-12:30). Whole seconds, floored."""
    if end > now:
        start -= end - now
        end = now
    return math.floor(start), math.floor(end)


def _format_time(ts: int) -> str:
    return from_ts(ts).strftime(TIME_FORMAT)


def _codebase(value: str) -> str:
    value = value.strip("/")
    return f"{value}/" if value else ""


def _ticket_id(ref: TicketRef) -> int:
    """ConnectWise shows the record id as the ticket number ("Ticket #48211"), so either will do."""
    if ref.id is not None:
        return ref.id
    found = _TICKET_NUMBER.fullmatch((ref.number or "").strip())
    if found is None:
        raise TicketNotFound(f"not a ConnectWise ticket number: {ref.number!r}")
    return int(found.group(1))


def _quote(value: str) -> str:
    """A string literal for `conditions`. How ConnectWise escapes quotes is UNVERIFIED, so we refuse them."""
    if '"' in value or "\\" in value:
        raise ConnectorRejected(f"cannot search ConnectWise for a value containing quotes: {value!r}")
    return f'"{value}"'


def _name(ref: NamedRef | None) -> str:
    return (ref.name or "") if ref is not None else ""


def _decode(decoder: msgspec.json.Decoder[T], raw: bytes, *, write: bool = False) -> T:
    try:
        return decoder.decode(raw)
    except msgspec.MsgspecError as exc:
        # A write that answered 2xx was applied even if we cannot read the answer: find() before re-posting.
        raise ConnectorUnavailable(f"unexpected ConnectWise response: {exc}", ambiguous=write) from None


def _error_text(response: httpx.Response) -> str:
    """The PSA's own words: `errors[].message` (the field-level reasons), else `message`, else the body text."""
    try:
        body = _error.decode(response.content)
    except msgspec.MsgspecError:
        text = response.text.strip()[:300]
        return text or f"HTTP {response.status_code}"
    details = [e.message for e in body.errors or [] if e.message]
    if details:
        return "; ".join(details)
    return body.message or body.code or f"HTTP {response.status_code}"
