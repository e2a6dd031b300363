"""Timesheet periods (DESIGN §5): weekly, biweekly, semimonthly or monthly, cut in the technician's time zone.

Pure: dates in, dates out. A period is named by its first day (`2026-11-23`); any day inside it selects it.
An entry belongs to the day (and period) in which it *started*, in the technician's zone: an entry that runs past
local midnight counts wholly in the day it started, unless it was split.

Local midnight comes from `zoneinfo` (DST days are 23 or 25 hours long); a day's bounds are [its midnight, the next
day's midnight), both as epoch seconds.
"""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

import msgspec

from daemon.settings import WEEKDAYS, TimesheetConfig

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = [
    "Period",
    "PeriodError",
    "day_bounds",
    "local_day",
    "parse_day",
    "parse_period",
    "period_of",
    "read_moment",
    "zone",
]

_BIWEEKLY_EPOCH = date(2001, 1, 1)
"""A Monday: the default biweekly anchor is the first `first_weekday` on or after it."""


class PeriodError(ValueError):
    """A period or day that cannot be read; the message says what was wrong."""


def read_moment(text: str, tz: tzinfo | None = None) -> float:
    """A moment as people and scripts write it: epoch seconds, or ISO 8601; a date or date-time without an offset
    is in `tz` (the technician's zone; None: this machine's). ValueError says what is wrong."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601 or epoch seconds)") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz).timestamp() if tz is not None else moment.astimezone().timestamp()
    return moment.timestamp()


class Period(msgspec.Struct, frozen=True):
    kind: str
    start: date
    end: date
    """The last day (inclusive)."""

    @property
    def id(self) -> str:
        return self.start.isoformat()

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def label(self) -> str:
        return f"{self.start.isoformat()} \N{EN DASH} {self.end.isoformat()}"


def _anchor(config: TimesheetConfig) -> date:
    if config.anchor is not None:
        return config.anchor
    offset = (WEEKDAYS.index(config.first_weekday) - _BIWEEKLY_EPOCH.weekday()) % 7
    return _BIWEEKLY_EPOCH + timedelta(days=offset)


def period_of(day: date, config: TimesheetConfig) -> Period:
    """The period that holds `day`."""
    kind = config.period
    if kind == "weekly":
        start = day - timedelta(days=(day.weekday() - WEEKDAYS.index(config.first_weekday)) % 7)
        return Period(kind, start, start + timedelta(days=6))
    if kind == "biweekly":
        anchor = _anchor(config)
        start = anchor + timedelta(days=14 * ((day - anchor).days // 14))  # floor: also before the anchor
        return Period(kind, start, start + timedelta(days=13))
    last = calendar.monthrange(day.year, day.month)[1]
    if kind == "semimonthly":
        if day.day <= 15:
            return Period(kind, day.replace(day=1), day.replace(day=15))
        return Period(kind, day.replace(day=16), day.replace(day=last))
    return Period(kind, day.replace(day=1), day.replace(day=last))


def previous(period: Period, config: TimesheetConfig) -> Period:
    return period_of(period.start - timedelta(days=1), config)


def following(period: Period, config: TimesheetConfig) -> Period:
    return period_of(period.end + timedelta(days=1), config)


def parse_day(text: str, name: str = "day") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{name}: not a date: {text[:40]!r} (use YYYY-MM-DD)") from None


def parse_period(text: str, config: TimesheetConfig, today: date) -> Period:
    """`current`, or any day (YYYY-MM-DD) inside the period."""
    return period_of(today if text == "current" else parse_day(text, "period"), config)


class LocalZone:
    """The technician's zone: the configured IANA name, else this machine's (tzlocal handles Windows).

    Looked up on first use, not at start: tzlocal reads the system's zone files (~3 ms and ~0.3 MiB that the first
    answer does not need). One per daemon, shared by the entries (days and periods) and the outbox (what a PSA is
    told); `of` takes a name as it is ("" is UTC), for the team server and the tests."""

    def __init__(self, configured: str, *, machine: bool = True) -> None:
        self._configured = configured
        self._machine = machine

    @classmethod
    def of(cls, zone: str | LocalZone) -> LocalZone:
        return zone if isinstance(zone, LocalZone) else cls(zone, machine=False)

    @functools.cached_property
    def name(self) -> str:
        if self._configured or not self._machine:
            return self._configured or "UTC"
        import tzlocal

        try:
            return str(tzlocal.get_localzone_name() or "UTC")
        except Exception:
            return "UTC"

    @functools.cached_property
    def info(self) -> ZoneInfo:
        return zone(self.name)


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (UTC when it is unknown: the config check names a bad zone; this never fails)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # on first use: not needed by a start

    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day(ts: float, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, tz).date()


def _midnight(day: date, tz: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tzinfo=tz).timestamp()


def day_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[float, float]:
    """[local midnight starting `first`, local midnight after `last`) as epoch seconds."""
    return _midnight(first, tz), _midnight(last + timedelta(days=1), tz)


def at_local(day: date, clock_time: time, tz: ZoneInfo) -> float:
    """Epoch seconds of a wall-clock time on `day` in `tz`."""
    return datetime.combine(day, clock_time, tzinfo=tz).timestamp()


def _offset(ts: float, tz: ZoneInfo) -> int:
    delta = datetime.fromtimestamp(ts, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def utc_offsets(lo: float, hi: float, tz: ZoneInfo) -> list[tuple[float, int]]:
    """The zone's UTC offset over [lo, hi) as (until, offset) pieces in time order; the last piece runs to `hi`.

    With it, SQL finds an instant's local day as `(t + offset) // 86400` (days since 1970-01-01) without a zone
    library. Transitions are found from one local midnight to the next, then to the second by bisection."""
    pieces: list[tuple[float, int]] = []
    t, current = lo, _offset(lo, tz)
    day = local_day(lo, tz)
    while t < hi:
        day += timedelta(days=1)
        nxt = min(_midnight(day, tz), hi)
        if _offset(nxt, tz) != current or nxt >= hi:
            if nxt < hi:  # a change inside (t, nxt]: find its first second
                a, b = t, nxt
                while b - a > 1:
                    mid = (a + b) // 2
                    a, b = (mid, b) if _offset(mid, tz) == current else (a, mid)
                pieces.append((b, current))
                current = _offset(b, tz)
            else:
                pieces.append((hi, current))
        t = nxt
    return pieces or [(hi, current)]


def epoch_day(number: int) -> date:
    """The date of a day number counted from 1970-01-01."""
    return date(1970, 1, 1) + timedelta(days=number)
