"""The Autotask (Datto/Kaseya PSA) connector: REST API v1.0, one request function, Autotask's limits.

Every call goes through `AutotaskConnector._request`: zone root, the three auth headers, timeout, the per-endpoint
thread limit, the hourly request budget, error mapping and redaction. Errors come from `daemon.connectors.base`::

    ConnectorError
     ├── ConnectorAuthError     401/403, or zone discovery that knows no such API user (Autotask has no tokens
     │                          to refresh, so there is no retry)
     ├── ConnectorRejected      other 4xx, a 500 carrying Autotask's own `{"errors": [...]}` validation text,
     │    │                     or an entry refused locally (≥ 24 h, no role, bad time zone)
     │    └── TicketNotFound    `{"item": null}` / 404 for a ticket, or a create whose ticketID does not exist
     └── ConnectorUnavailable   429 (thread or hourly threshold), 408, other 5xx, network errors and timeouts, or
                                our own hourly budget exhausted (raised without sending); `retry_after` from
                                Retry-After, `ambiguous` when a write may have been applied (`base.maybe_applied`:
                                a 502 after the entry was stored is ambiguous, a 429 is not)

Exactly-once: each record's `internalNotes` ends with `marker(entry_id)` (plus " part i/n" when the entry is split
at local midnight); `find()` queries the time entries of the same target (ticketID, taskID, or the resource's
regular time with that internalBillingCodeID) with `internalNotes contains <marker>`
(`GET V1.0/TimeEntries/query?search=…`, or the equivalent POST for a long query), following `nextPageUrl`.

Targets (`_target`): a ticket → `ticketID` + the resource's `roleID`; a work order (project task) → `taskID` +
`roleID`; an admin task → regular time: neither id, `internalBillingCodeID` = the task's billing code (Autotask
requires one for regular time), no roleID, and `timeEntryType` only when the task configures it (which picklist value
a tenant uses for regular time is UNVERIFIED: NOTES §2.2 and §6).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import msgspec

from daemon.clock import Clock
from daemon.connectors.base import (
    ConnectorAuthError,
    ConnectorError,
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
from daemon.connectors.base import WorkItem as WorkTypeItem
from daemon.settings import InstanceConfig
from daemon.timers.model import TicketRef

from .config import DEFAULT_API_URL, parse_options
from .config import Credentials as AutotaskCredentials
from .models import (
    BillingCode,
    Company,
    CreateResult,
    ErrorBody,
    FieldInfoBody,
    Filter,
    Item,
    Items,
    NamedRole,
    NewTimeEntry,
    Query,
    Resource,
    ServiceDeskRole,
    Ticket,
    TimeEntry,
)
from .models import (
    ZoneInfo as ZoneInfoBody,
)

__all__ = ["AutotaskConnector", "Part", "plan_parts"]

log = logging.getLogger(__name__)

T = TypeVar("T")

HOUR = 3600.0
MAX_HOURS_S = 24 * 3600
"""Autotask refuses time entries of 24 hours or more ("must be > 0 and <= 24"; we refuse == 24 as well)."""
NOTES_MAX = 32_000
DEFAULT_SUMMARY = "Time logged by TicketClock"
MAX_PAGES = 100
MAX_SEARCH = 1800
"""Longer query JSON goes in a POST body (URLs past ~2,048 characters fail)."""

STATUS_NAMES = {
    1: "New",
    5: "Complete",
    7: "Waiting Customer",
    8: "In Progress",
    9: "Waiting Materials",
    10: "Dispatched",
    11: "Escalate",
    12: "Waiting Vendor",
    13: "Waiting Approval",
}
"""Autotask's stock ticket statuses (UNVERIFIED; tenants add their own, shown as the number)."""

TRANSIENT_HINTS = ("threshold", "timeout", "timed out", "try again", "deadlock", "unavailable")

