"""Rules as data: a global block plus scoped overrides, and the one function that resolves them (DESIGN §6).

A rule set is the `[rules]` table of the config file (or the body of `PUT /api/v1/rules`)::

    [rules]                                  # the global block: any setting below
    min_seconds = 60
    rounding = { increment_s = 360 }

    [[rules.scoped]]                         # overrides, for entries whose context matches
    name = "Contoso contract"                # optional; shown in explanations
    match = { company = "Contoso" }          # instance, company, tag, board, automation (all given must match)
    rounding = { increment_s = 900, direction = "up" }
    work_type = "Remote Support"

Settings (every one optional in a rule; unset means "inherit"): `rounding.increment_s`, `rounding.direction`,
`rounding.minimum_billed_s`, `min_seconds` (shorter entries are voided as too short), `billable_default`,
`work_type`, `role`, `note_template` (placeholders `{ticket}`, `{summary}`, `{company}`, `{instance}`,
`{automation}`, `{duration}`), `long_run_s`.

Precedence, lowest first: the base (the config file's `rounding`, `timing.min_seconds`, `timing.long_run_s` and
`billable_default` keys, "config") → the rule set's global block ("global") → scoped rules by tier: instance → tag →
company → board/queue → automation. A scoped rule's tier is that of the most specific key in its `match`; within a
tier, a later rule overrides an earlier one. Each setting takes the value of the last rule in that order that sets
it, and `resolve` says, per setting, which rule that was.

Matching: `instance` and `automation` exactly, `company`, `tag` and `board` without regard to case or surrounding
spaces. A context's tags are the company's (config `[[companies]]`, plus any the PSA maps) and any given with it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, Literal, cast

import msgspec

from daemon.invalid import field_error, join
from daemon.settings import Config, Match, RoundingConfig, RoundingRule, RuleSet, RuleSettings, ScopedRule

__all__ = [
    "PLACEHOLDERS",
    "SETTINGS",
    "Decision",
    "EntryContext",
    "Match",
    "Resolved",
    "RoundingRule",
    "RuleSet",
    "RuleSettings",
    "RulesError",
    "ScopedRule",
    "base_settings",
    "check_rules",
    "describe_match",
    "parse_rules",
    "render_template",
    "resolve",
]

Billable = Literal["agreement", "yes", "no"]

SETTINGS: tuple[str, ...] = (
    "rounding.increment_s",
    "rounding.direction",
    "rounding.minimum_billed_s",
    "min_seconds",
    "billable_default",
    "work_type",
    "role",
    "note_template",
    "long_run_s",
)
"""Every setting a rule can make, by its dotted name (the name `Decision.setting` and error messages use)."""

PLACEHOLDERS: frozenset[str] = frozenset({"ticket", "summary", "company", "instance", "automation", "duration"})
"""What a note template may name, as `{name}`."""

TIERS: tuple[str, ...] = ("instance", "tag", "company", "board", "automation")
"""Scope keys from the least to the most specific (a later tier overrides an earlier one)."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class RulesError(ValueError):
    """A rule set that cannot be used; `field` names the offending key (e.g. "scoped[1].rounding.direction")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class EntryContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules may look at for one entry."""

    instance: str = ""
    company: str = ""
    tags: tuple[str, ...] = ()
    board: str = ""
    automation: str = ""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """One setting's value for an entry and the rule that set it: ("rounding.increment_s", 900, "company 'Contoso'")."""

    setting: str
    value: int | str
    source: str

    def __str__(self) -> str:
        return f"{self.setting} = {self.value!r} from {self.source}"


class Resolved(msgspec.Struct, frozen=True, kw_only=True):
    """The effective settings for one entry's context, with a `Decision` per setting (in `SETTINGS` order)."""

    rounding: RoundingConfig
    min_seconds: int
    billable_default: Billable
    work_type: str
    role: str
    note_template: str
    long_run_s: int
    decisions: list[Decision]

    def source(self, setting: str) -> str:
        return next((d.source for d in self.decisions if d.setting == setting), "")


def base_settings(config: Config) -> dict[str, int | str]:
    """The base layer, from the config file's own keys (`rounding`, `timing.min_seconds`, `billable_default`,
    `timing.long_run_s`): every setting has a value here."""
    return {
        "rounding.increment_s": config.rounding.increment_s,
        "rounding.direction": config.rounding.direction,
        "rounding.minimum_billed_s": config.rounding.minimum_billed_s,
        "min_seconds": config.timing.min_seconds,
        "billable_default": config.billable_default,
        "work_type": "",
        "role": "",
        "note_template": "",
        "long_run_s": config.timing.long_run_s,
    }


def describe_match(match: Match) -> str:
    """A scope in words: "company 'Contoso'", "instance 'acme-cw', board 'Help Desk'"."""
    parts = [f"{key} {value!r}" for key in TIERS if (value := getattr(match, key)) is not None]
    return ", ".join(parts)


