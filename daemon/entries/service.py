"""Entry life cycle: creation (from timers, by hand, from automation runs), edits, approvals, the audit trail.

Services never import aiohttp; the API maps `EntryError.code` to a status.

Errors::

    EntryError(code, message)
      not_found            no such entry
      invalid_transition   the entry's state does not allow that action
      not_editable         edits are allowed in pending, rejected and failed only
      invalid_input        the request makes no sense (end before start, nothing to log, …)
      period_closed        the entry lies in a closed timesheet period (one check: `_check_open`)
      cell_has_tracked_time  a timesheet cell cannot shrink without cutting timer or automation time
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, time
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from daemon.clock import Clock
from daemon.entries import periods
from daemon.entries.model import EDITABLE, AuditEvent, Entry, EntryFilter, Segment, Status
from daemon.entries.periods import Period
from daemon.entries.timesheet import RowRef, row_key, row_key_of
from daemon.rules import RuleBook, Shaped, note_fields, shape_entry
from daemon.settings import Config
from daemon.store import Database, Transaction
from daemon.store.entries import EntryStore
from daemon.store.outbox import OutboxStore
from daemon.store.summary import ClosedPeriodStore, SummaryStore
from daemon.store.sync import SyncStore
from daemon.timers.model import TicketRef

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo  # imported on first use (daemon.entries.periods.zone)

__all__ = ["EntryError", "EntryService", "ManualEntry", "NewEntry"]

Billable = Literal["agreement", "yes", "no"]


class EntryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NewEntry(msgspec.Struct, kw_only=True):
    """Everything needed to create an entry, whatever its source."""

    source: Literal["timer", "manual", "automation"]
    segments: list[Segment]
    ticket: TicketRef | None = None
    task: str | None = None
    timer_id: str | None = None
    summary: str = ""
    company: str = ""
    board: str = ""
    """The ticket's board / queue / team (the rules' board scope), when its PSA look-up gave it."""
    notes: str = ""
    internal_notes: str = ""
    billable: str = ""
    work_type: str = ""
    log_as: str = ""
    flags: list[str] = []
    reason: str = ""
    """Why it ended (timer reasons: closed, stopped, discarded, evicted, long_run, offline)."""
    seconds_override: int | None = None
    """Automation: a configured duration that replaces the measured one."""
    automation: str = ""
    """Source "automation": the automation's name (the rules' automation scope, shown on the entry)."""
    absorbed: str = ""
    """Why the entry's time is already billed elsewhere (an automation run absorbed by a running timer): the entry
    is kept for the record, voided with this reason and billed 0, so the time is never billed twice."""


class ManualEntry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Body of POST /api/v1/entries."""

    started_at: float
    ended_at: float | None = None
    seconds: int | None = None
    instance: str | None = None
    ticket: str | None = None
    task: str | None = None
    kind: Literal["ticket", "work_order"] | None = None
    """With `ticket`: what its number names (default ticket)."""
    work_order: str | None = None
    """A work order (project ticket/task) number: the same as `ticket` with `kind` "work_order"."""
    notes: str = ""
    internal_notes: str = ""
    billable: Billable | None = None
    work_type: str = ""
    log_as: str = ""


TEAM_STATUSES: dict[str, Status] = {
    "approved_l1": "approved_l1",
    "approved": "approved",
    "queued": "approved",
    "posted": "posted",
    "rejected": "rejected",
    "failed": "failed",
}
"""A team server's status (or decision) -> this machine's status for it: "queued" is the server's outbox, so here it
is approved (this machine's outbox never posts what the team server posts)."""

LOCAL_TASK = "local task: kept in TicketClock (timesheet and exports), not posted to a PSA"
"""Why an approved task entry goes no further (its task has no `post` in the config)."""


class EntryPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    notes: str | None = None
    internal_notes: str | None = None
    billable: Billable | None = None
    work_type: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    log_as: str | None = None


CELL_START = time(9, 0)
"""A cell's first manual entry starts at this local time (later ones follow the cell's last entry)."""


