"""Pure policy: how measured time becomes billed time, and why (DESIGN.md §6)."""

from daemon.rules.shaping import RuleNote, Shaped, format_duration, shape

__all__ = ["RuleNote", "Shaped", "format_duration", "shape"]
