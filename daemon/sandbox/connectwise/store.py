"""The ConnectWise sandbox's in-memory records, their vendor JSON, and the time-entry rules.

Field names, enums and shapes follow `tests/contracts/connectwise.openapi.json` (API 2025.8). Where the vendor's
behaviour is not public (see psa-contracts NOTES.md §1.4 and §6) the choice is marked UNVERIFIED.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.clock import from_ts
from daemon.sandbox.common import Seed, StoredEntry

__all__ = [
    "SEED",
    "CapturedRequest",
    "Company",
    "CwStore",
    "Entry",
    "Member",
    "Rejected",
    "Ticket",
    "format_time",
    "new_store",
]

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
CHARGE_TO_TYPES = ("Company", "ServiceTicket", "ProjectTicket", "ChargeCode", "Activity")
BILLABLE_OPTIONS = ("Billable", "DoNotBill", "NoCharge", "NoDefault")
_FLAGS = (
    "addToDetailDescriptionFlag",
    "addToInternalAnalysisFlag",
    "addToResolutionFlag",
    "emailResourceFlag",
    "emailContactFlag",
    "emailCcFlag",
)


@dataclass
class Company:
    id: int
    identifier: str
    name: str


@dataclass
class Member:
    id: int
    identifier: str
    first_name: str
    last_name: str
    email: str
    license_class: str = "F"
    inactive: bool = False
    work_role_id: int = 1
    work_type_id: int = 1

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class Ticket:
    id: int
    summary: str
    record_type: str
    company_id: int
    board: tuple[int, str]
    status: tuple[int, str]
    owner_id: int | None = None


@dataclass
class Entry:
    id: int
    charge_to_id: int
    charge_to_type: str
    member_id: int
    start: float
    end: float
    actual_hours: float
    billable: str
    notes: str
    internal_notes: str
    work_type_id: int
    work_role_id: int
    entered_by: str
    date_entered: float
    flags: dict[str, bool | None] = field(default_factory=dict)


@dataclass
class CapturedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    """The decoded JSON body of a write, else None."""


@dataclass
class CwStore:
    company_id: str
    company_name: str
    codebase: str
    client_ids: set[str]
    api_keys: dict[str, tuple[str, int]]
    """public key → (private key, owning member id)."""
    companies: dict[int, Company]
    members: dict[int, Member]
    tickets: dict[int, Ticket]
    work_types: dict[int, tuple[str, str]]
    """id → (name, the billableOption it implies when a time entry names none)."""
    work_roles: dict[int, str]
    charge_codes: dict[int, str] = field(default_factory=dict)
    """id → name: non-ticket work (admin, training) charged with chargeToType "ChargeCode"."""
    entries: dict[int, Entry] = field(default_factory=dict)
    next_entry_id: int = 9001
    requests: list[CapturedRequest] = field(default_factory=list)
    """Every API request in arrival order (bodies of writes decoded), for tests."""

    def stored_entries(self) -> list[StoredEntry]:
        return [
            StoredEntry(
                psa_id=str(e.id),
                ticket_id=e.charge_to_id,
                record=_RECORDS.get(e.charge_to_type, "ticket"),
                start=e.start,
                end=e.end,
                hours=e.actual_hours,
                notes=e.notes,
                internal_notes=e.internal_notes,
                who=str(e.member_id),
                billable=e.billable,
                role=self.work_roles[e.work_role_id],
            )
            for e in self.entries.values()
        ]

    # -- vendor JSON ------------------------------------------------------------------------------------------

    def member_ref(self, member_id: int, base: str) -> dict[str, Any]:
        m = self.members[member_id]
        return {
            "id": m.id,
            "identifier": m.identifier,
            "name": m.name,
            "_info": {"member_href": f"{base}/system/members/{m.id}"},
        }

    def company_ref(self, company_id: int, base: str) -> dict[str, Any]:
        c = self.companies[company_id]
        return {
            "id": c.id,
            "identifier": c.identifier,
            "name": c.name,
            "_info": {"company_href": f"{base}/company/companies/{c.id}"},
        }

    def member_json(self, m: Member, base: str) -> dict[str, Any]:
        return {
            "id": m.id,
            "identifier": m.identifier,
            "disableOnlineFlag": False,
            "licenseClass": m.license_class,
            "inactiveFlag": m.inactive,
            "firstName": m.first_name,
            "lastName": m.last_name,
            "hireDate": "2021-03-01T00:00:00Z",
            "officeEmail": m.email,
            "primaryEmail": m.email,
            "defaultEmail": "Office",
            "defaultPhone": "Office",
            "securityRole": {
                "id": 63 if m.license_class == "A" else 61,
                "name": "API" if m.license_class == "A" else "Technician",
            },
            "workRole": {"id": m.work_role_id, "name": self.work_roles[m.work_role_id]},
            "workType": {"id": m.work_type_id, "name": self.work_types[m.work_type_id][0]},
            "requireStartAndEndTimeOnTimeEntryFlag": True,
            "daysTolerance": 7,
            "_info": {"lastUpdated": "2026-01-05T09:00:00Z", "updatedBy": "admin"},
        }

    def ticket_json(self, t: Ticket, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": t.id,
            "summary": t.summary,
            "recordType": t.record_type,
            "board": {
                "id": t.board[0],
                "name": t.board[1],
                "_info": {"board_href": f"{base}/service/boards/{t.board[0]}"},
            },
            "status": {"id": t.status[0], "name": t.status[1], "sort": t.status[0] % 10},
            "company": self.company_ref(t.company_id, base),
            "severity": "Medium",
            "impact": "Medium",
            "closedFlag": False,
            "actualHours": round(sum(e.actual_hours for e in self.entries.values() if e.charge_to_id == t.id), 2),
            "_info": {
                "lastUpdated": "2026-05-20T08:00:00Z",
                "updatedBy": "jdoe",
                "timeentries_href": f"{base}/service/tickets/{t.id}/timeentries",
            },
        }
        if t.owner_id is not None:
            body["owner"] = self.member_ref(t.owner_id, base)
            body["resources"] = self.members[t.owner_id].identifier
        return body

    def entry_json(self, e: Entry, base: str) -> dict[str, Any]:
        ticket = self.tickets.get(e.charge_to_id) if e.charge_to_type != "ChargeCode" else None
        week = _week_start(e.start)
        body: dict[str, Any] = {
            "id": e.id,
            "company": self.company_ref(ticket.company_id if ticket else OWN_COMPANY, base),
            "companyType": "Client",
            "chargeToId": e.charge_to_id,
            "chargeToType": e.charge_to_type,
            "member": self.member_ref(e.member_id, base),
            "locationId": 2,
            "businessUnitId": 10,
            "workType": {"id": e.work_type_id, "name": self.work_types[e.work_type_id][0]},
            "workRole": {"id": e.work_role_id, "name": self.work_roles[e.work_role_id]},
            "timeStart": format_time(e.start),
            "timeEnd": format_time(e.end),
            "hoursDeduct": 0.0,
            "actualHours": e.actual_hours,
            "billableOption": e.billable,
            "notes": e.notes,
            "internalNotes": e.internal_notes,
            **e.flags,
            "hoursBilled": e.actual_hours if e.billable == "Billable" else 0.0,
            "enteredBy": e.entered_by,
            "dateEntered": format_time(e.date_entered),
            "mobileGuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"connectwise-sandbox/time/{e.id}")),
            "hourlyRate": 150.0,
            "timeSheet": {"id": 7000 + e.member_id * 100 + week.isocalendar().week, "name": _sheet_name(week)},
            "status": "Open",
            "_info": {
                "lastUpdated": format_time(e.date_entered),
                "updatedBy": e.entered_by,
                "chargeToMobileGuid": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"connectwise-sandbox/{e.charge_to_type}/{e.charge_to_id}")
                ),
            },
        }
        if ticket is not None:
            body |= {
                "ticket": {"id": ticket.id, "summary": ticket.summary},
                "ticketBoard": ticket.board[1],
                "ticketStatus": ticket.status[1],
            }
        return body

    # -- POST /time/entries -----------------------------------------------------------------------------------

    def create_entry(self, body: Any, *, api_member: int, now: float) -> Entry:
        """Apply the vendor's rules to a TimeEntry body; raise Rejected with ConnectWise's error items."""
        if not isinstance(body, dict):
            raise Rejected([_error("InvalidObject", "The request body must be a timeEntry object", "")])
        errors: list[dict[str, Any]] = []
        _check_types(body, errors)
        if errors:
            raise Rejected(errors)

        # chargeToType / chargeToId: ticket time, project ticket time and charge codes in the sandbox.
        charge_type = body.get("chargeToType")
        charge_id = body.get("chargeToId")
        ticket: Ticket | None = None
        charge_code: int | None = None
        if charge_type == "ChargeCode":
            if charge_id is None:
                errors.append(_error("Required", "chargeToId is required for charge code time", "chargeToId"))
            elif charge_id not in self.charge_codes:
                # UNVERIFIED text (NOTES §1.4 has no public copy); the rule that the code must exist is the vendor's.
                errors.append(_error("InvalidField", f"Charge code {charge_id} was not found", "chargeToId"))
            else:
                charge_code = int(charge_id)
        elif charge_type not in ("ServiceTicket", "ProjectTicket"):
            # UNVERIFIED: the sandbox has no companies/activities to charge; the vendor would accept them.
            errors.append(_error("InvalidField", f"chargeToType {charge_type!r} is not supported here", "chargeToType"))
        elif charge_id is None:
            errors.append(_error("Required", "chargeToId is required for ticket time", "chargeToId"))
        else:
            ticket = self.tickets.get(charge_id)
            wanted = ("ServiceTicket",) if charge_type == "ServiceTicket" else ("ProjectTicket", "ProjectIssue")
            if ticket is None or ticket.record_type not in wanted:
                # UNVERIFIED text; that a project ticket charged as ServiceTicket is refused follows djconnectwise.
                kind = "Service ticket" if charge_type == "ServiceTicket" else "Project ticket"
                errors.append(_error("InvalidField", f"{kind} {charge_id} was not found", "chargeToId"))
                ticket = None

        member_id = self._resolve_member(body.get("member"), api_member, errors)
        work_type_id = self._resolve_named(
            body.get("workType"), {k: v[0] for k, v in self.work_types.items()}, "workType", errors
        )
        work_role_id = self._resolve_named(body.get("workRole"), self.work_roles, "workRole", errors)

        start = _parse_time(body.get("timeStart"), "timeStart", errors, required=True)
        end = _parse_time(body.get("timeEnd"), "timeEnd", errors, required=False)
        hours = body.get("actualHours")
        if start is not None and end is None and hours is not None:
            end = start + float(hours) * 3600
        if start is not None and end is None and body.get("timeEnd") is None:
            errors.append(_error("Required", "timeEnd or actualHours is required", "timeEnd"))
        if start is not None and end is not None:
            # Vendor rule (DESIGN §7): no time in the future. The exact vendor text is UNVERIFIED (NOTES §1.4).
            if start > now:
                errors.append(_error("InvalidField", "timeStart cannot be in the future", "timeStart"))
            if end > now:
                errors.append(_error("InvalidField", "timeEnd cannot be in the future", "timeEnd"))
            if end < start:
                errors.append(_error("InvalidField", "timeEnd must be after timeStart", "timeEnd"))
        if hours is not None and not 0 <= hours <= 24:
            errors.append(_error("OutOfRange", "The field actualHours must be between 0 and 24.", "actualHours"))
        if errors:
            raise Rejected(errors)
        target = ticket.id if ticket is not None else charge_code
        assert target is not None and member_id is not None and start is not None and end is not None
        if work_type_id is None:
            work_type_id = self.members[member_id].work_type_id
        if work_role_id is None:
            work_role_id = self.members[member_id].work_role_id
        billable = body.get("billableOption") or self.work_types[work_type_id][1]
        entry = Entry(
            id=self.next_entry_id,
            charge_to_id=target,
            charge_to_type=str(charge_type),
            member_id=member_id,
            start=start,
            end=end,
            actual_hours=round(float(hours), 2) if hours is not None else round((end - start) / 3600, 2),
            billable=billable,
            notes=body.get("notes") or "",
            internal_notes=body.get("internalNotes") or "",
            work_type_id=work_type_id,
            work_role_id=work_role_id,
            entered_by=self.members[api_member].identifier,
            date_entered=now,
            flags={k: body[k] for k in _FLAGS if k in body},
        )
        self.entries[entry.id] = entry
        self.next_entry_id += 1
        return entry

    def _resolve_member(self, ref: Any, api_member: int, errors: list[dict[str, Any]]) -> int | None:
        if ref is None:
            return api_member
        found = None
        if ref.get("id") is not None:
            found = self.members.get(ref["id"])
        elif ref.get("identifier"):
            found = next((m for m in self.members.values() if m.identifier.lower() == ref["identifier"].lower()), None)
        if found is None or found.inactive:
            errors.append(_error("InvalidField", "member was not found or is inactive", "member"))
            return None
        return found.id

    def _resolve_named(
        self, ref: Any, names: dict[int, str], field_name: str, errors: list[dict[str, Any]]
    ) -> int | None:
        if ref is None:
            return None
        if ref.get("id") is not None:
            if ref["id"] in names:
                return int(ref["id"])
        elif ref.get("name"):
            for key, name in names.items():
                if name.lower() == str(ref["name"]).lower():
                    return key
        errors.append(_error("InvalidField", f"{field_name} was not found", field_name))
        return None


class Rejected(Exception):
    """A 400 with ConnectWise's body: {"code": "InvalidObject", "message": …, "errors": [...]}."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


