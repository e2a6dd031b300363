"""What every sandbox PSA exposes to tests, the demo and the benchmarks, whatever the vendor."""

from __future__ import annotations

import msgspec

__all__ = ["Seed", "StoredEntry"]


class Seed(msgspec.Struct, frozen=True, kw_only=True):
    """Seeded records a contract test can rely on."""

    service_ticket: int
    """A service ticket assigned to `assignee`."""
    project_ticket: int
    """A project ticket (ConnectWise ProjectTicket; elsewhere just a second ticket)."""
    missing_ticket: int
    """An id no ticket has."""
    api_user: str
    """The identity the API credentials act as (id as a string)."""
    assignee: str
    """Id (as a string) of the technician the service ticket is assigned to."""
    other_user: str
    """A login, e-mail or name that `identity()` resolves to a third user."""
    ticket_company: str
    """Company name of the service ticket."""
    ticket_summary: str


class StoredEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A time record as the sandbox stored it, normalised for assertions."""

    psa_id: str
    ticket_id: int
    start: float
    end: float
    hours: float
    notes: str
    internal_notes: str
    who: str
    """Id (as a string) of the user the time is logged as."""
    billable: str = ""
