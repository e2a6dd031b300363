"""ConnectWise PSA payloads, in the vendor's casing (camelCase on the REST API, PascalCase on companyinfo).

Decoding ignores fields we do not use; encoding omits defaults, so a request carries only what we set.
Field names and types follow `tests/contracts/connectwise.openapi.json` (API version 2025.8).
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "BillableOption",
    "ChargeToType",
    "CompanyInfo",
    "ErrorBody",
    "Member",
    "MemberRef",
    "NamedRef",
    "Ticket",
    "TimeEntry",
    "WorkItem",
]

ChargeToType = Literal["Company", "ServiceTicket", "ProjectTicket", "ChargeCode", "Activity"]
BillableOption = Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"]


class _Vendor(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    pass


class CompanyInfo(msgspec.Struct, rename="pascal", kw_only=True):
    """`GET /login/companyinfo/{company}` (no auth); the body is JSON `null` for an unknown company."""

    codebase: str = ""
    company_name: str = ""


class NamedRef(_Vendor):
    """CompanyReference, BoardReference, ServiceStatusReference, WorkTypeReference, WorkRoleReference…"""

    id: int | None = None
    name: str | None = None


class MemberRef(_Vendor):
    id: int | None = None
    identifier: str | None = None
    name: str | None = None


class Ticket(_Vendor):
    """`GET /service/tickets/{id}`."""

    id: int
    summary: str = ""
    record_type: Literal["ProjectIssue", "ProjectTicket", "ServiceTicket"] | None = None
    company: NamedRef | None = None
    board: NamedRef | None = None
    status: NamedRef | None = None
    owner: MemberRef | None = None


class WorkItem(_Vendor):
    """`GET /time/workTypes` (`WorkType`) and `GET /time/workRoles` (`WorkRole`): what we read of either."""

    id: int
    name: str
    inactive_flag: bool | None = None


class Member(_Vendor):
    """`GET /system/members`."""

    id: int
    identifier: str = ""
    first_name: str = ""
    last_name: str = ""
    inactive_flag: bool | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.identifier


class TimeEntry(_Vendor):
    """`POST /time/entries` body, and what `GET /time/entries` returns (the fields we read)."""

    id: int | None = None
    charge_to_id: int | None = None
    charge_to_type: ChargeToType | None = None
    member: MemberRef | None = None
    time_start: str | None = None
    """UTC `YYYY-MM-DDTHH:MM:SSZ`."""
    time_end: str | None = None
    actual_hours: float | None = None
    billable_option: BillableOption | None = None
    notes: str | None = None
    internal_notes: str | None = None
    work_type: NamedRef | None = None
    work_role: NamedRef | None = None
    add_to_detail_description_flag: bool | None = None
    add_to_internal_analysis_flag: bool | None = None
    add_to_resolution_flag: bool | None = None
    email_resource_flag: bool | None = None
    email_contact_flag: bool | None = None
    email_cc_flag: bool | None = None


class ErrorItem(msgspec.Struct, kw_only=True):
    code: str | None = None
    message: str | None = None
    field: str | None = None


class ErrorBody(msgspec.Struct, kw_only=True):
    """`{"code": "InvalidObject", "message": "...", "errors": [{"code", "message", "resource", "field"}]}`."""

    code: str | None = None
    message: str | None = None
    errors: list[ErrorItem] | None = None
