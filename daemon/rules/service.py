"""The rules in force: loaded at start, replaced by `PUT /api/v1/rules`, explained by `POST /api/v1/rules/explain`.

The only module of `daemon.rules` with I/O (the store); the policy itself is the pure `model` and `shaping`.

Which rules are in force: the rule set saved by the last valid `PUT /api/v1/rules` (kept in the database, so it
survives a restart) wins over the config file's `[rules]`; until the first PUT, and again after
`DELETE /api/v1/rules`, the config file's are in force.
Beneath both, the config file's `rounding`, `timing.min_seconds`, `timing.long_run_s` and `billable_default` keys
are the base every rule set inherits from.

A PUT that fails validation raises `RulesError` (the API answers 400 `invalid_rules`, naming the field) and changes
nothing: the previous rules stay in force, in memory and in the database.

Errors::

    RulesError(field, message)   the rule set cannot be used; `field` names the key ("scoped[0].match.company")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Annotated, Any, Literal

import msgspec

from daemon.clock import Clock
from daemon.entries.model import RuleNote
from daemon.rules.book import RuleBook
from daemon.rules.model import Decision, EntryContext, RulesError, base_settings, check_rules, parse_rules
from daemon.rules.shaping import note_fields, shape_entry
from daemon.settings import Config, RuleSet
from daemon.store import Database
from daemon.store.rules import RulesStore

__all__ = ["ExplainRequest", "Explained", "RulesService", "RulesView"]

log = logging.getLogger("ticketclock.rules")

_Text = Annotated[str, msgspec.Meta(max_length=200)]


class RulesView(msgspec.Struct, kw_only=True):
    """`GET /api/v1/rules`: the rule set in force and where it came from."""

    rules: RuleSet
    source: Literal["config", "stored"]
    """"stored": saved by PUT /api/v1/rules (wins over the config file's [rules]); "config": the config file's."""
    updated_at: float | None = None
    base: dict[str, int | str]
    """The config file's own keys every rule set inherits from (setting → value)."""


class ExplainRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /api/v1/rules/explain`: an entry's context and measured seconds, shaped without storing anything."""

    seconds: Annotated[float, msgspec.Meta(ge=0, le=7 * 86_400)]
    instance: _Text = ""
    company: _Text = ""
    tags: Annotated[list[_Text], msgspec.Meta(max_length=50)] = []
    """Extra tags, besides those the company has (config and PSA)."""
    board: _Text = ""
    automation: _Text = ""
    billable: Literal["", "default", "agreement", "yes", "no"] = ""
    work_type: _Text = ""
    notes: Annotated[str, msgspec.Meta(max_length=10_000)] = ""
    ticket: _Text = ""
    summary: _Text = ""


class Explained(msgspec.Struct, kw_only=True):
    """What an entry with that context would record: its figures, `explanation` (as on the entry) and, per setting,
    the value and the rule that set it."""

    context: EntryContext
    actual_seconds: int
    billed_seconds: int
    billable: str
    void_reason: str | None
    work_type: str
    role: str
    notes: str
    explanation: list[RuleNote]
    decisions: list[Decision]


class RulesService:
    def __init__(self, db: Database, config: Config, clock: Clock, book: RuleBook) -> None:
        self._store = RulesStore(db)
        self._db = db
        self._config = config
        self._clock = clock
        self.book = book
        self._source: Literal["config", "stored"] = "config"
        self._updated_at: float | None = None
        self.known_work_types: Callable[[], Mapping[str, Collection[str]]] = dict
        """instance name → the work types its PSA listed (only instances whose list was fetched)."""
        self.known_roles: Callable[[], Mapping[str, Collection[str]]] = dict
        """instance name → the roles its PSA listed, as an entry's role names them (only instances fetched)."""

    async def start(self) -> None:
        """Put the stored rule set in force, if there is one that still validates (else the config file's)."""
        stored = await self._store.get()
        if stored is None:
            return
        doc, at = stored
        try:
            rules = parse_rules(msgspec.json.decode(doc))
        except (RulesError, msgspec.DecodeError) as exc:
            log.error("the stored rules cannot be used (%s); the config file's rules are in force", exc)
            return
        self.book.replace(rules)
        self._source, self._updated_at = "stored", at

    def view(self) -> RulesView:
        return RulesView(
            rules=self.book.rules,
            source=self._source,
            updated_at=self._updated_at,
            base=base_settings(self._config),
        )

    async def put(self, raw: Any) -> RulesView:
        """Validate `raw` as a rule set, save it and put it in force; RulesError (naming the field) changes nothing."""
        rules = parse_rules(raw)
        check_rules(
            rules,
            instances={i.name for i in self._config.instances},
            work_types=self.known_work_types(),
            roles=self.known_roles(),
        )
        now = self._clock.now()
        async with self._db.transaction() as tx:
            await RulesStore.put(tx, msgspec.json.encode(rules).decode(), now)
        self.book.replace(rules)
        self._source, self._updated_at = "stored", now
        return self.view()

    async def reset(self) -> RulesView:
        """Forget the saved rule set: the config file's `[rules]` are in force again."""
        async with self._db.transaction() as tx:
            await RulesStore.clear(tx)
        self.book.replace(self._config.rules)
        self._source, self._updated_at = "config", None
        return self.view()

    def explain(self, request: ExplainRequest) -> Explained:
        """Shape a would-be entry exactly as `EntryService` shapes a real one (same context, same function)."""
        context = self.book.context(
            instance=request.instance,
            company=request.company,
            board=request.board,
            automation=request.automation,
            tags=request.tags,
            now=self._clock.now(),
        )
        resolved = self.book.resolve(context)
        shaped = shape_entry(
            request.seconds,
            resolved,
            billable=request.billable,
            work_type=request.work_type,
            notes=request.notes,
            fields=note_fields(
                ticket=request.ticket,
                summary=request.summary,
                company=request.company,
                instance=request.instance,
                automation=request.automation,
            ),
        )
        return Explained(
            context=context,
            actual_seconds=shaped.actual_seconds,
            billed_seconds=shaped.billed_seconds,
            billable=shaped.billable,
            void_reason=shaped.void_reason,
            work_type=shaped.work_type,
            role=shaped.role,
            notes=shaped.notes,
            explanation=shaped.explanation,
            decisions=resolved.decisions,
        )
