"""The sandbox's REST API: vendor middleware (auth, limits, capture) and the endpoint handlers."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from .query import ENTITIES, QueryError, filters_of, known_fields, matches
from .store import API_USER, INTERNAL_USE, STORE, AutotaskStore, Captured, Record

__all__ = ["api", "is_api", "vendor_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Error texts. Autotask wraps every refusal in {"errors": [...]}; the wording below is UNVERIFIED unless noted.
BAD_INTEGRATION_CODE = "IntegrationCode is invalid."  # seen in py-autotask (NOTES §2.1)
BAD_USER = "Unauthorized: the UserName or Secret is invalid."
NO_ZONE = "Zone information could not be determined"  # seen in py-autotask (NOTES §2.1)
THREAD_LIMIT = (
    "Thread Threshold Exceeded — The Autotask API thread threshold of 3 threads has been exceeded."  # n8n #107
)
HOUR_LIMIT = "Request Threshold Exceeded — the limit of {n} requests per hour for this database has been exceeded."
IMPERSONATION_DENIED = (
    "The API user's security level does not allow impersonation of resource {rid} "
    "(Allow impersonation of resources with this security level)."
)
HOURS_RANGE = "hoursWorked must be greater than 0 and less than 24."
# The vendor's doc says "> 0 and <= 24" and also "cannot create time entries that are equal to or greater than
# 24 hours"; like our design doc, the sandbox refuses 24 itself.

# -- helpers ---------------------------------------------------------------------------------------------------------


def _errors(status: int, *messages: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"errors": list(messages)}, status=status, headers=headers)


def _root(request: web.Request) -> str:
    return f"{request.url.origin()}/ATServicesRest/"


def is_api(request: web.Request) -> bool:
    path = request.path.lower()
    return path.startswith("/atservicesrest/") and not path.endswith("/zoneinformation")


def _family(request: web.Request) -> str:
    parts = request.path.lower().split("/")
    return parts[3] if len(parts) > 3 else ""


def _params(request: web.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.query.items()}


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in data.items()}


# -- middleware: auth, limits, capture -------------------------------------------------------------------------------


@web.middleware
async def vendor_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_api(request):
        return await handler(request)
    store = request.app[STORE]
    creds = store.credentials
    if request.headers.get("ApiIntegrationCode") != creds.integration_code:
        return _errors(401, BAD_INTEGRATION_CODE)
    user = request.headers.get("UserName", "")
    if user.lower() != creds.username.lower() or request.headers.get("Secret") != creds.secret:
        return _errors(401, BAD_USER)
    now = store.clock.now()
    while store.hits and store.hits[0] <= now - 3600:
        store.hits.popleft()
    if len(store.hits) >= store.hourly_limit:
        store.throttled += 1
        wait = max(1, int(store.hits[0] + 3600 - now))
        return _errors(429, HOUR_LIMIT.format(n=store.hourly_limit), headers={"Retry-After": str(wait)})
    store.hits.append(now)
    family = _family(request)
    if store.in_flight.get(family, 0) >= store.thread_limit:
        store.throttled += 1
        return _errors(429, THREAD_LIMIT, headers={"Retry-After": "1"})
    impersonation = request.headers.get("ImpersonationResourceId")
    raw = await request.read()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    store.requests.append(Captured(request.method, request.path, impersonation, body))
    if impersonation is not None and request.method != "GET":
        rid = int(impersonation) if impersonation.strip().isdigit() else None
        if store.active_resource(rid) is None:
            # UNVERIFIED wording and status (500 like other refused input).
            return _errors(500, f"ImpersonationResourceId {impersonation} is not an active resource.")
        if not store.impersonation:
            # The API user's security level must allow impersonation (NOTES §2.1); wording and status UNVERIFIED
            # (500 with {"errors": [...]}, like the vendor's other refusals of a write).
            return _errors(500, IMPERSONATION_DENIED.format(rid=impersonation))
    store.in_flight[family] = store.in_flight.get(family, 0) + 1
    store.peak_in_flight[family] = max(store.peak_in_flight.get(family, 0), store.in_flight[family])
    try:
        return await handler(request)
    finally:
        store.in_flight[family] -= 1


# -- API handlers ----------------------------------------------------------------------------------------------------


async def api(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    segments = [s for s in request.path.split("/")[3:] if s]
    lowered = [s.lower() for s in segments]
    method = request.method
    match lowered:
        case ["zoneinformation"] if method == "GET":
            return _zone(request, store)
        case ["thresholdinformation"] if method == "GET":
            return web.json_response(
                {
                    "externalRequestThreshold": store.hourly_limit,
                    "requestThresholdTimeframe": 60,
                    "currentTimeframeRequestCount": len(store.hits),
                }
            )
        case [entity, "query"] if entity in ENTITIES and method in ("GET", "POST"):
            return await _query(request, store, ENTITIES[entity], count=False)
        case [entity, "query", "count"] if entity in ENTITIES and method in ("GET", "POST"):
            return await _query(request, store, ENTITIES[entity], count=True)
        case [entity, "query", "next"] if entity in ENTITIES and method == "GET":
            return _next_page(request, store, ENTITIES[entity])
        case ["resources", rid, "servicedeskroles"] if method == "GET" and rid.isdigit():
            roles = [r for r in store.service_desk_roles.values() if r["resourceID"] == int(rid)]
            return web.json_response({"items": roles, "pageDetails": _page_details(roles, 500, None)})
        case [entity, rid] if entity in ENTITIES and method == "GET":
            if not rid.isdigit():
                return _errors(500, f"Invalid id: {rid}")
            return web.json_response({"item": store.table(ENTITIES[entity]).get(int(rid))})
        case ["timeentries"] if method == "POST":
            return await _create_time_entry(request, store)
        case ["tickets", "entityinformation", "fields"] if method == "GET":
            return web.json_response({"fields": _ticket_fields(store)})
    # ASP.NET Web API's own 404 body.
    return web.json_response(
        {"message": f"No HTTP resource was found that matches the request URI '{request.url}'."}, status=404
    )


def _ticket_fields(store: AutotaskStore) -> list[dict[str, Any]]:
    """Tickets' field information (`FieldInformationModel`, camelCase as the real API answers): the picklists the
    daemon reads (queueID), abridged."""

    def picklist(name: str, values: dict[int, str]) -> dict[str, Any]:
        return {
            "name": name,
            "dataType": "integer",
            "isRequired": name == "status",
            "isReadOnly": False,
            "isQueryable": True,
            "isReference": False,
            "isPickList": True,
            "picklistValues": [
                {"value": str(v), "label": label, "isDefaultValue": False, "sortOrder": n, "isActive": True}
                for n, (v, label) in enumerate(values.items())
            ],
        }

    plain = {"dataType": "integer", "isRequired": True, "isReadOnly": True, "isPickList": False, "picklistValues": None}
    return [{"name": "id", **plain}, picklist("queueID", store.queues)]


def _zone(request: web.Request, store: AutotaskStore) -> web.Response:
    user = _params(request).get("user", "")
    if not user or user.lower() != store.credentials.username.lower():
        return _errors(500, NO_ZONE)  # "AT returns 500 if username is blank or incorrect" (django-autotask)
    root = _root(request)
    return web.json_response({"zoneName": "Sandbox Zone", "url": root, "webUrl": f"{request.url.origin()}/", "ci": 0})


def _page_details(page: list[Record], size: int, next_url: str | None) -> dict[str, Any]:
    return {"count": len(page), "requestCount": size, "prevPageUrl": None, "nextPageUrl": next_url}


def _run_query(
    request: web.Request, store: AutotaskStore, entity: str, query: dict[str, Any], after: int
) -> web.Response:
    filters = filters_of(query)
    known = known_fields(store, entity)
    table = store.table(entity)
    rows = [r for rid, r in sorted(table.items()) if rid > after and all(matches(r, f, known) for f in filters)]
    limit = query.get("maxrecords") or 500
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
        raise QueryError("MaxRecords must be between 1 and 500")
    size = min(limit, store.page_size)
    page = rows[:size]
    next_url = None
    if len(rows) > size:
        token = json.dumps({"filter": filters, "after": page[-1]["id"], "max": limit})
        paging = base64.urlsafe_b64encode(token.encode()).decode()
        next_url = f"{_root(request)}V1.0/{entity}/query/next?paging={paging}"
    include = query.get("includefields")
    if isinstance(include, list) and include:
        keep = {str(f).lower() for f in include} | {"id"}
        page = [{k: v for k, v in r.items() if k.lower() in keep} for r in page]
    return web.json_response({"items": page, "pageDetails": _page_details(page, size, next_url)})


async def _query(request: web.Request, store: AutotaskStore, entity: str, *, count: bool) -> web.Response:
    try:
        if request.method == "GET":
            query = json.loads(_params(request).get("search", ""))
        else:
            query = json.loads(await request.read())
    except ValueError:
        return _errors(500, "The query could not be parsed as JSON.")
    if not isinstance(query, dict):
        return _errors(500, "The query must be a JSON object.")
    query = _lower_keys(query)
    try:
        if count:
            filters = filters_of(query)
            known = known_fields(store, entity)
            rows = store.table(entity).values()
            return web.json_response({"queryCount": sum(all(matches(r, f, known) for f in filters) for r in rows)})
        return _run_query(request, store, entity, query, 0)
    except QueryError as exc:
        return _errors(500, str(exc))


def _next_page(request: web.Request, store: AutotaskStore, entity: str) -> web.Response:
    try:
        token = json.loads(base64.urlsafe_b64decode(_params(request).get("paging", "")))
        after = int(token["after"])
        query = {"filter": token["filter"], "maxrecords": int(token["max"])}
    except (ValueError, KeyError, TypeError, binascii.Error):
        return _errors(500, "The paging token is invalid.")
    try:
        return _run_query(request, store, entity, query, after)
    except QueryError as exc:
        return _errors(500, str(exc))


class _TimeEntryIn(msgspec.Struct, kw_only=True):
    """A TimeEntries create body after lower-casing its keys (Autotask matches names case-insensitively).
    Booleans must be true/false: null is an error, as the vendor says."""

    ticketid: int | None = None
    taskid: int | None = None
    resourceid: int | None = None
    roleid: int | None = None
    dateworked: datetime | None = None
    startdatetime: datetime | None = None
    enddatetime: datetime | None = None
    hoursworked: float | None = None
    hourstobill: float | None = None
    summarynotes: str | None = None
    internalnotes: str | None = None
    isnonbillable: bool | msgspec.UnsetType = msgspec.UNSET
    showoninvoice: bool | msgspec.UnsetType = msgspec.UNSET
    billingcodeid: int | None = None
    internalbillingcodeid: int | None = None
    timeentrytype: int | None = None
    contractid: int | None = None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _iso(dt: datetime) -> str:
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ref_error(field_name: str, kind: str) -> web.Response:
    return _errors(500, f"Reference value on field: {field_name} of type: {kind} does not exist or is invalid.")


async def _create_time_entry(request: web.Request, store: AutotaskStore) -> web.Response:
    """Rules: a JSON object; typed fields; resourceID present; ticket time (ticketID) or task time (taskID, not
    both) needs roleID, and the ticket or task exists; regular time (neither) needs an existing internal billing code
    (internalBillingCodeID) and takes no roleID check; the resource is active; a role given is one of the resource's
    active roles; 0 < hoursWorked < 24;
    endDateTime after startDateTime; summaryNotes present (ticket time); notes ≤ 32,000 characters; time for another
    resource only as that resource (ImpersonationResourceId) unless `proxy_time_entry`."""
    try:
        data = json.loads(await request.read())
    except ValueError:
        return _errors(500, "The request body could not be parsed as JSON.")
    if not isinstance(data, dict):
        return _errors(500, "The request body must be a TimeEntry object.")
    try:
        body = msgspec.convert(_lower_keys(data), _TimeEntryIn, strict=True)
    except msgspec.ValidationError as exc:
        return _errors(500, f"Invalid value: {exc}")
    regular = body.ticketid is None and body.taskid is None
    for name, value in (("resourceID", body.resourceid), ("roleID", 0 if regular else body.roleid)):
        if value is None:
            return _errors(500, f"Missing Required Field: {name}")  # UNVERIFIED wording
    if body.ticketid is not None and body.taskid is not None:
        return _errors(500, "A time entry belongs to a ticket or a task, not both.")  # UNVERIFIED wording
    if regular:
        # Regular (non-ticket) time: Autotask requires the internal billing code (NOTES §2.2 field list).
        if body.internalbillingcodeid is None:
            return _errors(500, "Missing Required Field: internalBillingCodeID")  # UNVERIFIED wording
        code = store.billing_codes.get(body.internalbillingcodeid)
        if code is None or code["useType"] != INTERNAL_USE or not code["isActive"]:
            return _ref_error("internalBillingCodeID", "BillingCode")
    elif body.taskid is not None and body.taskid not in store.tasks:
        return _ref_error("taskID", "Task")
    elif body.ticketid is not None and body.ticketid not in store.tickets:
        return _ref_error("ticketID", "Ticket")
    if store.active_resource(body.resourceid) is None:
        return _ref_error("resourceID", "Resource")
    has_role = body.roleid is None or any(
        r["resourceID"] == body.resourceid and r["roleID"] == body.roleid and r["isActive"]
        for r in store.service_desk_roles.values()
    )
    if not has_role:
        return _errors(
            500, f"The Role ({body.roleid}) is not active or not associated with Resource ({body.resourceid})."
        )
    impersonation = request.headers.get("ImpersonationResourceId")
    acting = int(impersonation) if impersonation else API_USER
    if body.resourceid != acting and not store.proxy_time_entry:
        return _errors(500, f"The logged in resource may not add time entries for resource {body.resourceid}.")
    hours = body.hoursworked
    if hours is None and body.startdatetime is not None and body.enddatetime is not None:
        hours = (body.enddatetime - body.startdatetime).total_seconds() / 3600
    if hours is None or not 0 < hours < 24:
        return _errors(500, HOURS_RANGE)
    if body.startdatetime and body.enddatetime and _utc(body.enddatetime) <= _utc(body.startdatetime):
        return _errors(500, "endDateTime must be later than startDateTime.")
    if not (body.summarynotes or "").strip():
        return _errors(500, "Missing Required Field: summaryNotes")
    for name, text in (("summaryNotes", body.summarynotes), ("internalNotes", body.internalnotes)):
        if text is not None and len(text) > 32_000:
            return _errors(500, f"{name} exceeds the maximum length of 32000.")
    worked = body.dateworked or body.startdatetime
    if worked is None:
        return _errors(500, "Missing Required Field: dateWorked")
    entry_id = store.next_id
    store.next_id += 1
    store.time_entries[entry_id] = {
        "id": entry_id,
        "ticketID": body.ticketid,
        "taskID": body.taskid,
        "internalBillingCodeID": body.internalbillingcodeid,
        "timeEntryType": body.timeentrytype,
        "resourceID": body.resourceid,
        "roleID": body.roleid,
        "dateWorked": worked.strftime("%Y-%m-%dT00:00:00Z"),
        "startDateTime": _iso(body.startdatetime) if body.startdatetime else None,
        "endDateTime": _iso(body.enddatetime) if body.enddatetime else None,
        "hoursWorked": round(hours, 4),
        "hoursToBill": round(body.hourstobill if body.hourstobill is not None else hours, 4),
        "summaryNotes": body.summarynotes,
        "internalNotes": body.internalnotes or "",
        "isNonBillable": body.isnonbillable if isinstance(body.isnonbillable, bool) else False,
        "billingCodeID": body.billingcodeid,
        "contractID": body.contractid,
        "creatorUserID": acting,
        "impersonatorCreatorResourceID": API_USER if impersonation else None,
        "createDateTime": _iso(datetime.fromtimestamp(store.clock.now(), UTC)),
    }
    return web.json_response({"itemId": entry_id})
