"""The rule book: the rule set in force, the company tags, and the entry context they resolve against.

One per daemon, shared by everything that shapes an entry (`EntryService`) or explains one (the rules API). It is
plain memory: `daemon.rules.service.RulesService` loads it at start and replaces its rule set after a valid
`PUT /api/v1/rules`, so a refused change never reaches it.

Company tags come from the config (`[[companies]] name = "Contoso", tags = ["managed"]`) and from the PSA
(`set_psa_tags`, fed by a connector that can map a company attribute to tags); a context's tags are both, plus any
given with it.
"""

from __future__ import annotations

from collections.abc import Iterable

from daemon.rules.model import EntryContext, Resolved, base_settings, resolve
from daemon.settings import Config, RuleSet

__all__ = ["RuleBook"]


class RuleBook:
    def __init__(self, config: Config, rules: RuleSet | None = None) -> None:
        self._base = base_settings(config)
        self.rules: RuleSet = config.rules if rules is None else rules
        self._config_tags: dict[str, tuple[str, ...]] = {}
        for company in config.companies:
            key = _key(company.name)
            self._config_tags[key] = _union(self._config_tags.get(key, ()), company.tags)
        self._psa_tags: dict[tuple[str, str], tuple[str, ...]] = {}

    def replace(self, rules: RuleSet) -> None:
        self.rules = rules

    def set_psa_tags(self, instance: str, company: str, tags: Iterable[str]) -> None:
        """Tags a PSA gave a company (its type or classification, mapped by the connector)."""
        self._psa_tags[(instance, _key(company))] = tuple(tags)

    def tags_for(self, instance: str, company: str) -> tuple[str, ...]:
        if not company.strip():
            return ()
        key = _key(company)
        return _union(self._config_tags.get(key, ()), self._psa_tags.get((instance, key), ()))

    def context(
        self, *, instance: str = "", company: str = "", board: str = "", automation: str = "", tags: Iterable[str] = ()
    ) -> EntryContext:
        return EntryContext(
            instance=instance,
            company=company,
            tags=_union(self.tags_for(instance, company), tags),
            board=board,
            automation=automation,
        )

    def resolve(self, context: EntryContext) -> Resolved:
        return resolve(self.rules, context, self._base)


def _key(name: str) -> str:
    return name.strip().casefold()


def _union(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*a, *b]))