_RECORDS = {"ServiceTicket": "ticket", "ProjectTicket": "work_order", "ChargeCode": "task"}
"""chargeToType → the StoredEntry.record it is."""


def format_time(ts: float) -> str:
    return from_ts(int(ts)).strftime(TIME_FORMAT)


def _error(code: str, message: str, field_name: str) -> dict[str, Any]:
    return {"code": code, "message": message, "resource": "timeEntry", "field": field_name}


_TYPES: dict[str, tuple[str, bool]] = {
    # field: (json type, nullable) per the vendor's TimeEntry schema
    "chargeToId": ("integer", True),
    "chargeToType": ("string", True),
    "member": ("object", False),
    "workType": ("object", False),
    "workRole": ("object", False),
    "timeStart": ("string", False),
    "timeEnd": ("string", False),
    "actualHours": ("number", True),
    "hoursDeduct": ("number", True),
    "billableOption": ("string", True),
    "notes": ("string", False),
    "internalNotes": ("string", False),
    **{flag: ("boolean", True) for flag in _FLAGS},
}
_REF_TYPES: dict[str, tuple[str, bool]] = {
    "id": ("integer", True),
    "identifier": ("string", False),
    "name": ("string", False),
}


def _check_types(body: dict[str, Any], errors: list[dict[str, Any]]) -> None:
    for name, (kind, nullable) in _TYPES.items():
        if name in body and not _is(body[name], kind, nullable):
            errors.append(_error("InvalidField", f"The field {name} must be of type {kind}", name))
        elif kind == "object" and isinstance(body.get(name), dict):
            for sub, (sub_kind, sub_nullable) in _REF_TYPES.items():
                if sub in body[name] and not _is(body[name][sub], sub_kind, sub_nullable):
                    errors.append(_error("InvalidField", f"The field {name}/{sub} must be of type {sub_kind}", name))
    if "chargeToType" in body and body["chargeToType"] is not None and body["chargeToType"] not in CHARGE_TO_TYPES:
        errors.append(
            _error("InvalidField", f"chargeToType must be one of {', '.join(CHARGE_TO_TYPES)}", "chargeToType")
        )
    if body.get("billableOption") is not None and body["billableOption"] not in BILLABLE_OPTIONS:
        errors.append(
            _error("InvalidField", f"billableOption must be one of {', '.join(BILLABLE_OPTIONS)}", "billableOption")
        )