_ZONE = msgspec.json.Decoder(ZoneInfoBody)
_ERRORS = msgspec.json.Decoder(ErrorBody)
_CREATED = msgspec.json.Decoder(CreateResult)
_TICKET = msgspec.json.Decoder(Item[Ticket])
_TICKETS = msgspec.json.Decoder(Items[Ticket])
_COMPANY = msgspec.json.Decoder(Item[Company])
_RESOURCE = msgspec.json.Decoder(Item[Resource])
_RESOURCES = msgspec.json.Decoder(Items[Resource])
_ROLES = msgspec.json.Decoder(Items[ServiceDeskRole])
_ENTRIES = msgspec.json.Decoder(Items[TimeEntry])
_BILLING_CODES = msgspec.json.Decoder(Items[BillingCode])
_NAMED_ROLES = msgspec.json.Decoder(Items[NamedRole])
_FIELDS = msgspec.json.Decoder(FieldInfoBody)
_ENCODER = msgspec.json.Encoder()

_PART = re.compile(r" part (\d+)/(\d+)")
_NOT_WRITES = ("/query", "/query/count")


@dataclass(frozen=True)
class _Target:
    """Where a time entry goes: `field` "ticketID" or "taskID" with `id`, or "" for regular time."""

    field: str
    id: int
    billing_code: int | None = None
    time_entry_type: int | None = None


@dataclass(frozen=True)
class Part:
    """One record of a (possibly split) entry: [start, end) within one local day."""

    index: int
    count: int
    start: float
    end: float
    seconds: int
    day: date


