"""The sandbox's in-memory Autotask database: seeded companies, resources, roles, tickets; stored time entries."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from daemon.clock import Clock
from daemon.connectors.autotask.config import Credentials
from daemon.sandbox.common import Seed

__all__ = ["API_USER", "CREDENTIALS", "SEED", "STORE", "AutotaskStore", "Captured", "Record", "seed"]

Record = dict[str, Any]

CREDENTIALS = Credentials(
    integration_code="SANDBOXINTEGRATIONCODE01",
    username="api-timer@contoso-msp.example",
    secret="sandbox-secret",  # noqa: S106 - the sandbox's own public test credentials
)
API_USER, ASSIGNEE, OTHER, INACTIVE = 29682885, 29682886, 29682887, 29682888
TECHNICIAN, ENGINEER, PROJECT_MANAGER = 29683461, 29683462, 29683463
PROJECT_TASK = 7701
"""A project task (phase 2 of the file server migration): time on it is a work order's."""
INTERNAL_USE = 10
"""BillingCodes.useType of an internal billing code (regular time: admin, training). UNVERIFIED picklist value."""
TRAINING_CODE, ADMIN_CODE, REMOTE_WORK_TYPE = 29682820, 29682821, 29682801

SEED = Seed(
    service_ticket=54321,
    project_ticket=54322,
    missing_ticket=99999,
    api_user=str(API_USER),
    assignee=str(ASSIGNEE),
    other_user="asmith",
    ticket_company="Contoso Dental",
    ticket_summary="Printer offline on 2nd floor",
    work_order=7701,
    task_code=29682820,
)


# Error texts. Autotask wraps every refusal in {"errors": [...]}; the wording below is UNVERIFIED unless noted.
@dataclass
class Captured:
    """One API request as the sandbox received it (no credentials kept)."""

    method: str
    path: str
    impersonation: str | None
    body: Any


@dataclass
class AutotaskStore:
    clock: Clock
    credentials: Credentials = CREDENTIALS
    companies: dict[int, Record] = field(default_factory=dict)
    resources: dict[int, Record] = field(default_factory=dict)
    roles: dict[int, Record] = field(default_factory=dict)
    service_desk_roles: dict[int, Record] = field(default_factory=dict)
    queues: dict[int, str] = field(default_factory=dict)
    """Tickets' `queueID` picklist: id → label (`GET Tickets/entityInformation/fields`)."""
    tickets: dict[int, Record] = field(default_factory=dict)
    tasks: dict[int, Record] = field(default_factory=dict)
    """Project tasks (time with `taskID`: our work orders)."""
    billing_codes: dict[int, Record] = field(default_factory=dict)
    time_entries: dict[int, Record] = field(default_factory=dict)
    next_id: int = 40_000_001
    page_size: int = 500
    """At most this many records per query page (Autotask: 500); tests lower it to exercise nextPageUrl."""
    thread_limit: int = 3
    hourly_limit: int = 10_000
    proxy_time_entry: bool = False
    """Whether the API user may log time for another resource without impersonating it (our design doc: not)."""
    impersonation: bool = True
    """Whether the API user's security level allows impersonating resources (`ImpersonationResourceId` on a write);
    off, such a write is refused as the vendor does when the permission is missing."""
    hits: deque[float] = field(default_factory=deque)
    in_flight: dict[str, int] = field(default_factory=dict)
    peak_in_flight: dict[str, int] = field(default_factory=dict)
    throttled: int = 0
    requests: list[Captured] = field(default_factory=list)

    def table(self, entity: str) -> dict[int, Record]:
        tables: dict[str, dict[int, Record]] = {
            "Tickets": self.tickets,
            "TimeEntries": self.time_entries,
            "Resources": self.resources,
            "Companies": self.companies,
            "Roles": self.roles,
            "ResourceServiceDeskRoles": self.service_desk_roles,
            "BillingCodes": self.billing_codes,
            "Tasks": self.tasks,
        }
        return tables[entity]

    def active_resource(self, rid: object) -> Record | None:
        res = self.resources.get(rid) if isinstance(rid, int) else None
        return res if res is not None and res["isActive"] else None


