"""Autotask's query language over the sandbox's records: `{"op": "eq", "field": "ticketID", "value": 1}` and
`{"op": "and"|"or", "items": [...]}`. Field names and string comparisons are case-insensitive."""

from __future__ import annotations

from typing import Any

from .store import AutotaskStore, Record

__all__ = ["ENTITIES", "QueryError", "filters_of", "known_fields", "matches"]

ENTITIES = {
    "tickets": "Tickets",
    "timeentries": "TimeEntries",
    "resources": "Resources",
    "companies": "Companies",
    "roles": "Roles",
    "resourceservicedeskroles": "ResourceServiceDeskRoles",
    "billingcodes": "BillingCodes",
}
TIME_ENTRY_FIELDS = {
    k.lower()
    for k in (
        "id ticketID taskID resourceID roleID dateWorked startDateTime endDateTime hoursWorked hoursToBill summaryNotes"
        " internalNotes isNonBillable billingCodeID internalBillingCodeID timeEntryType contractID creatorUserID"
        " impersonatorCreatorResourceID createDateTime"
    ).split()
}
OPS = {
    "eq",
    "noteq",
    "gt",
    "gte",
    "lt",
    "lte",
    "beginswith",
    "endswith",
    "contains",
    "exist",
    "notexist",
    "in",
    "notin",
}


class QueryError(Exception):
    pass


def _field(record: Record, name: str) -> tuple[bool, Any]:
    wanted = name.lower()
    for key, value in record.items():
        if key.lower() == wanted:
            return True, value
    return False, None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(b, str) and str(a).lower() == b.lower())
    if isinstance(a, int | float) and isinstance(b, str):
        try:
            return float(a) == float(b)
        except ValueError:
            return False
    return bool(a == b)


def _order(a: Any, b: Any) -> int:
    if isinstance(a, str) and isinstance(b, str):
        a, b = a.casefold(), b.casefold()
    try:
        return int((a > b) - (a < b))
    except TypeError:
        raise QueryError("Invalid comparison value") from None


def matches(record: Record, condition: Any, known: set[str]) -> bool:
    if not isinstance(condition, dict):
        raise QueryError("Each filter must be an object")
    cond = {str(k).lower(): v for k, v in condition.items()}
    op = str(cond.get("op", "")).lower()
    if op in ("and", "or"):
        items = cond.get("items")
        if not isinstance(items, list) or not items:
            raise QueryError(f"Filter operator {op} needs items")
        results = [matches(record, item, known) for item in items]
        return all(results) if op == "and" else any(results)
    if op not in OPS:
        raise QueryError(f"Invalid filter operator: {cond.get('op')}")
    name = cond.get("field")
    if not isinstance(name, str) or name.lower() not in known:
        raise QueryError(f"Unable to find field {name} in the entity")  # UNVERIFIED wording
    _, value = _field(record, name)
    want = cond.get("value")
    if op == "exist":
        return value is not None
    if op == "notexist":
        return value is None
    if op in ("in", "notin"):
        if not isinstance(want, list):
            raise QueryError(f"Filter operator {op} needs a list value")
        hit = any(_same(value, w) for w in want)
        return hit if op == "in" else not hit
    if value is None:
        return op == "noteq" and want is not None
    match op:
        case "eq":
            return _same(value, want)
        case "noteq":
            return not _same(value, want)
        case "contains" | "beginswith" | "endswith":
            text, part = str(value).casefold(), str(want).casefold()
            return (
                part in text
                if op == "contains"
                else text.startswith(part)
                if op == "beginswith"
                else text.endswith(part)
            )
    sign = _order(value, want)
    return {"gt": sign > 0, "gte": sign >= 0, "lt": sign < 0, "lte": sign <= 0}[op]


def filters_of(query: dict[str, Any]) -> list[Any]:
    filters = query.get("filter")
    if not isinstance(filters, list) or not filters:
        raise QueryError("A query must have at least one filter")
    return filters


def known_fields(store: AutotaskStore, entity: str) -> set[str]:
    known = {key.lower() for record in store.table(entity).values() for key in record}
    return known | (TIME_ENTRY_FIELDS if entity == "TimeEntries" else set())
