"""Durations typed into timesheet cells: one parser, every accepted form, and clear refusals."""

from __future__ import annotations

import pytest

from daemon.entries.timesheet import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("1", 3600),
        ("1.5", 5400),
        ("1,5", 5400),
        (".25", 900),
        ("0.01", 36),
        ("1:30", 5400),
        ("0:05", 300),
        ("24:00", 86400),
        ("90m", 5400),
        ("45 min", 2700),
        ("2h", 7200),
        ("1h 30m", 5400),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("  1H 30M ", 5400),
        ("24", 86400),
    ],
)
def test_accepted_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not a duration"),
        ("abc", "not a duration"),
        ("-1", "not a duration"),
        ("1:60", "not a duration"),
        ("1:5", "not a duration"),
        ("h", "not a duration"),
        ("1h 30", "not a duration"),
        ("1e3", "not a duration"),
        ("24:01", "more than 24 hours"),
        ("25", "more than 24 hours"),
        ("1441m", "more than 24 hours"),
    ],
)
def test_refused_forms(text: str, why: str) -> None:
    with pytest.raises(DurationError, match=why) as caught:
        parse_duration(text)
    if why == "not a duration":
        assert "1:30, 1.5, 90m or 1h 30m" in str(caught.value)
