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

`shape_entry` runs the same steps with the settings `daemon.rules.model.resolve` chose for the entry's context, and
then fills what the entry left empty: **work_type** and **role** from their defaults, **notes** from the note
template. Each note's `source` names the rule that set the value it used ("config", "global", "company 'Contoso'",
"entry" for the entry's own choice); `POST /api/v1/rules/explain` shows exactly these notes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal, cast

import msgspec

from daemon.entries.model import RuleNote
from daemon.rules.model import Resolved, render_template
from daemon.settings import RoundingConfig

__all__ = ["Billable", "RuleNote", "Shaped", "format_duration", "note_fields", "shape", "shape_entry"]

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
    work_type: str = ""
    role: str = ""
    notes: str = ""
    """`shape_entry` only: the entry's own values, or the rules' defaults where it had none."""


def shape(
    actual_seconds: float,
    *,
    rounding: RoundingConfig,
    min_seconds: int,
    billable: str,
    billable_default: str,
    sources: Mapping[str, str] | None = None,
) -> Shaped:
    """Apply minimum, rounding, minimum billed and billable default to `actual_seconds`.

    `sources` (setting name → the rule that set it, as `Resolved.decisions` give them) fills each note's `source`.
    Raises ValueError for a negative or non-finite duration, or a billable value that is none of
    "agreement", "yes", "no" (nor "" / "default" for `billable`, meaning: use the default).
    """
    src = sources or {}
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
        notes.append(RuleNote("minimum", detail, src.get("min_seconds", "")))

    if void_reason is None:
        billed = _round(actual, rounding, notes, _either(src, "rounding.increment_s", "rounding.direction"))
        billed = _minimum_billed(billed, rounding.minimum_billed_s, notes, src.get("rounding.minimum_billed_s", ""))
    else:
        billed = 0

    chosen, detail = _billable(billable, billable_default)
    notes.append(RuleNote("billable", detail, "entry" if billable not in _UNSET else src.get("billable_default", "")))
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


def shape_entry(
    actual_seconds: float,
    resolved: Resolved,
    *,
    billable: str = "",
    work_type: str = "",
    notes: str = "",
    fields: Mapping[str, str] | None = None,
) -> Shaped:
    """`shape` with the settings resolved for an entry's context, then the defaults for what the entry left empty:
    work type, role, and notes from the note template (`fields` fill its placeholders; `{duration}` is the billed
    time). The one function both a real entry and `POST /api/v1/rules/explain` go through."""
    sources = {d.setting: d.source for d in resolved.decisions}
    shaped = shape(
        actual_seconds,
        rounding=resolved.rounding,
        min_seconds=resolved.min_seconds,
        billable=billable,
        billable_default=resolved.billable_default,
        sources=sources,
    )
    explanation = list(shaped.explanation)
    if work_type:
        explanation.append(RuleNote("work_type", f"{work_type} (set on the entry)", "entry"))
    elif resolved.work_type:
        work_type = resolved.work_type
        explanation.append(RuleNote("work_type", f"{work_type} (default)", sources["work_type"]))
    role = resolved.role
    if role:
        explanation.append(RuleNote("role", f"{role} (default)", sources["role"]))
    if not notes.strip() and resolved.note_template:
        values = {**(fields or {}), "duration": format_duration(shaped.billed_seconds)}
        notes = render_template(resolved.note_template, values)
        explanation.append(RuleNote("notes", "from the note template", sources["note_template"]))
    return msgspec.structs.replace(shaped, explanation=explanation, work_type=work_type, role=role, notes=notes)


def note_fields(*, ticket: str, summary: str, company: str, instance: str, automation: str = "") -> dict[str, str]:
    """The note template's placeholders for an entry (`{duration}` is added by `shape_entry`)."""
    return {"ticket": ticket, "summary": summary, "company": company, "instance": instance, "automation": automation}


def _either(sources: Mapping[str, str], *settings: str) -> str:
    """The rules behind several settings, each named once: "company 'Contoso'; global"."""
    return "; ".join(dict.fromkeys(s for s in (sources.get(k, "") for k in settings) if s))


def _round(actual: int, rounding: RoundingConfig, notes: list[RuleNote], source: str = "") -> int:
    inc = rounding.increment_s
    if inc <= 0:
        notes.append(RuleNote("rounding", f"none: billed as measured, {format_duration(actual)}", source))
        return actual
    direction = rounding.direction
    rule = f"{direction} to {format_duration(inc)}"
    if actual == 0:
        notes.append(RuleNote("rounding", f"{rule}: nothing to round, 0s", source))
        return 0
    quotient, remainder = divmod(actual, inc)
    if remainder == 0:
        notes.append(RuleNote("rounding", f"{rule}: {format_duration(actual)} is already a multiple", source))
        return actual
    if direction == "up" or (direction == "nearest" and 2 * remainder >= inc):
        billed = (quotient + 1) * inc
    else:
        billed = quotient * inc
    detail = f"{rule}: {format_duration(actual)} → {format_duration(max(billed, inc))}"
    if billed == 0:
        billed = inc
        detail += " (never below one increment)"
    notes.append(RuleNote("rounding", detail, source))
    return billed


def _minimum_billed(billed: int, minimum: int, notes: list[RuleNote], source: str = "") -> int:
    if minimum <= 0:
        return billed
    if billed == 0:
        notes.append(
            RuleNote("minimum_billed", f"nothing worked, nothing billed (minimum {format_duration(minimum)})", source)
        )
        return 0
    if billed < minimum:
        notes.append(
            RuleNote(
                "minimum_billed", f"{format_duration(billed)} raised to minimum {format_duration(minimum)}", source
            )
        )
        return minimum
    notes.append(RuleNote("minimum_billed", f"{format_duration(billed)} ≥ minimum {format_duration(minimum)}", source))
    return billed


def _billable(billable: str, default: str) -> tuple[Billable, str]:
    if default not in _BILLABLE:
        raise ValueError(f"billable_default must be agreement, yes or no, not {default!r}")
    if billable in _UNSET:
        return cast(Billable, default), f"{default} (default)"
    if billable not in _BILLABLE:
        raise ValueError(f"billable must be agreement, yes, no or default, not {billable!r}")
    return cast(Billable, billable), f"{billable} (set on the entry)"
