"""Timesheet periods: table-driven over every kind, DST weeks, month ends, leap years, biweekly anchors before and
after, semimonthly halves; and the config's checks."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.entries import periods
from daemon.entries.periods import (
    PeriodError,
    day_bounds,
    following,
    local_day,
    parse_period,
    period_of,
    previous,
)
from daemon.settings import ConfigError, TimesheetConfig, parse_config

WEEKLY = TimesheetConfig()
WEEKLY_SUN = TimesheetConfig(first_weekday="sunday")
BIWEEKLY = TimesheetConfig(period="biweekly", anchor=date(2026, 1, 5))
BIWEEKLY_DEFAULT = TimesheetConfig(period="biweekly")
SEMI = TimesheetConfig(period="semimonthly")
MONTHLY = TimesheetConfig(period="monthly")

D = date.fromisoformat

CASES = [
    # (config, a day, first day, last day)
    (WEEKLY, "2026-11-23", "2026-11-23", "2026-11-29"),  # a Monday: its own start
    (WEEKLY, "2026-11-29", "2026-11-23", "2026-11-29"),  # Sunday: the last day
    (WEEKLY, "2026-01-01", "2025-12-29", "2026-01-04"),  # across the new year
    (WEEKLY, "2026-03-29", "2026-03-23", "2026-03-29"),  # EU DST starts on this Sunday
    (WEEKLY, "2026-10-25", "2026-10-19", "2026-10-25"),  # EU DST ends on this Sunday
    (WEEKLY_SUN, "2026-11-23", "2026-11-22", "2026-11-28"),
    (WEEKLY_SUN, "2026-11-22", "2026-11-22", "2026-11-28"),
    (BIWEEKLY, "2026-01-05", "2026-01-05", "2026-01-18"),  # the anchor itself
    (BIWEEKLY, "2026-01-18", "2026-01-05", "2026-01-18"),
    (BIWEEKLY, "2026-01-19", "2026-01-19", "2026-02-01"),  # after the anchor
    (BIWEEKLY, "2026-01-04", "2025-12-22", "2026-01-04"),  # the day before the anchor
    (BIWEEKLY, "2025-06-10", "2025-06-09", "2025-06-22"),  # 15 periods before
    (BIWEEKLY, "2027-03-01", "2027-03-01", "2027-03-14"),  # 30 periods after: a start
    (BIWEEKLY_DEFAULT, "2001-01-01", "2001-01-01", "2001-01-14"),
    (BIWEEKLY_DEFAULT, "2026-11-23", "2026-11-16", "2026-11-29"),
    (SEMI, "2026-11-01", "2026-11-01", "2026-11-15"),
    (SEMI, "2026-11-15", "2026-11-01", "2026-11-15"),
    (SEMI, "2026-11-16", "2026-11-16", "2026-11-30"),
    (SEMI, "2026-02-20", "2026-02-16", "2026-02-28"),
    (SEMI, "2028-02-29", "2028-02-16", "2028-02-29"),  # leap year
    (SEMI, "2026-12-31", "2026-12-16", "2026-12-31"),
    (MONTHLY, "2026-11-30", "2026-11-01", "2026-11-30"),
    (MONTHLY, "2026-02-14", "2026-02-01", "2026-02-28"),
    (MONTHLY, "2024-02-29", "2024-02-01", "2024-02-29"),  # leap year
    (MONTHLY, "2100-02-10", "2100-02-01", "2100-02-28"),  # not a leap year
    (MONTHLY, "2026-12-31", "2026-12-01", "2026-12-31"),
]


@pytest.mark.parametrize(("config", "day", "first", "last"), CASES)
def test_the_period_of_a_day(config: TimesheetConfig, day: str, first: str, last: str) -> None:
    p = period_of(D(day), config)
    assert (p.start, p.end, p.kind) == (D(first), D(last), config.period)
    assert p.id == first
    assert p.days[0] == D(first) and p.days[-1] == D(last) and len(p.days) == (D(last) - D(first)).days + 1
    for inside in p.days:  # every day of the period selects the same period
        assert period_of(inside, config) == p


@pytest.mark.parametrize("config", [WEEKLY, WEEKLY_SUN, BIWEEKLY, BIWEEKLY_DEFAULT, SEMI, MONTHLY])
def test_periods_tile_the_calendar_without_gaps(config: TimesheetConfig) -> None:
    p = period_of(D("2023-12-20"), config)
    for _ in range(80):
        n = following(p, config)
        assert n.start == p.end + timedelta(days=1)
        assert previous(n, config) == p
        p = n


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(
    ("day", "hours"),
    [("2026-03-29", 23), ("2026-10-25", 25), ("2026-11-23", 24)],
)
def test_day_bounds_follow_dst(zone: str, day: str, hours: int) -> None:
    tz = ZoneInfo(zone)
    lo, hi = day_bounds(D(day), D(day), tz)
    expected = hours * 3600 if zone == "Europe/Berlin" else None
    if expected is not None:
        assert hi - lo == expected
    assert local_day(lo, tz) == D(day) and local_day(hi - 1, tz) == D(day)
    assert local_day(hi, tz) == D(day) + timedelta(1)


def test_a_dst_week_is_167_or_169_hours() -> None:
    tz = ZoneInfo("Europe/Berlin")
    spring = period_of(D("2026-03-25"), WEEKLY)
    autumn = period_of(D("2026-10-21"), WEEKLY)
    lo, hi = day_bounds(spring.start, spring.end, tz)
    assert hi - lo == 167 * 3600
    lo, hi = day_bounds(autumn.start, autumn.end, tz)
    assert hi - lo == 169 * 3600


def test_parse_period() -> None:
    today = D("2026-11-25")
    assert parse_period("current", WEEKLY, today).id == "2026-11-23"
    assert parse_period("2026-11-27", WEEKLY, today).id == "2026-11-23"
    for bad in ("", "2026-13-01", "next", "2026-11-23T00:00"):
        with pytest.raises(PeriodError, match="period"):
            parse_period(bad, WEEKLY, today)


def test_local_day_is_the_zone_s() -> None:
    ts = datetime(2026, 11, 23, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert local_day(ts, ZoneInfo("UTC")) == D("2026-11-23")
    assert local_day(ts, ZoneInfo("Europe/Berlin")) == D("2026-11-24")


def test_timesheet_config() -> None:
    config = parse_config('[timesheet]\nperiod = "biweekly"\nfirst_weekday = "monday"\nanchor = 2026-01-05\n')
    assert config.timesheet.anchor == D("2026-01-05") and config.timesheet.period == "biweekly"
    assert parse_config('user_name = "pia"').user_name == "pia"
    with pytest.raises(ConfigError, match=r"timesheet.anchor 2026-01-06 is a tuesday, but timesheet.first_weekday"):
        parse_config('[timesheet]\nperiod = "biweekly"\nanchor = "2026-01-06"\n')
    with pytest.raises(ConfigError, match="period"):
        parse_config('[timesheet]\nperiod = "daily"\n')
    with pytest.raises(ConfigError, match="unknown key `week`"):
        parse_config("[timesheet]\nweek = 1\n")


def test_the_local_zone_is_looked_up_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import tzlocal

    asked: list[int] = []
    monkeypatch.setattr(tzlocal, "get_localzone_name", lambda: asked.append(1) or "Europe/Berlin")
    machine = periods.LocalZone("")
    assert asked == []  # not at start: tzlocal reads the system's zone files
    assert (machine.name, str(machine.info), machine.name) == ("Europe/Berlin", "Europe/Berlin", "Europe/Berlin")
    assert asked == [1]
    assert periods.LocalZone("America/Chicago").name == "America/Chicago"  # the configured zone wins
    assert periods.LocalZone.of("").name == "UTC"  # a name as it is: "" is UTC, never the machine's
    assert periods.LocalZone.of(machine) is machine
    assert asked == [1]


def test_a_machine_zone_tzlocal_cannot_read_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import tzlocal

    def unreadable() -> str:
        raise LookupError("no zone")

    monkeypatch.setattr(tzlocal, "get_localzone_name", unreadable)
    assert (periods.LocalZone("").name, str(periods.LocalZone("").info)) == ("UTC", "UTC")