def _is(value: Any, kind: str, nullable: bool) -> bool:
    if value is None:
        return nullable
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, dict)


def _parse_time(value: Any, name: str, errors: list[dict[str, Any]], *, required: bool) -> float | None:
    if value is None:
        if required:
            errors.append(_error("Required", f"{name} is required", name))
        return None
    if not isinstance(value, str) or _TIME_RE.fullmatch(value) is None:
        errors.append(_error("InvalidField", f"{name} must be a UTC date-time in the form yyyy-MM-ddTHH:mm:ssZ", name))
        return None
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError:
        errors.append(_error("InvalidField", f"{name} is not a valid date-time", name))
        return None


def _week_start(ts: float) -> datetime:
    day = from_ts(int(ts)).replace(hour=0, minute=0, second=0)
    return day - timedelta(days=(day.weekday() + 1) % 7)  # ConnectWise's default time period starts on Sunday


def _sheet_name(week: datetime) -> str:
    return f"{week:%Y-%m-%d} to {week + timedelta(days=6):%Y-%m-%d}"


# -- seed -----------------------------------------------------------------------------------------------------

COMPANY_ID = "tcsandbox"
OWN_COMPANY = 19296
"""The MSP itself: the company charge-code time is booked to."""
CHARGE_CODES = {12: "Admin", 13: "Training", 14: "Internal meeting"}
CLIENT_ID = "7c3f1a52-5c1e-4f0a-9d3b-1f2e3d4c5b6a"
PUBLIC_KEY = "SbxPub0000000001"
PRIVATE_KEY = "SbxPriv000000000000000001"
API_MEMBER = "ticketclock"

