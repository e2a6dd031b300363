"""The one protocol every PSA connector implements, and the errors they raise.

Exceptions::

    ConnectorError                    anything a connector raises
     ├── ConnectorAuthError           credentials refused (401/403 after one refresh)
     ├── ConnectorRejected            the PSA refused this request for good (4xx); `message` is the PSA's own text
     │    └── TicketNotFound          the ticket does not exist
     └── ConnectorUnavailable         try again later: 429, 5xx, network error, timeout
                                      `retry_after` (seconds) when the PSA said; `ambiguous` when the request may
                                      have been applied (sent, then the connection dropped or timed out) — the
                                      outbox must `find()` before posting again.

A connector is built with `cls(instance, credentials, http=..., clock=...)`; the shared `httpx.AsyncClient` is passed
in and never created inside. Every vendor call goes through the connector's single request function.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, runtime_checkable

import msgspec

from daemon.settings import TaskPost
from daemon.timers.model import TicketRef

if TYPE_CHECKING:
    import httpx  # imported by the connectors' clients; the CLI and a daemon that never posts do not load it

__all__ = [
    "MARKER_PREFIX",
    "Connector",
    "ConnectorAuthError",
    "ConnectorError",
    "ConnectorRejected",
    "ConnectorUnavailable",
    "Identity",
    "PostEntry",
    "Posted",
    "TaskPost",
    "TicketInfo",
    "TicketNotFound",
    "WorkItem",
    "WorkTypeSource",
    "is_transient",
    "marker",
    "maybe_applied",
    "parse_retry_after",
    "ticket_of",
    "transport_failure",
    "unavailable",
]

MARKER_PREFIX = "ticketclock:"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A `Retry-After` header as seconds from `now` (delta-seconds or an HTTP date), never negative; None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            import email.utils  # here: the CLI loads this module to check options, and never needs it

            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def is_transient(status: int) -> bool:
    """A status to try again later (429, 408, 5xx), as opposed to a refusal (other 4xx)."""
    return status in (408, 429) or status >= 500


def maybe_applied(failure: httpx.HTTPError | int) -> bool:
    """THE rule: might the request that failed with this httpx error (or answered this status) have been applied?

    Only failures that prove nothing was processed say no: the connection was never made (`_not_sent`), 429 (the
    vendors refuse throttled requests before processing them), and 4xx refusals. A 5xx or 408 may come from a
    gateway after the PSA committed the write; a timeout or dropped connection after sending tells nothing."""
    if isinstance(failure, int):
        return failure == 408 or failure >= 500
    return not isinstance(failure, _not_sent())


def transport_failure(failure: httpx.HTTPError) -> str:
    """THE words for a request that got no answer: the error's kind ("ReadTimeout", "ConnectError"), and for a TLS
    handshake refused, why — a certificate no trusted authority signed is what an MSP behind a TLS-inspecting proxy
    sees first, and "ConnectError" alone does not tell them to point SSL_CERT_FILE at the proxy's authority."""
    import ssl

    seen: BaseException | None = failure
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return (
                f"the PSA's TLS certificate is not trusted ({seen.verify_message or seen.reason}); if a proxy "
                "inspects TLS here, set SSL_CERT_FILE to its authority's certificate (PEM)"
            )
        if isinstance(seen, ssl.SSLError):
            return f"TLS handshake failed ({seen.reason or type(seen).__name__})"
        seen = seen.__cause__ or seen.__context__
    return type(failure).__name__


def _not_sent() -> tuple[type[httpx.HTTPError], ...]:
    """Transport errors raised before any byte of the request reached the server."""
    import httpx

    return (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        httpx.ProxyError,
        httpx.UnsupportedProtocol,
        httpx.LocalProtocolError,
    )


def unavailable(
    message: str,
    failure: httpx.HTTPError | int,
    *,
    write: bool,
    retry_after: float | None = None,
) -> ConnectorUnavailable:
    """The ConnectorUnavailable for a failed request: ambiguous when it was a write that `maybe_applied`."""
    status = failure if isinstance(failure, int) else None
    return ConnectorUnavailable(
        message, status=status, retry_after=retry_after, ambiguous=write and maybe_applied(failure)
    )


