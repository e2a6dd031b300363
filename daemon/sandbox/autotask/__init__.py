"""A local look-alike of the Autotask REST API (v1.0) and its ticket pages, for tests, benchmarks and the demo.

API (paths and parameter names are case-insensitive, as Autotask's are)::

    GET  /ATServicesRest/V1.0/ZoneInformation?user=U    no credentials; the zone url points back at this server
    GET  /ATServicesRest/V1.0/ThresholdInformation
    GET  /ATServicesRest/V1.0/{Entity}/{id}             {"item": {...} | null}
         (Entity: Tickets, TimeEntries, Resources, Companies, Roles, ResourceServiceDeskRoles)
    POST /ATServicesRest/V1.0/{Entity}/query            {"items": [...], "pageDetails": {...}} (GET with ?search=)
    GET  /ATServicesRest/V1.0/{Entity}/query/next?paging=…   the pages `nextPageUrl` names
    POST /ATServicesRest/V1.0/{Entity}/query/count      {"queryCount": N}
    GET  /ATServicesRest/V1.0/Resources/{id}/ServiceDeskRoles
    POST /ATServicesRest/V1.0/TimeEntries               200 {"itemId": N}: ticket, task (project task) or regular
                                                        time (internalBillingCodeID; BillingCodes lists the codes)

Web pages: /Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&mode=0&ticketId=N (any parameter case),
/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketID=N | &TicketNumber=T…, and
/AutotaskOnyx/LandingPage?view-data=<base64 JSON {"url": one of those}>.

Vendor behaviour kept: the three auth headers (401 + `{"errors": [...]}` when wrong), refused input as HTTP 500 +
`{"errors": [...]}` (Autotask's documented shape), 3 requests in flight per endpoint (429 "Thread Threshold
Exceeded"), 10,000 requests per rolling hour (429), the `ImpersonationResourceId` header (must name an active
resource; the entry is then created as that resource), and the TimeEntries rules listed at `_create_time_entry`.
Error texts marked UNVERIFIED are plausible guesses: the vendor's exact wording is not public.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from daemon.clock import Clock
from daemon.connectors.autotask.config import Credentials
from daemon.sandbox.common import StoredEntry
from daemon.sandbox.control import add_control_routes
from daemon.sandbox.faults import FAULTS, Faults, fault_middleware
from daemon.settings import InstanceConfig

from .api import is_api, vendor_middleware
from .pages import pages
from .store import CREDENTIALS, SEED, STORE, AutotaskStore, Captured, seed

__all__ = ["SEED", "STORE", "AutotaskStore", "Captured", "create_app", "demo_instance", "stored_entries"]


def create_app(*, clock: Clock, faults: Faults | None = None) -> web.Application:
    store = AutotaskStore(clock=clock)
    seed(store)
    # The vendor middleware is outermost so that fault latency counts as time in flight for the thread limit.
    app = web.Application(middlewares=[vendor_middleware, fault_middleware(is_api)])
    app[STORE] = store
    app[FAULTS] = faults if faults is not None else Faults()
    add_control_routes(app, stored_entries)
    app.router.add_route("*", "/{tail:.*}", pages)
    return app


def demo_instance(base_url: str) -> tuple[InstanceConfig, Credentials]:
    base = base_url.rstrip("/")
    return InstanceConfig(name="autotask-sandbox", kind="autotask", origins=[base], api_url=base), CREDENTIALS


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else 0.0


def stored_entries(app: web.Application) -> list[StoredEntry]:
    return [
        StoredEntry(
            psa_id=str(e["id"]),
            ticket_id=e["ticketID"] or e["taskID"] or e["internalBillingCodeID"],
            record="ticket" if e["ticketID"] else ("work_order" if e["taskID"] else "task"),
            start=_ts(e["startDateTime"]),
            end=_ts(e["endDateTime"]),
            hours=e["hoursWorked"],
            notes=e["summaryNotes"] or "",
            internal_notes=e["internalNotes"],
            who=str(e["resourceID"]),
            billable="no" if e["isNonBillable"] else "yes",
            role=str(e["roleID"]) if e["roleID"] is not None else "",
        )
        for _, e in sorted(app[STORE].time_entries.items())
    ]