SEED = Seed(
    service_ticket=48211,
    project_ticket=48212,
    missing_ticket=99999,
    api_user="150",
    assignee="151",
    other_user="asmith",
    ticket_company="Contoso Dental",
    ticket_summary="Outlook keeps asking for the password",
    work_order=48212,
    task_code=12,
)


def new_store() -> CwStore:
    members = [
        Member(150, API_MEMBER, "TicketClock", "Integration", "ticketclock@sandbox.example", license_class="A"),
        Member(151, "jdoe", "Jane", "Doe", "jane.doe@sandbox.example"),
        Member(152, "asmith", "Alex", "Smith", "alex.smith@sandbox.example", work_role_id=2, work_type_id=2),
        Member(153, "bwayne", "Bruce", "Wayne", "bruce.wayne@sandbox.example", inactive=True),
    ]
    companies = [
        Company(OWN_COMPANY, "TicketClockMSP", "TicketClock Sandbox MSP"),
        Company(19297, "ContosoDental", "Contoso Dental"),
        Company(19298, "FabrikamLegal", "Fabrikam Legal"),
        Company(19299, "Northwind", "Northwind Traders"),
    ]
    help_desk, projects = (1, "Help Desk"), (22, "Professional Services")
    tickets = [
        Ticket(48211, SEED.ticket_summary, "ServiceTicket", 19297, help_desk, (16, "In Progress"), owner_id=151),
        Ticket(
            48212, "Migrate the file server to SharePoint", "ProjectTicket", 19298, projects, (41, "Scheduled"), 152
        ),
        Ticket(48213, "New hire laptop setup", "ServiceTicket", 19299, help_desk, (11, "New")),
        Ticket(48214, "Firewall firmware upgrade", "ProjectIssue", 19297, projects, (42, "In Progress"), 151),
        Ticket(48215, "Printer offline in reception", "ServiceTicket", 19297, help_desk, (18, "Waiting Customer"), 152),
    ]
    return CwStore(
        company_id=COMPANY_ID,
        company_name="TicketClock Sandbox MSP",
        codebase="v4_6_release/",
        client_ids={CLIENT_ID},
        api_keys={PUBLIC_KEY: (PRIVATE_KEY, 150)},
        companies={c.id: c for c in companies},
        members={m.id: m for m in members},
        tickets={t.id: t for t in tickets},
        work_types={1: ("Remote Support", "Billable"), 2: ("Onsite", "Billable"), 3: ("Admin", "DoNotBill")},
        work_roles={1: "Technician", 2: "Engineer", 3: "Project Manager"},
        charge_codes=dict(CHARGE_CODES),
    )