def marker(entry_id: str) -> str:
    """The text stored with each posted entry so it can be found again (idempotent retry)."""
    return f"[{MARKER_PREFIX}{entry_id}]"


class ConnectorError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ConnectorAuthError(ConnectorError):
    pass


class ConnectorRejected(ConnectorError):
    pass


class TicketNotFound(ConnectorRejected):
    pass


class ConnectorUnavailable(ConnectorError):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """A PSA user time can be logged as: ConnectWise member, Autotask resource, Halo agent."""

    id: str
    name: str = ""
    role_id: str = ""
    """Autotask: the resource's default role for ticket time (roleID)."""


class TicketInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    number: str = ""
    summary: str = ""
    company: str = ""
    status: str = ""
    board: str = ""
    """ConnectWise board / Autotask queue / Halo team."""
    assignee: Identity | None = None
    is_project: bool = False
    company_attributes: dict[str, str] = {}
    """What the PSA says about the ticket's company that `[[company_tags.map]]` can turn into tags
    (Autotask: companyType, classification)."""


class PostEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry as the outbox hands it to a connector."""

    entry_id: str
    ticket: TicketRef | None = None
    """The ticket or work order (`ticket.record`) the time is for; None: an admin task (`task`)."""
    task: TaskPost | None = None
    """Non-ticket time: the task's target in this PSA (ConnectWise charge code, Autotask billing code)."""
    task_name: str = ""
    start: float
    """Epoch seconds, UTC."""
    end: float
    seconds: int
    """Billed seconds (after rounding rules); may differ from end - start."""
    notes: str = ""
    internal_notes: str = ""
    billable: Literal["agreement", "yes", "no"] = "agreement"
    work_type: str = ""
    role: str = ""
    log_as: Identity | None = None
    """Log on behalf of this user; None: the connection's own user."""
    timezone: str = "UTC"
    """The technician's IANA time zone (Autotask dateWorked and the split at local midnight)."""


def ticket_of(entry: PostEntry) -> TicketRef:
    """The entry's ticket, for connectors on a path that needs one; a task entry there is a programming error that
    the PSA is told nothing about."""
    if entry.ticket is None:
        raise ConnectorRejected(f"entry {entry.entry_id} has no ticket (task {entry.task_name!r})")
    return entry.ticket


class Posted(msgspec.Struct, frozen=True, kw_only=True):
    psa_ids: list[str]
    """One id per stored PSA record (Autotask splits at midnight, so one entry can be two records)."""


class Connector(Protocol):
    kind: ClassVar[str]

    async def test(self) -> Identity:
        """Check the credentials against the PSA; returns the identity they act as."""
        ...

    async def ticket(self, ref: TicketRef) -> TicketInfo: ...

    async def identity(self, who: str | None) -> Identity:
        """Resolve a user to log as (id, login or e-mail); None: the connection's own user."""
        ...

    async def post(self, entry: PostEntry) -> Posted: ...

    async def find(self, entry: PostEntry) -> Posted | None:
        """Find the records a previous post() of this entry created (by its marker), or None."""
        ...

    async def aclose(self) -> None: ...


class WorkItem(msgspec.Struct, frozen=True, kw_only=True):
    """A work type (ConnectWise work type, Autotask billing code, Halo charge rate) or a work role."""

    id: str
    name: str
    value: str
    """What an entry's `work_type` (or a rule's) holds to pick it: ConnectWise posts by name, Autotask by id."""


@runtime_checkable
class WorkTypeSource(Protocol):
    """A connector that can list the PSA's work types and roles: ConnectWise (`/time/workTypes`, `/time/workRoles`)
    and Autotask (`BillingCodes`, `Roles`). HaloPSA (charge rates) is still to come: its contract has no such path."""

    async def work_types(self) -> list[WorkItem]:
        """The active work types."""
        ...

    async def work_roles(self) -> list[WorkItem]:
        """The active work roles (empty where the PSA has none)."""
        ...