def resolve(rules: RuleSet, context: EntryContext, base: Mapping[str, int | str]) -> Resolved:
    """The effective settings for `context`: base ← global block ← matching scoped rules by tier (module doc)."""
    values: dict[str, int | str] = dict(base)
    sources: dict[str, str] = dict.fromkeys(base, "config")
    _apply(rules, "global", values, sources)
    tags = {_fold(t) for t in context.tags}
    matching = [
        (_tier(rule.match), index, rule)
        for index, rule in enumerate(rules.scoped)
        if describe_match(rule.match) and _matches(rule.match, context, tags)  # an empty match (refused) never applies
    ]
    for _, _, rule in sorted(matching, key=lambda m: (m[0], m[1])):
        label = describe_match(rule.match)
        _apply(rule, f"rule {rule.name!r} ({label})" if rule.name else label, values, sources)
    return Resolved(
        rounding=RoundingConfig(
            increment_s=int(values["rounding.increment_s"]),
            direction=_direction(values["rounding.direction"]),
            minimum_billed_s=int(values["rounding.minimum_billed_s"]),
        ),
        min_seconds=int(values["min_seconds"]),
        billable_default=_billable(values["billable_default"]),
        work_type=str(values["work_type"]),
        role=str(values["role"]),
        note_template=str(values["note_template"]),
        long_run_s=int(values["long_run_s"]),
        decisions=[Decision(setting=s, value=values[s], source=sources[s]) for s in SETTINGS],
    )


def render_template(template: str, fields: Mapping[str, str]) -> str:
    """`template` with each `{name}` replaced by `fields[name]` ("" when absent). Names are checked by
    `check_rules`, so an unknown one never gets here from a rule set in force; it is left as written."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        return fields.get(name, "") if name in PLACEHOLDERS else m.group(0)

    return _PLACEHOLDER.sub(one, template)


def parse_rules(raw: Any, *, where: str = "") -> RuleSet:
    """Decode and check a rule set from JSON-like data; raises RulesError naming the field."""
    try:
        rules = msgspec.convert(raw, RuleSet)
    except msgspec.ValidationError as exc:
        field, message = field_error(exc)
        raise RulesError(_join(where, field), message) from None
    check_rules(rules, where=where)
    return rules


def check_rules(
    rules: RuleSet,
    *,
    where: str = "",
    instances: Collection[str] | None = None,
    work_types: Mapping[str, Collection[str]] | None = None,
    roles: Mapping[str, Collection[str]] | None = None,
) -> None:
    """What the types cannot say; raises RulesError naming the field.

    - every scoped rule matches on something; an `instance` it names is configured (when `instances` is given);
    - note templates name only `PLACEHOLDERS`;
    - a work type is one the PSA lists, where the list is known (`work_types`: instance name → names): a rule bound
      to an instance is checked against that instance's list, an unbound one against all known lists together;
      a role likewise (`roles`: instance name → the values an entry's role holds).
    """
    blocks: list[tuple[str, RuleSettings, str | None]] = [(where, rules, None)]
    for i, rule in enumerate(rules.scoped):
        at = _join(where, f"scoped[{i}]")
        if describe_match(rule.match) == "":
            raise RulesError(f"{at}.match", f"name at least one of {', '.join(TIERS)}")
        for key in TIERS:
            value = getattr(rule.match, key)
            if value is not None and not value.strip():
                raise RulesError(f"{at}.match.{key}", "must not be empty")
        if instances is not None and rule.match.instance is not None and rule.match.instance not in instances:
            raise RulesError(f"{at}.match.instance", f"no PSA instance named {rule.match.instance!r} is configured")
        blocks.append((at, rule, rule.match.instance))
    for at, block, instance in blocks:
        if block.note_template is not None:
            for m in _PLACEHOLDER.finditer(block.note_template):
                if m.group(1) not in PLACEHOLDERS:
                    raise RulesError(
                        _join(at, "note_template"),
                        f"unknown placeholder {{{m.group(1)}}}; use {', '.join(sorted(PLACEHOLDERS))}",
                    )
        for key, what, lists in (("work_type", "work type", work_types), ("role", "role", roles)):
            value = getattr(block, key)
            if not value or not lists:
                continue
            known = lists.get(instance) if instance is not None else {n for names in lists.values() for n in names}
            if known is not None and value not in known:
                scope = f"instance {instance!r}" if instance is not None else "any configured PSA"
                raise RulesError(_join(at, key), f"{value!r} is not a {what} of {scope}")


# -- internals ----------------------------------------------------------------------------------------------------


def _flat(block: RuleSettings) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for key in ("increment_s", "direction", "minimum_billed_s"):
        value = getattr(block.rounding, key)
        if value is not None:
            out[f"rounding.{key}"] = value
    for key in ("min_seconds", "billable_default", "work_type", "role", "note_template", "long_run_s"):
        value = getattr(block, key)
        if value is not None:
            out[key] = value
    return out


def _apply(block: RuleSettings, label: str, values: dict[str, int | str], sources: dict[str, str]) -> None:
    for setting, value in _flat(block).items():
        values[setting] = value
        sources[setting] = label


def _fold(text: str) -> str:
    return text.strip().casefold()


def _tier(match: Match) -> int:
    return max(i for i, key in enumerate(TIERS) if getattr(match, key) is not None)


def _matches(match: Match, context: EntryContext, tags: set[str]) -> bool:
    return (
        (match.instance is None or match.instance == context.instance)
        and (match.company is None or _fold(match.company) == _fold(context.company))
        and (match.tag is None or _fold(match.tag) in tags)
        and (match.board is None or _fold(match.board) == _fold(context.board))
        and (match.automation is None or match.automation == context.automation)
    )


def _direction(value: int | str) -> Literal["up", "nearest", "down"]:
    if value in ("up", "nearest", "down"):
        return cast(Literal["up", "nearest", "down"], value)
    raise RulesError("rounding.direction", f"must be up, nearest or down, not {value!r}")


def _billable(value: int | str) -> Billable:
    if value in ("agreement", "yes", "no"):
        return cast(Billable, value)
    raise RulesError("billable_default", f"must be agreement, yes or no, not {value!r}")


_join = join
