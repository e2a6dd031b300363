"""Autotask REST payloads, with the wire's camelCase field names.

Decoding ignores fields we do not model; encoding omits defaults, so a request carries only what we mean to send.
Wrappers: GET by id → `{"item": {...}}` (null when absent), query → `{"items": [...], "pageDetails": {...}}`,
create → `{"itemId": N}`, errors → `{"errors": ["..."]}`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

__all__ = [
    "BillingCode",
    "Company",
    "CreateResult",
    "ErrorBody",
    "FieldInfo",
    "FieldInfoBody",
    "Filter",
    "Item",
    "Items",
    "NamedRole",
    "NewTimeEntry",
    "PageDetails",
    "PicklistValue",
    "Query",
    "Resource",
    "ServiceDeskRole",
    "Ticket",
    "TimeEntry",
    "ZoneInfo",
]

T = TypeVar("T")


class _Vendor(msgspec.Struct, omit_defaults=True, kw_only=True):
    pass


class ZoneInfo(_Vendor):
    url: str
    zoneName: str = ""
    webUrl: str = ""
    ci: int | None = None


class Filter(_Vendor):
    op: str
    field: str = ""
    value: str | int | bool | None = None
    items: list[Filter] = []


class Query(_Vendor):
    filter: list[Filter]


class PageDetails(_Vendor):
    count: int = 0
    requestCount: int = 0
    prevPageUrl: str | None = None
    nextPageUrl: str | None = None


class Item(_Vendor, Generic[T]):
    item: T | None = None


class Items(_Vendor, Generic[T]):
    items: list[T] = []
    pageDetails: PageDetails = msgspec.field(default_factory=PageDetails)


class CreateResult(_Vendor):
    itemId: int


class ErrorBody(_Vendor):
    errors: list[str] = []


class Resource(_Vendor):
    id: int
    userName: str = ""
    email: str = ""
    firstName: str = ""
    lastName: str = ""
    isActive: bool = True
    defaultServiceDeskRoleID: int | None = None


class ServiceDeskRole(_Vendor):
    id: int
    resourceID: int
    roleID: int
    isDefault: bool = False
    isActive: bool = True


class BillingCode(_Vendor):
    """`BillingCodes` (`BillingCodeModel`): what a time entry's billingCodeID names, its "work type"."""

    id: int
    name: str = ""
    isActive: bool = True


class NamedRole(_Vendor):
    """`Roles`: what a time entry's roleID names."""

    id: int
    name: str = ""
    isActive: bool = True


class PicklistValue(_Vendor):
    value: str
    label: str = ""
    isActive: bool = True


class FieldInfo(_Vendor):
    """One field of `GET /V1.0/{Entity}/entityInformation/fields` (`FieldInformationModel`, camelCase on the wire)."""

    name: str
    isPickList: bool = False
    picklistValues: list[PicklistValue] | None = None


class FieldInfoBody(_Vendor):
    fields: list[FieldInfo] = []


class Company(_Vendor):
    id: int
    companyName: str = ""
    companyType: int | None = None
    classification: int | None = None


class Ticket(_Vendor):
    id: int
    ticketNumber: str = ""
    title: str = ""
    companyID: int | None = None
    status: int | None = None
    queueID: int | None = None
    assignedResourceID: int | None = None
    assignedResourceRoleID: int | None = None
    projectID: int | None = None


class TimeEntry(_Vendor):
    id: int
    ticketID: int | None = None
    taskID: int | None = None
    resourceID: int | None = None
    internalNotes: str = ""


class NewTimeEntry(_Vendor):
    """The body of `POST V1.0/TimeEntries`: ticket time (`ticketID`), task time (`taskID`: a project task, our work
    order) or regular time (neither: `internalBillingCodeID` names the internal work, e.g. "Training")."""

    resourceID: int
    dateWorked: str
    startDateTime: str
    endDateTime: str
    hoursWorked: float
    summaryNotes: str
    internalNotes: str
    ticketID: int | None = None
    taskID: int | None = None
    roleID: int | None = None
    isNonBillable: bool | None = None
    billingCodeID: int | None = None
    internalBillingCodeID: int | None = None
    timeEntryType: int | None = None
