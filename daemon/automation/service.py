"""Automation runs logged as time (DESIGN §2.6, issue 11): per-automation settings, and each run → one entry.

A run (`POST /api/v1/automation-runs`, `ticketclock log-run`) is decided in this order, and always recorded (the
store keeps one row per `run_id`; a repeat answers the first run and makes nothing):

1. the automation is configured (`[[automations]]`, or `PUT /api/v1/automations`) and enabled — else skipped;
2. it applies to the ticket's client: `apply_to` "all", "none" (skipped), or "tag:X" (the company's tags, from the
   config and the PSA through the rules' company tags, `RuleBook.tags_for`) — a client without the tag is skipped,
   naming the company; a ticket the PSA does not know fails with the PSA's message;
3. the entry: its window is the run's (`started_at` to `finished_at`), or `minutes` ending at `finished_at`; its notes
   the automation's template (`{automation}`, `{outcome}`, `{started_by}`, `{notes}`); its user by `log_as`:
   "starter" → the run's `started_by`, "assignee" → the ticket's assignee, looked up through the connector when the
   entry is posted, "user:NAME" → NAME (ConnectWise member, Autotask resource through impersonation, Halo agent);
   then the rules, with the automation's name as the rules' automation scope, like any entry. A window that ends
   in the future is not refused: the connector moves it back where its PSA demands (ConnectWise: to end at now);
4. overlap: a live timer of the technician on the same ticket is flagged "overlap", and so is the entry; with
   `overlap = "absorb"` the entry is kept voided and billed 0 ("absorbed"), with "add" it is logged as well.

Which settings are in force: as for the rules (`daemon.rules.service`), the list saved by the last valid PUT wins over
the config file's `[[automations]]`, across restarts; `DELETE /api/v1/automations` puts the config's back.

Errors::

    AutomationError(code, message, field)
      invalid_input         the run makes no sense (ends before it starts, over 24 h, far in the future, no ticket)
      invalid_automations   a PUT whose settings cannot be used; `field` names the key, nothing changes
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

import msgspec

from daemon.automation.model import AutomationRun, AutomationsBody, AutomationsView, RunIn
from daemon.clock import Clock
from daemon.connectors import ConnectorError, ConnectorUnavailable, TicketInfo
from daemon.entries.model import Segment
from daemon.entries.service import EntryError, EntryService, NewEntry
from daemon.invalid import field_error
from daemon.outbox import ASSIGNEE
from daemon.psa import PsaError, PsaService
from daemon.settings import AutomationConfig, Config, check_automations
from daemon.store import Database
from daemon.store.automation import AutomationRunStore, AutomationSettingsStore
from daemon.timers.model import TicketRef
from daemon.timers.service import TimerService

__all__ = ["ASSIGNEE", "AutomationError", "AutomationService", "parse_automations", "run_notes"]

log = logging.getLogger("ticketclock.automation")

MAX_AHEAD_S = 3600.0
"""A run may end this far ahead of this machine's clock (clock skew); further is a mistake, refused."""
MAX_SPAN_S = 24 * 3600.0
TICKET_CACHE_S = 300.0
"""A ticket looked up for a run is reused this long (a burst of runs on one ticket asks the PSA once)."""
UNREACHABLE_RECHECK_S = 2.0
"""An instance without credentials is asked again (its credentials looked up) at most this often."""
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def run_notes(settings: AutomationConfig, outcome: str, started_by: str, notes: str) -> str:
    """A run's entry notes: the automation's template with its placeholders filled (the daemon and the team server)."""
    fields = {"automation": settings.name, "outcome": outcome, "started_by": started_by, "notes": notes}
    return _PLACEHOLDER.sub(lambda m: fields.get(m.group(1), m.group(0)), settings.notes).strip()


class AutomationError(Exception):
    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class _Repeat(Exception):
    """Raised inside the transaction when the run_id was stored meanwhile: roll back what this attempt wrote."""


