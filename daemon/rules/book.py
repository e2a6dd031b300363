"""The rule book: the rule set in force, the company tags, and the entry context they resolve against.

One per daemon, shared by everything that shapes an entry (`EntryService`) or explains one (the rules API). It is
plain memory: `daemon.rules.service.RulesService` loads it at start and replaces its rule set after a valid
`PUT /api/v1/rules`, so a refused change never reaches it.

Company tags come from the config (`[[companies]] name = "Contoso", tags = ["managed"]`) and from the PSA: a
ticket look-up reports the company's attributes (Autotask companyType, classification) to `set_psa_attributes`,
which maps them through `[[company_tags.map]]` and keeps the result for `company_tags.refresh_s` (each look-up
renews it; a company no longer looked up loses its PSA tags then). A context's tags are both, plus any given with it.

Resolutions are remembered per context until the rule set is replaced: the timers ask for their long-run cap before
every engine step (one resolution per live timer per browser event, ~0.1 ms of a ~0.75 ms event with nine timers),
and a context holds everything a resolution reads besides the rule set (its tags are resolved into it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from daemon.rules.model import EntryContext, Resolved, base_settings, resolve
from daemon.settings import Config, RuleSet

__all__ = ["RuleBook"]

_REMEMBERED = 512
"""Resolutions kept at most (a technician's live contexts are a handful); past it the memory starts afresh."""


class RuleBook:
    def __init__(self, config: Config, rules: RuleSet | None = None) -> None:
        self._base = base_settings(config)
        self.rules: RuleSet = config.rules if rules is None else rules
        self._config_tags: dict[str, tuple[str, ...]] = {}
        for company in config.companies:
            key = _key(company.name)
            self._config_tags[key] = _union(self._config_tags.get(key, ()), company.tags)
        self._psa_tags: dict[tuple[str, str], tuple[tuple[str, ...], float | None]] = {}
        self._tag_map = config.company_tags.map
        self._refresh_s = config.company_tags.refresh_s
        self._resolved: dict[EntryContext, Resolved] = {}

    def replace(self, rules: RuleSet) -> None:
        self.rules = rules
        self._resolved.clear()

    def set_psa_attributes(self, instance: str, company: str, attributes: Mapping[str, str], now: float) -> None:
        """A company's PSA attributes, seen at `now`: its tags from `[[company_tags.map]]`."""
        tags: list[str] = []
        for rule in self._tag_map:
            if rule.instance == instance and attributes.get(rule.attribute) == rule.value:
                tags += rule.tags
        self.set_psa_tags(instance, company, tags, at=now)

    def set_psa_tags(self, instance: str, company: str, tags: Iterable[str], *, at: float | None = None) -> None:
        """Tags the PSA gave a company; with `at`, they expire `company_tags.refresh_s` later."""
        self._psa_tags[(instance, _key(company))] = (tuple(tags), at)

    def tags_for(self, instance: str, company: str, now: float | None = None) -> tuple[str, ...]:
        """The company's tags: the config's, and the PSA's unless they are older than the refresh interval."""
        if not company.strip():
            return ()
        key = _key(company)
        psa, at = self._psa_tags.get((instance, key), ((), None))
        if at is not None and now is not None and now - at > self._refresh_s:
            psa = ()
        return _union(self._config_tags.get(key, ()), psa)

    def context(
        self,
        *,
        instance: str = "",
        company: str = "",
        board: str = "",
        automation: str = "",
        tags: Iterable[str] = (),
        now: float | None = None,
    ) -> EntryContext:
        return EntryContext(
            instance=instance,
            company=company,
            tags=_union(self.tags_for(instance, company, now), tags),
            board=board,
            automation=automation,
        )

    def resolve(self, context: EntryContext) -> Resolved:
        resolved = self._resolved.get(context)
        if resolved is None:
            if len(self._resolved) >= _REMEMBERED:
                self._resolved.clear()
            resolved = self._resolved[context] = resolve(self.rules, context, self._base)
        return resolved


def _key(name: str) -> str:
    return name.strip().casefold()


def _union(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*a, *b]))