def plan_parts(entry: PostEntry) -> list[Part]:
    """Split an entry at local midnight in `entry.timezone`; billed seconds are shared out in proportion to each
    day's wall time and add up exactly to `entry.seconds`. Raises ConnectorRejected for what Autotask would refuse."""
    if entry.seconds <= 0:
        raise ConnectorRejected("Autotask needs hoursWorked > 0; the entry has no billed time")
    if entry.seconds >= MAX_HOURS_S:
        raise ConnectorRejected("Autotask refuses time entries of 24 hours or more; split the entry")
    try:
        tz = ZoneInfo(entry.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConnectorRejected(f"unknown time zone {entry.timezone!r}") from None
    bounds = [entry.start]
    day = datetime.fromtimestamp(entry.start, tz).date()
    days = [day]
    while entry.end > entry.start:
        day = day + timedelta(days=1)
        midnight = datetime.combine(day, time(0), tzinfo=tz).timestamp()
        if midnight >= entry.end:
            break
        bounds.append(midnight)
        days.append(day)
    bounds.append(max(entry.end, entry.start))
    walls = [bounds[i + 1] - bounds[i] for i in range(len(days))]
    total = sum(walls)
    if total <= 0:
        shares = [entry.seconds]
    else:
        exact = [entry.seconds * w / total for w in walls]
        shares = [math.floor(x) for x in exact]
        order = sorted(range(len(exact)), key=lambda i: (shares[i] - exact[i], i))
        for i in order[: entry.seconds - sum(shares)]:
            shares[i] += 1
    kept = [i for i in range(len(days)) if shares[i] > 0]
    parts = [
        Part(index=n + 1, count=len(kept), start=bounds[i], end=bounds[i + 1], seconds=shares[i], day=days[i])
        for n, i in enumerate(kept)
    ]
    if any(p.seconds >= MAX_HOURS_S for p in parts):
        raise ConnectorRejected("Autotask refuses time entries of 24 hours or more; split the entry")
    return parts


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(round(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _family(path: str) -> str:
    """The endpoint a request counts against for the thread limit: the entity after `V1.0/`."""
    lowered = path.lower()
    tail = lowered.split("v1.0/", 1)[1] if "v1.0/" in lowered else lowered
    return tail.strip("/").split("/", 1)[0].split("?", 1)[0]


def _site(api_url: str) -> str:
    """The site part of an API URL; a pasted zone root such as ".../ATServicesRest/V1.0/" is cut back to the site."""
    url = api_url.strip().rstrip("/")
    for tail in ("/v1.0", "/atservicesrest"):
        if url.lower().endswith(tail):
            url = url[: -len(tail)]
    return url


@functools.lru_cache(maxsize=256)
def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


@functools.lru_cache(maxsize=256)
def _path(url: str) -> str:
    """The URL's path (parsing a URL costs more than the rest of building a request; the same few recur)."""
    return httpx.URL(url).path


def _int(value: str, what: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise ConnectorRejected(f"Autotask {what} must be a numeric id, got {value!r}")
    return int(text)


class AutotaskConnector:
    """Posts time to Autotask tickets as TimeEntries.

    The marker lives in `internalNotes` (stored with the time entry, queryable with `contains`): the entry's
    internal notes, a newline, then `[ticketclock:<entry id>]`, plus ` part i/n` when the entry crosses local
    midnight and becomes one record per local day. `find()` returns Posted only when every part exists.
    """

    kind: ClassVar[str] = "autotask"
    Credentials: ClassVar[type[AutotaskCredentials]] = AutotaskCredentials

    def __init__(
        self, instance: InstanceConfig, credentials: AutotaskCredentials, *, http: httpx.AsyncClient, clock: Clock
    ) -> None:
        self._instance = instance
        self._creds = credentials
        self._http = http
        self._clock = clock
        self._options = parse_options(instance)
        self._api_url = _site(instance.api_url or DEFAULT_API_URL)
        self._timeout = self._options.timeout()
        self._root: str | None = None
        self._root_lock = asyncio.Lock()
        self._me: Identity | None = None
        self._me_lock = asyncio.Lock()
        self._queues: dict[str, str] | None = None
        """The `queueID` picklist of Tickets (value → label), read once (`_queue_name`)."""
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._sent: deque[float] = deque()

    def __repr__(self) -> str:
        return f"AutotaskConnector(instance={self._instance.name!r})"

    # -- the protocol ---------------------------------------------------------------------------------------------

    async def test(self) -> Identity:
        self._me = None
        return await self._api_identity()

    async def ticket(self, ref: TicketRef) -> TicketInfo:
        if ref.record == "work_order":
            # A project task is not a ticket, and the API extract has no Tasks entity to read it from.
            raise ConnectorRejected("Autotask project tasks (work orders) are not looked up; post them by task id")
        t = await self._load_ticket(ref)
        company = ""
        attributes: dict[str, str] = {}
        if t.companyID is not None:
            try:
                found = _decode(_COMPANY, await self._request("GET", f"Companies/{t.companyID}"))
            except ConnectorRejected:
                found = Item[Company]()
            company = found.item.companyName if found.item is not None else ""
            if found.item is not None:
                attributes = {
                    name: str(value)
                    for name, value in (
                        ("companyType", found.item.companyType),
                        ("classification", found.item.classification),
                    )
                    if value is not None
                }
        assignee = None
        if t.assignedResourceID is not None:
            role = str(t.assignedResourceRoleID) if t.assignedResourceRoleID is not None else ""
            assignee = Identity(id=str(t.assignedResourceID), role_id=role)
        return TicketInfo(
            id=t.id,
            number=t.ticketNumber,
            summary=t.title,
            company=company,
            status=STATUS_NAMES.get(t.status, str(t.status)) if t.status is not None else "",
            board=await self._queue_name(t.queueID) if t.queueID is not None else "",
            assignee=assignee,
            is_project=t.projectID is not None,
            company_attributes=attributes,
        )

    async def identity(self, who: str | None) -> Identity:
        if who is None or not who.strip():
            return await self._api_identity()
        return await self._identity_of(await self._resource(who.strip()))

    async def work_types(self) -> list[WorkTypeItem]:
        """The active work-type `BillingCodes` (`useType` 1), by id (a time entry names its work type as
        billingCodeID). Internal codes (regular time's `internalBillingCodeID`, the sandbox's `useType` 10) are not
        work types. The meaning of the `useType` values is UNVERIFIED against a live Autotask."""
        where = [Filter(op="eq", field="isActive", value=True), Filter(op="eq", field="useType", value=1)]
        codes = await self._query("BillingCodes", where, _BILLING_CODES)
        return [WorkTypeItem(id=str(c.id), name=c.name, value=str(c.id)) for c in codes if c.isActive]

    async def work_roles(self) -> list[WorkTypeItem]:
        """The active `Roles`, by id (a time entry's roleID)."""
        roles = await self._query("Roles", [Filter(op="eq", field="isActive", value=True)], _NAMED_ROLES)
        return [WorkTypeItem(id=str(r.id), name=r.name, value=str(r.id)) for r in roles if r.isActive]

    async def post(self, entry: PostEntry) -> Posted:
        parts = plan_parts(entry)
        target = await self._target(entry)
        resource_id, role_id, impersonate = await self._who(entry, needs_role=target.field != "")
        existing = await self._existing(target, entry.entry_id, resource_id) if len(parts) > 1 else {}
        ids: list[str] = []
        for part in parts:
            done = existing.get((part.index, part.count))
            if done is not None:
                ids.append(done)
                continue
            body = NewTimeEntry(
                ticketID=target.id if target.field == "ticketID" else None,
                taskID=target.id if target.field == "taskID" else None,
                internalBillingCodeID=target.billing_code,
                timeEntryType=target.time_entry_type,
                resourceID=resource_id,
                roleID=role_id,
                dateWorked=f"{part.day.isoformat()}T00:00:00Z",
                startDateTime=_utc(part.start),
                endDateTime=_utc(part.end),
                hoursWorked=round(part.seconds / HOUR, 4),
                summaryNotes=(entry.notes.strip() or DEFAULT_SUMMARY)[:NOTES_MAX],
                internalNotes=_internal_notes(entry, part),
                isNonBillable={"yes": False, "no": True}.get(entry.billable),
                billingCodeID=_int(entry.work_type, "work type (billingCodeID)") if entry.work_type else None,
            )
            try:
                raw = await self._request("POST", "TimeEntries", body=body, impersonate=impersonate)
            except ConnectorRejected as exc:
                text = exc.message.lower()
                if target.field and target.field.lower() in text and ("not exist" in text or "invalid" in text):
                    raise TicketNotFound(exc.message, status=exc.status) from None
                if impersonate is not None and ("imperson" in text or "may not add time" in text):
                    raise ConnectorRejected(
                        f"Autotask refused to log time as resource {impersonate} through impersonation: the API "
                        "user needs a security level that allows impersonating resources (Admin > Security Levels "
                        "> 'Allow impersonation of resources with this security level'), and the resource's level "
                        f"must allow it too. Autotask said: {exc.message}",
                        status=exc.status,
                    ) from None
                raise
            ids.append(str(_decode(_CREATED, raw, write=True).itemId))
        return Posted(psa_ids=ids)

    async def find(self, entry: PostEntry) -> Posted | None:
        target = await self._target(entry)
        resource_id = (await self._who(entry, needs_role=False))[0] if not target.field else None
        found = await self._existing(target, entry.entry_id, resource_id)
        if (1, 1) in found:
            return Posted(psa_ids=[found[(1, 1)]])
        for count in sorted({n for _, n in found}, reverse=True):
            if count > 1 and all((i, count) in found for i in range(1, count + 1)):
                return Posted(psa_ids=[found[(i, count)] for i in range(1, count + 1)])
        return None

    async def aclose(self) -> None:
        self._root = None
        self._me = None

    # -- look-ups ---------------------------------------------------------------------------------------------------

    async def _api_identity(self) -> Identity:
        async with self._me_lock:
            if self._me is None:
                self._me = await self._identity_of(await self._resource(self._creds.username))
            return self._me

    async def _resource(self, who: str) -> Resource:
        if who.isdigit():
            found = _decode(_RESOURCE, await self._request("GET", f"Resources/{who}")).item
            if found is None:
                raise ConnectorRejected(f"Autotask has no resource {who}")
            return found
        matches = await self._query("Resources", [Filter(op="eq", field="userName", value=who)], _RESOURCES)
        if not matches and "@" in who:
            matches = await self._query("Resources", [Filter(op="eq", field="email", value=who)], _RESOURCES)
        if not matches:
            raise ConnectorRejected(f"Autotask has no resource with user name or e-mail {who!r}")
        return matches[0]

    async def _identity_of(self, res: Resource) -> Identity:
        if not res.isActive:
            raise ConnectorRejected(f"Autotask resource {res.id} is inactive")
        roles = await self._query(
            "ResourceServiceDeskRoles",
            [Filter(op="eq", field="resourceID", value=res.id), Filter(op="eq", field="isDefault", value=True)],
            _ROLES,
        )
        role = next((r.roleID for r in roles if r.isActive), res.defaultServiceDeskRoleID)
        name = f"{res.firstName} {res.lastName}".strip() or res.userName
        return Identity(id=str(res.id), name=name, role_id=str(role) if role is not None else "")

    async def _load_ticket(self, ref: TicketRef) -> Ticket:
        if ref.id is not None:
            try:
                found = _decode(_TICKET, await self._request("GET", f"Tickets/{ref.id}")).item
            except ConnectorRejected as exc:
                if exc.status == 404:
                    raise TicketNotFound(f"Autotask has no ticket {ref.id}", status=404) from None
                raise
            if found is None:
                raise TicketNotFound(f"Autotask has no ticket {ref.id}")
            return found
        if ref.number:
            matches = await self._query("Tickets", [Filter(op="eq", field="ticketNumber", value=ref.number)], _TICKETS)
            if not matches:
                raise TicketNotFound(f"Autotask has no ticket {ref.number}")
            return matches[0]
        raise ConnectorRejected("the ticket reference has neither an id nor a number")

    async def _ticket_id(self, ref: TicketRef) -> int:
        return ref.id if ref.id is not None else (await self._load_ticket(ref)).id

    async def _target(self, entry: PostEntry) -> _Target:
        """What the entry's time is logged against: a ticket, a project task (work order) or regular time."""
        if entry.task is not None:
            if entry.task.billing_code is None:
                raise ConnectorRejected(f"the task {entry.task_name!r} names no Autotask billing code")
            return _Target("", 0, entry.task.billing_code, entry.task.time_entry_type)
        ref = ticket_of(entry)
        if ref.record == "work_order":
            if ref.id is None:
                raise ConnectorRejected(f"an Autotask task is named by its id, not {ref.number!r}")
            return _Target("taskID", ref.id)
        return _Target("ticketID", await self._ticket_id(ref))

    async def _who(self, entry: PostEntry, *, needs_role: bool = True) -> tuple[int, int | None, int | None]:
        """(resourceID, roleID or None when not needed, ImpersonationResourceId or None) for an entry."""
        me = await self._api_identity()
        target = me
        if entry.log_as is not None and entry.log_as.id and entry.log_as.id != me.id:
            target = entry.log_as
            if not target.id.isdigit() or (not entry.role and not target.role_id):
                target = await self.identity(target.id)
        role = entry.role or target.role_id
        resource = _int(target.id, "resource")
        impersonate = resource if target.id != me.id else None
        if not needs_role:
            return resource, None, impersonate
        if not role:
            raise ConnectorRejected(f"Autotask needs a roleID and resource {target.id} has no default role")
        return resource, _int(role, "role"), impersonate

    async def _existing(self, target: _Target, entry_id: str, resource_id: int | None) -> dict[tuple[int, int], str]:
        """The records already posted for an entry: (part, count) → id; an unsplit record is (1, 1)."""
        tag = marker(entry_id)
        if target.field:
            anchor = [Filter(op="eq", field=target.field, value=target.id)]
        else:  # regular time: the resource's entries with that internal billing code
            anchor = [
                Filter(op="eq", field="resourceID", value=resource_id),
                Filter(op="eq", field="internalBillingCodeID", value=target.billing_code),
            ]
        filters = [*anchor, Filter(op="contains", field="internalNotes", value=tag)]
        found: dict[tuple[int, int], str] = {}
        for rec in await self._query("TimeEntries", filters, _ENTRIES):
            last = rec.internalNotes.rsplit("\n", 1)[-1]
            if not last.startswith(tag):
                continue  # the marker is always the last line; elsewhere it is only quoted text
            suffix = _PART.fullmatch(last[len(tag) :])
            if suffix:
                found.setdefault((int(suffix.group(1)), int(suffix.group(2))), str(rec.id))
            elif last == tag:
                found.setdefault((1, 1), str(rec.id))
        return found

    async def _query(self, entity: str, filters: list[Filter], decoder: msgspec.json.Decoder[Items[T]]) -> list[T]:
        """Run a query and follow `pageDetails.nextPageUrl`. Short queries go as `GET …/query?search=`, long ones as
        `POST …/query` (both are the vendor's); a GET keeps reads apart from writes for proxies and fault switches."""
        query = Query(filter=filters)
        search = _ENCODER.encode(query).decode()
        if len(search) <= MAX_SEARCH:
            raw = await self._request("GET", f"{entity}/query", params={"search": search})
        else:
            raw = await self._request("POST", f"{entity}/query", body=query)
        page = _decode(decoder, raw)
        out = list(page.items)
        for _ in range(MAX_PAGES):
            link = page.pageDetails.nextPageUrl
            if not link:
                break
            page = _decode(decoder, await self._request("GET", link))
            out.extend(page.items)
        return out

    # -- the one request function -------------------------------------------------------------------------------

    async def _zone_root(self) -> str:
        async with self._root_lock:
            if self._root is None:
                zone = self._options.zone_url
                if not zone:
                    raw = await self._request(
                        "GET",
                        f"{self._api_url}/ATServicesRest/V1.0/ZoneInformation",
                        params={"user": self._creds.username},
                        discovery=True,
                    )
                    zone = _decode(_ZONE, raw).url
                if httpx.URL(self._api_url).scheme == "https" and httpx.URL(zone).scheme != "https":
                    raise ConnectorRejected("Autotask zone discovery named a non-https zone; refusing to send secrets")
                self._root = zone.rstrip("/") + "/V1.0/"
            return self._root

    async def _queue_name(self, queue_id: int) -> str:
        """A ticket's queue by its name: the label of `queue_id` in the `queueID` picklist of
        `GET Tickets/entityInformation/fields`, read once per connector; the id where the picklist does not name it
        or cannot be read now (tried again on the next look-up). The path is in the contract; that Tickets' queueID
        is a picklist there is UNVERIFIED (NOTES documents the shape for TimeEntries' picklists)."""
        if self._queues is None:
            try:
                body = _decode(_FIELDS, await self._request("GET", "Tickets/entityInformation/fields"))
            except ConnectorError:
                return str(queue_id)
            self._queues = {
                v.value: v.label
                for f in body.fields
                if f.name.casefold() == "queueid"
                for v in f.picklistValues or []
                if v.label
            }
        return self._queues.get(str(queue_id), str(queue_id))

    async def _request(
        self,
        method: str,
        target: str,
        *,
        body: msgspec.Struct | None = None,
        params: dict[str, str] | None = None,
        impersonate: int | None = None,
        discovery: bool = False,
    ) -> bytes:
        """Send one call; return the body of a 2xx answer or raise from the connector error tree.

        `target` is a path under the zone root (`"TimeEntries/query"`) or an absolute URL: the zone-discovery
        URL (`discovery=True`, sent without credentials) or a `nextPageUrl`, which must lie inside the zone.
        """
        if discovery:
            url = target
        else:
            root = await self._zone_root()
            url = target if "://" in target else root + target
            if _origin(url) != _origin(root):
                raise ConnectorRejected("Autotask answered with a link outside its zone; refusing to follow it")
        path = _path(url)
        write = method in ("POST", "PUT", "PATCH", "DELETE") and not path.rstrip("/").lower().endswith(_NOT_WRITES)
        headers = {"Accept": "application/json"}
        if not discovery:
            headers |= {
                "ApiIntegrationCode": self._creds.integration_code,
                "UserName": self._creds.username,
                "Secret": self._creds.secret,
            }
            if impersonate is not None and method != "GET":
                headers["ImpersonationResourceId"] = str(impersonate)
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = _ENCODER.encode(body)
        label = f"Autotask {method} {path}"
        family = _family(path)
        sem = self._limits.setdefault(family, asyncio.Semaphore(self._options.max_concurrent))
        async with sem:
            if not discovery:
                self._spend(label)
            try:
                resp = await self._http.request(
                    method, url, params=params, content=content, headers=headers, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                sent = maybe_applied(exc)
                note = (" after sending; it may have been applied" if write else "") if sent else " (not sent)"
                raise unavailable(f"{label}: {transport_failure(exc)}{note}", exc, write=write) from None
        status = resp.status_code
        log.debug("%s -> %s", label, status)
        if 200 <= status < 300:
            return resp.content
        text = self._error_text(resp)
        if status in (401, 403):
            raise ConnectorAuthError(f"Autotask refused the API user ({status}): {text}", status=status)
        if discovery and status == 500:
            raise ConnectorAuthError(f"Autotask found no zone for this API user: {text}", status=status)
        if status == 500 and _vendor_errors(resp) and not any(h in text.lower() for h in TRANSIENT_HINTS):
            # Autotask answers refused input with 500 + {"errors": [...]}: that is permanent, not an outage.
            raise ConnectorRejected(text, status=status)
        if not is_transient(status):
            raise ConnectorRejected(text, status=status)
        # 429 (thread or hourly threshold: refused unprocessed), 408 and 5xx: `unavailable` says which may have
        # been applied.
        raise unavailable(f"{label}: {text}", status, write=write, retry_after=self._retry_after(resp))

    def _spend(self, label: str) -> None:
        """Count one request against the rolling hour, or refuse to send it."""
        now = self._clock.now()
        while self._sent and self._sent[0] <= now - HOUR:
            self._sent.popleft()
        if len(self._sent) >= self._options.requests_per_hour:
            wait = max(0.0, self._sent[0] + HOUR - now)
            raise ConnectorUnavailable(
                f"{label}: hourly request budget of {self._options.requests_per_hour} spent (not sent)",
                retry_after=wait,
            )
        self._sent.append(now)

    def _retry_after(self, resp: httpx.Response) -> float | None:
        return parse_retry_after(resp.headers.get("Retry-After"), self._clock.now())

    def _error_text(self, resp: httpx.Response) -> str:
        errors = _vendor_errors(resp)
        if errors:
            text = "; ".join(errors)
        else:
            try:
                data = msgspec.json.decode(resp.content)
            except msgspec.DecodeError:
                data = None
            message = data.get("message") or data.get("Message") if isinstance(data, dict) else None
            text = message if isinstance(message, str) and message else resp.reason_phrase or f"HTTP {resp.status_code}"
        return self._redact(text)[:500]

    def _redact(self, text: str) -> str:
        for secret in (self._creds.secret, self._creds.integration_code):
            if secret:
                text = text.replace(secret, "***")
        return text


def _vendor_errors(resp: httpx.Response) -> list[str]:
    try:
        return [e for e in _ERRORS.decode(resp.content).errors if e]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return []


def _decode(decoder: msgspec.json.Decoder[T], raw: bytes, *, write: bool = False) -> T:
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConnectorUnavailable(f"Autotask answered with an unexpected body: {exc}", ambiguous=write) from None


def _internal_notes(entry: PostEntry, part: Part) -> str:
    tag = marker(entry.entry_id) + (f" part {part.index}/{part.count}" if part.count > 1 else "")
    notes = entry.internal_notes.strip()
    room = NOTES_MAX - len(tag) - 1
    return f"{notes[:room]}\n{tag}" if notes else tag