STORE = web.AppKey("autotask_store", AutotaskStore)


def seed(store: AutotaskStore) -> None:
    for cid, name in ((29683500, "Contoso Dental"), (29683501, "Fabrikam Logistics"), (29683502, "Northwind Traders")):
        store.companies[cid] = {"id": cid, "companyName": name, "companyType": 1, "isActive": True}
    for bid, name, active in (
        (29682801, "Remote Support", True),
        (29682802, "Onsite Support", True),
        (29682803, "Legacy Labour", False),
    ):
        store.billing_codes[bid] = {"id": bid, "name": name, "useType": 1, "billingCodeType": 0, "isActive": active}
    for rid, name in ((TECHNICIAN, "Technician"), (ENGINEER, "Senior Engineer"), (PROJECT_MANAGER, "Project Manager")):
        store.roles[rid] = {"id": rid, "name": name, "isActive": True}
    people = (
        (API_USER, CREDENTIALS.username, "TicketClock", "API", CREDENTIALS.username, True, [TECHNICIAN]),
        (ASSIGNEE, "jdoe", "John", "Doe", "jdoe@contoso-msp.example", True, [TECHNICIAN, ENGINEER]),
        (OTHER, "asmith", "Alice", "Smith", "alice.smith@contoso-msp.example", True, [ENGINEER, PROJECT_MANAGER]),
        (INACTIVE, "oldtech", "Old", "Tech", "oldtech@contoso-msp.example", False, [TECHNICIAN]),
    )
    sdr = 30_000_001
    for rid, login, first, last, mail, active, roles in people:
        store.resources[rid] = {
            "id": rid,
            "userName": login,
            "firstName": first,
            "lastName": last,
            "email": mail,
            "isActive": active,
            "defaultServiceDeskRoleID": roles[0],
            "licenseType": 1,
        }
        for n, role in enumerate(roles):
            store.service_desk_roles[sdr] = {
                "id": sdr,
                "resourceID": rid,
                "roleID": role,
                "isDefault": n == 0,
                "isActive": True,
            }
            sdr += 1
    for code, name, use in (
        (TRAINING_CODE, "Training", INTERNAL_USE),
        (ADMIN_CODE, "Administration", INTERNAL_USE),
    ):
        store.billing_codes[code] = {"id": code, "name": name, "useType": use, "billingCodeType": 0, "isActive": True}
    store.tasks[PROJECT_TASK] = {
        "id": PROJECT_TASK,
        "title": "Copy the shares and check permissions",
        "projectID": 3001,
        "status": 1,
        "assignedResourceID": OTHER,
    }
    tickets: tuple[tuple[Any, ...], ...] = (
        (54321, "T20240501.0042", SEED.ticket_summary, 29683500, 8, 29682833, ASSIGNEE, TECHNICIAN, None),
        (54322, "T20240502.0007", "Migrate file server (phase 2)", 29683501, 1, None, OTHER, ENGINEER, 3001),
        (54323, "T20240503.0011", "New starter: laptop and accounts", 29683500, 1, 29682833, None, None, None),
        (54324, "T20240503.0012", "VPN drops every hour", 29683502, 5, 29682834, ASSIGNEE, TECHNICIAN, None),
    )
    store.queues.update({29682833: "Service Desk", 29682834: "Monitoring Alerts"})
    for tid, number, title, company, status, queue, who, role, project in tickets:
        store.tickets[tid] = {
            "id": tid,
            "ticketNumber": number,
            "title": title,
            "companyID": company,
            "status": status,
            "priority": 2,
            "queueID": queue,
            "assignedResourceID": who,
            "assignedResourceRoleID": role,
            "projectID": project,
            "ticketType": 1,
        }
