"""Shaping: a finished timer's measured seconds → the entry's billed figures, with the rules that shaped them.

Order of the rules, each recorded as a `RuleNote` on the result:

1. **minimum** — an entry shorter than `min_seconds` (compared on whole seconds) is voided as `too_short` and
   bills nothing; the rounding rules are then skipped.
2. **rounding** — `increment_s` 0 means none; otherwise up / nearest (ties go up) / down to a multiple of the
   increment. Rounding never takes an entry with time on it to zero: a result of 0 becomes one increment
   (a 7-minute call rounded down to 15 minutes would otherwise vanish from the timesheet).
3. **minimum_billed** — after rounding, billed time is raised to `minimum_billed_s`. An entry of 0 seconds
   stays at 0: nothing happened, so there is nothing to bill.
4. **billable** — the entry's own choice, or the configured default when it has none ("" or "default").
"""

from __future__ import annotations

import math
from typing import Literal, cast

import msgspec

from daemon.entries.model import RuleNote
from daemon.settings import RoundingConfig

__all__ = ["Billable", "RuleNote", "Shaped", "format_duration", "shape"]

Billable = Literal["agreement", "yes", "no"]
_BILLABLE: frozenset[str] = frozenset({"agreement", "yes", "no"})
_UNSET: frozenset[str] = frozenset({"", "default"})


class Shaped(msgspec.Struct, frozen=True, kw_only=True):
    actual_seconds: int
    """Measured time in whole seconds (half up)."""
    billed_seconds: int
    """Time to bill; 0 when voided."""
    billable: Billable
    void_reason: str | None
    """"too_short" when the entry is under the minimum, else None."""
    explanation: list[RuleNote]


def shape(
    actual_seconds: float,
    *,
    rounding: RoundingConfig,
    min_seconds: int,
    billable: str,
    billable_default: str,
) -> Shaped:
    """Apply minimum, rounding, minimum billed and billable default to `actual_seconds`.

    Raises ValueError for a negative or non-finite duration, or a billable value that is none of
    "agreement", "yes", "no" (nor "" / "default" for `billable`, meaning: use the default).
    """
    if not math.isfinite(actual_seconds) or actual_seconds < 0:
        raise ValueError(f"actual_seconds must be a finite number ≥ 0, not {actual_seconds!r}")
    actual = math.floor(actual_seconds + 0.5)
    notes: list[RuleNote] = []

    void_reason: str | None = None
    if min_seconds > 0:
        if actual < min_seconds:
            void_reason = "too_short"
            detail = f"{format_duration(actual)} < minimum {format_duration(min_seconds)}: voided as too short"
        else:
            detail = f"{format_duration(actual)} ≥ minimum {format_duration(min_seconds)}"
        notes.append(RuleNote("minimum", detail))

    if void_reason is None:
        billed = _round(actual, rounding, notes)
        billed = _minimum_billed(billed, rounding.minimum_billed_s, notes)
    else:
        billed = 0

    chosen, detail = _billable(billable, billable_default)
    notes.append(RuleNote("billable", detail))
    return Shaped(
        actual_seconds=actual,
        billed_seconds=billed,
        billable=chosen,
        void_reason=void_reason,
        explanation=notes,
    )


def format_duration(seconds: float) -> str:
    """A short human duration: "45s", "7m 03s", "15m", "1h 02m", "1h 02m 05s", "2h"."""
    total = math.floor(seconds + 0.5) if math.isfinite(seconds) else 0
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours}h"
        if minutes or secs:
            text += f" {minutes:02d}m"
        if secs:
            text += f" {secs:02d}s"
    elif minutes:
        text = f"{minutes}m" + (f" {secs:02d}s" if secs else "")
    else:
        text = f"{secs}s"
    return sign + text


def _round(actual: int, rounding: RoundingConfig, notes: list[RuleNote]) -> int:
    inc = rounding.increment_s
    if inc <= 0:
        notes.append(RuleNote("rounding", f"none: billed as measured, {format_duration(actual)}"))
        return actual
    direction = rounding.direction
    rule = f"{direction} to {format_duration(inc)}"
    if actual == 0:
        notes.append(RuleNote("rounding", f"{rule}: nothing to round, 0s"))
        return 0
    quotient, remainder = divmod(actual, inc)
    if remainder == 0:
        notes.append(RuleNote("rounding", f"{rule}: {format_duration(actual)} is already a multiple"))
        return actual
    if direction == "up" or (direction == "nearest" and 2 * remainder >= inc):
        billed = (quotient + 1) * inc
    else:
        billed = quotient * inc
    detail = f"{rule}: {format_duration(actual)} → {format_duration(max(billed, inc))}"
    if billed == 0:
        billed = inc
        detail += " (never below one increment)"
    notes.append(RuleNote("rounding", detail))
    return billed


def _minimum_billed(billed: int, minimum: int, notes: list[RuleNote]) -> int:
    if minimum <= 0:
        return billed
    if billed == 0:
        notes.append(RuleNote("minimum_billed", f"nothing worked, nothing billed (minimum {format_duration(minimum)})"))
        return 0
    if billed < minimum:
        notes.append(
            RuleNote("minimum_billed", f"{format_duration(billed)} raised to minimum {format_duration(minimum)}")
        )
        return minimum
    notes.append(RuleNote("minimum_billed", f"{format_duration(billed)} ≥ minimum {format_duration(minimum)}"))
    return billed


def _billable(billable: str, default: str) -> tuple[Billable, str]:
    if default not in _BILLABLE:
        raise ValueError(f"billable_default must be agreement, yes or no, not {default!r}")
    if billable in _UNSET:
        return cast(Billable, default), f"{default} (default)"
    if billable not in _BILLABLE:
        raise ValueError(f"billable must be agreement, yes, no or default, not {billable!r}")
    return cast(Billable, billable), f"{billable} (set on the entry)"