class AutomationService:
    def __init__(
        self,
        db: Database,
        config: Config,
        clock: Clock,
        entries: EntryService,
        psa: PsaService,
        timers: TimerService,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._entries = entries
        self._psa = psa
        self._timers = timers
        self.runs = AutomationRunStore(db)
        self._settings = AutomationSettingsStore(db)
        self.automations: list[AutomationConfig] = list(config.automations)
        self._source: Literal["config", "stored"] = "config"
        self._updated_at: float | None = None
        self._tickets: dict[str, tuple[TicketInfo, float]] = {}
        self._unreachable: dict[str, tuple[str, float]] = {}
        """instance → (why its PSA cannot be asked, since when): no credentials stored yet."""

    # --- settings ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Put the stored settings in force, if there are some that still validate (else the config file's)."""
        stored = await self._settings.get()
        if stored is None:
            return
        doc, at = stored
        try:
            automations = _parse(msgspec.json.decode(doc))
        except (AutomationError, msgspec.DecodeError) as exc:
            log.error("the stored automation settings cannot be used (%s); the config file's are in force", exc)
            return
        self.automations, self._source, self._updated_at = automations, "stored", at

    def view(self) -> AutomationsView:
        return AutomationsView(automations=self.automations, source=self._source, updated_at=self._updated_at)

    async def put(self, raw: Any) -> AutomationsView:
        """Validate `raw` ({"automations": [...]}), save it and put it in force; AutomationError changes nothing."""
        automations = _parse(raw)
        now = self._clock.now()
        doc = msgspec.json.encode(AutomationsBody(automations=automations)).decode()
        async with self._db.transaction() as tx:
            await AutomationSettingsStore.put(tx, doc, now)
        self.automations, self._source, self._updated_at = automations, "stored", now
        return self.view()

    async def reset(self) -> AutomationsView:
        """Forget the saved settings: the config file's `[[automations]]` are in force again."""
        async with self._db.transaction() as tx:
            await AutomationSettingsStore.clear(tx)
        self.automations, self._source, self._updated_at = list(self._config.automations), "config", None
        return self.view()

    def settings_of(self, name: str) -> AutomationConfig | None:
        key = name.strip().casefold()
        return next((a for a in self.automations if a.name.strip().casefold() == key), None)

    # --- runs ---------------------------------------------------------------------------------------------------

    async def recent(
        self, *, limit: int = 100, offset: int = 0, automation: str | None = None, status: str | None = None
    ) -> list[AutomationRun]:
        return await self.runs.recent(limit=limit, offset=offset, automation=automation, status=status)

    async def record(self, body: RunIn) -> AutomationRun:
        """Record a run and what it became (module doc); a run_id seen before answers the first run, `repeat`."""
        now = self._clock.now()
        ref = self._check(body, now)
        # A repeat is told by the store itself (`AutomationRunStore.record`), not by a read first: the common case,
        # a new run, costs one transaction and no look-up of its run_id.
        run = AutomationRun(
            run_id=body.run_id,
            automation=body.automation.strip(),
            instance=ref.instance,
            ticket=str(body.ticket).strip(),
            started_by=body.started_by.strip(),
            started_at=body.started_at,
            finished_at=body.finished_at,
            outcome=body.outcome,
            notes=body.notes,
            status="skipped",
            received_at=now,
        )
        settings = self.settings_of(run.automation)
        new: NewEntry | None = None
        overlapped: list[str] = []
        if settings is None:
            run.reason = f"no automation named {run.automation!r} is configured"
        elif not settings.enabled:
            run.reason = f"automation {settings.name!r} is disabled"
        elif settings.apply_to == "none":
            run.reason = f'automation {settings.name!r} applies to no clients (apply_to = "none")'
        else:
            info, problem = await self._ticket(ref, now)
            if problem and (settings.apply_to != "all" or not problem.startswith("~")):
                run.status, run.reason = "failed", problem.lstrip("~")
            elif (why := self._not_applicable(settings, ref, info, now)) is not None:
                run.reason = why
            else:
                new, overlapped = self._entry(run, settings, ref, info)
                run.status, run.reason = ("absorbed", new.absorbed) if new.absorbed else ("logged", "")
        return await self._store(run, new, overlapped, now)

    def _check(self, body: RunIn, now: float) -> TicketRef:
        if body.finished_at < body.started_at:
            raise AutomationError("invalid_input", "finished_at is before started_at", "finished_at")
        if body.finished_at - body.started_at > MAX_SPAN_S:
            raise AutomationError("invalid_input", "one run cannot be longer than 24 hours", "finished_at")
        if body.finished_at > now + MAX_AHEAD_S:
            raise AutomationError(
                "invalid_input", "finished_at is more than an hour ahead of this computer's clock", "finished_at"
            )
        if not body.automation.strip() or not body.run_id.strip():
            raise AutomationError("invalid_input", "automation and run_id must not be blank", "automation")
        try:
            return self._entries.ticket_ref(body.instance, str(body.ticket))
        except EntryError as exc:
            raise AutomationError("invalid_input", exc.message, "ticket") from None

    async def _ticket(self, ref: TicketRef, now: float) -> tuple[TicketInfo | None, str]:
        """The ticket from its PSA (cached briefly), or a problem: the PSA's refusal, or "~…" when the PSA could not
        be asked (no credentials, unreachable) — enough to fail a run that needs the client's tags, not the others."""
        away = self._unreachable.get(ref.instance)
        if away is not None and now - away[1] < UNREACHABLE_RECHECK_S:
            return None, away[0]
        cached = self._tickets.get(ref.key)
        # Never longer than half the company tags' refresh: the PSA's tags are renewed by a look-up, not by the cache.
        keep = min(TICKET_CACHE_S, self._config.company_tags.refresh_s / 2)
        if cached is not None and now - cached[1] < keep:
            return cached[0], ""
        try:
            info = await self._psa.ticket_info(ref)
        except PsaError as exc:  # no credentials (yet): not asked again for a moment (a burst of runs)
            self._unreachable[ref.instance] = (f"~{exc.message}", now)
            return None, f"~{exc.message}"
        except ConnectorUnavailable as exc:
            return None, f"~{ref.instance}: the PSA could not be asked about ticket {_label(ref)}: {exc.message}"
        except ConnectorError as exc:
            return None, f"{ref.instance}: {exc.message}"
        self._unreachable.pop(ref.instance, None)
        self._tickets[ref.key] = (info, now)
        if len(self._tickets) > 10_000:
            self._tickets.clear()
        return info, ""

    def _not_applicable(
        self, settings: AutomationConfig, ref: TicketRef, info: TicketInfo | None, now: float
    ) -> str | None:
        """Why the automation does not apply to this ticket's client, or None when it does."""
        if not settings.apply_to.startswith("tag:"):
            return None
        tag = settings.apply_to.removeprefix("tag:").strip()
        company = info.company if info is not None else ""
        tags = self._entries.rules.tags_for(ref.instance, company, now)
        if tag.casefold() in {t.strip().casefold() for t in tags}:
            return None
        who = f"client {company!r}" if company else "the ticket's client (the PSA names none)"
        return f"automation {settings.name!r} applies to clients tagged {tag!r} (apply_to); {who} is not"

    def _entry(
        self, run: AutomationRun, settings: AutomationConfig, ref: TicketRef, info: TicketInfo | None
    ) -> tuple[NewEntry, list[str]]:
        """The entry a run makes, and the live timers on its ticket (overlap)."""
        end = run.finished_at
        start = end - settings.minutes * 60 if settings.minutes is not None else run.started_at
        if settings.log_as == "starter":
            log_as = run.started_by
        elif settings.log_as == "assignee":
            log_as = ASSIGNEE
        else:
            log_as = settings.log_as.removeprefix("user:").strip()
        notes = run_notes(settings, run.outcome, run.started_by, run.notes)
        ticket = ref if info is None or ref.id is not None else msgspec.structs.replace(ref, id=info.id)
        overlapped = self._live_timers(ticket, info)
        absorbed = ""
        if overlapped and settings.overlap == "absorb":
            absorbed = (
                "absorbed: the technician's own timer ran on this ticket during the run "
                f'(automation {settings.name!r}, overlap = "absorb"); its time is billed by that timer'
            )
        new = NewEntry(
            source="automation",
            segments=[Segment(start, end)],
            ticket=ticket,
            summary=info.summary if info is not None else "",
            company=info.company if info is not None else "",
            board=info.board if info is not None else "",
            notes=notes,
            billable="" if settings.billable == "default" else settings.billable,
            work_type=settings.work_type,
            log_as=log_as,
            flags=["overlap", "absorbed"] if absorbed else (["overlap"] if overlapped else []),
            reason="automation",
            automation=settings.name,
            absorbed=absorbed,
        )
        return new, overlapped

    def _live_timers(self, ticket: TicketRef, info: TicketInfo | None) -> list[str]:
        """Ids of the live (not stopped) timers on the same ticket, by id or by number."""
        number = ticket.number or (info.number if info is not None else None)
        found = []
        for view in self._timers.view().timers:
            t = view.ticket
            if t is None or t.instance != ticket.instance or view.state == "stopped":
                continue
            same_id = t.id is not None and t.id == ticket.id
            same_number = bool(t.number and number and t.number.upper() == number.upper())
            if same_id or same_number:
                found.append(view.id)
        return found

    async def _store(
        self, run: AutomationRun, new: NewEntry | None, overlapped: list[str], now: float
    ) -> AutomationRun:
        entry = audit = None
        if new is not None:
            entry, audit = self._entries.build(new, now)
            run.entry_id = entry.id
        try:
            async with self._db.transaction() as tx:
                if entry is not None and audit is not None:
                    await self._entries.insert(tx, entry, audit)
                if not await AutomationRunStore.record(tx, run):
                    raise _Repeat
        except _Repeat:
            first = await self.runs.get(run.run_id)
            assert first is not None  # the row that made this a repeat is committed
            return msgspec.structs.replace(first, repeat=True)
        for timer_id in overlapped:
            try:
                await self._timers.add_flag(timer_id, "overlap")
            except Exception as exc:  # the timer ended meanwhile: its entry was made without the flag
                log.info("could not flag timer %s as overlapping run %s: %s", timer_id, run.run_id, exc)
        run.entry_status = entry.status if entry is not None else ""
        return run


def _parse(raw: Any) -> list[AutomationConfig]:
    try:
        body = msgspec.convert(raw, AutomationsBody)
    except msgspec.ValidationError as exc:
        field, message = field_error(exc)
        raise AutomationError("invalid_automations", message, field) from None
    problem = check_automations(body.automations)
    if problem is not None:
        raise AutomationError("invalid_automations", f"{problem[0]}: {problem[1]}", problem[0])
    return body.automations


parse_automations = _parse
"""A PUT body of per-automation settings, validated (`AutomationError` "invalid_automations" naming the field); the
team server's settings go through it too."""


def _label(ref: TicketRef) -> str:
    return f"#{ref.id}" if ref.id is not None else (ref.number or "")