class EntryService:
    def __init__(self, db: Database, config: Config, clock: Clock, *, timezone: str | periods.LocalZone = "") -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self.local_zone = periods.LocalZone.of(timezone)
        self.store = EntryStore(db)
        self.rules = RuleBook(config)
        """The rules in force (scoped by instance, company/tag, …); `RulesService` replaces them after a PUT."""
        self.sums = SummaryStore(db)
        self.closed = ClosedPeriodStore(db)
        self.on_queued: Callable[[str], None] = lambda instance: None
        """Called with the instance name whenever an entry is queued (the outbox wakes its worker)."""
        self.on_changed: Callable[[], None] = lambda: None
        """Called whenever an entry is created or changed by this machine (the team sync wakes to send it)."""

    @property
    def zone(self) -> ZoneInfo:
        """The technician's zone: days and periods are cut in it."""
        return self.local_zone.info

    @property
    def approval(self) -> str:
        """The approval pattern in force: the config's, or "one" when joined to a team server (entries wait for the
        technician to submit them; the server's approvers decide)."""
        return "one" if self._config.team_mode else self._config.approval

    @property
    def config(self) -> Config:
        return self._config

    # --- creation -------------------------------------------------------------------------------------------

    def build(self, new: NewEntry, now: float) -> tuple[Entry, list[AuditEvent]]:
        """Shape a new entry and decide its first states (pure but for the id)."""
        segments = sorted((s for s in new.segments if s.end > s.start), key=lambda s: s.start)
        measured = sum(s.end - s.start for s in segments)
        actual = float(new.seconds_override) if new.seconds_override is not None else measured
        ticket = new.ticket
        shaped = self._shape(
            actual,
            ticket.instance if ticket else "",
            _label(ticket.id if ticket else None, ticket.number if ticket else None, new.task),
            new.company,
            new.summary,
            new.billable,
            new.work_type,
            new.notes,
            automation=new.automation,
            board=new.board,
        )
        started = segments[0].start if segments else now
        ended = segments[-1].end if segments else now
        ticket = new.ticket
        task = self._config.task(new.task) if new.task is not None and ticket is None else None
        posts_to = task.post.instance if task is not None and task.post is not None else ""
        entry = Entry(
            id=uuid.uuid4().hex,
            source=new.source,
            timer_id=new.timer_id,
            instance=ticket.instance if ticket else posts_to,
            ticket_id=ticket.id if ticket else None,
            ticket_number=ticket.number if ticket else None,
            task=new.task,
            kind=ticket.record if ticket else ("task" if new.task is not None else "ticket"),
            summary=new.summary,
            company=new.company,
            started_at=started,
            ended_at=ended,
            actual_seconds=shaped.actual_seconds,
            billed_seconds=shaped.billed_seconds,
            notes=shaped.notes,
            internal_notes=new.internal_notes,
            billable=shaped.billable,
            work_type=shaped.work_type,
            log_as=new.log_as,
            status="pending",
            flags=list(new.flags),
            segments=segments,
            explanation=list(shaped.explanation),
            created_at=now,
            updated_at=now,
            automation=new.automation,
            board=new.board,
            role=shaped.role,
        )
        audit = [AuditEvent(at=now, actor="system", from_status=None, to_status="pending", comment=new.reason)]
        if new.reason == "discarded":
            self._move(entry, audit, "voided", "system", "discarded by the user", now)
        elif new.absorbed:
            entry.billed_seconds = 0
            self._move(entry, audit, "voided", "system", new.absorbed, now)
        elif shaped.void_reason is not None:
            self._move(entry, audit, "voided", "system", shaped.void_reason, now)
        elif new.reason == "long_run" or "long_run" in entry.flags:
            entry.status_reason = (
                "held for review: ran past the long-run cap; the ticket stays untimed until started or reopened"
            )
            if "review" not in entry.flags:
                entry.flags.append("review")
        elif self.approval == "none":
            self._queue_or_hold(entry, audit, now)
        return entry, audit

    def _shape(
        self,
        actual: float,
        instance: str,
        label: str,
        company: str,
        summary: str,
        billable: str,
        work_type: str,
        notes: str,
        *,
        automation: str = "",
        board: str = "",
    ) -> Shaped:
        """The rules in force for the entry's context (instance, company and its tags, board, the automation that
        made it), applied to `actual`."""
        context = self.rules.context(
            instance=instance, company=company, board=board, automation=automation, now=self._clock.now()
        )
        resolved = self.rules.resolve(context)
        return shape_entry(
            actual,
            resolved,
            billable=billable,
            work_type=work_type,
            notes=notes,
            fields=note_fields(
                ticket=label, summary=summary, company=company, instance=instance, automation=automation
            ),
        )

    def preview_open(self, new: NewEntry, timer_id: str, held_until: float | None, now: float) -> Entry:
        """An open entry (a closed ticket inside its merge window) as finalizing it now would shape it.

        Its id is the timer's; `status_reason` names the void reason it would get if finished now (e.g. too_short).
        """
        entry, _ = self.build(new, now)
        reason = entry.status_reason if entry.status == "voided" else ""
        return msgspec.structs.replace(entry, id=timer_id, status="open", status_reason=reason, held_until=held_until)

    def _queue_or_hold(self, entry: Entry, audit: list[AuditEvent], now: float) -> None:
        """Approval pattern none: pending → queued at once for entries with a PSA to post to (a ticket, a work order,
        a task whose `[[tasks]]` entry posts somewhere: `entry.instance` says where)."""
        if entry.instance:
            # A ticket known only by its number (Autotask "T2024…") is resolved to its id by the outbox, through the
            # PSA's API, before posting.
            self._move(entry, audit, "queued", "system", "approval: none", now)
        # A local task stays pending (editable in the timesheet) until it is submitted: then it is approved, where it
        # ends (`_transition`).

    @staticmethod
    def _move(entry: Entry, audit: list[AuditEvent], to: Status, actor: str, comment: str, now: float) -> None:
        audit.append(AuditEvent(at=now, actor=actor, from_status=entry.status, to_status=to, comment=comment))
        entry.status = to
        entry.status_reason = comment if to in ("voided", "rejected", "failed") else ""
        entry.updated_at = now

    async def insert(self, tx: Transaction, entry: Entry, audit: Sequence[AuditEvent]) -> None:
        await EntryStore.insert(tx, entry, audit)
        self.on_changed()
        if entry.status == "queued":
            await OutboxStore.enqueue(tx, entry, self._clock.now())
            self.on_queued(entry.instance)

    async def create_manual(self, body: ManualEntry, actor: str) -> Entry:
        now = self._clock.now()
        named = [n for n in ("ticket", "work_order", "task") if getattr(body, n) is not None]
        if not named:
            raise EntryError("invalid_input", "give a ticket, a work order or a task")
        if len(named) > 1:
            raise EntryError("invalid_input", f"give one of ticket, work_order and task, not {' and '.join(named)}")
        if body.kind is not None and body.ticket is None:
            raise EntryError("invalid_input", "kind goes with ticket (work_order already says it is one)")
        if body.ended_at is None and body.seconds is None:
            raise EntryError("invalid_input", "give ended_at or seconds")
        end = body.ended_at if body.ended_at is not None else body.started_at + float(body.seconds or 0)
        if end <= body.started_at:
            raise EntryError("invalid_input", "the entry must end after it starts")
        if end - body.started_at > 24 * 3600:
            raise EntryError("invalid_input", "one entry cannot be longer than 24 hours")
        if end > now + 60:
            raise EntryError("invalid_input", "an entry cannot end in the future")
        number = body.ticket if body.ticket is not None else body.work_order
        ticket = self.ticket_ref(body.instance, number) if number is not None else None
        if ticket is not None and (body.work_order is not None or body.kind == "work_order"):
            if ticket.id is None:
                raise EntryError("invalid_input", f"{number!r} is not a work order number")
            ticket = msgspec.structs.replace(ticket, record="work_order")
        new = NewEntry(
            source="manual",
            segments=[Segment(body.started_at, end)],
            ticket=ticket,
            task=body.task,
            notes=body.notes,
            internal_notes=body.internal_notes,
            billable=body.billable or "",
            work_type=body.work_type,
            log_as=body.log_as,
            reason="manual",
        )
        entry, audit = self.build(new, now)
        audit[0].actor = actor
        async with self._db.transaction() as tx:
            await self._check_open(tx, entry.started_at)
            await self.insert(tx, entry, audit)
        return entry

    def ticket_ref(self, instance: str | None, ticket: str) -> TicketRef:
        instances = self._config.instances
        if instance is None:
            if len(instances) != 1:
                raise EntryError(
                    "invalid_input",
                    "name the PSA instance (several are configured)" if instances else "no PSA instance is configured",
                )
            inst = instances[0]
        else:
            found = [i for i in instances if i.name == instance]
            if not found:
                raise EntryError("invalid_input", f"no PSA instance named {instance!r}")
            inst = found[0]
        text = ticket.strip().lstrip("#")
        if text.isdigit() and 0 < int(text) < 2**31:
            return TicketRef(instance=inst.name, kind=inst.kind, id=int(text))
        if inst.kind == "autotask" and text.upper().startswith("T") and len(text) <= 32:
            return TicketRef(instance=inst.name, kind=inst.kind, number=text.upper())
        raise EntryError("invalid_input", f"{ticket!r} is not a ticket number")

    # --- reads --------------------------------------------------------------------------------------------------

    async def get(self, entry_id: str) -> Entry:
        entry = await self.store.get(entry_id)
        if entry is None:
            raise EntryError("not_found", f"no entry {entry_id}")
        return entry

    async def find(self, f: EntryFilter) -> list[Entry]:
        return await self.store.list(f)

    async def task_names(self) -> list[str]:
        """The tasks a timesheet row may be for: the managed list (`[[tasks]]`) first, then names used before."""
        names = [t.name for t in self._config.tasks]
        known = {n.casefold() for n in names}
        return names + [n for n in await self.store.task_names() if n.casefold() not in known]

    async def history(self, entry_id: str) -> list[AuditEvent]:
        await self.get(entry_id)
        return await self.store.history(entry_id)

    # --- changes --------------------------------------------------------------------------------------------------

    async def patch(self, entry_id: str, patch: EntryPatch, actor: str) -> Entry:
        async with self._db.transaction() as tx:
            entry = await self._load(tx, entry_id)
            if entry.status not in EDITABLE:
                raise EntryError("not_editable", f"an entry that is {entry.status} cannot be edited")
            now = self._clock.now()
            changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not None}
            start = changes.pop("started_at", entry.started_at)
            end = changes.pop("ended_at", entry.ended_at)
            await self._check_open(tx, entry.started_at, start)
            for key, value in changes.items():
                setattr(entry, key, value)
            if (start, end) != (entry.started_at, entry.ended_at):
                if end <= start or end - start > 24 * 3600:
                    raise EntryError("invalid_input", "the entry must end after it starts, within 24 hours")
                if end > now + 60:
                    raise EntryError("invalid_input", "an entry cannot end in the future")
                entry.segments = [Segment(start, end)]
                entry.started_at, entry.ended_at = start, end
                shaped = self._shape(
                    end - start,
                    entry.instance,
                    _label(entry.ticket_id, entry.ticket_number, entry.task),
                    entry.company,
                    entry.summary,
                    entry.billable,
                    entry.work_type,
                    entry.notes,
                    automation=entry.automation,
                    board=entry.board,
                )
                entry.actual_seconds, entry.billed_seconds = shaped.actual_seconds, shaped.billed_seconds
                entry.explanation = [*shaped.explanation]
            entry.updated_at = now
            await EntryStore.update(tx, entry)
            await EntryStore.audit(
                tx,
                entry.id,
                [
                    AuditEvent(
                        at=now,
                        actor=actor,
                        from_status=entry.status,
                        to_status=entry.status,
                        comment="edited: "
                        + ", ".join(
                            sorted(
                                {
                                    *changes,
                                    *(["time"] if patch.started_at is not None or patch.ended_at is not None else []),
                                }
                            )
                        ),
                    )
                ],
            )
        self.on_changed()
        return entry

    async def submit(self, entry_id: str, *, comment: str = "", actor: str) -> Entry:
        """pending or rejected → submitted (approval pattern none: on to queued)."""

        def target(s: Status) -> Status | None:
            return "submitted" if s in ("pending", "rejected") else None

        return await self._transition(entry_id, "submit", target, comment, actor, guard_closed=True)

    async def approve(self, entry_id: str, *, comment: str = "", actor: str) -> Entry:
        """submitted → approved (pattern two: approved_l1 first), approved_l1 → approved; approved goes on to queued
        when the entry has a PSA ticket."""

        def target(s: Status) -> Status | None:
            if s == "submitted":
                return "approved_l1" if self.approval == "two" else "approved"
            return "approved" if s == "approved_l1" else None

        self._not_in_team_mode("approve")
        return await self._transition(entry_id, "approve", target, comment, actor)

    async def reject(self, entry_id: str, *, comment: str = "", actor: str) -> Entry:
        """submitted or approved_l1 → rejected; the comment (why) is required."""

        def target(s: Status) -> Status | None:
            if s not in ("submitted", "approved_l1"):
                return None
            if not comment.strip():
                raise EntryError("invalid_input", "say why the entry is rejected (comment)")
            return "rejected"

        self._not_in_team_mode("reject")
        return await self._transition(entry_id, "reject", target, comment, actor)

    async def void(self, entry_id: str, *, comment: str = "", actor: str) -> Entry:
        """Anything not yet posted (or voided) → voided: kept for audit, never posted."""

        def target(s: Status) -> Status | None:
            voidable = ("pending", "submitted", "approved_l1", "approved", "rejected", "failed", "queued")
            return "voided" if s in voidable else None

        return await self._transition(entry_id, "void", target, comment, actor, guard_closed=True)

    async def retry(self, entry_id: str, *, comment: str = "", actor: str) -> Entry:
        """failed → queued."""

        def target(s: Status) -> Status | None:
            return "queued" if s == "failed" else None

        self._not_in_team_mode("retry")
        return await self._transition(entry_id, "retry", target, comment, actor)

    async def _transition(
        self,
        entry_id: str,
        verb: str,
        target_of: Callable[[Status], Status | None],
        comment: str,
        actor: str,
        *,
        guard_closed: bool = False,
    ) -> Entry:
        """Move an entry to `target_of(its status)`; None: the status does not allow it (`verb` names the action in
        the error). `guard_closed`: the technician's own moves (submit, void) are refused in a closed period;
        approving and posting are not."""
        async with self._db.transaction() as tx:
            entry = await self._load(tx, entry_id)
            if guard_closed:
                await self._check_open(tx, entry.started_at)
            now = self._clock.now()
            audit: list[AuditEvent] = []
            target = target_of(entry.status)
            if target is None:
                raise EntryError("invalid_transition", f"cannot {verb} an entry that is {entry.status}")
            self._move(entry, audit, target, actor, comment, now)
            if target == "approved" and entry.instance:
                # Approved is a way station to the outbox, whatever the pattern is now (it may have changed since
                # the entry was submitted). Local tasks have no PSA to post to: approved is where they end.
                self._move(entry, audit, "queued", "system", "approved", now)
            if target == "submitted" and self.approval == "none":
                self._move(entry, audit, "queued" if entry.instance else "approved", "system", "approval: none", now)
            if entry.status == "approved" and not entry.instance:
                entry.status_reason = LOCAL_TASK
            if "review" in entry.flags and target in ("submitted", "queued"):
                entry.flags.remove("review")
            if entry.status == "queued" and not entry.instance:
                raise EntryError("invalid_transition", "this entry has no PSA ticket to post to")
            await EntryStore.update(tx, entry)
            await EntryStore.audit(tx, entry.id, audit)
            if entry.status == "queued":
                await OutboxStore.enqueue(tx, entry, now)
                self.on_queued(entry.instance)
            elif entry.status == "voided":
                await OutboxStore.withdraw(tx, entry.id)
        self.on_changed()
        return entry

    async def apply_team_decision(
        self,
        tx: Transaction,
        *,
        entry_id: str | None,
        kind: str,
        version: int | None,
        actor: str,
        comment: str,
        detail: dict[str, Any],
    ) -> str | None:
        """The team decided: apply one decision from the team server's feed in the caller's transaction (the sync
        persists its cursor in the same one). Returns a message for the technician when they must know (a
        conflict: their edit of an approved entry was refused), else None.

        approved_l1 / approved / rejected (with the comment) / posted (with psa_ids) / failed (with the message)
        set that status; conflict sets the server's status back; period_closed / period_reopened change the local
        closed periods. A decision about an older version than this machine's is skipped: the newer one is on its
        way to the server, whose answer to it will follow. The audit trail names the decision's actor."""
        if kind in ("period_closed", "period_reopened"):
            first, last = str(detail.get("first_day", "")), str(detail.get("last_day", ""))
            if first and last:
                if kind == "period_closed":
                    await ClosedPeriodStore.close_in(tx, first, last, self._clock.now(), actor)
                else:
                    await ClosedPeriodStore.reopen_in(tx, first, last)
            return None
        if entry_id is None:
            return None
        entry = await EntryStore.get_in(tx, entry_id)
        versions = await SyncStore.sync_version(tx, entry_id)
        if entry is None or versions is None:
            return None  # not an entry of this machine (made on another device of the technician)
        if kind == "conflict":
            server_status = str(detail.get("status", ""))
            to = TEAM_STATUSES.get(server_status)
        else:
            to = TEAM_STATUSES.get(kind) if kind != "queued" else None
            if version is not None and versions[0] > version:
                return None
        if to is None:
            return None
        now = self._clock.now()
        audit: list[AuditEvent] = []
        self._move(entry, audit, to, actor, comment, now)
        if to == "posted" and isinstance(detail.get("psa_ids"), list):
            entry.psa_ids = [str(i) for i in detail["psa_ids"]]
        if to == "failed" and not comment:
            entry.status_reason = str(detail.get("message", "the PSA refused it"))
        await EntryStore.update(tx, entry, from_team=True)
        await EntryStore.audit(tx, entry.id, audit)
        if kind != "conflict":
            return None
        await SyncStore.mark_sent(tx, entry_id)
        return (
            f"Your change to an entry ({_label(entry.ticket_id, entry.ticket_number, entry.task)}) was not taken: "
            f"the team server had approved it already, so the approved version stands ({to})."
        )

    def _not_in_team_mode(self, verb: str) -> None:
        if self._config.team_mode:
            raise EntryError(
                "invalid_transition",
                f"joined to the team server {self._config.team.server}: its approvers {verb} entries there",
            )

    async def _load(self, tx: Transaction, entry_id: str) -> Entry:
        entry = await EntryStore.get_in(tx, entry_id)
        if entry is None:
            raise EntryError("not_found", f"no entry {entry_id}")
        if entry.status == "queued" and await OutboxStore.is_sending(tx, entry_id):
            raise EntryError("invalid_transition", "the entry is being posted right now; try again shortly")
        return entry

    # --- periods and timesheets -------------------------------------------------------------------------------

    async def _check_open(self, tx: Transaction, *moments: float) -> None:
        """The one closed-period rule: nothing that starts on a day of a closed period may change."""
        days = sorted({periods.local_day(t, self.zone).isoformat() for t in moments})
        closed = await ClosedPeriodStore.covering(tx, days)
        if closed is not None:
            raise EntryError(
                "period_closed",
                f"the period {closed[0]} \N{EN DASH} {closed[1]} is closed: its entries cannot change; reopen it first",
            )

    def period(self, text: str) -> Period:
        """`current` or a day inside the period; EntryError invalid_input when it is not a date."""
        try:
            return periods.parse_period(text, self._config.timesheet, self.today())
        except periods.PeriodError as exc:
            raise EntryError("invalid_input", str(exc)) from None

    def today(self) -> date:
        return periods.local_day(self._clock.now(), self.zone)

    def bounds(self, first: date, last: date) -> tuple[float, float]:
        return periods.day_bounds(first, last, self.zone)

    async def in_period(self, period: Period, f: EntryFilter | None = None) -> list[Entry]:
        """Every entry that started inside the period (and matches `f`), in start order."""
        lo, hi = self.bounds(period.start, period.end)
        base = f if f is not None else EntryFilter()
        found: list[Entry] = []
        async for page in self.store.every(msgspec.structs.replace(base, started_from=lo, started_before=hi)):
            found += page
        return found

    async def submit_period(self, period: Period, actor: str) -> list[Entry]:
        """Submit every pending or rejected entry that started in the period (approval none: on to queued)."""
        lo, _ = self.bounds(period.start, period.end)
        async with self._db.transaction() as tx:
            await self._check_open(tx, lo)
        chosen = await self.in_period(period, EntryFilter(status=("pending", "rejected")))
        done: list[Entry] = []
        for e in chosen:
            try:
                done.append(await self.submit(e.id, comment=f"period {period.id}", actor=actor))
            except EntryError as exc:
                if exc.code == "period_closed":
                    raise
                # changed meanwhile (edited, voided, posted): not ours to submit any more
        return done

    async def close_period(self, period: Period, actor: str) -> None:
        await self.closed.close(period.id, period.end.isoformat(), self._clock.now(), actor)

    async def reopen_period(self, period: Period) -> None:
        await self.closed.reopen(period.id, period.end.isoformat())

    async def is_closed(self, period: Period) -> bool:
        return await self.closed.overlapping(period.id, period.end.isoformat())

    async def set_cell(self, ref: RowRef, day: date, seconds: int, actor: str) -> None:
        """Make a timesheet cell (a row's entries that started on `day`) total `seconds` of actual time.

        More: a manual entry for the difference, starting at 09:00 local or after the cell's last entry. Less: the
        cell's editable manual entries are shortened or voided, newest first; when that is not enough (the rest is
        timer or automation time, or already submitted), `cell_has_tracked_time` and nothing changes."""
        if (ref.task is None) == (ref.ticket is None):
            raise EntryError("invalid_input", "row: give a ticket (with its instance) or a task")
        ticket = self.ticket_ref(ref.instance, ref.ticket) if ref.ticket is not None else None
        lo, hi = self.bounds(day, day)
        if ticket is None:
            wanted = row_key_of("task", "", None, None, ref.task)
        else:
            wanted = row_key_of("ticket", ticket.instance, ticket.id, ticket.number, None)
        now = self._clock.now()
        async with self._db.transaction() as tx:
            await self._check_open(tx, lo)
            day_entries = await self.store.list(EntryFilter(started_from=lo, started_before=hi, limit=1_000_000))
            cell = [e for e in day_entries if e.status != "voided" and row_key(e) == wanted]
            have = sum(e.actual_seconds for e in cell)
            if seconds > have:
                await self._grow_cell(tx, cell, ticket, ref.task, day, seconds - have, actor, now)
            elif seconds < have:
                await self._shrink_cell(tx, cell, have - seconds, actor, now, seconds)

    async def _grow_cell(
        self,
        tx: Transaction,
        cell: list[Entry],
        ticket: TicketRef | None,
        task: str | None,
        day: date,
        more: int,
        actor: str,
        now: float,
    ) -> None:
        lo, hi = self.bounds(day, day)
        start = max([periods.at_local(day, CELL_START, self.zone), *(e.ended_at for e in cell)])
        if start + more > now:  # today: end now rather than in the future, still starting on that day
            start = max(lo, now - more)
        if start + more > now + 60 or start >= hi:
            raise EntryError("invalid_input", "duration: that much time does not fit in the day before now")
        new = NewEntry(source="manual", segments=[Segment(start, start + more)], ticket=ticket, task=task)
        new.reason = "timesheet"
        entry, audit = self.build(new, now)
        audit[0].actor = actor
        await self.insert(tx, entry, audit)

    async def _shrink_cell(
        self, tx: Transaction, cell: list[Entry], less: int, actor: str, now: float, target: int
    ) -> None:
        editable = sorted(
            (e for e in cell if e.source == "manual" and e.status in EDITABLE),
            key=lambda e: (e.started_at, e.id),
            reverse=True,
        )
        if sum(e.actual_seconds for e in editable) < less:
            raise EntryError(
                "cell_has_tracked_time",
                "this cell holds time a typed duration cannot cut (timer or automation entries, or entries already "
                "submitted): edit those entries instead",
            )
        comment = f"timesheet cell set to {target // 3600}:{target % 3600 // 60:02d}"
        for e in editable:
            if less <= 0:
                break
            audit: list[AuditEvent] = []
            if e.actual_seconds <= less:
                less -= e.actual_seconds
                self._move(e, audit, "voided", actor, comment, now)
                await OutboxStore.withdraw(tx, e.id)
            else:
                end = e.ended_at - less
                less = 0
                shaped = self._shape(
                    end - e.started_at,
                    e.instance,
                    _label(e.ticket_id, e.ticket_number, e.task),
                    e.company,
                    e.summary,
                    e.billable,
                    e.work_type,
                    e.notes,
                    automation=e.automation,
                    board=e.board,
                )
                e.segments, e.ended_at = [Segment(e.started_at, end)], end
                e.actual_seconds, e.billed_seconds = shaped.actual_seconds, shaped.billed_seconds
                e.explanation = [*shaped.explanation]
                e.updated_at = now
                audit.append(AuditEvent(at=now, actor=actor, from_status=e.status, to_status=e.status, comment=comment))
            await EntryStore.update(tx, e)
            await EntryStore.audit(tx, e.id, audit)
        self.on_changed()


def _label(ticket_id: int | None, number: str | None, task: str | None) -> str:
    """The `{ticket}` of a note template: the ticket's number, else its id, else the task's name."""
    return number or (str(ticket_id) if ticket_id is not None else "") or task or ""
