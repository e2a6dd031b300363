"""Pure policy: how measured time becomes billed time, and why (DESIGN.md §6); rules as data with scopes."""

from daemon.rules.book import RuleBook
from daemon.rules.model import Decision, EntryContext, Resolved, RulesError, check_rules, parse_rules, resolve
from daemon.rules.shaping import RuleNote, Shaped, format_duration, note_fields, shape, shape_entry

__all__ = [
    "Decision",
    "EntryContext",
    "Resolved",
    "RuleBook",
    "RuleNote",
    "RulesError",
    "Shaped",
    "check_rules",
    "format_duration",
    "note_fields",
    "parse_rules",
    "resolve",
    "shape",
    "shape_entry",
]
