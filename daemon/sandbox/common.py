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
    work_order: int = 0
    """A work order time can be posted to: ConnectWise project ticket, Autotask project task, Halo project."""
    task_code: int = 0
    """The non-ticket target an admin task posts to (ConnectWise charge code, Autotask internal billing code);
    0: this PSA takes no non-ticket time from TicketClock (HaloPSA: unverified, tasks stay local)."""


class StoredEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A time record as the sandbox stored it, normalised for assertions."""

    psa_id: str
    ticket_id: int
    """The id of what the time is charged to: a ticket, a work order (project ticket/task), or for a task its
    charge code (ConnectWise) / internal billing code (Autotask)."""
    record: str = "ticket"
    """"ticket", "work_order" or "task" (non-ticket time)."""
    start: float
    end: float
    hours: float
    notes: str
    internal_notes: str
    who: str
    """Id (as a string) of the user the time is logged as."""
    billable: str = ""
    role: str = ""
    """The work role the PSA recorded the time under: ConnectWise its workRole's name, Autotask its roleID; ""
    where the PSA has none (HaloPSA) or the record takes none (Autotask regular time)."""
